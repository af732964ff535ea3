"""The inbox: what happened that a user should know of, and what waits on them.

Events are stored when they happen, by the service where they happen and in its transaction (a review asked
of the managers who may give it, the owner told of the verdict, a control's owner told of a finding on its
item): `review_requested`, `evidence_reviewed`, `finding_raised`. Date-driven tasks (evidence expiring within
30 days or expired, actions overdue, recurring evidence due for renewal) are never stored: `tasks` computes them
whenever an inbox or a digest is built, so that they are never stale. The words are put together where they are
shown (presentation.inbox_words), in the reader's language.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterable, Optional

from sqlalchemy import func, update
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.vocabulary import COMPLIANCE_ROLES, OPEN_ACTION_STATUSES
from evidence.data.models import (
    Action,
    AuditEvent,
    Control,
    ControlPerimeter,
    ControlRequirement,
    Evidence,
    EvidencePerimeter,
    EvidenceVersion,
    Finding,
    Notification,
    Perimeter,
    Requirement,
    User,
    utcnow,
)

# The kinds the inbox computes (stored kinds: vocabulary.NOTIFICATION_KINDS).
EVIDENCE_EXPIRING, EVIDENCE_EXPIRED, ACTION_OVERDUE, RENEWAL_DUE = (
    "evidence_expiring", "evidence_expired", "action_overdue", "renewal_due")
TASK_KINDS = (EVIDENCE_EXPIRED, EVIDENCE_EXPIRING, ACTION_OVERDUE, RENEWAL_DUE)
MAX_TEXT = 200  # a finding's text is quoted this far in its notification
SHOWN = 200  # the inbox lists this many stored notifications, newest first


@dataclass(frozen=True)
class InboxItem:
    """One line of an inbox or a digest: a stored notification (`id` set) or a computed task."""

    kind: str
    object_type: str  # evidence, action, finding
    object_id: str  # the evidence's ref, the action's or the finding's id
    params: dict  # the words' parameters: ref, title, actor, comment, severity, item, perimeter, controls, text…
    perimeter: str = ""  # the perimeter's code, for an action's or a finding's address
    on: Optional[date] = None  # the date it is about: end of validity, due date
    at: Optional[datetime] = None  # when a stored notification was made
    id: Optional[int] = None
    read: bool = False
    # For the digest: the day a task became due and the last change of its object (what is new since the last one).
    due_since: Optional[date] = None
    changed_at: Optional[datetime] = None


@dataclass
class Inbox:
    notifications: list[InboxItem] = field(default_factory=list)
    tasks: list[InboxItem] = field(default_factory=list)
    unread: int = 0


def actor_name(actor) -> str:
    """A person by their name; the command line's actor ("cli:jdupont") as it is."""
    return actor.name or actor.email if isinstance(actor, User) else str(actor or "")


def notify(session: Session, recipient_ids: Iterable[int], kind: str, object_type: str, object_id: str,
           payload: dict) -> int:
    """One notification per recipient, in the caller's transaction; how many were written."""
    count = 0
    for recipient_id in dict.fromkeys(recipient_ids):
        session.add(Notification(recipient_id=recipient_id, kind=kind, object_type=object_type,
                                 object_id=str(object_id), payload=payload))
        count += 1
    return count


def close_review_requests(session: Session, evidence: Evidence) -> None:
    """A review asked earlier of this evidence is answered, asked again, or moot (a new version sends it back to
    draft): nobody still has to give it."""
    session.execute(update(Notification).where(
        Notification.kind == "review_requested", Notification.object_type == "evidence",
        Notification.object_id == evidence.ref, Notification.read_at.is_(None)).values(read_at=utcnow()))


def reviewers(session: Session, evidence: Evidence, exclude: Iterable[int] = (), admin_approves: bool = False) -> list[int]:
    """Who may review the evidence: active managers (and admins when `admin_approves`, the ADMIN_APPROVES
    setting), except whoever uploaded its current version or changed what it attests (four eyes: they may not
    approve their own work)."""
    from evidence.services.evidence import own_work  # which imports this module

    excluded = {*own_work(session, evidence), *exclude}
    roles = [role for role in COMPLIANCE_ROLES if rules.duties.may_approve(role, admin_approves)]
    return [user_id for user_id in session.exec(
        select(User.id).where(User.active, User.role.in_(roles)).order_by(User.id)) if user_id not in excluded]


