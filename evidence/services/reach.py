"""What a person, or a token, reaches: the perimeters granted (rules.token_scope), the objects within them, and
for an evaluator approved work only (rules.evaluation). Every door asks here: the web's loaders and list pages,
the API's views, the exports.

An object's perimeters: a perimeter itself; evidence, the perimeters it is valid for; a control, those it is
deployed in; a finding, an action, a request, a campaign, a comment or a dossier, its own perimeter.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable, Optional

from sqlalchemy import exists, false
from sqlmodel import Session, select

from evidence.core.rules import evaluation
from evidence.core.rules.token_scope import UNLIMITED, PerimeterScope, granted_scope
from evidence.core.vocabulary import SCOPED_ROLES
from evidence.data.models import (
    Control,
    ControlPerimeter,
    Evidence,
    EvidencePerimeter,
    EvidenceVersion,
    Perimeter,
    PerimeterGrant,
    User,
)


def grants_of(session: Session, user: User) -> list[tuple[int, Optional[date]]]:
    """(perimeter id, last day or None) of each perimeter granted to `user`."""
    return list(session.exec(select(PerimeterGrant.perimeter_id, PerimeterGrant.until)
                             .where(PerimeterGrant.user_id == user.id)))


def scope_of(session: Session, user, today: date) -> PerimeterScope:
    """The perimeters `user` reaches today (UNLIMITED for the team, and for the operator at the command line)."""
    if not isinstance(user, User) or user.role not in SCOPED_ROLES:
        return UNLIMITED
    return granted_scope(user.role, grants_of(session, user), today)


def role_of(user) -> Optional[str]:
    return user.role if isinstance(user, User) else None


# --- one object --------------------------------------------------------------------------------------------


def perimeters_of_evidence(session: Session, evidence: Evidence) -> list[int]:
    return list(session.exec(select(EvidencePerimeter.perimeter_id).where(EvidencePerimeter.evidence_id == evidence.id)))


def perimeters_of_control(session: Session, control: Control) -> list[int]:
    return list(session.exec(select(ControlPerimeter.perimeter_id).where(ControlPerimeter.control_id == control.id)))


def has_approved_version(session: Session, evidence: Evidence) -> bool:
    return session.exec(select(EvidenceVersion.id).where(
        EvidenceVersion.evidence_id == evidence.id, EvidenceVersion.approved_at.is_not(None)).limit(1)).first() is not None


def reaches_perimeter(scope: PerimeterScope, perimeter: Perimeter) -> bool:
    return scope.reaches([perimeter.id])


def reaches_evidence(session: Session, scope: PerimeterScope, role: Optional[str], evidence: Evidence) -> bool:
    """Within the scope, and for an evaluator approved once at least (he then sees its approved versions only)."""
    if scope.limited and not scope.reaches(perimeters_of_evidence(session, evidence)):
        return False
    return role is None or evaluation.sees_work_in_progress(role) or has_approved_version(session, evidence)


def reaches_control(session: Session, scope: PerimeterScope, control: Control) -> bool:
    return not scope.limited or scope.reaches(perimeters_of_control(session, control))


def visible_versions(role: Optional[str], versions: Iterable[EvidenceVersion]) -> list[EvidenceVersion]:
    """The versions `role` may see: every one, or for an evaluator the approved ones."""
    return [v for v in versions if role is None or evaluation.sees_version(role, v.approved_at is not None)]


# --- lists: a query's WHERE, so that counts and pages agree ----------------------------------------------------


def only_reachable_perimeters(query, scope: PerimeterScope):
    if not scope.limited:
        return query
    return query.where(Perimeter.id.in_(sorted(scope.perimeter_ids)))


def only_reachable_evidence(query, scope: PerimeterScope, role: Optional[str] = None):
    """A query of Evidence limited to what the scope reaches and, for an evaluator, to evidence approved once."""
    if scope.limited:
        query = query.where(Evidence.id.in_(select(EvidencePerimeter.evidence_id).where(
            EvidencePerimeter.perimeter_id.in_(sorted(scope.perimeter_ids)))))
    if role is not None and not evaluation.sees_work_in_progress(role):
        query = query.where(exists().where(EvidenceVersion.evidence_id == Evidence.id,
                                           EvidenceVersion.approved_at.is_not(None)))
    return query


def with_status(query, status: str, role: Optional[str]):
    """A query of Evidence limited to one review status, as the reader sees statuses (rules.evaluation.status_shown):
    to an evaluator everything he sees is approved, so a filter on another status finds nothing rather than
    telling him which evidence has a newer version under way."""
    if role is None or evaluation.sees_work_in_progress(role):
        return query.where(Evidence.status == status)
    return query if status == "approved" else query.where(false())


def only_reachable_controls(query, scope: PerimeterScope):
    if not scope.limited:
        return query
    return query.where(Control.id.in_(select(ControlPerimeter.control_id).where(
        ControlPerimeter.perimeter_id.in_(sorted(scope.perimeter_ids)))))


def only_in_scope(query, column, scope: PerimeterScope):
    """A query of rows that belong to one perimeter (`column`: their perimeter_id) limited to the scope."""
    if not scope.limited:
        return query
    return query.where(column.in_(sorted(scope.perimeter_ids)))
