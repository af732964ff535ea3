"""Perimeters (services under qualification) and their statement of applicability."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Optional

from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import N_, EvidenceError, Message, check_version
from evidence.core.text import bounded, plain_id
from evidence.core.vocabulary import (
    COVERAGE_STATES,
    MAX_DESCRIPTION,
    MAX_JUSTIFICATION,
    MAX_NAME,
    MAX_REFERENCE,
    RECOMMENDATION_STATES,
)
from evidence.data import audit
from evidence.data.models import (
    PERIMETER_PHASES,
    SERVICE_TYPES,
    Applicability,
    Framework,
    Perimeter,
    Requirement,
    User,
    Verdict,
    utcnow,
)
from evidence.services import status_cache

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")


class DescriptionTooLong(EvidenceError):
    """A part of the structured description over its limit; `field` names it, for a form to show it beside it."""

    def __init__(self, field: str, limit: int):
        super().__init__(N_("Pas plus de %(n)s caractères."), n=limit, field=field)
        self.limit = limit


@dataclass
class PerimeterData:
    code: str
    name: str
    description: str = ""
    service_types: tuple[str, ...] = ()
    framework_key: str = "secnumcloud-3.2"
    built_on_code: Optional[str] = None
    phase: str = "preparation"
    evaluation_centre: str = ""
    qualification_reference: str = ""
    request_filed_on: Optional[date] = None
    evaluation_started_on: Optional[date] = None
    qualified_on: Optional[date] = None
    qualification_expires_on: Optional[date] = None
    next_surveillance_on: Optional[date] = None
    service_offer: str = ""
    customers: str = ""
    interconnections: str = ""
    administration: str = ""
    out_of_scope: str = ""


DATE_FIELDS = ("request_filed_on", "evaluation_started_on", "qualified_on", "qualification_expires_on", "next_surveillance_on")
# The structured description the dossier's perimeter part prints, each a free text of at most MAX_DESCRIPTION_PART
# characters: enough for a page of the dossier, short enough that one part cannot swallow it.
DESCRIPTION_FIELDS = ("service_offer", "customers", "interconnections", "administration", "out_of_scope")
MAX_DESCRIPTION_PART = 4000


def get_perimeter(session: Session, code_or_id: str) -> Perimeter:
    """A perimeter by its code, or by its numeric id (what the command line accepts)."""
    query = select(Perimeter).where(Perimeter.code == str(code_or_id).strip().lower())
    perimeter = session.exec(query).first()
    given = str(code_or_id).strip()
    if perimeter is None and (number := plain_id(given)) is not None:
        perimeter = session.get(Perimeter, number)
    if perimeter is None:
        raise EvidenceError(N_("aucun périmètre « %(code)s »"), code=code_or_id)
    return perimeter


def get_item(session: Session, perimeter: Perimeter, ref: str) -> Requirement:
    """An item of the perimeter's referential by its ref (what the command line accepts)."""
    item = session.exec(select(Requirement).where(Requirement.framework_id == perimeter.framework_id,
                                                  Requirement.ref == (ref or "").strip())).first()
    if item is None:
        raise EvidenceError(N_("le référentiel du périmètre %(code)s ne contient aucun point « %(ref)s »"),
                            code=perimeter.code, ref=(ref or "").strip())
    return item


def list_perimeters(session: Session) -> list[Perimeter]:
    return list(session.exec(select(Perimeter).order_by(Perimeter.code)))


