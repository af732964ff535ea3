"""Chapter 19, the European protection criteria: seats, shareholding, subcontractors, where data and operations are.

Shares are in basis points (hundredths of a percent), so that the thresholds compare exactly."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from evidence.core.vocabulary import CUSTOMER_DATA, DATA_ACTIVITIES, SEAT_KINDS, TECHNICAL_DATA

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
    problems = tuple(f"{kind}: not recorded" for kind in SEAT_KINDS if not seats.get(kind))
    problems += tuple(f"{kind} in {seats[kind]}, outside the EU" for kind in SEAT_KINDS if seats.get(kind) and seats[kind] not in eu)
    return Check("19.6.a", "seats", not problems, problems, tuple((kind, seats.get(kind) or "—") for kind in SEAT_KINDS))


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
class SubcontractorFacts:
    """What 19.6.c/d looks at in a subcontractor (the register row is `models.Subcontractor`)."""

    name: str
    country: str
    data_access: bool
    qualified: bool


def check_subcontractors(subcontractors: Iterable[SubcontractorFacts], eu: set[str]) -> Check:
    """19.6.c/d: a non-EU third party with technical access to customer data must itself be qualified."""
    subcontractors = list(subcontractors)
    problems = tuple(
        f"{s.name} ({s.country}) can reach customer data and is not SecNumCloud-qualified"
        for s in subcontractors if s.country not in eu and s.data_access and not s.qualified
    )
    foreign = sum(1 for s in subcontractors if s.country not in eu)
    return Check("19.6.c", "subcontractors", not problems, problems,
                 (("subcontractors", str(len(subcontractors))), ("non_eu", str(foreign))))


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
        problems += [f"{c}: {a} location not recorded" for c in categories for a in DATA_ACTIVITIES
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