def review_requested(session: Session, actor, evidence: Evidence, admin_approves: bool = False) -> int:
    """Evidence submitted for review: everyone who may review it is asked (not the submitter)."""
    close_review_requests(session, evidence)
    exclude = [actor.id] if isinstance(actor, User) else []
    return notify(session, reviewers(session, evidence, exclude, admin_approves), "review_requested", "evidence", evidence.ref,
                  {"ref": evidence.ref, "title": evidence.title, "actor": actor_name(actor)})


def _submitter(session: Session, evidence: Evidence) -> Optional[int]:
    """Who last submitted the evidence for review (the audit trail records it)."""
    return session.exec(select(AuditEvent.actor_id).where(
        AuditEvent.action == "evidence.submit", AuditEvent.object_type == "evidence",
        AuditEvent.object_id == evidence.ref).order_by(AuditEvent.seq.desc())).first()


def evidence_reviewed(session: Session, actor, evidence: Evidence, action: str, comment: str = "") -> int:
    """A verdict on evidence (approve, reject): its owner and whoever submitted it are told; the reviewer, who
    knows, is not. Any review still asked of it is answered, and leaves the other managers' unread count. A
    reopening only closes the requests."""
    close_review_requests(session, evidence)
    if action not in ("approve", "reject"):
        return 0
    reviewer = actor.id if isinstance(actor, User) else None
    recipients = [u for u in (evidence.owner_id, _submitter(session, evidence)) if u is not None and u != reviewer]
    kind = "evidence_approved" if action == "approve" else "evidence_rejected"
    return notify(session, _active(session, recipients), kind, "evidence", evidence.ref,
                  {"ref": evidence.ref, "title": evidence.title, "actor": actor_name(actor),
                   "comment": (comment or "")[:MAX_TEXT]})


def finding_raised(session: Session, actor, finding: Finding, perimeter: Perimeter) -> int:
    """A finding on an item: the owners of the controls that answer it in the perimeter are told, each of
    their own controls (not the person who recorded it)."""
    if finding.requirement_id is None:
        return 0
    requirement = session.get(Requirement, finding.requirement_id)
    rows = session.exec(
        select(Control.owner_id, Control.ref)
        .join(ControlRequirement, ControlRequirement.control_id == Control.id)
        .join(ControlPerimeter, ControlPerimeter.control_id == Control.id)
        .where(ControlRequirement.requirement_id == finding.requirement_id,
               ControlPerimeter.perimeter_id == perimeter.id, Control.owner_id.is_not(None),
               Control.status != "retired")
        .order_by(Control.ref))
    by_owner: dict[int, list[str]] = {}
    for owner_id, ref in rows:
        by_owner.setdefault(owner_id, []).append(ref)
    recorder = actor.id if isinstance(actor, User) else None
    count = 0
    for owner_id in _active(session, [o for o in by_owner if o != recorder]):
        count += notify(session, [owner_id], "finding_raised", "finding", str(finding.id), {
            "perimeter": perimeter.code, "item": requirement.ref if requirement else "", "severity": finding.severity,
            "controls": ", ".join(by_owner[owner_id]), "text": finding.text[:MAX_TEXT], "actor": actor_name(actor)})
    return count


def about_request(session: Session, actor, kind: str, request, perimeter: Perimeter, recipient_ids: Iterable[int],
                  subject: str, text: str = "") -> int:
    """An evidence request raised (its assignee told), answered (its raiser told) or reopened (its assignee told):
    request_raised, request_answered, request_reopened (services.requests calls it, in its transaction)."""
    return notify(session, _active(session, recipient_ids), kind, "request", str(request.id), {
        "perimeter": perimeter.code, "id": request.id, "subject": subject, "text": (text or "")[:MAX_TEXT],
        "actor": actor_name(actor)})


