"""The rules of the product, as pure functions over plain values: no Flask, no database.

Views, the command line and the dossier call them; tests call them directly with tables of cases.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterable, Optional

# --- Applicability ---------------------------------------------------------------------------------------

APPLICABLE, NOT_APPLICABLE, INHERITED = "applicable", "not_applicable", "inherited"
APPLICABILITY_STATES = (APPLICABLE, NOT_APPLICABLE, INHERITED)


@dataclass(frozen=True)
class Applicability:
    state: str  # applicable | not_applicable | inherited
    derived: bool  # True: follows from the service types; False: a manager's decision
    justification: str = ""

    @property
    def applicable(self) -> bool:
        return self.state != NOT_APPLICABLE


def derived_applicability(
    requirement_service_types: Iterable[str],
    requirement_built_on: Iterable[str],
    perimeter_service_types: Iterable[str],
    lower_layer_service_types: Iterable[str],
) -> Applicability:
    """What the referential itself says: an item limited to some service types, or to services built on a lower
    layer of some type, does not apply elsewhere. Everything else applies (SecNumCloud allows no exclusion)."""
    only_for = set(requirement_service_types)
    if only_for and not only_for & set(perimeter_service_types):
        return Applicability(NOT_APPLICABLE, derived=True, justification="service_type")
    built_on = set(requirement_built_on)
    if built_on and not built_on & set(lower_layer_service_types):
        return Applicability(NOT_APPLICABLE, derived=True, justification="built_on")
    return Applicability(APPLICABLE, derived=True)


def effective_applicability(derived: Applicability, decision: Optional[tuple[str, str]]) -> Applicability:
    """A manager's recorded decision (state, justification) overrides what the service types imply."""
    if decision is None:
        return derived
    state, justification = decision
    return Applicability(state, derived=False, justification=justification)


def check_applicability_change(state: str, justification: str) -> None:
    if state not in APPLICABILITY_STATES:
        raise ValueError(f"unknown applicability {state!r}")
    if state != APPLICABLE and not (justification or "").strip():
        raise ValueError("a justification is required to mark an item not applicable or inherited")


# --- Evidence freshness ------------------------------------------------------------------------------------

EXPIRING_DAYS = 30


def freshness(valid_until: Optional[date], today: date, expiring_days: int = EXPIRING_DAYS) -> str:
    """valid (or no end date), expiring (within `expiring_days` of its end), expired (after it)."""
    if valid_until is None:
        return "valid"
    if valid_until < today:
        return "expired"
    if valid_until <= today + timedelta(days=expiring_days):
        return "expiring"
    return "valid"


# --- Evidence review -----------------------------------------------------------------------------------------

REVIEW_TRANSITIONS = {
    "submit": ({"draft", "rejected"}, "in_review"),
    "approve": ({"in_review"}, "approved"),
    "reject": ({"in_review"}, "rejected"),
    "reopen": ({"approved", "rejected"}, "draft"),
}


def review_transition(action: str, status: str) -> str:
    """The status after a review action, or ValueError when the action does not apply to this status."""
    if action not in REVIEW_TRANSITIONS:
        raise ValueError(f"unknown review action {action!r}")
    sources, target = REVIEW_TRANSITIONS[action]
    if status not in sources:
        raise ValueError(f"cannot {action} evidence that is {status.replace('_', ' ')}")
    return target


# --- Status of an item in a perimeter ---------------------------------------------------------------------

NON_COMPLIANT, PARTIAL, COMPLIANT = "non_compliant", "partial", "compliant"
STATUS_ORDER = {NON_COMPLIANT: 0, PARTIAL: 1, COMPLIANT: 2}

# Gap reasons, in the order a team would fix them.
NO_CONTROL = "no_control"
CONTROL_NOT_IMPLEMENTED = "control_not_implemented"
EVIDENCE_MISSING = "evidence_missing"
EVIDENCE_NOT_APPROVED = "evidence_not_approved"
EVIDENCE_EXPIRED = "evidence_expired"
OPEN_FINDING = "open_finding"
REASONS = (NO_CONTROL, CONTROL_NOT_IMPLEMENTED, EVIDENCE_MISSING, EVIDENCE_NOT_APPROVED, EVIDENCE_EXPIRED, OPEN_FINDING)


@dataclass(frozen=True)
class EvidenceFacts:
    status: str  # draft | in_review | approved | rejected
    valid_until: Optional[date]


@dataclass(frozen=True)
class ControlFacts:
    status: str  # planned | in_progress | implemented | retired
    evidence: tuple[EvidenceFacts, ...] = ()


@dataclass(frozen=True)
class ItemFacts:
    applicable: bool = True
    controls: tuple[ControlFacts, ...] = ()
    direct_evidence: tuple[EvidenceFacts, ...] = ()  # evidence linked to the item itself
    verdict: Optional[str] = None  # a manager's status, overriding the computed one
    open_major_findings: int = 0


@dataclass(frozen=True)
class ItemStatus:
    status: str
    reasons: tuple[str, ...] = ()
    computed: Optional[str] = None  # what the rules alone say, when a verdict or a finding changed it

    @property
    def is_gap(self) -> bool:
        return self.status in (NON_COMPLIANT, PARTIAL)


def _usable(evidence: EvidenceFacts, today: date) -> bool:
    return evidence.status == "approved" and (evidence.valid_until is None or evidence.valid_until >= today)


def item_status(facts: ItemFacts, today: date) -> ItemStatus:
    """The status of one item in one perimeter, with the reasons it falls short (see DESIGN.md)."""
    if not facts.applicable:
        return ItemStatus("not_applicable")
    computed, reasons = _computed(facts, today)
    status = facts.verdict or computed
    if facts.open_major_findings:
        status = NON_COMPLIANT  # an open major non-conformity outweighs any verdict
        reasons = reasons + (OPEN_FINDING,)
    if status == COMPLIANT:
        reasons = ()
    return ItemStatus(status, reasons, computed if status != computed else None)


def _computed(facts: ItemFacts, today: date) -> tuple[str, tuple[str, ...]]:
    live = [c for c in facts.controls if c.status != "retired"]
    if not live:
        return NON_COMPLIANT, (NO_CONTROL,)
    implemented = [c for c in live if c.status == "implemented"]
    if not implemented:
        return NON_COMPLIANT, (CONTROL_NOT_IMPLEMENTED,)
    evidence = [e for c in implemented for e in c.evidence] + list(facts.direct_evidence)
    if any(_usable(e, today) for e in evidence):
        return COMPLIANT, ()
    if not evidence:
        return PARTIAL, (EVIDENCE_MISSING,)
    approved = [e for e in evidence if e.status == "approved"]
    if approved:  # approved once, but every approved piece has run out
        return PARTIAL, (EVIDENCE_EXPIRED,)
    return PARTIAL, (EVIDENCE_NOT_APPROVED,)


# --- Readiness -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    compliant: int
    applicable: int

    @property
    def ratio(self) -> float:
        return self.compliant / self.applicable if self.applicable else 0.0

    @property
    def percent(self) -> int:
        return int(self.ratio * 100 + 0.5) if self.applicable else 0


def readiness(statuses: Iterable[str]) -> Readiness:
    """Compliant items over applicable items (not-applicable ones count in neither)."""
    applicable = [s for s in statuses if s != "not_applicable"]
    return Readiness(sum(1 for s in applicable if s == COMPLIANT), len(applicable))
