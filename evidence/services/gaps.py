"""What stands between a perimeter and qualification: every item's status and gaps, gathered in a constant
number of queries, then judged by the pure rules. The dashboard, the gap list, the matrix export, the
`gaps` command and the dossier all read this one result, so they cannot disagree."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta, timezone
from functools import partial
from typing import NamedTuple, Optional

from sqlalchemy import func, union
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.rules import evaluation
from evidence.core.rules.token_scope import UNLIMITED, PerimeterScope
from evidence.core.vocabulary import OPEN_FINDING_STATUSES
from evidence.data import database
from evidence.data.models import (
    CollectionRun,
    Control,
    ControlPerimeter,
    ControlRequirement,
    EntryWaiver,
    Evidence,
    EvidenceAnswer,
    EvidenceControl,
    EvidencePerimeter,
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
from evidence.services import status_cache
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
    version: Optional[int]  # for a proof: the approved version; otherwise the current one
    valid_until: Optional[date]
    effective_date: Optional[date]
    sha256: Optional[str]
    owner: str
    freshness: str
    answers: tuple[str, ...] = ()  # expected evidence entries of this item it answers
    is_proof: bool = False  # cited as proof: what `rules.usable` says, at an approved version
    collector: str = ""  # automated evidence: the collector that keeps it up ("prowler")
    run: Optional["RunLine"] = None  # automated evidence: the run behind its current version


@dataclass(frozen=True)
class RunLine:
    """A collector's run as the coverage rule and the pages read it."""

    result: str  # passed | failed | partly
    run_on: date
    expires_on: date  # the last day it counts: run_on + its time-to-live
    passed: int
    failed: int
    muted: int
    manual: int

    @classmethod
    def of(cls, run: CollectionRun) -> "RunLine":
        run_on = run.run_at.astimezone(timezone.utc).date()
        return cls(run.result, run_on, run_on + timedelta(days=run.ttl_days), run.passed, run.failed, run.muted,
                   run.manual)

    def facts(self) -> dict:
        """The automated facts of rules.EvidenceFacts."""
        return {"result": self.result, "run_on": self.run_on, "expires_on": self.expires_on, "failed": self.failed}


@dataclass
class ItemRow:
    requirement: Requirement
    applicability: rules.ItemApplicability
    status: rules.ItemStatus
    controls: list[ControlLine] = field(default_factory=list)
    # Evidence valid for the perimeter: `proofs` are cited (approved, unexpired), `pending` are still to review
    # or renew. Evidence of other perimeters never appears here.
    evidence: list[EvidenceLine] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    verdict: Optional[Verdict] = None
    waivers: dict = field(default_factory=dict)  # entry id -> EntryWaiver
    lower: Optional[Perimeter] = None  # the layer an inherited item takes its coverage from

    @property
    def chapter(self) -> str:
        return self.requirement.chapter

    @property
    def proofs(self) -> list[EvidenceLine]:
        return [e for e in self.evidence if e.is_proof]

    @property
    def pending(self) -> list[EvidenceLine]:
        return [e for e in self.evidence if not e.is_proof]

    @property
    def is_recommendation(self) -> bool:
        return self.requirement.kind == "recommandation"


@dataclass
class PerimeterStatus:
    perimeter: Perimeter
    framework: Framework
    today: date
    rows: list[ItemRow]
    # Item ref -> the problems of its failed sovereignty checks (services.sovereignty.failures), applicable or
    # not: only a write to the registers changes them, and such a write has the status computed whole.
    failed_checks: dict = field(default_factory=dict)

    def exigences(self) -> list[ItemRow]:
        return [r for r in self.rows if not r.is_recommendation]

    def recommendations(self) -> list[ItemRow]:
        return [r for r in self.rows if r.is_recommendation]

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
        """Exigences by coverage (recommendations are counted apart: `recommendation_counts`)."""
        return Counter(r.status.status for r in self.exigences())

    def recommendation_counts(self) -> Counter:
        return Counter(r.status.status for r in self.recommendations())

    def gaps(self) -> list[ItemRow]:
        """What stands between the perimeter and qualification: exigences not (fully) covered."""
        return [r for r in self.rows if r.status.is_gap]

    def recommendations_not_followed(self) -> list[ItemRow]:
        return [r for r in self.recommendations() if r.status.status == rules.NOT_FOLLOWED]

    def freshness(self) -> Counter:
        seen = {}
        for row in self.rows:
            for line in row.evidence:
                seen[line.ref] = line.freshness
        return Counter(seen.values())


