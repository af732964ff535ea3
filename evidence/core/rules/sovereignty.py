"""Chapter 19, the European protection criteria: seats, shareholding, third parties (their reach into the data,
the control of a parent outside the Union, their operating autonomy), links with foreign public bodies, the notice
customers get of a change, where data and operations are.

Shares are in basis points (hundredths of a percent), so that the thresholds compare exactly. The problems are
French sentences with their figures: the referential's language and the dossier's."""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Optional

from evidence.core.vocabulary import CUSTOMER_DATA, DATA_ACTIVITIES, SEAT_KINDS, TECHNICAL_DATA

INDIVIDUAL_LIMIT_BP = 2400  # no non-EU holder above 24 %
COMBINED_LIMIT_BP = 3900  # all non-EU holders together at most 39 %
MAJORITY_BP = 5000  # a majority is more than half
PRESUMPTION_BP = 4000  # L233-3 II: more than 40 % of the voting rights, no other partner holding more
MIN_ALTERNATIVES = 2  # 19.6.d: autonomy through at least two other third parties

# The registers' codes in the problems' words (the pages translate the codes through presentation.labels).
SEAT_WORDS = {"registered_office": "siège statutaire", "central_administration": "administration centrale",
              "principal_establishment": "principal établissement"}
DATA_WORDS = {"customer_data": "données des commanditaires", "identities": "identités", "logs": "journaux",
              "directory": "annuaire", "certificates": "certificats", "backups": "sauvegardes",
              "network_configuration": "configuration réseau et des accès"}
ACTIVITY_WORDS = {"stored": "stockage", "processed": "traitement"}
OPERATION_WORDS = {"administration": "administration", "supervision": "supervision", "support_l1": "support N1",
                   "support_l2": "support N2", "support_l3": "support N3"}
CHANGE_WORDS = {"legal": "juridique", "organisational": "organisationnel", "technical": "technique"}
OUTSIDE = "hors Union européenne"


@dataclass(frozen=True)
class Check:
    requirement: str  # the item it concerns, e.g. "19.6.b"
    name: str
    passed: bool
    problems: tuple[str, ...] = ()
    figures: tuple[tuple[str, str], ...] = ()


def percent(bp: int) -> str:
    return f"{bp / 100:.2f}".rstrip("0").rstrip(".") + " %"


