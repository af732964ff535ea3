"""Bulk work: one decision applied to many objects at once, audited object by object.

Each object goes through the very rule that judges it when it is changed alone (the single-object service's
in-transaction function: `record_applicability`, `record_review`), all in one transaction. All or nothing: when one
object is refused, the batch is rolled back and the refusal names every object at fault. A `dry_run` judges the
same way and always rolls back: the confirmation page shows what would change, and what would be refused, before
anything is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError, Message
from evidence.core.vocabulary import COMPLIANCE_ROLES
from evidence.data import audit
from evidence.data.models import Control, Evidence, Perimeter, User, utcnow
from evidence.services.controls import can_edit_control
from evidence.services.evidence import can_edit_evidence, record_edit, record_review
from evidence.services.perimeters import record_applicability, statement_of_applicability
from evidence.services.users import check_owner

REVIEW_ACTIONS = ("approve", "reject")
MAX_BATCH = 500  # more than the referential's 278 items, fewer than a request should carry


@dataclass
class Change:
    """What a bulk action does (or would do) to one object: its state before and after, or why it is refused."""

    ref: str
    obj: object  # the requirement, evidence or control
    before: str
    after: str
    refusal: Optional[EvidenceError] = None
    changed: bool = False  # written (or, in a dry run, would be): one audit event


class BatchRefused(EvidenceError):
    """Nothing was changed: `refused` lists the changes at fault, each with its refusal."""

    def __init__(self, refused: list[Change]):
        super().__init__(N_("Rien n’a été modifié : %(n)s refus : %(reasons)s"), n=len(refused),
                         reasons=[_named(change) for change in refused])
        self.refused = refused


def _named(change: Change) -> Message:
    """The refusal with the object's ref in front, unless the refusal already names it."""
    reason = change.refusal.message
    if change.ref in str(change.refusal):
        return reason
    return Message(N_("%(ref)s : %(reason)s"), ref=change.ref, reason=reason)


def _require_compliance(actor: User) -> None:
    if getattr(actor, "role", None) not in COMPLIANCE_ROLES:
        raise PermissionError(f"{getattr(actor, 'email', actor)} may not act in bulk")


def _batch(refs: Sequence[str]) -> list[str]:
    """The refs given, stripped, once each, in the order given."""
    seen = []
    for ref in refs:
        ref = (ref or "").strip()
        if ref and ref not in seen:
            seen.append(ref)
    if not seen:
        raise EvidenceError(N_("Cochez au moins une ligne."))
    if len(seen) > MAX_BATCH:
        raise EvidenceError(N_("Pas plus de %(n)s lignes à la fois."), n=MAX_BATCH)
    return seen


def _finish(session: Session, changes: list[Change], dry_run: bool) -> list[Change]:
    refused = [c for c in changes if c.refusal is not None]
    if dry_run or refused:
        session.rollback()
    if refused and not dry_run:
        raise BatchRefused(refused)
    if not dry_run:
        session.commit()
    return changes


# --- applicability ------------------------------------------------------------------------------------------


def decide_applicability(session: Session, actor: User, perimeter: Perimeter, refs: Sequence[str], state: str,
                         justification: str, *, dry_run: bool = False) -> list[Change]:
    """One decision (state and justification) for many items of the perimeter's statement of applicability.

    Each item is judged as the single-item form judges it (an unconditional exigence is never excluded); an item
    already so decided is left as it is (no audit event)."""
    _require_compliance(actor)
    justification = (justification or "").strip()
    rows = {row.requirement.ref: row for row in statement_of_applicability(session, perimeter)}
    changes = []
    for ref in _batch(refs):
        row = rows.get(ref)
        if row is None:
            error = EvidenceError(N_("« %(ref)s » n’est pas un point du référentiel du périmètre"), ref=ref)
            changes.append(Change(ref, None, "", "", error))
            continue
        current = row.applicability
        change = Change(ref, row.requirement, current.state, state)
        if current.state == state and (current.derived or current.justification == justification):
            changes.append(change)  # already so decided: nothing to write
            continue
        try:
            record_applicability(session, actor, perimeter, row.requirement, state, justification)
            session.flush()
            change.changed = True
        except EvidenceError as error:
            change.refusal = error
        changes.append(change)
    return _finish(session, changes, dry_run)


# --- evidence review ----------------------------------------------------------------------------------------


def review_many(session: Session, actor: User, refs: Sequence[str], action: str, comment: str = "", *,
                dry_run: bool = False, admin_approves: bool = False) -> list[Change]:
    """Approve or reject many evidence items with one comment; four eyes judged per item, on its current version
    (a manager who uploaded it cannot review it): one such item refuses the batch. An admin reviews only with
    `admin_approves` (the ADMIN_APPROVES setting), as in `record_review`."""
    _require_compliance(actor)
    if action not in REVIEW_ACTIONS:
        raise EvidenceError(N_("action de revue « %(action)s » inconnue"), action=action)
    changes = []
    for ref in _batch(refs):
        evidence = session.exec(select(Evidence).where(Evidence.ref == ref.upper())).first()
        if evidence is None:
            changes.append(Change(ref, None, "", "", EvidenceError(N_("aucune preuve « %(ref)s »"), ref=ref)))
            continue
        change = Change(evidence.ref, evidence, evidence.status, "")
        try:
            record_review(session, actor, evidence, action, comment, admin_approves=admin_approves)
            session.flush()
            change.after, change.changed = evidence.status, True
        except EvidenceError as error:
            change.refusal = error
        changes.append(change)
    return _finish(session, changes, dry_run)


# --- owners -------------------------------------------------------------------------------------------------


def assign_owner(session: Session, actor: User, kind: str, refs: Sequence[str], owner_id: Optional[int], *,
                 dry_run: bool = False) -> list[Change]:
    """Give many controls or evidence items one owner; each change is audited as the edit form audits it."""
    _require_compliance(actor)
    model, can_edit = {"control": (Control, can_edit_control), "evidence": (Evidence, can_edit_evidence)}[kind]
    owner = session.get(User, owner_id) if owner_id is not None else None
    if owner is None or not owner.active:
        raise EvidenceError(N_("Choisissez un responsable : une personne active qui peut être responsable "
                               "(pas un auditeur)."), field="owner")
    check_owner(owner)  # the owner rule of every owner field
    names = {}
    changes = []
    for ref in _batch(refs):
        obj = session.exec(select(model).where(model.ref == ref.upper())).first()
        if obj is None:
            error = (EvidenceError(N_("aucune mesure « %(ref)s »"), ref=ref) if kind == "control"
                     else EvidenceError(N_("aucune preuve « %(ref)s »"), ref=ref))
            changes.append(Change(ref, None, "", "", error))
            continue
        if not can_edit(actor, obj):
            raise PermissionError(f"{actor.email} may not change {obj.ref}")
        if obj.owner_id not in names:
            previous = session.get(User, obj.owner_id) if obj.owner_id else None
            names[obj.owner_id] = previous.name if previous else ""
        change = Change(obj.ref, obj, names[obj.owner_id], owner.name)
        if obj.owner_id != owner.id:
            details = {"changes": audit.diff(obj, {"owner_id": owner.id})}
            obj.owner_id = owner.id
            obj.updated_at = utcnow()
            session.add(obj)
            if kind == "evidence":  # the edit rule of the form: an owner proves nothing, the status stays
                record_edit(session, actor, obj, details["changes"])
            else:
                audit.record(session, actor, f"{kind}.update", obj, details)
            change.changed = True
        changes.append(change)
    session.flush()
    return _finish(session, changes, dry_run)
