"""Need-to-know on evidence content: the one place every door asks (the evidence page and its downloads, the
lists, the dossier and the bundle), and the naming of readers.

The rule is `evidence.core.rules.need_to_know`; this module gathers its facts (the people and roles named on
the evidence, the owners of the controls it proves) in a fixed number of queries, for one evidence or a list.
Who asks is a `User`; the instance's operator at the command line (an actor named by a string, "cli:…") holds
the instance's files and database already, so nothing is withheld from him.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError, check_version
from evidence.core.rules import need_to_know as rule
from evidence.core.vocabulary import ROLES
from evidence.data import audit
from evidence.data.models import Control, Evidence, EvidenceControl, EvidenceReader, User, utcnow


def reader(user) -> Optional[rule.Reader]:
    """The rule's view of who asks; None for the operator (every other actor but a User)."""
    return rule.Reader(user.id, user.role) if isinstance(user, User) else None


def audiences(session: Session, evidence: Iterable[Evidence]) -> dict[int, rule.Audience]:
    """evidence id → its audience, in two queries whatever the number of evidence."""
    items = [e for e in evidence if e.id is not None]
    if not items:
        return {}
    ids = [e.id for e in items]
    named: dict[int, set] = {}
    for evidence_id, user_id in session.exec(
            select(EvidenceReader.evidence_id, EvidenceReader.user_id).where(EvidenceReader.evidence_id.in_(ids))):
        named.setdefault(evidence_id, set()).add(user_id)
    control_owners: dict[int, set] = {}
    for evidence_id, owner_id in session.exec(
            select(EvidenceControl.evidence_id, Control.owner_id).join(Control, Control.id == EvidenceControl.control_id)
            .where(EvidenceControl.evidence_id.in_(ids), Control.owner_id.is_not(None))):
        control_owners.setdefault(evidence_id, set()).add(owner_id)
    return {e.id: rule.Audience(e.classification, e.owner_id, frozenset(e.reader_roles or ()),
                                frozenset(named.get(e.id, ())), frozenset(control_owners.get(e.id, ())))
            for e in items}


def audience(session: Session, evidence: Evidence) -> rule.Audience:
    return audiences(session, [evidence])[evidence.id]


def can_read(session: Session, user, evidence: Evidence) -> bool:
    """Whether `user` may read the evidence's content: its files, link addresses, description and notes."""
    who = reader(user)
    if who is None:
        return True
    if rule.readable_by_everyone(evidence.classification) and who.role in rule.EVERYONE:
        return True  # no query for what every signed-in user reads
    return rule.may_read(who, audience(session, evidence))


def readable_ids(session: Session, user, evidence: Sequence[Evidence]) -> set[int]:
    """The ids of the evidence in `evidence` whose content `user` may read (a list page's lock, a dossier's
    withheld files), in a fixed number of queries."""
    who = reader(user)
    if who is None:
        return {e.id for e in evidence}
    found = audiences(session, [e for e in evidence if not rule.readable_by_everyone(e.classification)])
    return {e.id for e in evidence if e.id not in found or rule.may_read(who, found[e.id])}


# --- Naming readers ------------------------------------------------------------------------------------------


def can_name_readers(user, evidence: Evidence) -> bool:
    who = reader(user)
    return who is not None and rule.may_name_readers(who, rule.Audience(evidence.classification, evidence.owner_id))


def named_readers(session: Session, evidence: Evidence) -> list[User]:
    """The people named on the evidence, by name."""
    return list(session.exec(select(User).join(EvidenceReader, EvidenceReader.user_id == User.id)
                             .where(EvidenceReader.evidence_id == evidence.id).order_by(User.name, User.email)))