def _validated(session: Session, data: PerimeterData, current: Optional[Perimeter]) -> dict:
    code = (data.code or "").strip().lower()
    if not CODE_RE.match(code):
        raise EvidenceError(N_("code « %(code)s » : de 3 à 40 minuscules, chiffres et tirets (p. ex. iaas-fr1)"),
                            code=code, field="code")
    other = session.exec(select(Perimeter).where(Perimeter.code == code)).first()
    if other is not None and (current is None or other.id != current.id):
        raise EvidenceError(N_("un périmètre a déjà le code « %(code)s »"), code=code, field="code")
    if not (data.name or "").strip():
        raise EvidenceError(N_("un périmètre doit avoir un nom"), field="name")
    types = [t for t in SERVICE_TYPES if t in set(data.service_types)]
    if unknown := set(data.service_types) - set(SERVICE_TYPES):
        raise EvidenceError(N_("type(s) de service inconnu(s) : %(types)s"), types=", ".join(sorted(unknown)),
                            field="service_types")
    if not types:
        raise EvidenceError(N_("choisissez au moins un type de service (IaaS, CaaS, PaaS, SaaS)"), field="service_types")
    if data.phase not in PERIMETER_PHASES:
        raise EvidenceError(N_("phase « %(phase)s » inconnue"), phase=data.phase, field="phase")
    framework = session.exec(select(Framework).where(Framework.key == data.framework_key)).first()
    if framework is None:
        raise EvidenceError(N_("aucun référentiel « %(key)s » n’est chargé"), key=data.framework_key, field="framework")
    built_on_id = None
    if data.built_on_code:
        lower = get_perimeter(session, data.built_on_code)
        if current is not None and _builds_on(session, lower, current.id):
            raise EvidenceError(N_("%(lower)s ne peut pas être le socle : il repose lui-même sur %(code)s"),
                                lower=lower.code, code=current.code, field="built_on")
        built_on_id = lower.id
    values = {
        "code": code, "name": bounded(data.name, MAX_NAME, N_("Nom"), "name"),
        "description": bounded(data.description, MAX_DESCRIPTION, N_("Description"), "description"),
        "service_types": types, "framework_id": framework.id, "built_on_id": built_on_id, "phase": data.phase,
        "evaluation_centre": bounded(data.evaluation_centre, MAX_NAME, N_("Centre d'évaluation"), "evaluation_centre"),
        "qualification_reference": bounded(data.qualification_reference, MAX_REFERENCE,
                                           N_("Référence de la décision de qualification"), "qualification_reference"),
    }
    values.update({name: getattr(data, name) for name in DATE_FIELDS})
    for name in DESCRIPTION_FIELDS:
        values[name] = (getattr(data, name) or "").strip()
        if len(values[name]) > MAX_DESCRIPTION_PART:
            raise DescriptionTooLong(name, MAX_DESCRIPTION_PART)
    return values


def _builds_on(session: Session, perimeter: Perimeter, target_id: int) -> bool:
    seen = set()
    while perimeter is not None and perimeter.id not in seen:
        if perimeter.id == target_id:
            return True
        seen.add(perimeter.id)
        perimeter = session.get(Perimeter, perimeter.built_on_id) if perimeter.built_on_id else None
    return False


def create_perimeter(session: Session, actor: audit.Actor, data: PerimeterData) -> Perimeter:
    perimeter = Perimeter(**_validated(session, data, None))
    session.add(perimeter)
    audit.record(session, actor, "perimeter.create", perimeter, {"name": perimeter.name, "service_types": perimeter.service_types})
    session.commit()
    return perimeter


def update_perimeter(session: Session, actor: audit.Actor, perimeter: Perimeter, data: PerimeterData,
                     expected_version: Optional[int]) -> Perimeter:
    check_version(perimeter, expected_version)
    values = _validated(session, data, perimeter)
    changes = audit.diff(perimeter, values)
    if not changes:
        return perimeter
    for key, value in values.items():
        setattr(perimeter, key, value)
    perimeter.updated_at = utcnow()
    session.add(perimeter)
    audit.record(session, actor, "perimeter.update", perimeter, {"changes": changes})
    session.commit()
    return perimeter


# --- Statement of applicability --------------------------------------------------------------------------


@dataclass
class ApplicabilityRow:
    requirement: Requirement
    applicability: rules.ItemApplicability
    decided_by: Optional[str] = None
    decided_at: Optional[str] = None


REFUSALS = {
    rules.NO_EXCLUSION: N_("%(ref)s : le référentiel SecNumCloud n’admet aucune exclusion ; cette exigence sans "
                           "condition s’applique à tout le périmètre qualifié."),
    rules.JUSTIFICATION_REQUIRED: N_("%(ref)s : une justification est requise (pourquoi la condition de l’exigence "
                                     "n’est pas remplie, ou pourquoi l’hériter du socle)."),
    rules.NO_LOWER_LAYER: N_("%(ref)s : le périmètre %(code)s ne repose sur aucun socle dont hériter."),
    rules.UNKNOWN_STATE: N_("%(ref)s : applicabilité « %(state)s » inconnue (applicable, not_applicable ou "
                            "inherited)."),
}
# The form field each refusal is about, for the web to show it beside it.
REFUSED_FIELD = {rules.NO_EXCLUSION: "state", rules.JUSTIFICATION_REQUIRED: "justification",
                 rules.NO_LOWER_LAYER: "state", rules.UNKNOWN_STATE: "state"}


