"""The evaluation's rules: what an evaluator sees, and who moves a request or a finding on.

Pure. An evaluator of the evaluation centre judges what the provider submits: approved evidence, and of it the
approved versions only (a draft is the team's work in progress, never shown to him). He asks (requests), accepts
or reopens the answers, raises findings and closes them; the team answers. A request or a finding the team typed
in itself (received by e-mail from a centre without accounts) is moved on by its compliance managers.
"""
from __future__ import annotations

from typing import Optional

from evidence.core.vocabulary import COMPLIANCE_ROLES, EVALUATOR, OPEN_REQUEST_STATUSES, TEAM_ROLES


def sees_work_in_progress(role: str) -> bool:
    """Whether this role sees drafts, evidence under review or rejected, and versions not approved."""
    return role != EVALUATOR


def sees_version(role: str, approved: bool) -> bool:
    return approved or sees_work_in_progress(role)


def sees_dossier(role: str, status: str) -> bool:
    """An evaluator reads the dossier the provider approved (four eyes), never a draft, a queued or a failed
    rendering: those are the team's work in progress."""
    return status == "approved" or sees_work_in_progress(role)


def may_raise(role: str) -> bool:
    """Requests and findings: raised by an evaluator, or logged by a compliance manager for a centre without
    accounts."""
    return role == EVALUATOR or role in COMPLIANCE_ROLES


def judging_side(raised_by_role: Optional[str]) -> tuple[str, ...]:
    """Who accepts, reopens or closes what was raised: the evaluators when an evaluator raised it, else the
    compliance managers who logged it."""
    return (EVALUATOR,) if raised_by_role == EVALUATOR else COMPLIANCE_ROLES


# Requests: action -> (the statuses it moves from, the status it leaves)
REQUEST_MOVES = {
    "answer": (("open", "reopened", "answered"), "answered"),
    "accept": (("answered",), "accepted"),
    "reopen": (("answered", "accepted"), "reopened"),
}


def request_move(status: str, action: str, actor_role: str, raised_by_role: Optional[str]) -> Optional[str]:
    """The request's next status, or None when `actor_role` may not take `action` from `status`. The team answers
    (every team role: an owner answers with his evidence); the judging side accepts or reopens."""
    if action not in REQUEST_MOVES:
        return None
    sources, target = REQUEST_MOVES[action]
    if status not in sources:
        return None
    allowed = TEAM_ROLES if action == "answer" else judging_side(raised_by_role)
    return target if actor_role in allowed else None


def request_waiting(status: str) -> bool:
    """Waiting for the team: what the inbox and the overdue count show."""
    return status in OPEN_REQUEST_STATUSES


def may_close_finding(actor_role: str, raised_by_role: Optional[str]) -> bool:
    """An evaluator's finding is closed by an evaluator only; one the team typed in, by a compliance manager."""
    return actor_role in judging_side(raised_by_role)


# A finding's fields: the judging side's words (what was found, how grave, on what, by when) and the provider's
# response. The team never rewrites what an evaluator found; an evaluator never writes the provider's response.
JUDGED_FIELDS = ("severity", "text", "requirement_id", "raised_on", "due_date")
RESPONSE_FIELDS = ("response",)


def finding_fields(actor_role: str, raised_by_role: Optional[str]) -> frozenset:
    """The fields of a finding `actor_role` may change. One the team typed in: a compliance manager all of them,
    its status included; an evaluator's: the evaluator his words, a compliance manager the response (the status
    then moves by answer and close only)."""
    if raised_by_role != EVALUATOR:
        return frozenset(JUDGED_FIELDS + RESPONSE_FIELDS + ("status",)) if actor_role in COMPLIANCE_ROLES else frozenset()
    if actor_role == EVALUATOR:
        return frozenset(JUDGED_FIELDS)
    return frozenset(RESPONSE_FIELDS) if actor_role in COMPLIANCE_ROLES else frozenset()


def status_shown(role: str, status: str) -> str:
    """The evidence's status as a reader sees it: an evaluator sees only evidence approved once, and of it the
    approved versions, so to him it is approved, whatever the team is doing with a newer version."""
    return status if sees_work_in_progress(role) else "approved"
