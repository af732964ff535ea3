"""Need-to-know: who may read a piece of evidence's content (its files, link addresses, description, notes).

The classification says how far the content may go; the evidence may name more readers (roles or people).
Metadata (ref, title, classification, status, owner, dates, links to controls and items) is everyone's: the
team must see that an item is covered, and by what, even when it may not open the file.

- public, internal: every signed-in user;
- restricted: the compliance roles (administrator, compliance manager), the auditors and the evaluators (the
  evaluation centre reads what it evaluates, within his perimeters), the evidence's owner, the owners of the
  controls it proves, and the roles and people named on it;
- confidential: the compliance managers, the owner, and the roles and people named on it. Not every
  administrator (separation of duties: an administrator manages accounts and settings, not evidence content)
  and not the auditors nor the evaluators, unless named: naming them is one audited step on the evidence.

A classification the rule does not know is read as confidential: deny by default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from evidence.core.vocabulary import ROLES

EVERYONE = ROLES
# The roles that read every evidence of a classification, whoever owns it and whatever it names.
ROLES_BY_CLASSIFICATION = {
    "public": EVERYONE,
    "internal": EVERYONE,
    "restricted": ("admin", "manager", "auditor", "evaluator"),
    "confidential": ("manager",),
}
# Where the owners of the controls an evidence proves read it too: they must check what proves their control.
CONTROL_OWNERS_READ = ("restricted",)
STRICTEST = "confidential"


@dataclass(frozen=True)
class Reader:
    """Who asks: a person's id and role."""

    id: Optional[int]
    role: str


@dataclass(frozen=True)
class Audience:
    """What the evidence says of who may read it."""

    classification: str
    owner_id: Optional[int] = None
    reader_roles: frozenset = field(default_factory=frozenset)  # roles named on it
    reader_ids: frozenset = field(default_factory=frozenset)  # people named on it
    control_owner_ids: frozenset = field(default_factory=frozenset)  # owners of the controls it proves


def level(classification: str) -> str:
    """The classification the rule applies: an unknown one is the strictest."""
    return classification if classification in ROLES_BY_CLASSIFICATION else STRICTEST


def readable_by_everyone(classification: str) -> bool:
    return set(ROLES_BY_CLASSIFICATION[level(classification)]) == set(EVERYONE)


def may_read(reader: Reader, audience: Audience) -> bool:
    """Whether `reader` may read the content of evidence with this `audience`."""
    classification = level(audience.classification)
    if reader.role in ROLES_BY_CLASSIFICATION[classification]:
        return True
    if reader.role in audience.reader_roles:
        return True
    if reader.id is None:
        return False
    if reader.id == audience.owner_id or reader.id in audience.reader_ids:
        return True
    return classification in CONTROL_OWNERS_READ and reader.id in audience.control_owner_ids


def may_name_readers(reader: Reader, audience: Audience) -> bool:
    """Who names the readers: the owner or a compliance manager (an administrator manages accounts, not who
    reads evidence)."""
    return reader.role == "manager" or (reader.id is not None and reader.id == audience.owner_id)
