"""Whether an item of the referential applies to a perimeter: what its service types imply, and a manager's decision."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

APPLICABLE, NOT_APPLICABLE, INHERITED = "applicable", "not_applicable", "inherited"
APPLICABILITY_STATES = (APPLICABLE, NOT_APPLICABLE, INHERITED)


@dataclass(frozen=True)
class ItemApplicability:
    """The applicability of one item in one perimeter (the decision row is `models.Applicability`)."""

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
) -> ItemApplicability:
    """What the referential itself says: an item limited to some service types, or to services built on a lower
    layer of some type, does not apply elsewhere. Everything else applies (SecNumCloud allows no exclusion)."""
    only_for = set(requirement_service_types)
    if only_for and not only_for & set(perimeter_service_types):
        return ItemApplicability(NOT_APPLICABLE, derived=True, justification="service_type")
    built_on = set(requirement_built_on)
    if built_on and not built_on & set(lower_layer_service_types):
        return ItemApplicability(NOT_APPLICABLE, derived=True, justification="built_on")
    return ItemApplicability(APPLICABLE, derived=True)


def effective_applicability(derived: ItemApplicability, decision: Optional[tuple[str, str]]) -> ItemApplicability:
    """A manager's recorded decision (state, justification) overrides what the service types imply."""
    if decision is None:
        return derived
    state, justification = decision
    return ItemApplicability(state, derived=False, justification=justification)


def check_applicability_change(state: str, justification: str) -> None:
    if state not in APPLICABILITY_STATES:
        raise ValueError(f"unknown applicability {state!r}")
    if state != APPLICABLE and not (justification or "").strip():
        raise ValueError("a justification is required to mark an item not applicable or inherited")
