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
