"""Controls: the provider's own measures, their owners, and how each meets items of the referential."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import delete
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError, check_version
from evidence.core.text import bounded
from evidence.core.vocabulary import COMPLIANCE_ROLES, MAX_DESCRIPTION, MAX_STATEMENT, MAX_TITLE
from evidence.data import audit
from evidence.data.links import replace_links
from evidence.data.models import (
    CONTROL_CATEGORIES,
    CONTROL_STATUSES,
    Control,
    ControlPerimeter,
    ControlRequirement,
    Perimeter,
    Requirement,
    User,
    utcnow,
)
from evidence.services.users import check_owner

REF_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,38}$")


def can_edit_control(user: User, control: Optional[Control]) -> bool:
    """Managers edit every control; contributors the ones they own (and create new ones)."""
    if user.role in COMPLIANCE_ROLES:
        return True
    return user.role == "contributor" and (control is None or control.owner_id == user.id)


def require_edit(user: User, control: Optional[Control]) -> None:
    if not can_edit_control(user, control):
        raise PermissionError(f"{user.email} may not edit {control.ref if control else 'controls'}")


@dataclass
class ControlData:
    ref: str
    title: str
    description: str = ""
    category: str = "technical"
    owner_id: Optional[int] = None
    status: str = "planned"
    review_cycle_days: int = 365
    perimeter_ids: list[int] = field(default_factory=list)


def get_control(session: Session, ref: str) -> Control:
    control = session.exec(select(Control).where(Control.ref == ref.strip().upper())).first()
    if control is None:
        raise EvidenceError(N_("aucune mesure « %(ref)s »"), ref=ref)
    return control


def _validated(session: Session, actor: User, data: ControlData, current: Optional[Control]) -> dict:
    ref = (data.ref or "").strip().upper()
    if not REF_RE.match(ref):
        raise EvidenceError(N_("référence « %(ref)s » : de 2 à 39 majuscules, chiffres, « - », « _ » ou « . » "
                                 "(p. ex. CTL-IAM-03)"), ref=ref, field="ref")
    other = session.exec(select(Control).where(Control.ref == ref)).first()
    if other is not None and (current is None or other.id != current.id):
        raise EvidenceError(N_("une mesure a déjà la référence « %(ref)s »"), ref=ref, field="ref")
    if not (data.title or "").strip():
        raise EvidenceError(N_("%(ref)s : une mesure doit avoir un intitulé"), ref=ref, field="title")
    if data.category not in CONTROL_CATEGORIES:
        raise EvidenceError(N_("%(ref)s : catégorie « %(category)s » inconnue"), ref=ref, category=data.category,
                            field="category")
    if data.status not in CONTROL_STATUSES:
        raise EvidenceError(N_("%(ref)s : état « %(status)s » inconnu"), ref=ref, status=data.status, field="status")
    days = _days(data.review_cycle_days)
    if not 1 <= days <= 3 * 365:
        raise EvidenceError(N_("%(ref)s : le cycle de revue doit être compris entre 1 et 1095 jours"), ref=ref,
                            field="review_cycle_days")
    owner_id = data.owner_id
    if owner_id is not None:
        owner = session.get(User, owner_id)
        if owner is None:
            raise EvidenceError(N_("%(ref)s : responsable inconnu"), ref=ref, field="owner")
        check_owner(owner, kept_id=current.owner_id if current else None)
    if actor.role == "contributor":
        owner_id = actor.id  # a contributor's controls are their own: they could not edit them otherwise
    return {
        "ref": ref, "title": bounded(data.title, MAX_TITLE, N_("Intitulé"), "title"),
        "description": bounded(data.description, MAX_DESCRIPTION, N_("Description"), "description"),
        "category": data.category, "owner_id": owner_id, "status": data.status,
        "review_cycle_days": days,
    }


def _days(value) -> int:
    """A number of days as given (a form's integer, a file's text): anything else, or longer than any cycle's
    five digits, is 0, which the range refuses (never cut: "0000365" is not 3)."""
    text = str(value).strip()
    try:
        return int(text) if len(text) <= 5 else 0
    except ValueError:
        return 0


def _set_perimeters(session: Session, control: Control, perimeter_ids: list[int]) -> tuple[list[str], bool]:
    """(codes of the perimeters the control is now deployed in, whether that changed)."""
    wanted = set(perimeter_ids)
    known = {p.id: p.code for p in session.exec(select(Perimeter).where(Perimeter.id.in_(wanted or {-1})))}
    if unknown := wanted - set(known):
        raise EvidenceError(N_("%(ref)s : périmètre(s) inconnu(s) : %(ids)s"), ref=control.ref,
                            ids=", ".join(map(str, sorted(unknown))), field="perimeters")
    changed = replace_links(session, ControlPerimeter, ControlPerimeter.control_id, control.id,
                            ControlPerimeter.perimeter_id, wanted)
    return sorted(known.values()), changed


def create_control(session: Session, actor: User, data: ControlData,
                   mapped: Optional[tuple[Requirement, str]] = None) -> Control:
    """A new control; with `mapped` (an item and the implementation statement), mapped to it in the same
    transaction: a refused statement leaves no control half-made."""
    require_edit(actor, None)
    control = Control(**_validated(session, actor, data, None))
    session.add(control)
    session.flush()
    codes, _changed = _set_perimeters(session, control, data.perimeter_ids)
    audit.record(session, actor, "control.create", control, {"title": control.title, "status": control.status,
                                                            "perimeters": codes})
    if mapped is not None:
        _map(session, actor, control, *mapped)
    session.commit()
    return control


def update_control(session: Session, actor: User, control: Control, data: ControlData,
                   expected_version: Optional[int]) -> Control:
    require_edit(actor, control)
    check_version(control, expected_version)
    values = _validated(session, actor, data, control)
    changes = audit.diff(control, values)
    with session.no_autoflush:  # one UPDATE, so that one save is one version
        for key, value in values.items():
            setattr(control, key, value)
        codes, moved = _set_perimeters(session, control, data.perimeter_ids)
        if moved:
            changes["perimeters"] = codes
        if not changes:
            session.rollback()
            return control
        control.updated_at = utcnow()
    session.add(control)
    audit.record(session, actor, "control.update", control, {"changes": changes})
    session.commit()
    return control


def retire_control(session: Session, actor: User, control: Control, expected_version: Optional[int]) -> Control:
    require_edit(actor, control)
    check_version(control, expected_version)
    if control.status == "retired":
        return control
    previous = control.status
    control.status = "retired"
    control.updated_at = utcnow()
    session.add(control)
    audit.record(session, actor, "control.retire", control, {"from": previous})
    session.commit()
    return control


def map_requirement(session: Session, actor: User, control: Control, requirement: Requirement, statement: str) -> ControlRequirement:
    """Map a control to an item (or update the implementation statement of an existing mapping)."""
    require_edit(actor, control)
    mapping = _map(session, actor, control, requirement, statement)
    session.commit()
    return mapping


def map_requirements(session: Session, actor: User, control: Control, requirements, statement: str) -> list[ControlRequirement]:
    """Map a control to several items at once (the control page's bulk mapping): one transaction, one audit event
    per mapping made or changed; an item already mapped with the same statement is left as it is."""
    require_edit(actor, control)
    mappings = [_map(session, actor, control, r, statement) for r in {r.id: r for r in requirements}.values()]
    session.commit()
    return mappings


def check_statement(statement: str) -> str:
    """The implementation statement of a mapping, whichever door it comes through (form, link from an item,
    import): refused past MAX_STATEMENT, never cut."""
    return bounded(statement, MAX_STATEMENT, N_("Mise en œuvre"), "statement")


def _map(session: Session, actor: User, control: Control, requirement: Requirement, statement: str) -> ControlRequirement:
    statement = check_statement(statement)
    mapping = session.exec(select(ControlRequirement).where(
        ControlRequirement.control_id == control.id, ControlRequirement.requirement_id == requirement.id
    )).first()
    if mapping is not None and mapping.statement == statement:
        return mapping
    action = "control.map" if mapping is None else "control.mapping_update"
    mapping = mapping or ControlRequirement(control_id=control.id, requirement_id=requirement.id)
    mapping.statement = statement
    session.add(mapping)
    audit.record(session, actor, action, control, {"requirement": requirement.ref, "statement": statement})
    return mapping


def unmap_requirement(session: Session, actor: User, control: Control, requirement: Requirement) -> None:
    require_edit(actor, control)
    statement = session.exec(select(ControlRequirement.statement).where(  # kept in the audit trail: gone after
        ControlRequirement.control_id == control.id, ControlRequirement.requirement_id == requirement.id)).first()
    result = session.execute(delete(ControlRequirement).where(
        ControlRequirement.control_id == control.id, ControlRequirement.requirement_id == requirement.id
    ))
    if result.rowcount:
        audit.record(session, actor, "control.unmap", control, {"requirement": requirement.ref, "statement": statement})
    session.commit()
