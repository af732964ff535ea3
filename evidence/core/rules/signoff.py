"""Who may approve a dossier version: four eyes.

A rendered version is a draft until two distinct people, each in a distinct one of the configured functions
(by default the RSSI and the management), have approved it; the second approval freezes it. Only the
compliance managers approve (administrators too when ADMIN_APPROVES is on: rules.duties); nobody approves a
version that is not a rendered draft, nor one already approved.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from evidence.core.rules.duties import held_back_admin
from evidence.core.rules.duties import may_approve as duties_may_approve

APPROVALS_NEEDED = 2  # four eyes

# Why an approval is refused (the service turns them into messages).
NOT_AN_APPROVER = "not_an_approver"  # the role may not approve
ADMIN_SEPARATED = "admin_separated"  # an administrator, while the separation of duties holds (ADMIN_APPROVES off)
NOT_A_DRAFT = "not_a_draft"  # queued, rendering or failed: there is no rendered draft to approve
ALREADY_APPROVED = "already_approved"  # frozen: nothing is added after the second approval
UNKNOWN_FUNCTION = "unknown_function"  # not one of the configured functions
TOO_FEW_FUNCTIONS = "too_few_functions"  # the settings name fewer functions than approvals are needed
SAME_PERSON = "same_person"  # this person has approved this version already
SAME_FUNCTION = "same_function"  # someone has approved this version in this function already
SIGNOFF_REFUSALS = (NOT_AN_APPROVER, ADMIN_SEPARATED, NOT_A_DRAFT, ALREADY_APPROVED, UNKNOWN_FUNCTION, TOO_FEW_FUNCTIONS,
                    SAME_PERSON, SAME_FUNCTION)


class SignoffRefused(ValueError):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Approval:
    """An approval already given: by whom (a user's id) and in which function."""

    user_id: Optional[int]
    function: str


def approver_functions(setting: str) -> tuple[str, ...]:
    """The functions approvers sign in, from the `;`-separated setting, in its order, each once."""
    seen: list[str] = []
    for part in (setting or "").split(";"):
        name = " ".join(part.split())
        if name and name not in seen:
            seen.append(name)
    return tuple(seen)


def check_approval(role: str, user_id: Optional[int], function: str, status: str, approved: bool,
                   approvals: Iterable[Approval], functions: Sequence[str], admin_approves: bool = False) -> None:
    """Nothing when this approval may be given, else SignoffRefused with the code of the rule it breaks.

    `status` is the version's (a rendered draft is "draft"), `approved` whether it was frozen already (a final
    render that failed leaves it "failed" but approved), `approvals` those given so far."""
    if approved or status == "approved":
        raise SignoffRefused(ALREADY_APPROVED)
    if status != "draft":
        raise SignoffRefused(NOT_A_DRAFT)
    if not duties_may_approve(role, admin_approves):
        raise SignoffRefused(ADMIN_SEPARATED if held_back_admin(role, admin_approves) else NOT_AN_APPROVER)
    if len(functions) < APPROVALS_NEEDED:
        raise SignoffRefused(TOO_FEW_FUNCTIONS)
    if function not in functions:
        raise SignoffRefused(UNKNOWN_FUNCTION)
    given = list(approvals)
    if user_id is not None and any(a.user_id == user_id for a in given):
        raise SignoffRefused(SAME_PERSON)
    if any(a.function == function for a in given):
        raise SignoffRefused(SAME_FUNCTION)


def open_functions(approvals: Iterable[Approval], functions: Sequence[str]) -> tuple[str, ...]:
    """The configured functions nobody has approved in yet: what the approval form offers."""
    taken = {a.function for a in approvals}
    return tuple(f for f in functions if f not in taken)


def frozen_by(approvals: Iterable[Approval]) -> bool:
    """Whether these approvals (the new one included) freeze the version."""
    given = list(approvals)
    return (len({a.user_id for a in given}) >= APPROVALS_NEEDED
            and len({a.function for a in given}) >= APPROVALS_NEEDED)
