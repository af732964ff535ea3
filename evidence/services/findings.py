"""What the evaluation centre raised (findings) and what the provider does about gaps (actions)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Optional

from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import N_, EvidenceError
from evidence.core.rules import evaluation
from evidence.core.text import bounded
from evidence.core.vocabulary import (
    COMPLIANCE_ROLES,
    EVALUATOR,
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
    ControlPerimeter,
    ControlRequirement,
    Evidence,
    EvidenceAnswer,
    EvidenceControl,
    EvidencePerimeter,
    EvidenceRequirement,
    EvidenceVersion,
    Finding,
    FindingEvidence,
    Perimeter,
    Requirement,
    User,
    utcnow,
)
from evidence.services import need_to_know, notifications
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
    """A finding the team types in from the centre's report (it belongs to the running campaign, if any)."""
    from evidence.services.campaigns import running  # which imports services.grants, not this module

    campaign = running(session, perimeter)
    finding = Finding(perimeter_id=perimeter.id, campaign_id=campaign.id if campaign else None, **_check_finding(data))
    session.add(finding)
    session.flush()
    audit.record(session, actor, "finding.create", object_type="finding", object_id=str(finding.id),
                 details={"perimeter": perimeter.code, "severity": finding.severity, "status": finding.status})
    notifications.finding_raised(session, actor, finding, perimeter)  # the owners of the item's controls
    session.commit()
    return finding


def raised_by_role(finding: Finding) -> Optional[str]:
    """Who judges the finding: an evaluator when one raised it in place, else the team's compliance managers."""
    return EVALUATOR if finding.raised_by_id is not None else None


def closing_refused(finding: Finding) -> EvidenceError:
    if raised_by_role(finding) == EVALUATOR:
        return EvidenceError(N_("le constat n° %(id)s a été relevé par l’évaluateur : seul un évaluateur le clôture"),
                             id=finding.id)
    return EvidenceError(N_("le constat n° %(id)s a été saisi par l’équipe : un responsable conformité le clôture"),
                         id=finding.id)


def update_finding(session: Session, actor: User, finding: Finding, data: FindingData) -> Finding:
    """Change what the actor may change (rules.evaluation.finding_fields): the team never rewrites an
    evaluator's words, an evaluator never the provider's response. The team's response to an open evaluator's
    finding answers it."""
    values = _check_finding(data)
    allowed = evaluation.finding_fields(getattr(actor, "role", ""), raised_by_role(finding))
    changes = audit.diff(finding, values)
    for name in changes:
        if name in allowed:
            continue
        if name == "status" and values["status"] == "closed":
            raise closing_refused(finding)
        if name == "response":
            raise EvidenceError(N_("la réponse au constat n° %(id)s est celle du prestataire : l’évaluateur ne la "
                                   "modifie pas"), id=finding.id, field="response")
        if name == "status":
            continue  # an evaluator's finding moves on by answer and close alone: the form's status is ignored
        raise EvidenceError(N_("le constat n° %(id)s a été relevé par l’évaluateur : l’équipe n’en change ni le "
                               "texte, ni la gravité, ni le point, ni les dates"), id=finding.id, field=name)
    values = {k: v for k, v in values.items() if k in allowed}
    if raised_by_role(finding) == EVALUATOR and values.get("response", "").strip() and finding.status == "open":
        values["status"] = "answered"
    changes = audit.diff(finding, values)
    if not changes:
        return finding
    if changes.get("status", [None, None])[1] == "closed":
        finding.closed_at, finding.closed_by_id = utcnow(), getattr(actor, "id", None)
    elif "status" in changes:
        finding.closed_at = finding.closed_by_id = None
    for key, value in values.items():
        setattr(finding, key, value)
    finding.updated_at = utcnow()
    session.add(finding)
    audit.record(session, actor, "finding.update", object_type="finding", object_id=str(finding.id),
                 details={"changes": changes})
    if changes.get("status", [None, None])[1] == "closed":
        notifications.finding_closed(session, actor, finding, session.get(Perimeter, finding.perimeter_id))
    session.commit()
    return finding


# --- raised in place by the evaluator ---------------------------------------------------------------------


def item_versions(session: Session, perimeter: Perimeter, requirement: Requirement,
                  reader=None) -> list[tuple[Evidence, EvidenceVersion]]:
    """The approved versions of the evidence on an item in a perimeter (valid for the perimeter, and linked to
    the item, answering one of its entries, or proving a control deployed in the perimeter that is mapped to
    it): what an evaluator may pin to a finding on that item; with `reader`, only evidence whose content he may
    read (need-to-know: he cannot have looked at the rest)."""
    controls = (select(EvidenceControl.evidence_id)
                .join(ControlRequirement, ControlRequirement.control_id == EvidenceControl.control_id)
                .join(ControlPerimeter, ControlPerimeter.control_id == EvidenceControl.control_id)
                .where(ControlRequirement.requirement_id == requirement.id, ControlPerimeter.perimeter_id == perimeter.id))
    direct = select(EvidenceRequirement.evidence_id).where(EvidenceRequirement.requirement_id == requirement.id)
    answers = select(EvidenceAnswer.evidence_id).where(EvidenceAnswer.requirement_id == requirement.id)
    in_perimeter = select(EvidencePerimeter.evidence_id).where(EvidencePerimeter.perimeter_id == perimeter.id)
    rows = list(session.exec(
        select(Evidence, EvidenceVersion).join(EvidenceVersion, EvidenceVersion.evidence_id == Evidence.id)
        .where(EvidenceVersion.approved_at.is_not(None), Evidence.id.in_(in_perimeter),
               Evidence.id.in_(controls.union(direct, answers)))
        .order_by(Evidence.ref, EvidenceVersion.number.desc())))
    if reader is None:
        return rows
    readable = need_to_know.readable_ids(session, reader, list({e.id: e for e, _v in rows}.values()))
    return [(e, v) for e, v in rows if e.id in readable]


