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
SOVEREIGNTY_CHECK = "sovereignty_check"
REASONS = (NO_CONTROL, CONTROL_NOT_IMPLEMENTED, EVIDENCE_MISSING, EVIDENCE_NOT_APPROVED, EVIDENCE_EXPIRED, OPEN_FINDING,
           SOVEREIGNTY_CHECK)


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
    failed_checks: tuple[str, ...] = ()  # sovereignty checks on this item that fail, as sentences


@dataclass(frozen=True)
class ItemStatus:
    status: str
    reasons: tuple[str, ...] = ()
    computed: Optional[str] = None  # what the rules alone say, when a verdict or a finding changed it
    notes: tuple[str, ...] = ()  # figures behind a reason (e.g. "non-EU holdings 41 % > 39 %")

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
    if facts.failed_checks:
        status = NON_COMPLIANT  # a failed sovereignty check is a gap whatever the evidence says
        reasons = reasons + (SOVEREIGNTY_CHECK,)
    if status == COMPLIANT:
        reasons = ()
    return ItemStatus(status, reasons, computed if status != computed else None, tuple(facts.failed_checks))


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


# --- Sovereignty (chapter 19) -----------------------------------------------------------------------------------
# Shares are in basis points (hundredths of a percent), so that the thresholds compare exactly.

INDIVIDUAL_LIMIT_BP = 2400  # no non-EU holder above 24 %
COMBINED_LIMIT_BP = 3900  # all non-EU holders together at most 39 %


@dataclass(frozen=True)
class Check:
    requirement: str  # the item it concerns, e.g. "19.6.b"
    name: str
    passed: bool
    problems: tuple[str, ...] = ()
    figures: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Holder:
    name: str
    country: str
    capital_bp: int
    voting_bp: int
    veto: bool = False
    board_majority: bool = False
    kind: str = "direct"  # direct, or the ultimate controlling entity behind a direct holder

    @property
    def weight_bp(self) -> int:
        return max(self.capital_bp, self.voting_bp)


def percent(bp: int) -> str:
    return f"{bp / 100:.2f}".rstrip("0").rstrip(".") + " %"


def check_seats(seats: dict[str, str], eu: set[str]) -> Check:
    """19.6.a: registered office, central administration and principal establishment all in the Union."""
    needed = ("registered_office", "central_administration", "principal_establishment")
    problems = tuple(f"{kind}: not recorded" for kind in needed if not seats.get(kind))
    problems += tuple(f"{kind} in {seats[kind]}, outside the EU" for kind in needed if seats.get(kind) and seats[kind] not in eu)
    return Check("19.6.a", "seats", not problems, problems, tuple((kind, seats.get(kind) or "—") for kind in needed))


def check_shareholding(holders: Iterable[Holder], eu: set[str]) -> Check:
    """19.6.b: no non-EU holder above 24 %, non-EU holders together at most 39 % (capital or voting rights,
    whichever is higher), and no non-EU holder with a veto or the power to appoint a board majority.

    Ultimate controlling entities are checked one by one, but the combined share counts direct holdings only:
    an ultimate entity holds through a direct holder, whose shares would otherwise count twice."""
    foreign = [h for h in holders if h.country not in eu]
    problems = []
    for h in foreign:
        if h.weight_bp > INDIVIDUAL_LIMIT_BP:
            problems.append(f"{h.name} ({h.country}) holds {percent(h.weight_bp)} > {percent(INDIVIDUAL_LIMIT_BP)}")
        if h.veto:
            problems.append(f"{h.name} ({h.country}) holds a veto")
        if h.board_majority:
            problems.append(f"{h.name} ({h.country}) can appoint a board majority")
    direct = [h for h in foreign if h.kind == "direct"]
    combined = max(sum(h.capital_bp for h in direct), sum(h.voting_bp for h in direct))
    if combined > COMBINED_LIMIT_BP:
        problems.append(f"non-EU holdings {percent(combined)} > {percent(COMBINED_LIMIT_BP)}")
    largest = max((h.weight_bp for h in foreign), default=0)
    return Check("19.6.b", "shareholding", not problems, tuple(problems),
                 (("non_eu_combined", percent(combined)), ("largest_non_eu", percent(largest))))


@dataclass(frozen=True)
class Subcontractor:
    name: str
    country: str
    data_access: bool
    qualified: bool


def check_subcontractors(subcontractors: Iterable[Subcontractor], eu: set[str]) -> Check:
    """19.6.c/d: a non-EU third party with technical access to customer data must itself be qualified."""
    subcontractors = list(subcontractors)
    problems = tuple(
        f"{s.name} ({s.country}) can reach customer data and is not SecNumCloud-qualified"
        for s in subcontractors if s.country not in eu and s.data_access and not s.qualified
    )
    foreign = sum(1 for s in subcontractors if s.country not in eu)
    return Check("19.6.c", "subcontractors", not problems, problems,
                 (("subcontractors", str(len(subcontractors))), ("non_eu", str(foreign))))


CUSTOMER_DATA = "customer_data"
TECHNICAL_DATA = ("identities", "logs", "directory", "certificates", "backups", "network_configuration")
DATA_CATEGORIES = (CUSTOMER_DATA,) + TECHNICAL_DATA
OPERATIONS = ("administration", "supervision", "support_l1", "support_l2", "support_l3")


@dataclass(frozen=True)
class DataPlace:
    category: str
    activity: str  # stored | processed
    country: str


@dataclass(frozen=True)
class OperationPlace:
    operation: str
    country: str
    allowed_operations: str = ""  # for support outside the EU: the documented list of what it may do


def check_localisation(places: Iterable[DataPlace], operations: Iterable[OperationPlace], eu: set[str]) -> list[Check]:
    """19.2: customer and technical data stored and processed in the EU; administration and supervision from
    the EU; support from outside the EU only for a documented list of operations."""
    places, operations = list(places), list(operations)

    def data_check(ref: str, name: str, categories) -> Check:
        relevant = [p for p in places if p.category in categories]
        problems = [f"{p.category} {p.activity} in {p.country}, outside the EU" for p in relevant if p.country not in eu]
        problems += [f"{c}: {a} location not recorded" for c in categories for a in ("stored", "processed")
                     if not any(p.category == c and p.activity == a for p in relevant)]
        return Check(ref, name, not problems, tuple(problems), (("places", str(len(relevant))),))

    checks = [data_check("19.2.b", "customer_data", (CUSTOMER_DATA,)),
              data_check("19.2.d", "technical_data", TECHNICAL_DATA)]
    admin = [o for o in operations if o.operation in ("administration", "supervision")]
    problems = [f"{o.operation} from {o.country}, outside the EU" for o in admin if o.country not in eu]
    problems += [f"{op}: location not recorded" for op in ("administration", "supervision")
                 if not any(o.operation == op for o in admin)]
    checks.append(Check("19.2.c", "administration", not problems, tuple(problems)))
    support = [o for o in operations if o.operation.startswith("support")]
    problems = [f"{o.operation} from {o.country} without the list of operations allowed from outside the EU"
                for o in support if o.country not in eu and not o.allowed_operations.strip()]
    checks.append(Check("19.2.e", "support", not problems, tuple(problems),
                        (("non_eu_support", str(sum(1 for o in support if o.country not in eu))),)))
    return checks
