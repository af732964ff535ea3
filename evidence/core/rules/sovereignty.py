"""Chapter 19, the European protection criteria: seats, shareholding, third parties (their reach into the data,
the control of a parent outside the Union, their operating autonomy), links with foreign public bodies, the notice
customers get of a change, where data and operations are.

Shares are in basis points (hundredths of a percent), so that the thresholds compare exactly. A problem is a code
and its parameters (`Problem`), never a sentence: the pages, the command line and the dossier word it in their
reader's language (evidence.presentation.sovereignty_words). Parameters and figures are raw values: shares in percent
(`share(bp)`: 11 or 12.5), counts as numbers, countries and register values as their codes, dates as dates in a
problem's parameters (as_dict() makes them ISO text) and as ISO text in figures (the dossier's snapshot is JSON)."""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Optional, Union

from evidence.core.vocabulary import CUSTOMER_DATA, DATA_ACTIVITIES, SEAT_KINDS, TECHNICAL_DATA

INDIVIDUAL_LIMIT_BP = 2400  # no non-EU holder above 24 %
COMBINED_LIMIT_BP = 3900  # all non-EU holders together at most 39 %
MAJORITY_BP = 5000  # a majority is more than half
PRESUMPTION_BP = 4000  # L233-3 II: more than 40 % of the voting rights, no other partner holding more
MIN_ALTERNATIVES = 2  # 19.6.d: autonomy through at least two other third parties

ADMINISTRATION = ("administration", "supervision")  # 19.2.c: done from the Union


@dataclass(frozen=True)
class Problem:
    """Why a check fails, as a code and its parameters (raw values, see the module's docstring). Parameters may
    nest another problem's dict: the ground of a parent's control, the tie of a third party outside the Union."""

    code: str
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready: dates as ISO strings, nested problems as dicts; what the dossier's snapshot stores."""
        return {"code": self.code, "params": {k: _plain(v) for k, v in self.params.items()}}


def _plain(value):
    if isinstance(value, Problem):
        return value.as_dict()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Check:
    requirement: str  # the item it concerns, e.g. "19.6.b"
    name: str
    passed: bool
    problems: tuple[Problem, ...] = ()
    figures: tuple[tuple[str, object], ...] = ()  # (key, JSON value): a count, a share, an ISO date, a country code


def share(bp: int) -> Union[int, float]:
    """A share in percent from basis points: 11 for 1100, 12.5 for 1250 (whole shares stay integers, so that the
    snapshot's JSON reads 11, not 11.0)."""
    return bp // 100 if bp % 100 == 0 else bp / 100


