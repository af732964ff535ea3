"""How far the team's controls and evidence cover an item in a perimeter, what is still missing, and readiness.

The words are the team's claim ("couvert"), never the evaluation centre's conclusion ("conforme"). An applicable
exigence is covered when (1) a control deployed in the perimeter and implemented is mapped to it with an
implementation statement for this item, (2) every expected evidence entry of the item is answered by at least one
approved, unexpired piece of evidence in scope of the perimeter, or waived by a manager, and (3) no major finding
is open and no sovereignty check on it fails. A recommendation is followed on the same terms; it is never a gap.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Optional

from evidence.core.rules.applicability import NOT_APPLICABLE
from evidence.core.rules.freshness import EXPIRED, freshness

NOT_COVERED, PARTLY_COVERED, COVERED = "not_covered", "partly_covered", "covered"
NOT_FOLLOWED, FOLLOWED = "not_followed", "followed"
COVERAGE_ORDER = {NOT_COVERED: 0, PARTLY_COVERED: 1, COVERED: 2}
GAP_STATES = (NOT_COVERED, PARTLY_COVERED)

# Gap reasons, in the order a team would fix them.
NO_CONTROL = "no_control"
CONTROL_NOT_IMPLEMENTED = "control_not_implemented"
NO_STATEMENT = "no_statement"
ENTRY_MISSING = "entry_missing"  # an expected evidence entry nothing answers
EVIDENCE_MISSING = "evidence_missing"  # an item without a checklist and without any evidence
EVIDENCE_NOT_APPROVED = "evidence_not_approved"
EVIDENCE_EXPIRED = "evidence_expired"
OPEN_FINDING = "open_finding"
SOVEREIGNTY_CHECK = "sovereignty_check"
REASONS = (NO_CONTROL, CONTROL_NOT_IMPLEMENTED, NO_STATEMENT, ENTRY_MISSING, EVIDENCE_MISSING, EVIDENCE_NOT_APPROVED,
           EVIDENCE_EXPIRED, OPEN_FINDING, SOVEREIGNTY_CHECK)
# What keeps an item from being even partly covered: nothing is in place yet, or something outweighs the proofs.
BLOCKING = (NO_CONTROL, CONTROL_NOT_IMPLEMENTED, OPEN_FINDING, SOVEREIGNTY_CHECK)

# The state of one expected evidence entry.
ANSWERED, WAIVED = "answered", "waived"
MISSING, NOT_APPROVED = "missing", "not_approved"  # and EXPIRED (from freshness)


@dataclass(frozen=True)
class EvidenceFacts:
    """A piece of evidence as one item in one perimeter sees it."""

    status: str  # draft | in_review | approved | rejected
    valid_until: Optional[date]
    in_scope: bool = True  # valid for this perimeter
    answers: tuple[str, ...] = ()  # the item's expected evidence entries it answers
    ref: str = ""


@dataclass(frozen=True)
class ControlFacts:
    status: str  # planned | in_progress | implemented | retired
    evidence: tuple[EvidenceFacts, ...] = ()
    statement: str = ""  # how the control implements this item


@dataclass(frozen=True)
class ItemFacts:
    kind: str = "exigence"
    applicable: bool = True
    entries: tuple[str, ...] = ()  # the ids of the item's expected evidence entries
    waived: tuple[str, ...] = ()  # entries a manager waived in this perimeter
    controls: tuple[ControlFacts, ...] = ()
    direct_evidence: tuple[EvidenceFacts, ...] = ()  # evidence linked to the item itself
    verdict: Optional[str] = None  # a manager's status, overriding the computed one
    open_major_findings: int = 0
    failed_checks: tuple[str, ...] = ()  # sovereignty checks on this item that fail, as sentences


@dataclass(frozen=True)
class EntryState:
    id: str
    state: str  # answered | waived | missing | not_approved | expired
    proofs: tuple[str, ...] = ()  # refs of the evidence that answers it (approved, unexpired, in scope)


@dataclass(frozen=True)
class ItemStatus:
    status: str
    reasons: tuple[str, ...] = ()
    computed: Optional[str] = None  # what the rules alone say, when a verdict or a finding changed it
    notes: tuple[str, ...] = ()  # figures behind a reason (e.g. "détention hors UE 41 % > 39 %")
    entries: tuple[EntryState, ...] = ()
    recommendation: bool = False

    @property
    def is_gap(self) -> bool:
        """A gap stands between the perimeter and qualification: recommendations never are one."""
        return not self.recommendation and self.status in GAP_STATES

    @property
    def unanswered(self) -> tuple[EntryState, ...]:
        return tuple(e for e in self.entries if e.state not in (ANSWERED, WAIVED))


def usable(evidence: EvidenceFacts, today: date) -> bool:
    """Whether a piece of evidence proves anything here: approved, unexpired, and valid for the perimeter."""
    return evidence.in_scope and evidence.status == "approved" and freshness(evidence.valid_until, today) != EXPIRED


def entry_state(entry: str, evidence: Iterable[EvidenceFacts], waived: bool, today: date) -> EntryState:
    answering = [e for e in evidence if entry in e.answers and e.in_scope]
    proofs = tuple(sorted({e.ref for e in answering if usable(e, today)}))
    if proofs:
        return EntryState(entry, ANSWERED, proofs)
    if waived:
        return EntryState(entry, WAIVED)
    if any(e.status == "approved" for e in answering):  # approved once, but every approved answer has run out
        return EntryState(entry, EXPIRED)
    return EntryState(entry, NOT_APPROVED if answering else MISSING)


ENTRY_REASON = {MISSING: ENTRY_MISSING, NOT_APPROVED: EVIDENCE_NOT_APPROVED, EXPIRED: EVIDENCE_EXPIRED}
REASON_ENTRY = {reason: state for state, reason in ENTRY_REASON.items()}  # the entries a gap reason speaks of


def item_status(facts: ItemFacts, today: date) -> ItemStatus:
    """The coverage of one item in one perimeter, with every reason it falls short."""
    recommendation = facts.kind == "recommandation"
    if not facts.applicable:
        return ItemStatus(NOT_APPLICABLE, recommendation=recommendation)
    live = [c for c in facts.controls if c.status != "retired"]
    implemented = [c for c in live if c.status == "implemented"]
    reasons: list[str] = []
    if not live:
        reasons.append(NO_CONTROL)
    elif not implemented:
        reasons.append(CONTROL_NOT_IMPLEMENTED)
    elif not any(c.statement.strip() for c in implemented):
        reasons.append(NO_STATEMENT)
    evidence = [e for c in live for e in c.evidence] + list(facts.direct_evidence)
    entries = tuple(entry_state(entry, evidence, entry in facts.waived, today) for entry in facts.entries)
    reasons += [ENTRY_REASON[state] for state in (MISSING, NOT_APPROVED, EXPIRED)
                if any(e.state == state for e in entries)]
    if not facts.entries and not any(usable(e, today) for e in evidence):
        scoped = [e for e in evidence if e.in_scope]
        reasons.append(EVIDENCE_EXPIRED if any(e.status == "approved" for e in scoped)
                       else EVIDENCE_NOT_APPROVED if scoped else EVIDENCE_MISSING)
    computed = NOT_COVERED if set(reasons) & set(BLOCKING) else PARTLY_COVERED if reasons else COVERED
    if recommendation:
        computed = FOLLOWED if computed == COVERED else NOT_FOLLOWED
    status = facts.verdict or computed
    outweighing = [OPEN_FINDING] * bool(facts.open_major_findings) + [SOVEREIGNTY_CHECK] * bool(facts.failed_checks)
    if outweighing:  # an open major non-conformity or a failed sovereignty check outweighs any verdict
        status = NOT_FOLLOWED if recommendation else NOT_COVERED
        reasons += outweighing
    if status in (COVERED, FOLLOWED):
        reasons = []
    return ItemStatus(status, tuple(reasons), computed if status != computed else None, tuple(facts.failed_checks),
                      entries, recommendation)


@dataclass(frozen=True)
class Readiness:
    covered: int
    applicable: int

    @property
    def ratio(self) -> float:
        return self.covered / self.applicable if self.applicable else 0.0

    @property
    def percent(self) -> int:
        return int(self.ratio * 100 + 0.5) if self.applicable else 0


def readiness(statuses: Iterable[str]) -> Readiness:
    """Covered (or followed) items over applicable items (not-applicable ones count in neither)."""
    applicable = [s for s in statuses if s != NOT_APPLICABLE]
    return Readiness(sum(1 for s in applicable if s in (COVERED, FOLLOWED)), len(applicable))
