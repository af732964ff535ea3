"""The review of evidence: who submits, approves, rejects or reopens it, from which status to which, and which
edits undo a review."""
from __future__ import annotations

from typing import Iterable

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
