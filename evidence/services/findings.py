"""What the evaluation centre raised (findings) and what the provider does about gaps (actions)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Optional

from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import N_, EvidenceError
from evidence.core.text import bounded
from evidence.core.vocabulary import (
    COMPLIANCE_ROLES,
    MAX_DESCRIPTION,
    MAX_TITLE,
    OPEN_ACTION_STATUSES,
    OPEN_FINDING_STATUSES,
    RESIDUAL_RISKS,
)
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
    Control,
    Finding,
    Perimeter,
    Requirement,
    User,
    utcnow,
)
from evidence.services import notifications
from evidence.services.users import check_owner


@dataclass
class FindingData:
    severity: str
    text: str
    requirement_id: Optional[int] = None
    raised_on: Optional[date] = None
    due_date: Optional[date] = None
    response: str = ""
    status: str = "open"


def _check_finding(data: FindingData) -> dict:
    """The finding's checked values: what the evaluation centre wrote and the provider's response, each within
    MAX_DESCRIPTION whatever the door."""
    if data.severity not in FINDING_SEVERITIES:
        raise EvidenceError(N_("gravité « %(severity)s » inconnue"), severity=data.severity, field="severity")
    if data.status not in FINDING_STATUSES:
        raise EvidenceError(N_("état de constat « %(status)s » inconnu"), status=data.status, field="status")
    if not (data.text or "").strip():
        raise EvidenceError(N_("un constat doit avoir un texte"), field="text")
    return {"severity": data.severity, "text": bounded(data.text, MAX_DESCRIPTION, N_("Constat"), "text"),
            "requirement_id": data.requirement_id, "raised_on": data.raised_on, "due_date": data.due_date,
            "response": bounded(data.response, MAX_DESCRIPTION, N_("Réponse du prestataire"), "response"),
            "status": data.status}


def create_finding(session: Session, actor: User, perimeter: Perimeter, data: FindingData) -> Finding:
    finding = Finding(perimeter_id=perimeter.id, **_check_finding(data))
    session.add(finding)
    session.flush()
    audit.record(session, actor, "finding.create", object_type="finding", object_id=str(finding.id),
                 details={"perimeter": perimeter.code, "severity": finding.severity, "status": finding.status})
    notifications.finding_raised(session, actor, finding, perimeter)  # the owners of the item's controls
    session.commit()
    return finding


def update_finding(session: Session, actor: User, finding: Finding, data: FindingData) -> Finding:
    values = _check_finding(data)
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
        raise EvidenceError(N_("une action doit avoir un intitulé"), field="title")
    if data.status not in ACTION_STATUSES:
        raise EvidenceError(N_("état d’action « %(status)s » inconnu"), status=data.status, field="status")
    if (data.residual_risk or "") not in ("",) + RESIDUAL_RISKS:
        raise EvidenceError(N_("risque résiduel « %(risk)s » inconnu (l’un de : %(risks)s, ou vide tant qu’il n’est "
                               "pas évalué)"), risk=data.residual_risk, risks=", ".join(RESIDUAL_RISKS),
                            field="residual_risk")
    if action is not None and not can_update_action(actor, action):
        raise PermissionError(f"{actor.email} may not change this action")
    if action is None and actor.role not in COMPLIANCE_ROLES:
        raise PermissionError(f"{actor.email} may not plan actions")
    if data.owner_id is not None and actor.role in COMPLIANCE_ROLES:  # only a manager plans, so names the owner
        owner = session.get(User, data.owner_id)
        if owner is None:
            raise EvidenceError(N_("responsable inconnu"), field="owner")
        check_owner(owner, kept_id=action.owner_id if action else None)
    values = {"title": bounded(data.title, MAX_TITLE, N_("Action"), "title"),
              "description": bounded(data.description, MAX_DESCRIPTION, N_("Description"), "description"),
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


# --- how findings, actions and items point at each other ---------------------------------------------------


@dataclass
class PlanLinks:
    """A perimeter's findings and actions and the items and controls they name: what the gap list, the item
    page, the findings and the action plan link to (read in a constant number of queries)."""

    actions: dict = field(default_factory=dict)  # action id -> Action
    findings: dict = field(default_factory=dict)  # finding id -> Finding
    finding_item: dict = field(default_factory=dict)  # finding id -> item ref
    action_items: dict = field(default_factory=dict)  # action id -> [item ref]
    action_controls: dict = field(default_factory=dict)  # action id -> [control ref]
    action_findings: dict = field(default_factory=dict)  # action id -> [finding id]

    def actions_of_finding(self, finding_id: int) -> list[Action]:
        return [self.actions[a] for a, ids in self.action_findings.items() if finding_id in ids]

    def findings_of_item(self, ref: str, *, open_only: bool = True) -> list[Finding]:
        return [f for f_id, f in self.findings.items() if self.finding_item.get(f_id) == ref
                and (not open_only or f.status in OPEN_FINDING_STATUSES)]

    def actions_of_item(self, ref: str, *, open_only: bool = True) -> list[Action]:
        """The actions on the item: named on it, or on one of its findings."""
        its_findings = {f.id for f in self.findings_of_item(ref, open_only=False)}
        return [a for a_id, a in self.actions.items()
                if (ref in self.action_items.get(a_id, ()) or its_findings & set(self.action_findings.get(a_id, ())))
                and (not open_only or a.status in OPEN_ACTION_STATUSES)]


def plan_links(session: Session, perimeter: Perimeter) -> PlanLinks:
    links = PlanLinks()
    links.actions = {a.id: a for a in session.exec(
        select(Action).where(Action.perimeter_id == perimeter.id).order_by(Action.due_date, Action.id))}
    for finding, ref in session.exec(
        select(Finding, Requirement.ref).outerjoin(Requirement, Requirement.id == Finding.requirement_id)
        .where(Finding.perimeter_id == perimeter.id).order_by(Finding.id)
    ):
        links.findings[finding.id] = finding
        if ref:
            links.finding_item[finding.id] = ref
    ids = list(links.actions) or [-1]
    for target, query in (
        (links.action_items, select(ActionRequirement.action_id, Requirement.ref).join(
            Requirement, Requirement.id == ActionRequirement.requirement_id)
         .where(ActionRequirement.action_id.in_(ids)).order_by(Requirement.order)),
        (links.action_controls, select(ActionControl.action_id, Control.ref).join(
            Control, Control.id == ActionControl.control_id).where(ActionControl.action_id.in_(ids)).order_by(Control.ref)),
        (links.action_findings, select(ActionFinding.action_id, ActionFinding.finding_id)
         .where(ActionFinding.action_id.in_(ids)).order_by(ActionFinding.finding_id)),
    ):
        for action_id, value in session.exec(query):
            target.setdefault(action_id, []).append(value)
    return links