class _EvidenceFacts(NamedTuple):
    """What an evidence line is made of (compute_fresh)."""

    id: int
    ref: str
    title: str
    status: str
    kind: str
    valid_until: Optional[date]
    effective_date: Optional[date]
    collector: Optional[str]
    owner: Optional[str]


class _Mapping(NamedTuple):
    """A control of the perimeter answering an item, as compute_fresh reads it."""

    requirement_id: int
    statement: str
    control_id: int
    ref: str
    title: str
    status: str
    owner: Optional[str]
    owner_email: Optional[str]


def _versions(session: Session, evidence_ids) -> tuple[dict, dict]:
    """evidence id -> (number, sha256) of its current version, and of its approved version, for `evidence_ids`
    (a subquery: the perimeter's evidence, not the whole store)."""
    latest = (
        select(EvidenceVersion.evidence_id, func.max(EvidenceVersion.number).label("number"))
        .where(EvidenceVersion.evidence_id.in_(evidence_ids))
        .group_by(EvidenceVersion.evidence_id).subquery()
    )
    current = {
        evidence_id: (number, sha)
        for evidence_id, number, sha in session.exec(
            select(EvidenceVersion.evidence_id, EvidenceVersion.number, EvidenceVersion.sha256)
            .join(latest, (latest.c.evidence_id == EvidenceVersion.evidence_id) & (latest.c.number == EvidenceVersion.number))
        )
    }
    approved = {}
    for evidence_id, number, sha in session.exec(
        select(EvidenceVersion.evidence_id, EvidenceVersion.number, EvidenceVersion.sha256)
        .where(EvidenceVersion.approved_at.is_not(None), EvidenceVersion.evidence_id.in_(evidence_ids))
        .order_by(EvidenceVersion.number)
    ):
        approved[evidence_id] = (number, sha)  # the latest approved wins
    return current, approved


def _runs(session: Session, evidence_ids, current: dict) -> dict:
    """evidence id -> the RunLine of the collection run behind its current version (one query, for `evidence_ids`)."""
    runs = {}
    for evidence_id, number, run in session.exec(
        select(EvidenceVersion.evidence_id, EvidenceVersion.number, CollectionRun)
        .join(CollectionRun, CollectionRun.evidence_version_id == EvidenceVersion.id)
        .where(EvidenceVersion.evidence_id.in_(evidence_ids))
    ):
        if current.get(evidence_id, (None,))[0] == number:
            runs[evidence_id] = RunLine.of(run)
    return runs


def compute(session: Session, perimeter: Perimeter, today: date) -> PerimeterStatus:
    """The perimeter's status, from the process's cache while nothing was written, or the kept one with the items
    written since computed again (services.status_cache): read only, like every result here."""
    return status_cache.status(session, perimeter, today, compute_fresh, brought_up_to_date)


def brought_up_to_date(session: Session, perimeter: Perimeter, kept: PerimeterStatus, reach) -> PerimeterStatus:
    """`kept` with the rows of the items `reach` reached (data.changes.Reach) computed again, by compute_fresh,
    and every other row as it was: those items are all a write since can have changed."""
    if "items" not in reach.derived:  # resolved once for every perimeter brought up to the same version
        reach.derived["items"] = reached_items(session, reach)
    ids = reach.derived["items"] & {row.requirement.id for row in kept.rows}
    if not ids:
        return replace(kept, perimeter=perimeter)
    fresh = {row.requirement.id: row for row in compute_fresh(session, perimeter, kept.today, only=frozenset(ids),
                                                              failed_checks=kept.failed_checks).rows}
    return replace(kept, perimeter=perimeter, rows=[fresh.get(row.requirement.id, row) for row in kept.rows])


def reached_items(session: Session, reach) -> set[int]:
    """The items whose status the reached evidence, controls and items may change, in any perimeter: those named,
    those a reached control answers, those a reached evidence answers, through its controls or directly."""
    items = set(reach.items)
    if reach.controls:
        items.update(session.exec(select(ControlRequirement.requirement_id)
                                  .where(ControlRequirement.control_id.in_(reach.controls))))
    if reach.evidence:
        evidence = reach.evidence
        items.update(session.exec(
            select(ControlRequirement.requirement_id)
            .join(EvidenceControl, EvidenceControl.control_id == ControlRequirement.control_id)
            .where(EvidenceControl.evidence_id.in_(evidence))))
        items.update(session.exec(select(EvidenceRequirement.requirement_id)
                                  .where(EvidenceRequirement.evidence_id.in_(evidence))))
        items.update(session.exec(select(EvidenceAnswer.requirement_id).where(EvidenceAnswer.evidence_id.in_(evidence))))
    return items


