"""Evidence requests ("demandes de pièces"): the evaluation centre asks for evidence on an item or a control of a
perimeter, with a due date; the team answers with evidence of the perimeter (existing, or made from the request);
the judging side accepts the answer or reopens the request, saying why.

Who moves a request on is rules.evaluation's (`may_raise`, `request_move`); what a person reaches is reach's: an
evaluator sees an answer's evidence only once approved (the pages say « en cours de revue » until then). Each action
is one transaction with its audit event (`request.raise|answer|accept|reopen`) and its notification.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Optional, Sequence

from sqlalchemy import func
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError, Message, check_version
from evidence.core.rules import evaluation
from evidence.core.text import bounded
from evidence.core.vocabulary import MAX_JUSTIFICATION, REQUEST_STATUSES, SCOPED_ROLES, TEAM_ROLES
from evidence.data import audit
from evidence.data.models import (
    Campaign,
    Control,
    ControlPerimeter,
    ControlRequirement,
    Evidence,
    EvidencePerimeter,
    EvidenceRequest,
    EvidenceVersion,
    Perimeter,
    RequestEvidence,
    Requirement,
    User,
    utcnow,
)
from evidence.services import campaigns, notifications

NO_SUCH_REQUEST = N_("%(code)s n’a pas de demande de pièces n° %(id)s")
STATUS_REFUSALS = {
    "answer": N_("la demande n° %(id)s ne peut pas recevoir de réponse (état : %(status)s)"),
    "accept": N_("la demande n° %(id)s ne peut pas être acceptée (état : %(status)s)"),
    "reopen": N_("la demande n° %(id)s ne peut pas être rouverte (état : %(status)s)"),
}
# The statuses' words in refusals (the same msgids as presentation.labels.REQUEST_STATUS).
STATUS_WORDS = {"open": N_("Ouverte"), "answered": N_("Répondue"), "accepted": N_("Acceptée"), "reopened": N_("Rouverte")}


@dataclass
class RequestData:
    """What the evaluator asks: a text, on an item (by id) and/or a control (by id) of the perimeter, for a day."""

    text: str
    requirement_id: Optional[int] = None
    control_id: Optional[int] = None
    due_date: Optional[date] = None


# --- who answers, and in which campaign ---------------------------------------------------------------------


def assignee_for(session: Session, perimeter: Perimeter, requirement_id: Optional[int],
                 control_id: Optional[int]) -> Optional[int]:
    """Who a request waits on: the control's owner; for an item, the owner of the first control (by ref) mapped to
    it and deployed in the perimeter; failing an active owner, the first active compliance manager (managers before
    administrators), who passes it on."""
    if control_id is not None:
        owner = session.exec(select(User.id).join(Control, Control.owner_id == User.id)
                             .where(Control.id == control_id, User.active)).first()
        if owner is not None:
            return owner
    if requirement_id is not None:
        owner = session.exec(
            select(User.id).join(Control, Control.owner_id == User.id)
            .join(ControlRequirement, ControlRequirement.control_id == Control.id)
            .join(ControlPerimeter, ControlPerimeter.control_id == Control.id)
            .where(ControlRequirement.requirement_id == requirement_id, ControlPerimeter.perimeter_id == perimeter.id,
                   Control.status != "retired", User.active)
            .order_by(Control.ref)).first()
        if owner is not None:
            return owner
    for role in ("manager", "admin"):
        manager = session.exec(select(User.id).where(User.role == role, User.active).order_by(User.id)).first()
        if manager is not None:
            return manager
    return None


def _role(user) -> Optional[str]:
    return user.role if isinstance(user, User) else None


def raised_by_role(session: Session, request: EvidenceRequest) -> Optional[str]:
    raiser = session.get(User, request.raised_by_id) if request.raised_by_id else None
    return raiser.role if raiser is not None else None


def subject_words(requirement: Optional[Requirement], control: Optional[Control]) -> str:
    """What the request is on, as its notifications and sheets name it: « 12.4.a », « CTL-AV-01 », or both."""
    return " / ".join(x for x in (requirement.ref if requirement else "", control.ref if control else "") if x)


# --- raising ----------------------------------------------------------------------------------------------------


def raise_request(session: Session, actor: User, perimeter: Perimeter, data: RequestData, today: date) -> EvidenceRequest:
    """Ask for evidence: an evaluator, or a compliance manager logging a centre's request received otherwise."""
    if not evaluation.may_raise(_role(actor) or ""):
        raise PermissionError(f"{getattr(actor, 'email', actor)} may not raise requests")
    if not (data.text or "").strip():
        raise EvidenceError(N_("une demande de pièces dit ce qui est demandé"), field="text")
    text = bounded(data.text, MAX_JUSTIFICATION, N_("Demande"), "text")
    if data.requirement_id is None and data.control_id is None:
        raise EvidenceError(N_("une demande de pièces porte sur un point du référentiel ou une mesure"),
                            field="requirement")
    requirement = session.get(Requirement, data.requirement_id) if data.requirement_id is not None else None
    if data.requirement_id is not None and (requirement is None or requirement.framework_id != perimeter.framework_id):
        raise EvidenceError(N_("ce point n’appartient pas au référentiel du périmètre %(code)s"), code=perimeter.code,
                            field="requirement")
    control = session.get(Control, data.control_id) if data.control_id is not None else None
    if data.control_id is not None and (control is None or session.exec(select(ControlPerimeter.control_id).where(
            ControlPerimeter.control_id == data.control_id, ControlPerimeter.perimeter_id == perimeter.id)).first() is None):
        raise EvidenceError(N_("cette mesure n’est pas déployée dans le périmètre %(code)s"), code=perimeter.code,
                            field="control")
    if data.due_date is not None and data.due_date < today:
        raise EvidenceError(N_("l’échéance d’une demande ne peut pas être passée (%(date)s)"),
                            date=data.due_date.isoformat(), field="due_date")
    campaign = campaigns.running(session, perimeter)
    request = EvidenceRequest(
        perimeter_id=perimeter.id, campaign_id=campaign.id if campaign else None, requirement_id=data.requirement_id,
        control_id=data.control_id, text=text, due_date=data.due_date, status="open",
        raised_by_id=actor.id, assignee_id=assignee_for(session, perimeter, data.requirement_id, data.control_id))
    session.add(request)
    session.flush()
    subject = subject_words(requirement, control)
    audit.record(session, actor, "request.raise", object_type="request", object_id=str(request.id), details={
        "perimeter": perimeter.code, "requirement": requirement.ref if requirement else None,
        "controls": [control.ref] if control else [], "due_date": data.due_date.isoformat() if data.due_date else None,
        **({"campaign": campaign.id} if campaign else {})})
    if request.assignee_id is not None and request.assignee_id != actor.id:
        notifications.about_request(session, actor, "request_raised", request, perimeter, [request.assignee_id],
                                    subject, text)
    session.commit()
    return request


