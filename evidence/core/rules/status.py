"""The status of an item in a perimeter, the gaps that keep it from compliant, and a perimeter's readiness."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Optional

from evidence.core.rules.freshness import EXPIRED, freshness

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
    return evidence.status == "approved" and freshness(evidence.valid_until, today) != EXPIRED


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
