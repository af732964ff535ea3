"""How far the team's controls and evidence cover an item in a perimeter, what is still missing, and readiness.

The words are the team's claim ("couvert"), never the evaluation centre's conclusion ("conforme"). An applicable
exigence is covered when (1) a control deployed in the perimeter and implemented is mapped to it with an
implementation statement for this item, (2) every expected evidence entry of the item is answered by at least one
approved, unexpired piece of evidence in scope of the perimeter, or waived by a manager, and (3) no major finding
is open and no sovereignty check on it fails. A recommendation is followed on the same terms; it is never a gap.

Automated evidence (a collector's, e.g. Prowler's results) proves something only while its current run passed
and is fresh: a run older than its time-to-live, or one with failed checks, answers nothing, and the gap says so
(AUTOMATED_STALE, AUTOMATED_FAILING, with an AutomatedNote per evidence for the words).
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
AUTOMATED_FAILING = "automated_failing"  # automated evidence whose current run has failed checks
AUTOMATED_STALE = "automated_stale"  # automated evidence whose current run is older than its time-to-live
REASONS = (NO_CONTROL, CONTROL_NOT_IMPLEMENTED, NO_STATEMENT, ENTRY_MISSING, EVIDENCE_MISSING, EVIDENCE_NOT_APPROVED,
           EVIDENCE_EXPIRED, AUTOMATED_FAILING, AUTOMATED_STALE, OPEN_FINDING, SOVEREIGNTY_CHECK)
# What keeps an item from being even partly covered: nothing is in place yet, or something outweighs the proofs.
BLOCKING = (NO_CONTROL, CONTROL_NOT_IMPLEMENTED, OPEN_FINDING, SOVEREIGNTY_CHECK)

# The state of one expected evidence entry.
ANSWERED, WAIVED = "answered", "waived"
MISSING, NOT_APPROVED = "missing", "not_approved"  # and EXPIRED (from freshness)
FAILING, STALE = "failing", "stale"  # answered only by approved automated evidence whose run failed / ran out


@dataclass(frozen=True)
class EvidenceFacts:
    """A piece of evidence as one item in one perimeter sees it."""

    status: str  # draft | in_review | approved | rejected
    valid_until: Optional[date]
    in_scope: bool = True  # valid for this perimeter
    answers: tuple[str, ...] = ()  # the item's expected evidence entries it answers
    ref: str = ""
    # Automated evidence only (collector set): its current run.
    collector: str = ""  # the collector's name ("prowler"); "": made by hand
    result: Optional[str] = None  # passed | failed | partly; None: no run to go by
    run_on: Optional[date] = None  # the day the tool ran
    expires_on: Optional[date] = None  # the last day the run counts (run_on + its time-to-live)
    failed: int = 0  # the run's failed checks

    @property
    def automated(self) -> bool:
        return bool(self.collector)


@dataclass(frozen=True)
class AutomatedNote:
    """Why one piece of automated evidence proves nothing today, with what the sentence names."""

    reason: str  # AUTOMATED_FAILING | AUTOMATED_STALE
    ref: str
    collector: str
    run_on: Optional[date]
    failed: int = 0


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
    failed_checks: tuple = ()  # the problems of the sovereignty checks on this item that fail (rules.sovereignty)


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
    notes: tuple = ()  # the failed sovereignty checks' problems behind a reason (worded where they are shown)
    entries: tuple[EntryState, ...] = ()
    recommendation: bool = False
    automated: tuple[AutomatedNote, ...] = ()  # the automated evidence behind AUTOMATED_* reasons

    @property
    def is_gap(self) -> bool:
        """A gap stands between the perimeter and qualification: recommendations never are one."""
        return not self.recommendation and self.status in GAP_STATES

    @property
    def unanswered(self) -> tuple[EntryState, ...]:
        return tuple(e for e in self.entries if e.state not in (ANSWERED, WAIVED))


def automated_problems(evidence: EvidenceFacts, today: date) -> tuple[str, ...]:
    """What keeps automated evidence from proving anything today: its run failed checks (a partly passed run
    too), or is older than its time-to-live (`today` after `expires_on`; no run at all counts as run out).
    Hand-made evidence has none."""
    if not evidence.automated:
        return ()
    if evidence.result is None:
        return (AUTOMATED_STALE,)
    failing = (AUTOMATED_FAILING,) if evidence.result != "passed" else ()
    stale = (AUTOMATED_STALE,) if evidence.expires_on is None or today > evidence.expires_on else ()
    return failing + stale


def usable(evidence: EvidenceFacts, today: date) -> bool:
    """Whether a piece of evidence proves anything here: approved, unexpired, and valid for the perimeter; and,
    automated, its current run passed and is fresh."""
    return (evidence.in_scope and evidence.status == "approved" and freshness(evidence.valid_until, today) != EXPIRED
            and not automated_problems(evidence, today))


def _run_out(approved: Iterable[EvidenceFacts], today: date) -> str:
    """The state of what approved evidence, none of it usable, leaves: failing or stale when automated runs
    are why (a failure first: it needs a fix, not only a new run), else expired."""
    problems = {p for e in approved for p in automated_problems(e, today)}
    return FAILING if AUTOMATED_FAILING in problems else STALE if AUTOMATED_STALE in problems else EXPIRED


def entry_state(entry: str, evidence: Iterable[EvidenceFacts], waived: bool, today: date) -> EntryState:
    answering = [e for e in evidence if entry in e.answers and e.in_scope]
    proofs = tuple(sorted({e.ref for e in answering if usable(e, today)}))
    if proofs:
        return EntryState(entry, ANSWERED, proofs)
    if waived:
        return EntryState(entry, WAIVED)
    approved = [e for e in answering if e.status == "approved"]
    if approved:  # approved once, but every approved answer has run out (or its automated run fails)
        return EntryState(entry, _run_out(approved, today))
    return EntryState(entry, NOT_APPROVED if answering else MISSING)


ENTRY_REASON = {MISSING: ENTRY_MISSING, NOT_APPROVED: EVIDENCE_NOT_APPROVED, EXPIRED: EVIDENCE_EXPIRED,
                FAILING: AUTOMATED_FAILING, STALE: AUTOMATED_STALE}
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
    reasons += [ENTRY_REASON[state] for state in (MISSING, NOT_APPROVED, EXPIRED, FAILING, STALE)
                if any(e.state == state for e in entries)]
    run_out = {e.id for e in entries if e.state in (FAILING, STALE)}  # the entries automated runs leave open
    unproved = not facts.entries and not any(usable(e, today) for e in evidence)
    if unproved:
        scoped = [e for e in evidence if e.in_scope]
        approved = [e for e in scoped if e.status == "approved"]
        reasons.append(ENTRY_REASON[_run_out(approved, today)] if approved
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
    automated = _automated_notes(evidence, run_out, unproved, today) if reasons else ()
    return ItemStatus(status, tuple(reasons), computed if status != computed else None, tuple(facts.failed_checks),
                      entries, recommendation, automated)


def _automated_notes(evidence: Iterable[EvidenceFacts], run_out: set[str], unproved: bool,
                     today: date) -> tuple[AutomatedNote, ...]:
    """One note per problem of each approved automated evidence that leaves an entry open (`run_out`), or the
    item unproved when it has no checklist, by evidence ref."""
    notes = {}
    for e in evidence:
        if not (e.in_scope and e.status == "approved" and (unproved or run_out & set(e.answers))):
            continue
        for reason in automated_problems(e, today):
            notes[(e.ref, reason)] = AutomatedNote(reason, e.ref, e.collector, e.run_on, e.failed)
    return tuple(notes[key] for key in sorted(notes))


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