@dataclass
class RaisedFinding:
    severity: str
    text: str
    version_ids: list[int] = field(default_factory=list)  # the evidence versions looked at (item_versions')
    due_date: Optional[date] = None


def raise_finding(session: Session, actor: User, perimeter: Perimeter, requirement: Requirement,
                  data: RaisedFinding, today: date) -> Finding:
    """A finding raised on an item from its page: by an evaluator (who then judges it: he alone closes it) or by
    a compliance manager for a centre without accounts; today, in the running campaign, the versions looked at
    pinned. The owners of the item's controls are told."""
    from evidence.services.campaigns import running

    if not evaluation.may_raise(getattr(actor, "role", "")):
        raise PermissionError(f"{getattr(actor, 'email', actor)} may not raise findings")
    values = _check_finding(FindingData(severity=data.severity, text=data.text, requirement_id=requirement.id,
                                        raised_on=today, due_date=data.due_date))
    if data.due_date is not None and data.due_date < today:
        raise EvidenceError(N_("l’échéance %(date)s est passée"), date=data.due_date.isoformat(), field="due_date")
    offered = {v.id: (e, v) for e, v in item_versions(session, perimeter, requirement, reader=actor)}
    wanted = list(dict.fromkeys(int(i) for i in data.version_ids))
    for version_id in wanted:
        if version_id not in offered:
            raise EvidenceError(N_("la version n° %(id)s n’est pas une version approuvée d’une preuve de %(ref)s dans "
                                   "le périmètre %(code)s"), id=version_id, ref=requirement.ref, code=perimeter.code,
                                field="versions")
    campaign = running(session, perimeter)
    finding = Finding(perimeter_id=perimeter.id, campaign_id=campaign.id if campaign else None,
                      raised_by_id=actor.id if actor.role == EVALUATOR else None, **values)
    session.add(finding)
    session.flush()
    for version_id in wanted:
        session.add(FindingEvidence(finding_id=finding.id, evidence_version_id=version_id))
    audit.record(session, actor, "finding.raise", object_type="finding", object_id=str(finding.id), details={
        "perimeter": perimeter.code, "requirement": requirement.ref, "severity": finding.severity,
        "campaign": finding.campaign_id,
        "evidence": [f"{offered[i][0].ref} v{offered[i][1].number}" for i in wanted]})
    notifications.finding_raised(session, actor, finding, perimeter)
    session.commit()
    return finding


def close_finding(session: Session, actor: User, finding: Finding) -> Finding:
    """The judging side closes the finding (rules.evaluation.may_close_finding); the team is told."""
    if finding.status == "closed":
        raise EvidenceError(N_("le constat n° %(id)s est déjà clos"), id=finding.id)
    if not evaluation.may_close_finding(getattr(actor, "role", ""), raised_by_role(finding)):
        raise closing_refused(finding)
    before = finding.status
    finding.status, finding.closed_at, finding.closed_by_id = "closed", utcnow(), getattr(actor, "id", None)
    finding.updated_at = finding.closed_at
    session.add(finding)
    audit.record(session, actor, "finding.close", object_type="finding", object_id=str(finding.id),
                 details={"changes": {"status": [before, "closed"]}})
    notifications.finding_closed(session, actor, finding, session.get(Perimeter, finding.perimeter_id))
    session.commit()
    return finding


def pinned_versions(session: Session, finding_ids: list[int]) -> dict[int, list[tuple[Evidence, EvidenceVersion]]]:
    """finding id -> the evidence versions pinned to it (one query whatever their number)."""
    found: dict[int, list] = {}
    for finding_id, evidence, version in session.exec(
            select(FindingEvidence.finding_id, Evidence, EvidenceVersion)
            .join(EvidenceVersion, EvidenceVersion.id == FindingEvidence.evidence_version_id)
            .join(Evidence, Evidence.id == EvidenceVersion.evidence_id)
            .where(FindingEvidence.finding_id.in_(finding_ids or [-1])).order_by(Evidence.ref, EvidenceVersion.number)):
        found.setdefault(finding_id, []).append((evidence, version))
    return found


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
        _answered_by_action(session, actor, action, data.finding_ids)
    audit.record(session, actor, "action.create" if created else "action.update", object_type="action",
                 object_id=str(action.id), details={"perimeter": perimeter.code, **({"title": action.title} if created else {"changes": changes})})
    session.commit()
    return action


def _answered_by_action(session: Session, actor, action: Action, finding_ids: list[int]) -> None:
    """An action planned for an open finding is the provider's answer: the finding is answered (audited)."""
    for finding in session.exec(select(Finding).where(Finding.id.in_(finding_ids or [-1]), Finding.status == "open",
                                                      Finding.perimeter_id == action.perimeter_id)):
        finding.status, finding.updated_at = "answered", utcnow()
        session.add(finding)
        audit.record(session, actor, "finding.answer", object_type="finding", object_id=str(finding.id),
                     details={"changes": {"status": ["open", "answered"]}, "action": action.id})


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