def nature(requirement: Requirement) -> rules.ItemNature:
    return rules.ItemNature(requirement.kind, bool(requirement.condition), tuple(requirement.service_types),
                            tuple(requirement.built_on_types))


def _decision(row: Applicability) -> tuple[str, str, str]:
    if not row.applicable:
        return rules.NOT_APPLICABLE, row.justification, row.reason
    if row.reason == "inherited":
        return rules.INHERITED, row.justification, rules.LOWER_LAYER
    return rules.APPLICABLE, row.justification, ""


def lower_layer(session: Session, perimeter: Perimeter) -> Optional[Perimeter]:
    return session.get(Perimeter, perimeter.built_on_id) if perimeter.built_on_id else None


def statement_of_applicability(session: Session, perimeter: Perimeter,
                               only: Optional[frozenset] = None) -> list[ApplicabilityRow]:
    """The applicability of every item of the perimeter's referential, in its order; with `only`, of those items."""
    lower = lower_layer(session, perimeter)
    lower_types = lower.service_types if lower else []
    decided = select(Applicability, User).outerjoin(User, User.id == Applicability.updated_by_id).where(
        Applicability.perimeter_id == perimeter.id)
    if only is not None:
        decided = decided.where(Applicability.requirement_id.in_(only or [-1]))
    decisions = {row.requirement_id: (row, user) for row, user in session.exec(decided)}
    rows = []
    for requirement in status_cache.items(session, perimeter.framework_id):
        if only is not None and requirement.id not in only:
            continue
        derived = rules.derived_applicability(
            requirement.service_types, requirement.built_on_types, perimeter.service_types, lower_types
        )
        decided = decisions.get(requirement.id)
        effective = rules.effective_applicability(derived, _decision(decided[0]) if decided else None)
        rows.append(ApplicabilityRow(
            requirement, effective,
            decided_by=decided[1].name if decided and decided[1] else None,
            decided_at=decided[0].updated_at.strftime("%Y-%m-%d") if decided else None,
        ))
    return rows


def set_applicability(session: Session, actor: User, perimeter: Perimeter, requirement: Requirement,
                      state: str, justification: str) -> None:
    """Record a manager's decision on one item; returning to what the referential implies removes it.

    The web form, the command line and the applicability import all come here: an unconditional exigence is
    refused "not applicable" whoever asks."""
    record_applicability(session, actor, perimeter, requirement, state, justification)
    session.commit()


@dataclass(frozen=True)
class ApplicabilityLine:
    """One line of an applicability import: the row it came from, the item's ref, the decision."""

    row: int
    ref: str
    state: str
    justification: str = ""


def import_applicability(session: Session, actor: User, perimeter: Perimeter, lines: list[ApplicabilityLine]) -> int:
    """Apply a statement of applicability in one transaction: every line is judged by the same rule as the form,
    and one refused line changes nothing (EvidenceError naming every refused row). The number of lines applied."""
    items = {r.ref: r for r in session.exec(select(Requirement).where(Requirement.framework_id == perimeter.framework_id))}
    problems = []
    for line in lines:
        requirement = items.get(line.ref.strip())
        try:
            if requirement is None:
                raise EvidenceError(N_("« %(ref)s » n’est pas un point du référentiel du périmètre"), ref=line.ref)
            record_applicability(session, actor, perimeter, requirement, line.state.strip(), line.justification)
            session.flush()
        except EvidenceError as error:
            problems.append(Message(N_("ligne %(row)s : %(reason)s"), row=line.row, reason=error))
    if problems:
        session.rollback()
        raise EvidenceError(N_("aucune décision enregistrée ; %(problems)s"), problems=problems)
    session.commit()
    return len(lines)