def one_month_after(day: date) -> date:
    """The same day of the next month, or its last day when it has none (31 January → 28 or 29 February)."""
    year, month = (day.year + (day.month // 12), day.month % 12 + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def days(n: int) -> str:
    return f"{n} jour{'s' if n > 1 else ''}"


# --- 19.6.a, 19.6.b: the provider's seats and shareholding -------------------------------------------------


def check_seats(seats: dict[str, str], eu: set[str]) -> Check:
    """19.6.a: registered office, central administration and principal establishment all in the Union."""
    problems = tuple(f"{SEAT_WORDS[kind]} : non enregistré" for kind in SEAT_KINDS if not seats.get(kind))
    problems += tuple(f"{SEAT_WORDS[kind]} : {seats[kind]}, {OUTSIDE}" for kind in SEAT_KINDS
                      if seats.get(kind) and seats[kind] not in eu)
    return Check("19.6.a", "seats", not problems, problems, tuple((kind, seats.get(kind) or "—") for kind in SEAT_KINDS))


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


def check_shareholding(holders: Iterable[Holder], eu: set[str]) -> Check:
    """19.6.b: no non-EU holder above 24 %, non-EU holders together at most 39 % (capital or voting rights,
    whichever is higher), and no non-EU holder with a veto or the power to appoint a board majority.

    Ultimate controlling entities are checked one by one, but the combined share counts direct holdings only:
    an ultimate entity holds through a direct holder, whose shares would otherwise count twice."""
    foreign = [h for h in holders if h.country not in eu]
    problems = []
    for h in foreign:
        if h.weight_bp > INDIVIDUAL_LIMIT_BP:
            problems.append(f"{h.name} ({h.country}) détient {percent(h.weight_bp)} > {percent(INDIVIDUAL_LIMIT_BP)}")
        if h.veto:
            problems.append(f"{h.name} ({h.country}) dispose d'un droit de veto")
        if h.board_majority:
            problems.append(f"{h.name} ({h.country}) peut nommer la majorité du conseil")
    direct = [h for h in foreign if h.kind == "direct"]
    combined = max(sum(h.capital_bp for h in direct), sum(h.voting_bp for h in direct))
    if combined > COMBINED_LIMIT_BP:
        problems.append(f"détentions hors UE cumulées {percent(combined)} > {percent(COMBINED_LIMIT_BP)}")
    largest = max((h.weight_bp for h in foreign), default=0)
    return Check("19.6.b", "shareholding", not problems, tuple(problems),
                 (("non_eu_combined", percent(combined)), ("largest_non_eu", percent(largest))))


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


def control_grounds(parent: ParentCompany) -> tuple[str, ...]:
    """Why the parent owns or controls the third party (L233-3 I and II), strongest first; empty: it does not."""
    grounds = []
    if parent.capital_bp > MAJORITY_BP:
        grounds.append(f"détient {percent(parent.capital_bp)} du capital")
    if parent.voting_bp > MAJORITY_BP:
        grounds.append(f"majorité des droits de vote, {percent(parent.voting_bp)} (L233-3 I 1°)")
    if parent.agreement:
        grounds.append("majorité des droits de vote en vertu d'un accord avec d'autres associés (L233-3 I 2°)")
    if parent.de_facto:
        grounds.append("détermine en fait les décisions des assemblées générales (L233-3 I 3°)")
    if parent.board_power:
        grounds.append("nomme ou révoque la majorité des organes d'administration, de direction ou de surveillance "
                       "(L233-3 I 4°)")
    if parent.voting_bp <= MAJORITY_BP and presumed_control(parent.voting_bp, parent.largest_other_bp):
        grounds.append(f"{percent(parent.voting_bp)} des droits de vote, aucun autre associé n'en détenant davantage "
                       f"(présomption, L233-3 II)")
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


def foreign_tie(s: SubcontractorFacts, eu: set[str]) -> Optional[str]:
    """Why a third party falls under 19.6.c, as the words to put after its name: its seat outside the Union, or
    a parent outside it that owns or controls it. None: neither."""
    if s.parent is not None and s.parent.country not in eu:
        grounds = control_grounds(s.parent)
        if grounds:
            return f"{s.country}, contrôlée par {s.parent.name} ({s.parent.country}) : {grounds[0]}"
    return s.country if s.country not in eu else None


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
        reach = [words for words, flag in (("aux données des commanditaires", s.data_access),
                                           ("aux données techniques", s.technical_access)) if flag]
        if reach:
            problems.append(f"{s.name} ({tie}) : accès technique possible {' et '.join(reach)}"
                            + (" ; la qualification SecNumCloud n'en dispense pas" if s.qualified else ""))
        if s.technical_access is None:
            problems.append(f"{s.name} ({tie}) : accès aux données techniques non évalué")
    return Check("19.6.c", "subcontractors", not problems, tuple(problems),
                 (("third_parties", str(len(subcontractors))), ("non_eu_or_controlled", str(tied))))


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
            problems.append(f"{s.name} : qualifiée SecNumCloud sans référence de qualification (numéro et date de la "
                            f"décision), et sans autonomie d'exploitation garantie")
        else:
            problems.append(f"{s.name} : ni qualifiée SecNumCloud ni autonomie d'exploitation garantie (compétences "
                            f"propres non déclarées ; {len(named)} société(s) tierce(s) alternative(s) nommée(s) sur "
                            f"{MIN_ALTERNATIVES} requises)")
    return Check("19.6.d", "operating_autonomy", not problems, tuple(problems),
                 (("third_parties", str(len(subcontractors))), ("qualified", str(qualified)),
                  ("autonomous", str(autonomous))))


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
    problems = [f"{link.body} ({link.country}) : lien non évalué" for link in links if not link.assessment.strip()]
    figures = [("links", str(len(links))), ("assessed", str(sum(1 for link in links if link.assessment.strip())))]
    if not links:
        if declaration is None:
            problems.append("aucune déclaration : ni lien recensé avec un gouvernement ou un organisme public étranger, "
                            "ni déclaration qu'il n'en existe aucun")
        else:
            figures.append(("declared_none", f"{declaration.declared_on.isoformat()}, {declaration.declared_by}"))
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
        what = f"changement {CHANGE_WORDS.get(c.kind, c.kind)} du {c.changed_on.isoformat()} « {c.description} »"
        if c.notified_on is not None and c.notified_on > deadline:
            late += 1
            problems.append(f"{what} : commanditaires informés le {c.notified_on.isoformat()}, "
                            f"{days((c.notified_on - deadline).days)} après l'échéance du {deadline.isoformat()}")
        elif c.notified_on is None and today > deadline:
            late += 1
            problems.append(f"{what} : commanditaires non informés, échéance du {deadline.isoformat()} dépassée de "
                            f"{days((today - deadline).days)}")
        elif c.notified_on is None:
            pending += 1
    return Check("19.6.f", "customer_notices", not problems, tuple(problems),
                 (("changes", str(len(changes))), ("late", str(late)), ("pending", str(pending))))


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
        problems = [f"{DATA_WORDS.get(p.category, p.category)} ({ACTIVITY_WORDS.get(p.activity, p.activity)}) : "
                    f"{p.country}, {OUTSIDE}" for p in relevant if p.country not in eu]
        problems += [f"{DATA_WORDS[c]} : lieu de {ACTIVITY_WORDS[a]} non enregistré" for c in categories for a in DATA_ACTIVITIES
                     if not any(p.category == c and p.activity == a for p in relevant)]
        return Check(ref, name, not problems, tuple(problems), (("places", str(len(relevant))),))

    checks = [data_check("19.2.b", "customer_data", (CUSTOMER_DATA,)),
              data_check("19.2.d", "technical_data", TECHNICAL_DATA)]
    admin = [o for o in operations if o.operation in ("administration", "supervision")]
    problems = [f"{OPERATION_WORDS[o.operation]} depuis {o.country}, {OUTSIDE}" for o in admin if o.country not in eu]
    problems += [f"{op} : lieu non enregistré" for op in ("administration", "supervision")
                 if not any(o.operation == op for o in admin)]
    checks.append(Check("19.2.c", "administration", not problems, tuple(problems)))
    support = [o for o in operations if o.operation.startswith("support")]
    problems = [f"{OPERATION_WORDS.get(o.operation, o.operation)} depuis {o.country} sans la liste des opérations "
                f"permises hors UE" for o in support if o.country not in eu and not o.allowed_operations.strip()]
    checks.append(Check("19.2.e", "support", not problems, tuple(problems),
                        (("non_eu_support", str(sum(1 for o in support if o.country not in eu))),)))
    return checks
