"""Whether an item of the referential applies to a perimeter: the statement of applicability.

SecNumCloud allows no exclusion on the qualified scope. An item is not applicable only when the referential
itself says so: it is limited to some service types, or to services built on a lower layer of some type (derived),
or it applies only in a situation the perimeter is not in (a condition, declared by a manager who says why it does
not hold). Recommendations may be declared not applicable too. An item may be inherited only from the
perimeter's lower layer, and then takes that layer's coverage.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

APPLICABLE, NOT_APPLICABLE, INHERITED = "applicable", "not_applicable", "inherited"
APPLICABILITY_STATES = (APPLICABLE, NOT_APPLICABLE, INHERITED)

# Why an item is not applicable or inherited.
SERVICE_TYPE = "service_type"  # the item is limited to other service types
BUILT_ON = "built_on"  # the item is limited to services built on another kind of lower layer
CONDITION = "condition"  # the situation the item depends on does not exist here (a manager's justification)
RECOMMENDATION = "recommendation"  # a recommendation the manager declared not applicable
LOWER_LAYER = "lower_layer"  # inherited from the lower layer
BASES = (SERVICE_TYPE, BUILT_ON, CONDITION, RECOMMENDATION, LOWER_LAYER)

# Why a change is refused (the service turns them into messages).
NO_EXCLUSION = "no_exclusion"
JUSTIFICATION_REQUIRED = "justification_required"
NO_LOWER_LAYER = "no_lower_layer"
UNKNOWN_STATE = "unknown_state"


@dataclass(frozen=True)
class ItemApplicability:
    """The applicability of one item in one perimeter (a manager's decision row is `models.Applicability`)."""

    state: str  # applicable | not_applicable | inherited
    derived: bool  # True: follows from the referential and the service types; False: a manager's decision
    justification: str = ""  # the manager's words
    basis: str = ""  # one of BASES when not simply applicable
    limited_to: tuple[str, ...] = ()  # for a derived exclusion: the service types the item is limited to

    @property
    def applicable(self) -> bool:
        return self.state != NOT_APPLICABLE


@dataclass(frozen=True)
class ItemNature:
    """What the referential says of an item, as far as applicability goes."""

    kind: str = "exigence"  # exigence | recommandation
    conditional: bool = False  # the item applies only when a situation exists
    service_types: tuple[str, ...] = ()
    built_on: tuple[str, ...] = ()

    @property
    def may_be_excluded(self) -> bool:
        return self.kind == "recommandation" or self.conditional


def derived_applicability(
    requirement_service_types: Iterable[str],
    requirement_built_on: Iterable[str],
    perimeter_service_types: Iterable[str],
    lower_layer_service_types: Iterable[str],
) -> ItemApplicability:
    """What the referential itself says: an item limited to some service types, or to services built on a lower
    layer of some type, does not apply elsewhere. Everything else applies."""
    only_for = tuple(requirement_service_types)
    if only_for and not set(only_for) & set(perimeter_service_types):
        return ItemApplicability(NOT_APPLICABLE, derived=True, basis=SERVICE_TYPE, limited_to=only_for)
    built_on = tuple(requirement_built_on)
    if built_on and not set(built_on) & set(lower_layer_service_types):
        return ItemApplicability(NOT_APPLICABLE, derived=True, basis=BUILT_ON, limited_to=built_on)
    return ItemApplicability(APPLICABLE, derived=True)


class ApplicabilityRefused(ValueError):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def decision_basis(state: str, justification: str, nature: ItemNature, has_lower_layer: bool) -> str:
    """The basis of a manager's decision, or ApplicabilityRefused with the code of the rule it breaks."""
    if state not in APPLICABILITY_STATES:
        raise ApplicabilityRefused(UNKNOWN_STATE)
    if state == APPLICABLE:
        return ""
    if state == NOT_APPLICABLE and not nature.may_be_excluded:
        raise ApplicabilityRefused(NO_EXCLUSION)
    if state == INHERITED and not has_lower_layer:
        raise ApplicabilityRefused(NO_LOWER_LAYER)
    if not (justification or "").strip():
        raise ApplicabilityRefused(JUSTIFICATION_REQUIRED)
    if state == INHERITED:
        return LOWER_LAYER
    return CONDITION if nature.conditional else RECOMMENDATION


def exclusion_allowed(nature: ItemNature, derived: ItemApplicability) -> bool:
    """Whether a recorded "not applicable" may stand: the referential excludes the item itself, or the item may
    be excluded by a justified decision. Anything else goes back to applicable."""
    return derived.state == NOT_APPLICABLE or nature.may_be_excluded


def effective_applicability(derived: ItemApplicability, decision: Optional[tuple[str, str, str]]) -> ItemApplicability:
    """A manager's recorded decision (state, justification, basis) overrides what the service types imply."""
    if decision is None:
        return derived
    state, justification, basis = decision
    return ItemApplicability(state, derived=False, justification=justification, basis=basis)
