"""Comments: threads on an item, a control, an evidence version, a request or a finding, within one perimeter.

A thread is read by whoever reaches its perimeter and sees its subject (services.reach; an evaluator never sees a
version not approved, nor its thread; need-to-know evidence's threads are its readers'). A comment is posted,
edited by its author and deleted (softly) by him or a compliance manager: each is an audit event that keeps the
text (the edit the text before, the deletion the text deleted), and the thread says a comment was edited or by
whom it was deleted. `@alice@example.org` mentions alice: she is notified, if she reaches the subject; a mention
of anyone else is refused (the comment is never shown, even in part, to someone who may not read it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Optional

from sqlalchemy import func
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError, check_version
from evidence.core.rules import comments as rule
from evidence.core.rules import evaluation
from evidence.core.text import bounded
from evidence.core.vocabulary import COMMENT_SUBJECTS, MAX_JUSTIFICATION
from evidence.data import audit
from evidence.data.models import (
    Comment,
    Control,
    ControlPerimeter,
    Evidence,
    EvidencePerimeter,
    EvidenceRequest,
    EvidenceVersion,
    Finding,
    Perimeter,
    Requirement,
    User,
    utcnow,
)
from evidence.services import need_to_know, notifications, reach

QUOTE = notifications.MAX_TEXT  # a mention's notification quotes the comment this far


class SubjectNotFound(EvidenceError):
    """No such subject in the perimeter, or one the reader may not see: the doors answer 404 (not revealed)."""

    def __init__(self):
        super().__init__(N_("aucun fil de commentaires à cette adresse"))


@dataclass(frozen=True)
class Subject:
    """What a thread is about, with what its page's address needs: `ref` (the item's, the control's or the
    evidence's ref) and `number` (an evidence version's)."""

    type: str
    id: int
    perimeter: Perimeter
    ref: str = ""
    number: Optional[int] = None
    evidence: Optional[Evidence] = field(default=None, compare=False)
    approved: bool = True  # an evidence version's approval: what an evaluator's sight depends on

    @property
    def label(self) -> str:
        """The subject in a notification: « 12.4.a », « CTL-AV-01 », « EV-0042 v3 », a request's or a finding's
        number (inbox_words.COMMENT_SUBJECT puts it in words)."""
        if self.type == "evidence_version":
            return f"{self.ref} v{self.number}"
        return self.ref or str(self.id)


def subject_in(session: Session, perimeter: Perimeter, subject_type: str, subject_id) -> Optional[Subject]:
    """The subject, when it exists and belongs to the perimeter (whoever reads it)."""
    if subject_type not in COMMENT_SUBJECTS or not isinstance(subject_id, int):
        return None
    if subject_type == "requirement":
        item = session.get(Requirement, subject_id)
        if item is not None and item.framework_id == perimeter.framework_id:
            return Subject(subject_type, item.id, perimeter, ref=item.ref)
    elif subject_type == "control":
        control = session.get(Control, subject_id)
        if control is not None and session.get(ControlPerimeter, (control.id, perimeter.id)) is not None:
            return Subject(subject_type, control.id, perimeter, ref=control.ref)
    elif subject_type == "evidence_version":
        version = session.get(EvidenceVersion, subject_id)
        evidence = session.get(Evidence, version.evidence_id) if version is not None else None
        if evidence is not None and session.get(EvidencePerimeter, (evidence.id, perimeter.id)) is not None:
            return Subject(subject_type, version.id, perimeter, ref=evidence.ref, number=version.number,
                           evidence=evidence, approved=version.approved_at is not None)
    else:
        model = EvidenceRequest if subject_type == "request" else Finding
        row = session.get(model, subject_id)
        if row is not None and row.perimeter_id == perimeter.id:
            return Subject(subject_type, row.id, perimeter)
    return None


def sees(session: Session, user, subject: Subject, today: date) -> bool:
    """Whether `user` reads the subject's thread: he reaches its perimeter and sees the subject itself."""
    if isinstance(user, User) and not user.active:
        return False
    if not reach.scope_of(session, user, today).reaches([subject.perimeter.id]):
        return False
    if subject.type == "evidence_version":
        role = reach.role_of(user)
        if role is not None and not evaluation.sees_version(role, subject.approved):
            return False
        return need_to_know.can_read(session, user, subject.evidence)
    return True


def subject_for(session: Session, user, perimeter: Perimeter, subject_type: str, subject_id, today: date) -> Subject:
    """The subject `user` reads a thread on; SubjectNotFound when there is none or he may not see it."""
    subject = subject_in(session, perimeter, subject_type, subject_id)
    if subject is None or not sees(session, user, subject, today):
        raise SubjectNotFound()
    return subject


def comment_for(session: Session, user, perimeter: Perimeter, comment_id: int, today: date) -> tuple[Comment, Subject]:
    """A comment of the perimeter and its subject, as `user` may read them; SubjectNotFound otherwise."""
    comment = session.get(Comment, comment_id) if isinstance(comment_id, int) else None
    if comment is None or comment.perimeter_id != perimeter.id:
        raise SubjectNotFound()
    return comment, subject_for(session, user, perimeter, comment.subject_type, comment.subject_id, today)


# --- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    comment: Comment
    author: Optional[User]
    deleted_by: Optional[User]