def compute_items(session: Session, perimeter: Perimeter, requirement_ids: set[int], today: date) -> PerimeterStatus:
    """The status of some items of the perimeter only (rows of the others left out), for a page that shows a few:
    the kept status (brought up to date when it is behind) when there is one, else these items computed alone, by
    the same rules, at a fraction of the perimeter's cost (an item's page used to compute every perimeter whole)."""
    kept = status_cache.kept(session, perimeter, today, brought_up_to_date)
    if kept is not None:
        return replace(kept, rows=[row for row in kept.rows if row.requirement.id in requirement_ids])
    return compute_fresh(session, perimeter, today, only=frozenset(requirement_ids))


def compute_fresh(session: Session, perimeter: Perimeter, today: date, _depth: int = 0,
                  only: Optional[frozenset] = None, failed_checks: Optional[dict] = None) -> PerimeterStatus:
    """The perimeter's status computed now, in `session` (its uncommitted writes included); with `only`, the rows of
    those items alone; with `failed_checks`, the sovereignty checks' failures as they are known to be."""
    framework = session.get(Framework, perimeter.framework_id)
    soa = statement_of_applicability(session, perimeter, only)
    requirement_ids = [row.requirement.id for row in soa]

    def items_filter(column) -> tuple:
        """Rows of some items only, when asked: for the whole perimeter, a list of its 278 items in the query made
        SQLite probe each one per evidence (rows of other referentials' items are simply never looked up)."""
        return (column.in_(requirement_ids or [-1]),) if only is not None else ()

    deployed = select(ControlPerimeter.control_id).where(ControlPerimeter.perimeter_id == perimeter.id)
    mappings = [_Mapping(*columns) for columns in session.exec(
        select(ControlRequirement.requirement_id, ControlRequirement.statement, Control.id, Control.ref, Control.title,
               Control.status, User.name, User.email)
        .join(Control, Control.id == ControlRequirement.control_id)
        .outerjoin(User, User.id == Control.owner_id)
        .where(Control.id.in_(deployed), *items_filter(ControlRequirement.requirement_id))
        .order_by(Control.ref)
    )]
    control_ids = {mapping.control_id for mapping in mappings}
    in_scope = select(EvidencePerimeter.evidence_id).where(EvidencePerimeter.perimeter_id == perimeter.id)
    if only is not None:  # the versions, runs and answers of the evidence these items can show, not the perimeter's
        in_scope = in_scope.where(EvidencePerimeter.evidence_id.in_(union(
            select(EvidenceControl.evidence_id).where(EvidenceControl.control_id.in_(control_ids or {-1})),
            select(EvidenceRequirement.evidence_id).where(EvidenceRequirement.requirement_id.in_(requirement_ids or [-1])),
        )))
    current, approved = _versions(session, in_scope)
    runs = _runs(session, in_scope, current)
    answers = defaultdict(set)  # (evidence id, requirement id) -> entry ids
    for evidence_id, requirement_id, entry_id in session.exec(
        select(EvidenceAnswer.evidence_id, EvidenceAnswer.requirement_id, EvidenceAnswer.entry_id)
        .where(EvidenceAnswer.evidence_id.in_(in_scope))
    ):
        answers[(evidence_id, requirement_id)].add(entry_id)

    judged: dict = {}  # (evidence id, item id) -> its EvidenceLine: an evidence under many controls is judged once

    def line(evidence: "_EvidenceFacts", requirement_id: int) -> EvidenceLine:
        known = judged.get((evidence.id, requirement_id))
        if known is not None:
            return known
        number, sha = (approved if evidence.status == "approved" else current).get(evidence.id, (None, None))
        entries = tuple(sorted(answers.get((evidence.id, requirement_id), ())))
        run = runs.get(evidence.id)
        collector = evidence.collector or ""
        usable = rules.usable(rules.EvidenceFacts(evidence.status, evidence.valid_until, collector=collector,
                                                  **(run.facts() if run else {})), today)
        made = judged[(evidence.id, requirement_id)] = EvidenceLine(
            ref=evidence.ref, title=evidence.title, status=evidence.status, kind=evidence.kind, version=number,
            valid_until=evidence.valid_until, effective_date=evidence.effective_date, sha256=sha,
            owner=evidence.owner or "", freshness=rules.freshness(evidence.valid_until, today),
            answers=entries, is_proof=usable and evidence.id in approved, collector=collector, run=run,
        )
        return made

    # Only the columns a line shows, not whole rows: an evidence row comes back once per control and item it
    # answers, and building (and decoding the JSON of) a full row each time was most of this function's cost.
    facts_columns = (Evidence.id, Evidence.ref, Evidence.title, Evidence.status, Evidence.kind, Evidence.valid_until,
                     Evidence.effective_date, Evidence.collector, User.name.label("owner"))
    by_control = defaultdict(list)  # control id -> evidence facts, evidence valid for this perimeter only
    for control_id, *columns in session.exec(
        select(EvidenceControl.control_id, *facts_columns)
        .join(Evidence, Evidence.id == EvidenceControl.evidence_id)
        .outerjoin(User, User.id == Evidence.owner_id)
        .where(EvidenceControl.control_id.in_(control_ids or {-1}), Evidence.id.in_(in_scope))
        .order_by(Evidence.ref)
    ):
        by_control[control_id].append(_EvidenceFacts(*columns))
    direct = defaultdict(list)
    for requirement_id, *columns in session.exec(
        select(EvidenceRequirement.requirement_id, *facts_columns)
        .join(Evidence, Evidence.id == EvidenceRequirement.evidence_id)
        .outerjoin(User, User.id == Evidence.owner_id)
        .where(Evidence.id.in_(in_scope), *items_filter(EvidenceRequirement.requirement_id))
        .order_by(Evidence.ref)
    ):
        direct[requirement_id].append(_EvidenceFacts(*columns))

    controls_of = defaultdict(list)
    for mapping in mappings:
        controls_of[mapping.requirement_id].append(mapping)
    verdicts = {v.requirement_id: v for v in session.exec(select(Verdict).where(Verdict.perimeter_id == perimeter.id))}
    waivers = defaultdict(dict)
    for waiver in session.exec(select(EntryWaiver).where(EntryWaiver.perimeter_id == perimeter.id)):
        waivers[waiver.requirement_id][waiver.entry_id] = waiver
    findings = defaultdict(list)
    for finding in session.exec(
        select(Finding).where(Finding.perimeter_id == perimeter.id, Finding.status.in_(OPEN_FINDING_STATUSES)).order_by(Finding.id)
    ):
        findings[finding.requirement_id].append(finding)

    from evidence.services.sovereignty import failures

    if failed_checks is None:
        failed_checks = failures(session, perimeter, today)
    lower, lower_rows = None, None
    if perimeter.built_on_id and _depth < 5 and any(r.applicability.state == rules.INHERITED for r in soa):
        lower = session.get(Perimeter, perimeter.built_on_id)
        # Through the cache: the lower layer's status is most often already kept, being read for its own pages.
        if only is None:
            below = status_cache.status(session, lower, today, partial(compute_fresh, _depth=_depth + 1),
                                        brought_up_to_date)
        else:
            below = (status_cache.kept(session, lower, today, brought_up_to_date)
                     or compute_fresh(session, lower, today, _depth + 1, only))
        lower_rows = {row.requirement.id: row for row in below.rows}

    judged_facts: dict = {}  # id of an EvidenceLine -> its facts, for the same reason as `judged`

    def facts(line: EvidenceLine) -> rules.EvidenceFacts:
        known = judged_facts.get(id(line))
        if known is None:
            known = judged_facts[id(line)] = rules.EvidenceFacts(
                line.status, line.valid_until, True, line.answers, line.ref, line.collector,
                **(line.run.facts() if line.run else {}))
        return known

    rows = []
    for soa_row in soa:
        requirement = soa_row.requirement
        controls = controls_of.get(requirement.id, [])
        verdict = verdicts.get(requirement.id)
        open_findings = findings.get(requirement.id, [])
        inherited = soa_row.applicability.state == rules.INHERITED and lower_rows is not None
        if inherited and requirement.id in lower_rows:
            from_lower = lower_rows[requirement.id]
            status, control_lines, evidence_list = from_lower.status, from_lower.controls, from_lower.evidence
        else:
            evidence_lines: dict[str, EvidenceLine] = {}
            facts_controls = []
            for control in controls:
                lines = [line(e, requirement.id) for e in by_control.get(control.control_id, [])]
                facts_controls.append(rules.ControlFacts(control.status, tuple(facts(e) for e in lines),
                                                         control.statement))
                evidence_lines.update({e.ref: e for e in lines})
            own = [line(e, requirement.id) for e in direct.get(requirement.id, [])]
            for e in own:  # linked both ways: the answers recorded on the item count
                evidence_lines[e.ref] = e
            status = rules.item_status(rules.ItemFacts(
                kind=requirement.kind,
                applicable=soa_row.applicability.applicable,
                entries=tuple(e["id"] for e in requirement.expected_evidence or []),
                waived=tuple(waivers.get(requirement.id, {})),
                controls=tuple(facts_controls),
                direct_evidence=tuple(facts(e) for e in own),
                verdict=verdict.status if verdict else None,
                # A major non-conformity stands until the evaluation centre closes it: an action plan
                # proposed (answered) does not lift it.
                open_major_findings=sum(1 for f in open_findings if f.severity == "major"),
                failed_checks=failed_checks.get(requirement.ref, ()),
            ), today)
            control_lines = [ControlLine(c.ref, c.title, c.status, c.owner or "", c.owner_email or "", c.statement)
                             for c in controls]
            evidence_list = sorted(evidence_lines.values(), key=lambda e: e.ref)
        rows.append(ItemRow(requirement, soa_row.applicability, status, control_lines, evidence_list, open_findings,
                            verdict, dict(waivers.get(requirement.id, {})), lower if inherited else None))
    return PerimeterStatus(perimeter, framework, today, rows, failed_checks)


