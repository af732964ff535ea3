"""Waivers: a manager's decision that one expected evidence entry of an item needs no proof in one perimeter."""
from __future__ import annotations

from typing import Optional

from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import MAX_JUSTIFICATION
from evidence.data import audit
from evidence.data.models import EntryWaiver, Perimeter, Requirement, User, utcnow


def set_waiver(session: Session, actor: User, perimeter: Perimeter, requirement: Requirement, entry_id: str,
               justification: Optional[str]) -> None:
    """Waive the entry with a justification, or lift the waiver (justification None); audited either way."""
    entry_id = (entry_id or "").strip()
    if requirement.framework_id != perimeter.framework_id:
        raise EvidenceError(N_("%(ref)s n’est pas un point du référentiel de ce périmètre"), ref=requirement.ref)
    if entry_id not in {e["id"] for e in requirement.expected_evidence or []}:
        raise EvidenceError(N_("%(ref)s : « %(entry)s » n’est pas une preuve attendue de ce point"),
                            ref=requirement.ref, entry=entry_id)
    waiver = session.exec(select(EntryWaiver).where(
        EntryWaiver.perimeter_id == perimeter.id, EntryWaiver.requirement_id == requirement.id,
        EntryWaiver.entry_id == entry_id)).first()
    if justification is None:
        if waiver is None:
            return
        session.delete(waiver)
        audit.record(session, actor, "waiver.clear", perimeter, {
            "requirement": requirement.ref, "entry": entry_id, "justification": waiver.justification})
        session.commit()
        return
    justification = justification.strip()
    if not justification:
        raise EvidenceError(N_("%(entry)s : une dispense doit être justifiée"), entry=entry_id, field="justification")
    if len(justification) > MAX_JUSTIFICATION:
        raise EvidenceError(N_("%(entry)s : justification de plus de %(limit)s caractères"), entry=entry_id,
                            limit=MAX_JUSTIFICATION, field="justification")
    before = waiver.justification if waiver else None
    waiver = waiver or EntryWaiver(perimeter_id=perimeter.id, requirement_id=requirement.id, entry_id=entry_id,
                                   justification=justification)
    waiver.justification = justification
    waiver.decided_by_id = actor.id if isinstance(actor, User) else None
    waiver.decided_at = utcnow()
    session.add(waiver)
    audit.record(session, actor, "waiver.set", perimeter, {
        "requirement": requirement.ref, "entry": entry_id, "justification": justification, "before": before})
    session.commit()