def thread(session: Session, subject: Subject) -> list[Entry]:
    """The subject's comments, oldest first, each with its author and who deleted it (two queries)."""
    comments = list(session.exec(select(Comment).where(
        Comment.perimeter_id == subject.perimeter.id, Comment.subject_type == subject.type,
        Comment.subject_id == subject.id).order_by(Comment.created_at, Comment.id)))
    people = {u.id: u for u in session.exec(select(User).where(User.id.in_(
        ({c.author_id for c in comments} | {c.deleted_by_id for c in comments}) - {None} or {-1})))}
    return [Entry(c, people.get(c.author_id), people.get(c.deleted_by_id)) for c in comments]


def counts(session: Session, perimeter_ids: list[int], subject_type: str, subject_ids: list[int]) -> dict[int, int]:
    """How many comments (not deleted) each subject has in those perimeters: the evidence page's version links."""
    if not perimeter_ids or not subject_ids:
        return {}
    return dict(session.exec(select(Comment.subject_id, func.count()).where(
        Comment.perimeter_id.in_(perimeter_ids), Comment.subject_type == subject_type,
        Comment.subject_id.in_(subject_ids), Comment.deleted_at.is_(None)).group_by(Comment.subject_id)).all())


# --- writing ------------------------------------------------------------------------------------------------


def _body(body: Optional[str]) -> str:
    text = bounded(body, MAX_JUSTIFICATION, N_("Commentaire"), "body")
    if not text:
        raise EvidenceError(N_("Un commentaire ne peut pas être vide"), field="body")
    return text


def _mentioned(session: Session, actor, subject: Subject, addresses: list[str], today: date) -> list[User]:
    """The people the addresses name, each of whom must read the subject; refused naming the first who does not
    (an unknown address is refused in the same words: the message says nothing of who has an account)."""
    people = {u.email.lower(): u for u in session.exec(select(User).where(
        func.lower(User.email).in_(addresses or ["-"])))}
    found = []
    for address in addresses:
        person = people.get(address)
        if person is None or not sees(session, person, subject, today):
            raise EvidenceError(N_("%(email)s ne peut pas lire ce fil de commentaires : il ne peut pas y être "
                                   "mentionné"), email=address, field="body")
        if not (isinstance(actor, User) and person.id == actor.id):
            found.append(person)
    return found


def _notify(session: Session, actor, comment: Comment, subject: Subject, people: list[User]) -> None:
    notifications.notify(session, [p.id for p in people], "mentioned", "comment", str(comment.id), {
        "perimeter": subject.perimeter.code, "subject_type": subject.type, "subject": subject.label,
        "text": comment.body[:QUOTE], "actor": notifications.actor_name(actor)})


def _details(subject: Subject, **more) -> dict:
    # "about", not "subject": the trail's "subject" is an identity provider's (single sign-on)
    return {"perimeter": subject.perimeter.code, "subject_type": subject.type, "about": subject.label, **more}


def post(session: Session, actor, perimeter: Perimeter, subject_type: str, subject_id, body: Optional[str],
         today: date) -> Comment:
    """Post a comment on the subject (which the actor must see) and tell whom it mentions."""
    subject = subject_for(session, actor, perimeter, subject_type, subject_id, today)
    text = _body(body)
    people = _mentioned(session, actor, subject, rule.mentions(text), today)
    comment = Comment(perimeter_id=perimeter.id, subject_type=subject.type, subject_id=subject.id,
                      author_id=actor.id if isinstance(actor, User) else None, body=text)
    session.add(comment)
    session.flush()
    _notify(session, actor, comment, subject, people)
    audit.record(session, actor, "comment.post", comment, _details(subject, body=text))
    session.commit()
    return comment


def edit(session: Session, actor, comment: Comment, body: Optional[str], today: date,
         expected_version: Optional[int] = None) -> Comment:
    """The author changes his words: the thread says « modifié », the audit event keeps the text before."""
    perimeter = session.get(Perimeter, comment.perimeter_id)
    subject = subject_for(session, actor, perimeter, comment.subject_type, comment.subject_id, today)
    if not rule.may_edit(getattr(actor, "id", None), comment.author_id, comment.deleted_at is not None):
        raise EvidenceError(N_("Seul son auteur modifie un commentaire, tant qu’il n’est pas supprimé"))
    check_version(comment, expected_version)
    text = _body(body)
    if text == comment.body:
        return comment
    people = _mentioned(session, actor, subject, rule.new_mentions(comment.body, text), today)
    before, comment.body, comment.edited_at = comment.body, text, utcnow()
    session.add(comment)
    session.flush()
    _notify(session, actor, comment, subject, people)
    audit.record(session, actor, "comment.edit", comment, _details(subject, before=before, body=text))
    session.commit()
    return comment


def delete(session: Session, actor, comment: Comment, today: date, expected_version: Optional[int] = None) -> Comment:
    """Delete a comment, softly: the thread says who deleted it and when; its text is kept in the audit event
    alone."""
    perimeter = session.get(Perimeter, comment.perimeter_id)
    subject = subject_for(session, actor, perimeter, comment.subject_type, comment.subject_id, today)
    if not rule.may_delete(reach.role_of(actor), getattr(actor, "id", None), comment.author_id,
                           comment.deleted_at is not None):
        raise EvidenceError(N_("Un commentaire est supprimé par son auteur ou par un responsable conformité, "
                               "une seule fois"))
    check_version(comment, expected_version)
    body = comment.body
    comment.body, comment.deleted_at = "", utcnow()
    comment.deleted_by_id = actor.id if isinstance(actor, User) else None
    session.add(comment)
    audit.record(session, actor, "comment.delete", comment, _details(subject, body=body))
    session.commit()
    return comment