def record_applicability(session: Session, actor: User, perimeter: Perimeter, requirement: Requirement,
                         state: str, justification: str) -> None:
    """`set_applicability` in the caller's transaction."""
    if requirement.framework_id != perimeter.framework_id:
        raise EvidenceError(N_("%(ref)s n’est pas un point du référentiel de ce périmètre"), ref=requirement.ref)
    lower = lower_layer(session, perimeter)
    justification = bounded(justification, MAX_JUSTIFICATION, N_("Justification"), "justification")
    derived = rules.derived_applicability(requirement.service_types, requirement.built_on_types,
                                          perimeter.service_types, lower.service_types if lower else [])
    if state == rules.NOT_APPLICABLE and derived.state == rules.NOT_APPLICABLE:
        basis = derived.basis  # the referential's own exclusion needs no decision
    else:
        try:
            basis = rules.decision_basis(state, justification, nature(requirement), lower is not None)
        except rules.ApplicabilityRefused as refused:
            raise EvidenceError(REFUSALS[refused.code], ref=requirement.ref, code=perimeter.code, state=state,
                                field=REFUSED_FIELD[refused.code]) from None
    row = session.exec(select(Applicability).where(
        Applicability.perimeter_id == perimeter.id, Applicability.requirement_id == requirement.id
    )).first()
    before = _decision(row)[0] if row else derived.state
    if state == derived.state:
        if row is None:
            return
        session.delete(row)
    else:
        row = row or Applicability(perimeter_id=perimeter.id, requirement_id=requirement.id)
        row.applicable = state != rules.NOT_APPLICABLE
        row.reason = {rules.LOWER_LAYER: "inherited", rules.CONDITION: "condition",
                      rules.RECOMMENDATION: "recommendation"}.get(basis, "manual")
        row.justification = justification
        row.updated_by_id = actor.id if isinstance(actor, User) else None
        row.updated_at = utcnow()
        session.add(row)
    audit.record(session, actor, "applicability.change", perimeter, {
        "requirement": requirement.ref, "from": before, "to": state, "justification": justification,
    })


def restore_disallowed_exclusions(session: Session, actor: audit.Actor) -> list[str]:
    """Put back to applicable every recorded exclusion the referential does not allow (after a catalogue change
    made an item unconditional, say); the old justification stays in the audit trail. "code ref" per change."""
    changed = []
    for row, requirement, perimeter in session.exec(
        select(Applicability, Requirement, Perimeter)
        .join(Requirement, Requirement.id == Applicability.requirement_id)
        .join(Perimeter, Perimeter.id == Applicability.perimeter_id)
        .where(Applicability.applicable == False)  # noqa: E712  (SQL comparison)
    ):
        lower = lower_layer(session, perimeter)
        derived = rules.derived_applicability(requirement.service_types, requirement.built_on_types,
                                              perimeter.service_types, lower.service_types if lower else [])
        if rules.exclusion_allowed(nature(requirement), derived):
            continue
        session.delete(row)
        audit.record(session, actor, "applicability.restore", perimeter, {
            "requirement": requirement.ref, "from": rules.NOT_APPLICABLE, "to": rules.APPLICABLE,
            "justification": row.justification,
            "reason": "SecNumCloud allows no exclusion of an unconditional requirement",
        })
        changed.append(f"{perimeter.code} {requirement.ref}")
    return changed


def set_verdict(session: Session, actor: User, perimeter: Perimeter, requirement: Requirement,
                status: Optional[str], justification: str) -> None:
    """A manager's verdict on an item, overriding the computed coverage; None clears it. Always justified.

    A verdict speaks of coverage (of following, for a recommendation), never of applicability: excluding an
    item is the statement of applicability's business, under its own rules."""
    justification = bounded(justification, MAX_JUSTIFICATION, N_("Justification"), "justification")
    verdict = session.exec(select(Verdict).where(
        Verdict.perimeter_id == perimeter.id, Verdict.requirement_id == requirement.id
    )).first()
    if status is None:
        if verdict is None:
            return
        session.delete(verdict)
        audit.record(session, actor, "verdict.clear", perimeter, {"requirement": requirement.ref, "was": verdict.status,
                                                                "justification": justification})
        session.commit()
        return
    allowed = RECOMMENDATION_STATES if requirement.kind == "recommandation" else COVERAGE_STATES
    if status not in allowed:
        raise EvidenceError(N_("%(ref)s : verdict « %(status)s » inconnu (attendu : %(allowed)s)"), ref=requirement.ref,
                            status=status, allowed=", ".join(allowed), field="status")
    if not justification:
        raise EvidenceError(N_("%(ref)s : un verdict doit être justifié"), ref=requirement.ref, field="justification")
    before = verdict.status if verdict else None
    verdict = verdict or Verdict(perimeter_id=perimeter.id, requirement_id=requirement.id, status=status, justification="")
    verdict.status, verdict.justification = status, justification
    verdict.decided_by_id = actor.id if isinstance(actor, User) else None
    verdict.decided_at = utcnow()
    session.add(verdict)
    audit.record(session, actor, "verdict.set", perimeter, {"requirement": requirement.ref, "from": before, "to": status,
                                                          "justification": justification})
    session.commit()