# --- moving on --------------------------------------------------------------------------------------------------


def _move(session: Session, actor, request: EvidenceRequest, action: str) -> str:
    """The status `action` leads to; refused (PermissionError for the role, EvidenceError for the status)."""
    role = _role(actor) or ""
    target = evaluation.request_move(request.status, action, role, raised_by_role(session, request))
    if target is not None:
        return target
    if request.status in evaluation.REQUEST_MOVES[action][0]:
        raise PermissionError(f"{getattr(actor, 'email', actor)} may not {action} request {request.id}")
    raise EvidenceError(STATUS_REFUSALS[action], id=request.id,
                        status=Message(STATUS_WORDS.get(request.status, request.status)), field="status")


def may_answer(actor, request: EvidenceRequest, evidence: Sequence[Evidence] = ()) -> bool:
    """The team answers; a contributor only a request assigned to him, or with evidence he owns."""
    role = _role(actor)
    if role not in TEAM_ROLES:
        return False
    if role != "contributor" or request.assignee_id == actor.id:
        return True
    return bool(evidence) and all(e.owner_id == actor.id for e in evidence)


def check_answerable(session: Session, actor, request: EvidenceRequest) -> None:
    """Refuse early (before a file is stored) what answering would refuse: the status, the role (a contributor
    not assigned the request answers with evidence he owns: his new evidence is his, may_answer judges it)."""
    _move(session, actor, request, "answer")