def set_readers(session: Session, actor: User, evidence: Evidence, roles: Iterable[str], user_ids: Iterable[int],
                expected_version: Optional[int] = None) -> Evidence:
    """Name the roles and people who may read the evidence beyond what its classification allows (the owner or
    a compliance manager). One audited event with the names before and after; the review status is left as it
    is: who may read the evidence does not change what it proves."""
    if not can_name_readers(actor, evidence):
        raise PermissionError(f"{getattr(actor, 'email', actor)} may not name the readers of {evidence.ref}")
    check_version(evidence, expected_version)
    wanted_roles = list(dict.fromkeys(r for r in roles if r))
    for role in wanted_roles:
        if role not in ROLES:
            raise EvidenceError(N_("rôle « %(role)s » inconnu"), role=role, field="roles")
    wanted_roles = [r for r in ROLES if r in wanted_roles]  # in the vocabulary's order: one way to record a set
    before = named_readers(session, evidence)
    before_ids = {u.id for u in before}
    wanted_ids = set(dict.fromkeys(int(i) for i in user_ids))
    people = {u.id: u for u in session.exec(select(User).where(User.id.in_(wanted_ids or {-1})))}
    for user_id in sorted(wanted_ids):
        person = people.get(user_id)
        if person is None or (not person.active and user_id not in before_ids):
            raise EvidenceError(N_("aucun utilisateur actif ne porte le numéro %(id)s"), id=user_id, field="people")
    old_roles, old_people = list(evidence.reader_roles or []), sorted(u.email for u in before)
    new_people = sorted(people[i].email for i in wanted_ids)
    if old_roles == wanted_roles and old_people == new_people:
        return evidence  # nothing changes: no event
    for person in before:
        if person.id not in wanted_ids:
            session.delete(session.get(EvidenceReader, (evidence.id, person.id)))
    for user_id in sorted(wanted_ids - before_ids):
        session.add(EvidenceReader(evidence_id=evidence.id, user_id=user_id))
    evidence.reader_roles = wanted_roles
    flag_modified(evidence, "reader_roles")  # an UPDATE even when only the people change: the version moves on
    evidence.updated_at = utcnow()
    session.add(evidence)
    audit.record(session, actor, "evidence.readers", evidence, {"changes": {
        "reader_roles": [old_roles, wanted_roles], "readers": [old_people, new_people]}})
    session.commit()
    return evidence


# --- The dossier and the bundle ------------------------------------------------------------------------------


def withhold_unreadable(session: Session, actor, snapshot: dict) -> list[str]:
    """Take out of a dossier's snapshot, as it is queued, the content of the pinned evidence that `actor` (who
    queues it) may not read: the file (neither attached to the PDF nor put in the bundle), the link's address
    and the file name. Its ref, title, classification, version and SHA-256 stay: the dossier still shows what
    covers each item, and names what it withholds. The refs withheld, sorted.

    Decided once, when the snapshot is frozen: the bundle's manifest, whose SHA-256 the PDF records, comes
    from the snapshot, so that the PDF, its attachments and the bundle always agree."""
    pinned = {e["ref"]: e for e in snapshot.get("evidence") or []}
    if not pinned or reader(actor) is None:
        return []
    rows = list(session.exec(select(Evidence).where(Evidence.ref.in_(list(pinned)))))
    readable = readable_ids(session, actor, rows)
    withheld = sorted(e.ref for e in rows if e.id not in readable)
    for ref in withheld:
        pinned[ref].update(withheld=True, storage_key=None, url=None, file_name=None)
    for document in (snapshot.get("documents") or []) + (snapshot.get("diagrams") or []):
        if document.get("ref") in withheld:
            document.update(withheld=True, storage_key=None)
    return withheld


def dossier_unreadable(session: Session, user, snapshot: dict) -> list[str]:
    """The refs of the evidence whose content a rendered dossier carries (an attached file, a link's address,
    an embedded diagram) that `user` may not read: a dossier carrying any is for those who may read them all."""
    carried = {e["ref"] for e in snapshot.get("evidence") or []
               if e.get("url") or (e.get("storage_key") and (snapshot.get("options") or {}).get("attach_evidence"))}
    carried |= {d["ref"] for d in snapshot.get("diagrams") or [] if d.get("cited") and d.get("storage_key")}
    if not carried or reader(user) is None:
        return []
    rows = list(session.exec(select(Evidence).where(Evidence.ref.in_(sorted(carried)))))
    readable = readable_ids(session, user, rows)
    return sorted(e.ref for e in rows if e.id not in readable)