def finding_closed(session: Session, actor, finding: Finding, perimeter: Perimeter) -> int:
    """A finding closed: the team is told (the owners of the item's controls and of the actions answering it,
    and the compliance managers), not the person who closed it."""
    from evidence.data.models import ActionFinding  # the action plan's link, read here alone

    requirement = session.get(Requirement, finding.requirement_id) if finding.requirement_id else None
    owners = list(session.exec(
        select(Control.owner_id).join(ControlRequirement, ControlRequirement.control_id == Control.id)
        .join(ControlPerimeter, ControlPerimeter.control_id == Control.id)
        .where(ControlRequirement.requirement_id == (finding.requirement_id or -1),
               ControlPerimeter.perimeter_id == perimeter.id, Control.owner_id.is_not(None)))) if requirement else []
    owners += list(session.exec(select(Action.owner_id).join(ActionFinding, ActionFinding.action_id == Action.id)
                                .where(ActionFinding.finding_id == finding.id, Action.owner_id.is_not(None))))
    owners += list(session.exec(select(User.id).where(User.role.in_(COMPLIANCE_ROLES)).order_by(User.id)))
    closer = actor.id if isinstance(actor, User) else None
    return notify(session, _active(session, [o for o in owners if o != closer]), "finding_closed", "finding",
                  str(finding.id), {"perimeter": perimeter.code, "item": requirement.ref if requirement else "—",
                                    "severity": finding.severity, "text": finding.text[:MAX_TEXT],
                                    "actor": actor_name(actor)})


def _active(session: Session, user_ids: Iterable[int]) -> list[int]:
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    active = set(session.exec(select(User.id).where(User.id.in_(wanted), User.active)))
    return [u for u in wanted if u in active]


# --- Reading ----------------------------------------------------------------------------------------------------


def _item(notification: Notification) -> InboxItem:
    payload = notification.payload or {}
    return InboxItem(notification.kind, notification.object_type, notification.object_id, dict(payload),
                     perimeter=payload.get("perimeter", ""), at=notification.created_at, id=notification.id,
                     read=notification.read_at is not None)


def stored(session: Session, user: User, *, since: Optional[datetime] = None, unread_only: bool = False,
           limit: Optional[int] = SHOWN) -> list[InboxItem]:
    """The user's notifications, newest first: all, unread ones, or those made after `since`."""
    query = select(Notification).where(Notification.recipient_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if since is not None:
        query = query.where(Notification.created_at > since)
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_item(n) for n in session.exec(query)]


def find(session: Session, user: User, notification_id: int) -> Optional[InboxItem]:
    """One of the user's own notifications; None when it is not theirs (or does not exist)."""
    notification = session.get(Notification, notification_id)
    return _item(notification) if notification is not None and notification.recipient_id == user.id else None


def unread_count(session: Session, user: User) -> int:
    return session.exec(select(func.count()).select_from(Notification).where(
        Notification.recipient_id == user.id, Notification.read_at.is_(None))).one()


def tasks(session: Session, user: User, today: date) -> list[InboxItem]:
    """What waits on the user today: their evidence expired or expiring within 30 days, their recurring evidence
    due for renewal, their overdue actions. Computed now, from the data as it is."""
    found: list[InboxItem] = []
    horizon = today + timedelta(days=rules.EXPIRING_DAYS)
    for evidence in session.exec(select(Evidence).where(
            Evidence.owner_id == user.id, Evidence.valid_until.is_not(None), Evidence.valid_until <= horizon,
            Evidence.status != "rejected").order_by(Evidence.valid_until, Evidence.ref)):
        expired = rules.freshness(evidence.valid_until, today) == rules.EXPIRED
        found.append(InboxItem(
            EVIDENCE_EXPIRED if expired else EVIDENCE_EXPIRING, "evidence", evidence.ref,
            {"ref": evidence.ref, "title": evidence.title}, on=evidence.valid_until,
            due_since=evidence.valid_until + timedelta(days=1) if expired else
            evidence.valid_until - timedelta(days=rules.EXPIRING_DAYS), changed_at=evidence.updated_at))
    for row in renewals(session, today, owner_id=user.id):
        found.append(InboxItem(RENEWAL_DUE, "evidence", row.evidence.ref, {
            "ref": row.evidence.ref, "title": row.evidence.title, "cadence": row.renewal.cadence},
            on=row.renewal.due_on, due_since=row.renewal.opens_on, changed_at=row.evidence.updated_at))
    for action, code in session.exec(
            select(Action, Perimeter.code).outerjoin(Perimeter, Perimeter.id == Action.perimeter_id)
            .where(Action.owner_id == user.id, Action.status.in_(OPEN_ACTION_STATUSES), Action.due_date.is_not(None),
                   Action.due_date < today).order_by(Action.due_date, Action.id)):
        if rules.action_overdue(action.status, action.due_date, today):
            found.append(InboxItem(ACTION_OVERDUE, "action", str(action.id),
                                   {"title": action.title, "perimeter": code or ""}, perimeter=code or "",
                                   on=action.due_date, due_since=action.due_date + timedelta(days=1),
                                   changed_at=action.updated_at))
    return sorted(found, key=lambda item: (item.on or today, TASK_KINDS.index(item.kind), item.object_id))