def stage_answer(session: Session, actor, request: EvidenceRequest, evidence: Sequence[Evidence]) -> list[str]:
    """Link `evidence` to the request as its answer, in the caller's transaction (a new evidence's, when it is made
    from the request): the refs added. Each must be valid for the request's perimeter."""
    target = _move(session, actor, request, "answer")
    if not evidence:
        raise EvidenceError(N_("nommez au moins une preuve du périmètre pour répondre"), field="evidence")
    if not may_answer(actor, request, evidence):
        raise PermissionError(f"{actor.email} may not answer request {request.id}")
    session.flush()
    valid = set(session.exec(select(EvidencePerimeter.evidence_id).where(
        EvidencePerimeter.perimeter_id == request.perimeter_id, EvidencePerimeter.evidence_id.in_([e.id for e in evidence]))))
    outside = [e.ref for e in evidence if e.id not in valid]
    if outside:
        perimeter = session.get(Perimeter, request.perimeter_id)
        raise EvidenceError(N_("%(refs)s : pas valable pour le périmètre %(code)s"), refs=", ".join(outside),
                            code=perimeter.code, field="evidence")
    present = set(session.exec(select(RequestEvidence.evidence_id).where(RequestEvidence.request_id == request.id)))
    added = []
    for item in evidence:
        if item.id not in present:
            session.add(RequestEvidence(request_id=request.id, evidence_id=item.id,
                                        added_by_id=actor.id if isinstance(actor, User) else None))
            present.add(item.id)
            added.append(item.ref)
    request.status, request.updated_at = target, utcnow()
    session.add(request)
    perimeter = session.get(Perimeter, request.perimeter_id)
    audit.record(session, actor, "request.answer", object_type="request", object_id=str(request.id),
                 details={"perimeter": perimeter.code, "evidence": [e.ref for e in evidence], "status": target})
    if request.raised_by_id is not None and request.raised_by_id != getattr(actor, "id", None):
        requirement, control = _subject_of(session, request)
        notifications.about_request(session, actor, "request_answered", request, perimeter, [request.raised_by_id],
                                    subject_words(requirement, control), ", ".join(e.ref for e in evidence))
    return added


def answer(session: Session, actor, request: EvidenceRequest, refs: Iterable[str], *,
           expected_version: Optional[int] = None, scope=None) -> EvidenceRequest:
    """Answer with existing evidence, named by ref (each within the actor's reach, `scope`)."""
    from evidence.services import reach
    from evidence.services.evidence import get_evidence

    check_version(request, expected_version)
    found = []
    for ref in dict.fromkeys(r.strip().upper() for r in refs if r and r.strip()):
        try:
            item = get_evidence(session, ref)
        except EvidenceError as error:
            raise EvidenceError(error.message, field="evidence") from None
        if scope is not None and not reach.reaches_evidence(session, scope, _role(actor), item):
            raise EvidenceError(N_("aucune preuve « %(ref)s »"), ref=ref, field="evidence")
        found.append(item)
    stage_answer(session, actor, request, found)
    session.commit()
    return request


def accept(session: Session, actor, request: EvidenceRequest, *, expected_version: Optional[int] = None) -> EvidenceRequest:
    check_version(request, expected_version)
    target = _move(session, actor, request, "accept")
    request.status, request.updated_at = target, utcnow()
    session.add(request)
    perimeter = session.get(Perimeter, request.perimeter_id)
    audit.record(session, actor, "request.accept", object_type="request", object_id=str(request.id),
                 details={"perimeter": perimeter.code, "status": target})
    session.commit()
    return request


def reopen(session: Session, actor, request: EvidenceRequest, reason: str, today: Optional[date] = None, *,
           expected_version: Optional[int] = None) -> EvidenceRequest:
    """Send the request back to the team, saying why: the audit event keeps the reason, the assignee is told and,
    given `today`, the reason is posted on the request's comment thread (services.comments, which commits the
    whole, or refuses it: a mention of someone who may not read the request)."""
    check_version(request, expected_version)
    target = _move(session, actor, request, "reopen")
    if not (reason or "").strip():
        raise EvidenceError(N_("dites pourquoi la demande est rouverte"), field="reason")
    reason = bounded(reason, MAX_JUSTIFICATION, N_("Motif"), "reason")
    request.status, request.updated_at = target, utcnow()
    session.add(request)
    perimeter = session.get(Perimeter, request.perimeter_id)
    audit.record(session, actor, "request.reopen", object_type="request", object_id=str(request.id),
                 details={"perimeter": perimeter.code, "status": target, "reason": reason})
    recipients = [u for u in (request.assignee_id,) if u is not None and u != getattr(actor, "id", None)]
    if recipients:
        requirement, control = _subject_of(session, request)
        notifications.about_request(session, actor, "request_reopened", request, perimeter, recipients,
                                    subject_words(requirement, control), reason)
    if today is not None:
        from evidence.services import comments  # which reads requests' rows: imported when needed

        comments.post(session, actor, perimeter, "request", request.id, reason, today)
    session.commit()
    return request


def _subject_of(session: Session, request: EvidenceRequest):
    return (session.get(Requirement, request.requirement_id) if request.requirement_id else None,
            session.get(Control, request.control_id) if request.control_id else None)


# --- reading ------------------------------------------------------------------------------------------------------


def get_request(session: Session, perimeter: Perimeter, request_id: int) -> EvidenceRequest:
    request = session.get(EvidenceRequest, request_id)
    if request is None or request.perimeter_id != perimeter.id:
        raise EvidenceError(NO_SUCH_REQUEST, code=perimeter.code, id=request_id)
    return request