def one_month_after(day: date) -> date:
    """The same day of the next month, or its last day when it has none (31 January → 28 or 29 February)."""
    year, month = (day.year + (day.month // 12), day.month % 12 + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- 19.6.a, 19.6.b: the provider's seats and shareholding -------------------------------------------------


def check_seats(seats: dict[str, str], eu: set[str]) -> Check:
    """19.6.a: registered office, central administration and principal establishment all in the Union."""
    problems = tuple(Problem("seat_missing", {"seat": kind}) for kind in SEAT_KINDS if not seats.get(kind))
    problems += tuple(Problem("seat_outside_eu", {"seat": kind, "country": seats[kind]}) for kind in SEAT_KINDS
                      if seats.get(kind) and seats[kind] not in eu)
    return Check("19.6.a", "seats", not problems, problems, tuple((kind, seats.get(kind) or None) for kind in SEAT_KINDS))


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

    @property
    def weight_basis(self) -> str:
        """Which of its shares the weight is: "capital", or "voting" when the voting rights are the larger."""
        return "voting" if self.voting_bp > self.capital_bp else "capital"


def check_shareholding(holders: Iterable[Holder], eu: set[str]) -> Check:
    """19.6.b: no non-EU holder above 24 %, non-EU holders together at most 39 % (capital or voting rights,
    whichever is higher), and no non-EU holder with a veto or the power to appoint a board majority.

    Ultimate controlling entities are checked one by one, but the combined share counts direct holdings only:
    an ultimate entity holds through a direct holder, whose shares would otherwise count twice.

    The figures are the sums a shareholding table shows: the capital and the voting rights of the non-EU direct
    holders (the combined limit applies to the larger), and the largest non-EU holding, each as the table prints
    it (capital or voting rights of one row)."""
    foreign = [h for h in holders if h.country not in eu]
    problems = []
    for h in foreign:
        who = {"holder": h.name, "country": h.country}
        if h.weight_bp > INDIVIDUAL_LIMIT_BP:
            problems.append(Problem("holder_above_limit", {**who, "basis": h.weight_basis, "share": share(h.weight_bp),
                                                           "limit": share(INDIVIDUAL_LIMIT_BP)}))
        if h.veto:
            problems.append(Problem("holder_veto", who))
        if h.board_majority:
            problems.append(Problem("holder_board_majority", who))
    direct = [h for h in foreign if h.kind == "direct"]
    capital, voting = sum(h.capital_bp for h in direct), sum(h.voting_bp for h in direct)
    if max(capital, voting) > COMBINED_LIMIT_BP:
        problems.append(Problem("non_eu_combined_above_limit", {
            "basis": "voting" if voting > capital else "capital", "share": share(max(capital, voting)),
            "limit": share(COMBINED_LIMIT_BP)}))
    largest = max((h.weight_bp for h in foreign), default=0)
    return Check("19.6.b", "shareholding", not problems, tuple(problems),
                 (("non_eu_capital", share(capital)), ("non_eu_voting", share(voting)),
                  ("largest_non_eu", share(largest))))


# --- 19.6.c, 19.6.d: third parties ------------------------------------------------------------------------


@dataclass(frozen=True)
class ParentCompany:
    """The company a third party belongs to or is controlled by, with the facts article L233-3 of the code de
    commerce looks at. Shares are the parent's, held directly or indirectly; `largest_other_bp` is the largest
    voting share any other partner or shareholder holds, directly or indirectly."""

    name: str
    country: str
    capital_bp: int = 0
    voting_bp: int = 0
    largest_other_bp: int = 0
    agreement: bool = False  # I 2°: alone holds the majority of the votes by an agreement with other partners
    de_facto: bool = False  # I 3°: determines in fact, by its votes, the decisions of the general meetings
    board_power: bool = False  # I 4°: a partner that may appoint or dismiss the majority of the board


def presumed_control(voting_bp: int, largest_other_bp: int) -> bool:
    """L233-3 II: control is presumed above 40 % of the voting rights when no other partner holds a larger share
    (an equal share is not a larger one)."""
    return voting_bp > PRESUMPTION_BP and largest_other_bp <= voting_bp


def control_grounds(parent: ParentCompany) -> tuple[Problem, ...]:
    """Why the parent owns or controls the third party (L233-3 I and II), strongest first; empty: it does not.
    Codes: capital_majority, voting_majority (I 1°), agreement (I 2°), de_facto (I 3°), board_power (I 4°),
    presumption (II)."""
    grounds = []
    if parent.capital_bp > MAJORITY_BP:
        grounds.append(Problem("capital_majority", {"share": share(parent.capital_bp)}))
    if parent.voting_bp > MAJORITY_BP:
        grounds.append(Problem("voting_majority", {"share": share(parent.voting_bp)}))
    if parent.agreement:
        grounds.append(Problem("agreement"))
    if parent.de_facto:
        grounds.append(Problem("de_facto"))
    if parent.board_power:
        grounds.append(Problem("board_power"))
    if parent.voting_bp <= MAJORITY_BP and presumed_control(parent.voting_bp, parent.largest_other_bp):
        grounds.append(Problem("presumption", {"share": share(parent.voting_bp)}))
    return tuple(grounds)


@dataclass(frozen=True)
class SubcontractorFacts:
    """What 19.6.c/d look at in a third party (the register row is `models.Subcontractor`). Technical access
    None: not assessed yet."""

    name: str
    country: str
    data_access: bool  # to the customers' data
    qualified: bool = False
    technical_access: Optional[bool] = False  # to technical data: identities, SDN, logs, directory, certificates…
    parent: Optional[ParentCompany] = None
    qualification_decision: str = ""
    qualification_date: Optional[date] = None
    own_skills: bool = False
    alternatives: tuple[str, ...] = ()


def foreign_tie(s: SubcontractorFacts, eu: set[str]) -> Optional[Problem]:
    """Why a third party falls under 19.6.c: a parent outside the Union that owns or controls it ("controlled",
    with the strongest ground), or its seat outside the Union ("outside_eu"). None: neither."""
    if s.parent is not None and s.parent.country not in eu:
        grounds = control_grounds(s.parent)
        if grounds:
            return Problem("controlled", {"country": s.country, "parent": s.parent.name,
                                          "parent_country": s.parent.country, "ground": grounds[0]})
    return Problem("outside_eu", {"country": s.country}) if s.country not in eu else None


def check_subcontractors(subcontractors: Iterable[SubcontractorFacts], eu: set[str]) -> Check:
    """19.6.c: a third party whose seat is outside the Union, or which a company domiciled outside it owns or
    controls, must have no technical possibility of obtaining the customers' data nor the technical data. Being
    SecNumCloud-qualified exempts nobody here (qualification is 19.6.d's alternative to operating autonomy)."""
    subcontractors = list(subcontractors)
    problems, tied = [], 0
    for s in subcontractors:
        tie = foreign_tie(s, eu)
        if tie is None:
            continue
        tied += 1
        if s.data_access or s.technical_access:
            problems.append(Problem("third_party_access", {
                "third_party": s.name, "tie": tie, "customer_data": bool(s.data_access),
                "technical_data": bool(s.technical_access), "qualified": bool(s.qualified)}))
        if s.technical_access is None:
            problems.append(Problem("third_party_access_unassessed", {"third_party": s.name, "tie": tie}))
    return Check("19.6.c", "subcontractors", not problems, tuple(problems),
                 (("third_parties", len(subcontractors)), ("non_eu_or_controlled", tied)))


def alternatives_named(s: SubcontractorFacts) -> tuple[str, ...]:
    """The other third parties named as able to take over, each once, the third party itself left out."""
    seen, named = {s.name.strip().casefold()}, []
    for name in s.alternatives:
        key = name.strip().casefold()
        if key and key not in seen:
            seen.add(key)
            named.append(name.strip())
    return tuple(named)


def check_autonomy(subcontractors: Iterable[SubcontractorFacts]) -> Check:
    """19.6.d: every third party that provides all or part of the service is SecNumCloud-qualified (its decision
    recorded: number and date) or guarantees the provider continuous operating autonomy, through the provider's
    own skills or at least two other third parties, named."""
    subcontractors = list(subcontractors)
    problems, qualified, autonomous = [], 0, 0
    for s in subcontractors:
        referenced = s.qualified and bool(s.qualification_decision.strip()) and s.qualification_date is not None
        named = alternatives_named(s)
        autonomy = s.own_skills or len(named) >= MIN_ALTERNATIVES
        qualified += referenced
        autonomous += autonomy
        if referenced or autonomy:
            continue
        if s.qualified:
            problems.append(Problem("qualified_without_reference", {"third_party": s.name}))
        else:
            problems.append(Problem("no_qualification_nor_autonomy", {"third_party": s.name, "named": len(named),
                                                                      "required": MIN_ALTERNATIVES}))
    return Check("19.6.d", "operating_autonomy", not problems, tuple(problems),
                 (("third_parties", len(subcontractors)), ("qualified", qualified), ("autonomous", autonomous)))


# --- 19.6.e, 19.6.f: links with foreign public bodies; notice of changes ---------------------------------------


@dataclass(frozen=True)
class ForeignLink:
    body: str
    country: str
    assessment: str = ""


@dataclass(frozen=True)
class NoLinkDeclaration:
    """The positive declaration that the provider has no link with a foreign government or public body."""

    declared_by: str
    declared_on: date


def check_foreign_links(links: Iterable[ForeignLink], declaration: Optional[NoLinkDeclaration]) -> Check:
    """19.6.e: every link with a government or public body outside the Union is assessed; an empty register
    holds only with a declaration that there is none (who, when). Neither a link nor a declaration: a gap."""
    links = list(links)
    problems = [Problem("link_unassessed", {"body": link.body, "country": link.country})
                for link in links if not link.assessment.strip()]
    figures = [("links", len(links)), ("assessed", sum(1 for link in links if link.assessment.strip()))]
    if not links:
        if declaration is None:
            problems.append(Problem("no_link_declaration"))
        else:
            # The date as ISO text: figures go to the dossier's snapshot (JSON) as they are.
            figures += [("declared_none_on", declaration.declared_on.isoformat()),
                        ("declared_none_by", declaration.declared_by)]
    return Check("19.6.e", "foreign_public_links", not problems, tuple(problems), tuple(figures))


@dataclass(frozen=True)
class ChangeFacts:
    """A change that may affect compliance with 19.6, and the first day its customers were told (None: not yet)."""

    kind: str  # legal | organisational | technical
    description: str
    changed_on: date
    notified_on: Optional[date] = None


def check_notices(changes: Iterable[ChangeFacts], today: date) -> Check:
    """19.6.f: the customers are formally told of every change within one month of it. A notice sent later
    fails, and so does a change older than a month that nobody was told of; a younger one is pending."""
    changes = list(changes)
    problems, late, pending = [], 0, 0
    for c in changes:
        deadline = one_month_after(c.changed_on)
        what = {"kind": c.kind, "changed_on": c.changed_on, "description": c.description, "deadline": deadline}
        if c.notified_on is not None and c.notified_on > deadline:
            late += 1
            problems.append(Problem("notice_late", {**what, "notified_on": c.notified_on,
                                                    "days": (c.notified_on - deadline).days}))
        elif c.notified_on is None and today > deadline:
            late += 1
            problems.append(Problem("notice_missing", {**what, "days": (today - deadline).days}))
        elif c.notified_on is None:
            pending += 1
    return Check("19.6.f", "customer_notices", not problems, tuple(problems),
                 (("changes", len(changes)), ("late", late), ("pending", pending)))


# --- 19.2: where data and operations are ---------------------------------------------------------------------


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
        problems = [Problem("data_outside_eu", {"category": p.category, "activity": p.activity, "country": p.country})
                    for p in relevant if p.country not in eu]
        problems += [Problem("data_place_missing", {"category": c, "activity": a})
                     for c in categories for a in DATA_ACTIVITIES
                     if not any(p.category == c and p.activity == a for p in relevant)]
        return Check(ref, name, not problems, tuple(problems), (("places", len(relevant)),))

    checks = [data_check("19.2.b", "customer_data", (CUSTOMER_DATA,)),
              data_check("19.2.d", "technical_data", TECHNICAL_DATA)]
    admin = [o for o in operations if o.operation in ADMINISTRATION]
    problems = [Problem("operation_outside_eu", {"operation": o.operation, "country": o.country})
                for o in admin if o.country not in eu]
    problems += [Problem("operation_place_missing", {"operation": op}) for op in ADMINISTRATION
                 if not any(o.operation == op for o in admin)]
    checks.append(Check("19.2.c", "administration", not problems, tuple(problems),
                        (("places", len(admin)),)))
    support = [o for o in operations if o.operation.startswith("support")]
    problems = [Problem("support_without_allowed_operations", {"operation": o.operation, "country": o.country})
                for o in support if o.country not in eu and not o.allowed_operations.strip()]
    checks.append(Check("19.2.e", "support", not problems, tuple(problems),
                        (("non_eu_support", sum(1 for o in support if o.country not in eu)),)))
    return checks
