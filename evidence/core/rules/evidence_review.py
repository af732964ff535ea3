"""The review of evidence: who submits, approves, rejects or reopens it, from which status to which, and which
edits undo a review."""
from __future__ import annotations

from typing import Iterable, Optional

from evidence.core.errors import N_, Message
from evidence.core.vocabulary import AUTOMATED_KIND

REVIEW_TRANSITIONS = {
    "submit": ({"draft", "rejected"}, "in_review"),
    "approve": ({"in_review"}, "approved"),
    "reject": ({"in_review"}, "rejected"),
    "reopen": ({"approved", "rejected"}, "draft"),
}


def review_transition(action: str, status: str) -> str:
    """The status after a review action, or ValueError when the action does not apply to this status."""
    if action not in REVIEW_TRANSITIONS:
        raise ValueError(f"unknown review action {action!r}")
    sources, target = REVIEW_TRANSITIONS[action]
    if status not in sources:
        raise ValueError(f"cannot {action} evidence that is {status.replace('_', ' ')}")
    return target


# What an approval vouches for: the evidence's words, dates and links. A change to any of them after approval
# (or while a reviewer reads it) means the approval is about something else: the evidence goes back to draft,
# as a new version does, and is submitted again. The owner and the renewal cadence are who keeps it up and
# when: they change nothing the reviewer checked, and keep the status.
PROVING_FIELDS = ("title", "kind", "description", "classification", "effective_date", "valid_until",
                  "document_version", "controls", "requirements", "perimeters", "answers")
REVIEWED_STATUSES = ("approved", "in_review")  # a verdict given, or being given, on what it says now


def proving_changes(changed: Iterable[str]) -> tuple[str, ...]:
    """The changed fields (model columns or link names, as the audit's "changes" name them) that change what
    an approval vouched for, in PROVING_FIELDS order."""
    changed = set(changed)
    return tuple(name for name in PROVING_FIELDS if name in changed)


def status_after_edit(status: str, changed: Iterable[str]) -> str:
    """The evidence's status after an edit changing `changed`: back to draft when it was approved or in review
    and a proving field changed, else as it was."""
    if status in REVIEWED_STATUSES and proving_changes(changed):
        return "draft"
    return status


# A new version. What a reviewer approved is one file: another file is another thing to review, so hand-made
# evidence goes back to draft. Automated evidence is reviewed once, when it is first collected: the reviewer
# vouches for the collector, the perimeter and the entries it answers, not for one run, whose result and age
# decide each day whether it proves anything (coverage.usable). A later run from its collector keeps the status
# and carries the approval to the run's version (the one the dossier cites); a file a person uploads by hand is
# not a run, and a change to the proving fields (status_after_edit) re-opens the review as for any evidence.


def keeps_review(kind: str, collected: bool) -> bool:
    """Whether a new version leaves the evidence's review as it stands: a collector's run of automated evidence."""
    return collected and kind == AUTOMATED_KIND


def status_after_new_version(kind: str, status: str, collected: bool = False) -> str:
    """The evidence's status once a new version is added (`collected`: the version is a collector's run)."""
    return status if keeps_review(kind, collected) else "draft"


def hand_version_refusal(kind: str, ref: str) -> Optional[Message]:
    """Why a person may not add a version (a file or an address) to this evidence, or None. Automated evidence
    holds its collector's runs only: a file laid over one would be cited as a run nobody made."""
    if kind == AUTOMATED_KIND:
        return Message(N_("%(ref)s est une preuve automatisée : seul son collecteur en dépose les versions "
                          "(evidence collect)"), ref=ref)
    return None