def for_reader(result: PerimeterStatus, role: Optional[str], scope: PerimeterScope = UNLIMITED) -> PerimeterStatus:
    """The result as `role`, reaching `scope`, may read it: the same statuses (the team's claim of coverage); for
    an evaluator the evidence lines of approved evidence only (a draft, evidence under review or rejected is the
    team's work in progress, and its version is not one he may see); an item inherited from a lower layer beyond
    the scope without that layer's evidence (its status stands: the lower layer's own qualification)."""
    wip = role is None or evaluation.sees_work_in_progress(role)

    def hidden_lower(row: ItemRow) -> bool:
        return row.lower is not None and not scope.reaches([row.lower.id])

    if wip and not any(hidden_lower(row) for row in result.rows):
        return result
    rows = [replace(row, evidence=[] if hidden_lower(row) else
                    [e for e in row.evidence if wip or e.status == "approved"]) for row in result.rows]
    return replace(result, rows=rows)


def record_snapshot(session: Session, result: PerimeterStatus) -> None:
    """Keep today's figures for the trend (one row a day, the latest computation wins)."""
    counts = result.counts()
    values = {
        "covered": counts.get(rules.COVERED, 0), "partly_covered": counts.get(rules.PARTLY_COVERED, 0),
        "not_covered": counts.get(rules.NOT_COVERED, 0), "applicable": result.readiness.applicable,
        "chapters": {chapter: [r.covered, r.applicable] for chapter, r in result.chapters()},
    }
    snapshot = session.exec(select(ReadinessSnapshot).where(
        ReadinessSnapshot.perimeter_id == result.perimeter.id, ReadinessSnapshot.taken_on == result.today
    )).first()
    if snapshot is not None and all(getattr(snapshot, k) == v for k, v in values.items()):
        return
    # An upsert: two people opening the dashboard at the same moment, on two workers, both record the day's first
    # figures (a read then an insert made the second one fail on the day's unique row).
    insert = database.upsert_insert(session.get_bind())
    values["updated_at"] = utcnow()
    table = ReadinessSnapshot.__table__
    session.execute(insert(table).values(perimeter_id=result.perimeter.id, taken_on=result.today, **values)
                    .on_conflict_do_update(index_elements=[table.c.perimeter_id, table.c.taken_on], set_=values))
    session.commit()


def trend(session: Session, perimeter: Perimeter, limit: int = 90) -> list[ReadinessSnapshot]:
    rows = session.exec(
        select(ReadinessSnapshot).where(ReadinessSnapshot.perimeter_id == perimeter.id)
        .order_by(ReadinessSnapshot.taken_on.desc()).limit(limit)
    ).all()
    return list(reversed(rows))
