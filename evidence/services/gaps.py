"""What stands between a perimeter and qualification: every item's status and gaps, gathered in a constant
number of queries, then judged by the pure rules. The dashboard, the gap list, the matrix export, the
`gaps` command and the dossier all read this one result, so they cannot disagree."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Optional

from sqlalchemy import func
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.vocabulary import OPEN_FINDING_STATUSES
from evidence.data.models import (
    Control,
    ControlPerimeter,
    ControlRequirement,
    Evidence,
    EvidenceControl,
    EvidenceRequirement,
    EvidenceVersion,
    Finding,
    Framework,
    Perimeter,
    ReadinessSnapshot,
    Requirement,
    User,
    Verdict,
    utcnow,
)
from evidence.services.perimeters import statement_of_applicability


@dataclass
class ControlLine:
    ref: str
    title: str
    status: str
    owner: str  # name, or "" when nobody owns it
    owner_email: str
    statement: str


@dataclass
class EvidenceLine:
    ref: str
    title: str
    status: str
    kind: str
    version: Optional[int]
    valid_until: Optional[date]
    effective_date: Optional[date]
    sha256: Optional[str]
    owner: str
    freshness: str


@dataclass
class ItemRow:
    requirement: Requirement
    applicability: rules.ItemApplicability
    status: rules.ItemStatus
    controls: list[ControlLine] = field(default_factory=list)
    evidence: list[EvidenceLine] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    verdict: Optional[Verdict] = None

    @property
    def chapter(self) -> str:
        return self.requirement.chapter


@dataclass
class PerimeterStatus:
    perimeter: Perimeter
    framework: Framework
    today: date
    rows: list[ItemRow]

    def exigences(self) -> list[ItemRow]:
        return [r for r in self.rows if r.requirement.kind == "exigence"]

    def recommendations(self) -> list[ItemRow]:
        return [r for r in self.rows if r.requirement.kind == "recommandation"]

    @property
    def readiness(self) -> rules.Readiness:
        return rules.readiness(r.status.status for r in self.exigences())

    @property
    def recommendation_readiness(self) -> rules.Readiness:
        return rules.readiness(r.status.status for r in self.recommendations())

    def chapters(self) -> list[tuple[str, rules.Readiness]]:
        by_chapter = defaultdict(list)
        for row in self.exigences():
            by_chapter[row.chapter].append(row.status.status)
        return [(chapter, rules.readiness(statuses)) for chapter, statuses in by_chapter.items()]

    def counts(self) -> Counter:
        return Counter(r.status.status for r in self.exigences())

    def gaps(self) -> list[ItemRow]:
        return [r for r in self.rows if r.status.is_gap]

    def blocking_gaps(self) -> list[ItemRow]:
        """Gaps on exigences: what stands between the perimeter and qualification."""
        return [r for r in self.exigences() if r.status.is_gap]

    def freshness(self) -> Counter:
        seen = {}
        for row in self.rows:
            for line in row.evidence:
                seen[line.ref] = line.freshness
        return Counter(seen.values())


def compute(session: Session, perimeter: Perimeter, today: date, _depth: int = 0) -> PerimeterStatus:
    framework = session.get(Framework, perimeter.framework_id)
    soa = statement_of_applicability(session, perimeter)
    requirement_ids = [row.requirement.id for row in soa]

    deployed = select(ControlPerimeter.control_id).where(ControlPerimeter.perimeter_id == perimeter.id)
    mappings = session.exec(
        select(ControlRequirement, Control, User)
        .join(Control, Control.id == ControlRequirement.control_id)
        .outerjoin(User, User.id == Control.owner_id)
        .where(Control.id.in_(deployed), ControlRequirement.requirement_id.in_(requirement_ids or [-1]))
        .order_by(Control.ref)
    ).all()
    control_ids = {control.id for _m, control, _u in mappings}

    latest = (
        select(EvidenceVersion.evidence_id, func.max(EvidenceVersion.number).label("number"))
        .group_by(EvidenceVersion.evidence_id).subquery()
    )
    version_of = {
        evidence_id: (number, sha)
        for evidence_id, number, sha in session.exec(
            select(EvidenceVersion.evidence_id, EvidenceVersion.number, EvidenceVersion.sha256)
            .join(latest, (latest.c.evidence_id == EvidenceVersion.evidence_id) & (latest.c.number == EvidenceVersion.number))
        )
    }

    def line(evidence: Evidence, owner: Optional[User]) -> EvidenceLine:
        number, sha = version_of.get(evidence.id, (None, None))
        return EvidenceLine(
            ref=evidence.ref, title=evidence.title, status=evidence.status, kind=evidence.kind, version=number,
            valid_until=evidence.valid_until, effective_date=evidence.effective_date, sha256=sha,
            owner=owner.name if owner else "", freshness=rules.freshness(evidence.valid_until, today),
        )

    by_control = defaultdict(list)
    for control_id, evidence, owner in session.exec(
        select(EvidenceControl.control_id, Evidence, User)
        .join(Evidence, Evidence.id == EvidenceControl.evidence_id)
        .outerjoin(User, User.id == Evidence.owner_id)
        .where(EvidenceControl.control_id.in_(control_ids or {-1}))
        .order_by(Evidence.ref)
    ):
        by_control[control_id].append(line(evidence, owner))
    direct = defaultdict(list)
    for requirement_id, evidence, owner in session.exec(
        select(EvidenceRequirement.requirement_id, Evidence, User)
        .join(Evidence, Evidence.id == EvidenceRequirement.evidence_id)
        .outerjoin(User, User.id == Evidence.owner_id)
        .where(EvidenceRequirement.requirement_id.in_(requirement_ids or [-1]))
        .order_by(Evidence.ref)
    ):
        direct[requirement_id].append(line(evidence, owner))

    controls_of = defaultdict(list)
    for mapping, control, owner in mappings:
        controls_of[mapping.requirement_id].append((control, owner, mapping.statement))
    verdicts = {v.requirement_id: v for v in session.exec(select(Verdict).where(Verdict.perimeter_id == perimeter.id))}
    findings = defaultdict(list)
    for finding in session.exec(
        select(Finding).where(Finding.perimeter_id == perimeter.id, Finding.status.in_(OPEN_FINDING_STATUSES)).order_by(Finding.id)
    ):
        findings[finding.requirement_id].append(finding)

    from evidence.services.sovereignty import failures

    failed_checks = failures(session, perimeter)
    lower = None
    if perimeter.built_on_id and _depth < 5 and any(r.applicability.state == rules.INHERITED for r in soa):
        lower_perimeter = session.get(Perimeter, perimeter.built_on_id)
        lower = {row.requirement.id: row for row in compute(session, lower_perimeter, today, _depth + 1).rows}

    rows = []
    for soa_row in soa:
        requirement = soa_row.requirement
        controls = controls_of.get(requirement.id, [])
        evidence_lines = {}
        facts_controls = []
        for control, _owner, _statement in controls:
            lines = by_control.get(control.id, [])
            facts_controls.append(rules.ControlFacts(
                control.status, tuple(rules.EvidenceFacts(e.status, e.valid_until) for e in lines)
            ))
            evidence_lines.update({e.ref: e for e in lines})
        own = direct.get(requirement.id, [])
        evidence_lines.update({e.ref: e for e in own})
        verdict = verdicts.get(requirement.id)
        open_findings = findings.get(requirement.id, [])
        if soa_row.applicability.state == rules.INHERITED and lower is not None and requirement.id in lower:
            inherited = lower[requirement.id]
            status = inherited.status
            control_lines = inherited.controls
            evidence_list = inherited.evidence
        else:
            status = rules.item_status(rules.ItemFacts(
                applicable=soa_row.applicability.applicable,
                controls=tuple(facts_controls),
                direct_evidence=tuple(rules.EvidenceFacts(e.status, e.valid_until) for e in own),
                verdict=verdict.status if verdict else None,
                open_major_findings=sum(1 for f in open_findings if f.severity == "major" and f.status == "open"),
                failed_checks=failed_checks.get(requirement.ref, ()),
            ), today)
            control_lines = [
                ControlLine(c.ref, c.title, c.status, owner.name if owner else "", owner.email if owner else "", statement)
                for c, owner, statement in controls
            ]
            evidence_list = sorted(evidence_lines.values(), key=lambda e: e.ref)
        rows.append(ItemRow(requirement, soa_row.applicability, status, control_lines, evidence_list, open_findings, verdict))
    return PerimeterStatus(perimeter, framework, today, rows)


def record_snapshot(session: Session, result: PerimeterStatus) -> ReadinessSnapshot:
    """Keep today's figures for the trend (one row a day, the latest computation wins)."""
    counts = result.counts()
    snapshot = session.exec(select(ReadinessSnapshot).where(
        ReadinessSnapshot.perimeter_id == result.perimeter.id, ReadinessSnapshot.taken_on == result.today
    )).first() or ReadinessSnapshot(perimeter_id=result.perimeter.id, taken_on=result.today, compliant=0, partial=0,
                                    non_compliant=0, applicable=0)
    values = {
        "compliant": counts.get(rules.COMPLIANT, 0), "partial": counts.get(rules.PARTIAL, 0),
        "non_compliant": counts.get(rules.NON_COMPLIANT, 0), "applicable": result.readiness.applicable,
        "chapters": {chapter: [r.compliant, r.applicable] for chapter, r in result.chapters()},
    }
    if any(getattr(snapshot, k) != v for k, v in values.items()) or snapshot.id is None:
        for key, value in values.items():
            setattr(snapshot, key, value)
        snapshot.updated_at = utcnow()
        session.add(snapshot)
        session.commit()
    return snapshot


def trend(session: Session, perimeter: Perimeter, limit: int = 90) -> list[ReadinessSnapshot]:
    rows = session.exec(
        select(ReadinessSnapshot).where(ReadinessSnapshot.perimeter_id == perimeter.id)
        .order_by(ReadinessSnapshot.taken_on.desc()).limit(limit)
    ).all()
    return list(reversed(rows))