def inbox(session: Session, user: User, today: date) -> Inbox:
    return Inbox(stored(session, user), tasks(session, user, today), unread_count(session, user))


@dataclass(frozen=True)
class RenewalRow:
    evidence: Evidence
    renewal: rules.Renewal
    owner: Optional[User]
    late: bool = False  # past its due date


def renewals(session: Session, today: date, *, owner_id: Optional[int] = None,
             perimeter_id: Optional[int] = None) -> list[RenewalRow]:
    """Recurring evidence whose renewal is due (from its lead time on, late ones included), soonest first: of an
    owner, or valid for a perimeter."""
    # Per evidence row, through the index on its versions: every page's top bar counts its reader's renewals, and
    # grouping the whole store's versions first was half of that count's time under bench/load.py.
    approved_at = (select(func.max(EvidenceVersion.approved_at))
                   .where(EvidenceVersion.evidence_id == Evidence.id, EvidenceVersion.approved_at.is_not(None))
                   .correlate(Evidence).scalar_subquery())
    query = (select(Evidence, approved_at, User)
             .outerjoin(User, User.id == Evidence.owner_id)
             .where(Evidence.renewal != ""))
    if owner_id is not None:
        query = query.where(Evidence.owner_id == owner_id)
    if perimeter_id is not None:
        query = query.where(Evidence.id.in_(select(EvidencePerimeter.evidence_id)
                                            .where(EvidencePerimeter.perimeter_id == perimeter_id)))
    rows = []
    for evidence, approved_at, owner in session.exec(query):
        due = rules.renewal_due(evidence.renewal, evidence.effective_date,
                                approved_at.date() if approved_at else None, today)
        if due is not None:
            rows.append(RenewalRow(evidence, due, owner, due.overdue(today)))
    return sorted(rows, key=lambda r: (r.renewal.due_on, r.evidence.ref))


def next_renewal_of(session: Session, evidence: Evidence) -> Optional[date]:
    """The day recurring evidence is due again (the evidence page shows it); None without a cadence."""
    approved_at = session.exec(select(func.max(EvidenceVersion.approved_at))
                               .where(EvidenceVersion.evidence_id == evidence.id)).one()
    return rules.next_renewal(evidence.renewal, evidence.effective_date, approved_at.date() if approved_at else None)


# --- Marking read -----------------------------------------------------------------------------------------------


def mark_read(session: Session, user: User, notification_id: int) -> bool:
    """Mark one of the user's own notifications read; False when it is not theirs (or does not exist).

    Reading is the reader's own business, not a change to the compliance record: it is not audited."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.recipient_id != user.id:
        return False
    if notification.read_at is None:
        notification.read_at = utcnow()
        session.add(notification)
        session.commit()
    return True


def mark_all_read(session: Session, user: User) -> int:
    """Mark every unread notification of the user read; how many were."""
    result = session.execute(update(Notification).where(
        Notification.recipient_id == user.id, Notification.read_at.is_(None)).values(read_at=utcnow()))
    session.commit()
    return result.rowcount or 0


def mark_kinds_read(session: Session, kinds: Iterable[str]) -> int:
    """Mark every unread notification of these kinds read, for everyone (the demo's replayed history)."""
    result = session.execute(update(Notification).where(
        Notification.kind.in_(list(kinds)), Notification.read_at.is_(None)).values(read_at=utcnow()))
    session.commit()
    return result.rowcount or 0


def set_digest(session: Session, user: User, wanted: bool) -> User:
    """Whether the user receives the e-mail digest (the account page). Not audited: a reading preference, like
    the language, changes nothing the audit trail answers for."""
    if user.digest != wanted:
        user.digest = wanted
        session.add(user)
        session.commit()
    return user
