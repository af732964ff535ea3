"""Identifiers of the OSCAL documents: UUIDs derived from what an object is, never drawn at random, and the
control and group ids of the catalog.

Every UUID is a version-5 UUID under the product's namespace, from the object's natural key (its kind and what
names it: a framework's key and an item's ref, a perimeter's code, an evidence's ref…), so that two exports of
the same objects, or two instances holding the same data, give the same UUIDs. Objects that belong to a
provider (its perimeters, controls, evidence, findings, people) carry the provider's name (the ORGANISATION
setting) in their key: two providers' perimeters named `iaas-fr1` are two systems.

A document's own UUID is keyed by its content as well: OSCAL asks that it change whenever the document is revised,
and it then does, while it stays the same for unchanged data.
"""
from __future__ import annotations

import re
import uuid

# uuid5(NAMESPACE_URL, "urn:secnumcloud-evidence:oscal"), written out so that it can never drift (a test derives it
# again). Changing it would give every exported object a new identity.
NAMESPACE = uuid.UUID("2c08333f-d42f-5afa-a3cb-1ac45a64a2d3")

# The namespace of the props and parts the product adds to OSCAL's own (kind, service types, coverage…).
NS = "urn:secnumcloud-evidence:oscal"

# OSCAL's token: a letter or "_" first, then letters, digits, ".", "-" or "_".
TOKEN = re.compile(r"[^\W\d][\w.\-]*")
_NOT_IN_TOKEN = re.compile(r"[^\w.\-]")

# The prefix of a framework's control ids (`snc-12.4.a`); other frameworks take their key's first word.
PREFIXES = {"secnumcloud-3.2": "snc"}
# The OSCAL id an imported control had, kept among the requirement's URNs (the export gives it back).
OSCAL_URN = "oscal:"


def derived(kind: str, *key) -> str:
    """The UUID of the object of `kind` named by `key` (its parts joined, so that ("a", "b/c") ≠ ("a/b", "c"))."""
    name = kind + "\x1f" + "\x1f".join(str(part) for part in key)
    return str(uuid.uuid5(NAMESPACE, name))


def is_token(value: str) -> bool:
    return isinstance(value, str) and TOKEN.fullmatch(value) is not None


def prefix(framework_key: str) -> str:
    if framework_key in PREFIXES:
        return PREFIXES[framework_key]
    word = re.match(r"[a-z][a-z0-9]*", framework_key.lower())
    return word.group(0) if word else "fw"


def as_token(text: str, framework_key: str) -> str:
    """`12.4.a` → `snc-12.4.a`: the framework's prefix, then the ref with what a token cannot hold replaced."""
    return f"{prefix(framework_key)}-{_NOT_IN_TOKEN.sub('_', text)}"


def control_ids(framework_key: str, refs_and_urns) -> dict[str, str]:
    """ref → control id for a framework's items (and sections: their refs never meet an item's), each unique.

    An item imported from an OSCAL catalog keeps the id it had there (`ac-2.1`), so that a catalog taken in and
    given out again keeps its ids; every other takes `as_token` of its ref."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for ref, urns in refs_and_urns:
        kept = next((u[len(OSCAL_URN):] for u in urns or () if isinstance(u, str) and u.startswith(OSCAL_URN)), None)
        candidate = kept if kept and is_token(kept) else as_token(ref, framework_key)
        unique, n = candidate, 2
        while unique in taken:  # two refs that differ only by characters a token cannot hold
            unique, n = f"{candidate}-{n}", n + 1
        ids[ref] = unique
        taken.add(unique)
    return ids


def statement_id(control_id: str) -> str:
    return f"{control_id}_smt"


def entry_part_id(control_id: str, entry_id: str) -> str:
    """`12.4.a#2` of control `snc-12.4.a` → `snc-12.4.a_evd.2`."""
    number = entry_id.rsplit("#", 1)[-1]
    return f"{control_id}_evd.{_NOT_IN_TOKEN.sub('_', number)}"
