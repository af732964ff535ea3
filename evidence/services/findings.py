"""What the evaluation centre raised (findings) and what the provider does about gaps (actions)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Optional

from sqlmodel import Session

from evidence.core import rules
from evidence.core.errors import EvidenceError
from evidence.core.vocabulary import COMPLIANCE_ROLES, RESIDUAL_RISKS
from evidence.data import audit
from evidence.data.links import replace_links
from evidence.data.models import (
    ACTION_STATUSES,
    FINDING_SEVERITIES,
    FINDING_STATUSES,
    Action,
    ActionControl,
    ActionFinding,
    ActionRequirement,
    Finding,
    Perimeter,
    User,
    utcnow,
)


@dataclass
class FindingData:
    severity: str
    text: str
    requirement_id: Optional[int] = None
    raised_on: Optional[date] = None
    due_date: Optional[date] = None
    response: str = ""
    status: str = "open"


def _check_finding(data: FindingData) -> None:
    if data.severity not in FINDING_SEVERITIES:
        raise EvidenceError(f"unknown severity {data.severity!r}")
    if data.status not in FINDING_STATUSES:
        raise EvidenceError(f"unknown finding status {data.status!r}")
    if not (data.text or "").strip():
        raise EvidenceError("a finding needs its text")


def create_finding(session: Session, actor: User, perimeter: Perimeter, data: FindingData) -> Finding:
    _check_finding(data)
    finding = Finding(perimeter_id=perimeter.id, requirement_id=data.requirement_id, severity=data.severity,
                      text=data.text.strip(), raised_on=data.raised_on, due_date=data.due_date,
                      response=(data.response or "").strip(), status=data.status)
    session.add(finding)
    session.flush()
    audit.record(session, actor, "finding.create", object_type="finding", object_id=str(finding.id),
                 details={"perimeter": perimeter.code, "severity": finding.severity, "status": finding.status})
    session.commit()
    return finding


def update_finding(session: Session, actor: User, finding: Finding, data: FindingData) -> Finding:
    _check_finding(data)
    values = {"severity": data.severity, "text": data.text.strip(), "requirement_id": data.requirement_id,
              "raised_on": data.raised_on, "due_date": data.due_date, "response": (data.response or "").strip(),
              "status": data.status}
    changes = audit.diff(finding, values)
    if not changes:
        return finding
    for key, value in values.items():
        setattr(finding, key, value)
    finding.updated_at = utcnow()
    session.add(finding)
    audit.record(session, actor, "finding.update", object_type="finding", object_id=str(finding.id),
                 details={"changes": changes})
    session.commit()
    return finding


@dataclass
class ActionData:
    title: str
    description: str = ""
    owner_id: Optional[int] = None
    due_date: Optional[date] = None
    status: str = "open"
    requirement_ids: list[int] = field(default_factory=list)
    control_ids: list[int] = field(default_factory=list)
    finding_ids: list[int] = field(default_factory=list)
    residual_risk: str = ""  # RESIDUAL_RISKS, "" while not rated


def can_update_action(user: User, action: Action) -> bool:
    return user.role in COMPLIANCE_ROLES or (user.role == "contributor" and action.owner_id == user.id)


def save_action(session: Session, actor: User, perimeter: Perimeter, data: ActionData,
                action: Optional[Action] = None) -> Action:
    if not (data.title or "").strip():
        raise EvidenceError("an action needs a title")
    if data.status not in ACTION_STATUSES:
        raise EvidenceError(f"unknown action status {data.status!r}")
    if (data.residual_risk or "") not in ("",) + RESIDUAL_RISKS:
        raise EvidenceError(f"unknown residual risk {data.residual_risk!r} (one of {', '.join(RESIDUAL_RISKS)}, "
                            "or empty while not rated)")
    if action is not None and not can_update_action(actor, action):
        raise PermissionError(f"{actor.email} may not change this action")
    if action is None and actor.role not in COMPLIANCE_ROLES:
        raise PermissionError(f"{actor.email} may not plan actions")
    values = {"title": data.title.strip()[:300], "description": (data.description or "").strip(),
              "owner_id": data.owner_id, "due_date": data.due_date, "status": data.status,
              "residual_risk": data.residual_risk or ""}
    if action is not None and actor.role not in COMPLIANCE_ROLES:
        values = {"status": data.status}  # an owner reports progress; a manager plans
    created = action is None
    action = action or Action(perimeter_id=perimeter.id, title=values["title"])
    changes = audit.diff(action, values) if not created else {}
    for key, value in values.items():
        setattr(action, key, value)
    action.updated_at = utcnow()
    session.add(action)
    session.flush()
    if actor.role in COMPLIANCE_ROLES:
        for model, column, ids in ((ActionRequirement, ActionRequirement.requirement_id, data.requirement_ids),
                                   (ActionControl, ActionControl.control_id, data.control_ids),
                                   (ActionFinding, ActionFinding.finding_id, data.finding_ids)):
            replace_links(session, model, model.action_id, action.id, column, ids)
    audit.record(session, actor, "action.create" if created else "action.update", object_type="action",
                 object_id=str(action.id), details={"perimeter": perimeter.code, **({"title": action.title} if created else {"changes": changes})})
    session.commit()
    return action


def action_overdue(action: Action, today: date) -> bool:
    return rules.action_overdue(action.status, action.due_date, today)


def finding_overdue(finding: Finding, today: date) -> bool:
    return rules.finding_overdue(finding.status, finding.due_date, today)