def overdue(request: EvidenceRequest, today: date) -> bool:
    """Still waiting for the team past its due date."""
    return request.due_date is not None and request.due_date < today and evaluation.request_waiting(request.status)


@dataclass
class Answer:
    evidence: Evidence
    version: Optional[EvidenceVersion]  # its latest approved version (None: under review, never approved)
    visible: bool  # False: the reader sees « en cours de revue », never the evidence


@dataclass
class RequestRow:
    request: EvidenceRequest
    requirement: Optional[Requirement] = None
    control: Optional[Control] = None
    campaign: Optional[Campaign] = None
    raised_by: Optional[User] = None
    assignee: Optional[User] = None
    answers: list[Answer] = field(default_factory=list)
    accepted_at: Optional[object] = None  # when it was accepted (its last change, while accepted)

    @property
    def subject(self) -> str:
        return subject_words(self.requirement, self.control)


def rows(session: Session, perimeter: Perimeter, role: Optional[str], *, status: Optional[str] = None,
         campaign_id: Optional[int] = None, requirement_id: Optional[int] = None, control_id: Optional[int] = None,
         open_only: bool = False, ids: Optional[Sequence[int]] = None) -> list[RequestRow]:
    """The perimeter's requests, newest first, with what they are on, who raised them, who they wait on and their
    answers as `role` may see them (None: the operator, everything), in a fixed number of queries."""
    query = select(EvidenceRequest).where(EvidenceRequest.perimeter_id == perimeter.id)
    if status in REQUEST_STATUSES:
        query = query.where(EvidenceRequest.status == status)
    if open_only:
        query = query.where(EvidenceRequest.status != "accepted")
    if campaign_id is not None:
        query = query.where(EvidenceRequest.campaign_id == campaign_id)
    if requirement_id is not None:
        query = query.where(EvidenceRequest.requirement_id == requirement_id)
    if control_id is not None:
        query = query.where(EvidenceRequest.control_id == control_id)
    if ids is not None:
        query = query.where(EvidenceRequest.id.in_(list(ids) or [-1]))
    requests = session.exec(query.order_by(EvidenceRequest.id.desc())).all()
    if not requests:
        return []

    def by_id(model, wanted):
        wanted = {w for w in wanted if w is not None}
        return {o.id: o for o in session.exec(select(model).where(model.id.in_(wanted or {-1})))}

    requirements = by_id(Requirement, (r.requirement_id for r in requests))
    controls = by_id(Control, (r.control_id for r in requests))
    by_campaign = by_id(Campaign, (r.campaign_id for r in requests))
    people = by_id(User, [u for r in requests for u in (r.raised_by_id, r.assignee_id)])
    links = session.exec(select(RequestEvidence.request_id, Evidence).join(Evidence, Evidence.id == RequestEvidence.evidence_id)
                         .where(RequestEvidence.request_id.in_([r.id for r in requests]))
                         .order_by(RequestEvidence.added_at, Evidence.ref)).all()
    latest = (select(EvidenceVersion.evidence_id, func.max(EvidenceVersion.number).label("number"))
              .where(EvidenceVersion.approved_at.is_not(None),
                     EvidenceVersion.evidence_id.in_({e.id for _r, e in links} or {-1}))
              .group_by(EvidenceVersion.evidence_id).subquery())
    approved = {v.evidence_id: v for v in session.exec(select(EvidenceVersion).join(
        latest, (latest.c.evidence_id == EvidenceVersion.evidence_id) & (latest.c.number == EvidenceVersion.number)))}
    sees_all = role is None or evaluation.sees_work_in_progress(role)
    # Evidence taken out of the perimeter since it answered is beyond a scoped reader's reach: not shown to him.
    still_valid = set(session.exec(select(EvidencePerimeter.evidence_id).where(
        EvidencePerimeter.perimeter_id == perimeter.id, EvidencePerimeter.evidence_id.in_({e.id for _r, e in links} or {-1}))))
    answers: dict[int, list[Answer]] = {}
    for request_id, item in links:
        version = approved.get(item.id)
        visible = (sees_all or version is not None) and (role not in SCOPED_ROLES or item.id in still_valid)
        answers.setdefault(request_id, []).append(Answer(item, version, visible))
    return [RequestRow(r, requirements.get(r.requirement_id), controls.get(r.control_id), by_campaign.get(r.campaign_id),
                       people.get(r.raised_by_id), people.get(r.assignee_id), answers.get(r.id, []),
                       r.updated_at if r.status == "accepted" else None) for r in requests]


def row(session: Session, perimeter: Perimeter, request: EvidenceRequest, role: Optional[str]) -> RequestRow:
    return rows(session, perimeter, role, ids=[request.id])[0]
