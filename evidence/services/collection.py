"""Automated evidence: a collector's results recorded for one perimeter, in one transaction.

`record_collected` is the one door for every collector (the command line, the API, the scheduled runs). For each
subject a collector judged (a Prowler requirement such as "10.1"), it creates the perimeter's automated evidence
for it, or refreshes it with a new version when the run is newer, or leaves it unchanged when it already holds
that run. Each version keeps the run's raw output as its file and a `CollectionRun` row (result, counts,
time-to-live, the checks that did not pass). The review follows rules.status_after_new_version: automated evidence
is reviewed once, when it is first collected (it is submitted for review at once), and a later run keeps the
approval; a change of what it answers (the mapping) re-opens the review as any edit of a proving field does.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta, timezone
from io import BytesIO
from typing import Mapping, Optional, Sequence

from sqlmodel import Session, select

from evidence.collectors import Collected, Counts, Failing
from evidence.core import rules
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import AUTOMATED_KIND, MAX_TITLE
from evidence.data import audit
from evidence.data.models import (
    CollectionRun,
    Evidence,
    EvidenceAnswer,
    EvidenceControl,
    EvidencePerimeter,
    EvidenceRequirement,
    EvidenceVersion,
    Perimeter,
    Requirement,
    User,
    utcnow,
)
from evidence.services import evidence as evidence_service
from evidence.services.evidence_fields import DatabaseLookup, EvidenceDraft, check_evidence
from evidence.services.uploads import store_upload

DEFAULT_TTL_DAYS = 7  # COLLECTOR_TTL_DAYS's default, for a caller outside an application
MAX_SUBJECT = 100  # CollectionRun.subject's column
CREATED, REFRESHED, UNCHANGED = "created", "refreshed", "unchanged"


@dataclass(frozen=True)
class SubjectLine:
    """What became of one subject: its evidence, and the run as recorded."""

    subject: str
    ref: str
    outcome: str  # created | refreshed | unchanged
    result: str
    counts: Counts
    version: Optional[int]  # the evidence's current version after the collection
    failing: tuple[Failing, ...] = ()  # failed checks (muted ones are in `muted`)
    muted: tuple[Failing, ...] = ()
    older: bool = False  # unchanged because the evidence already holds a newer run
    reopened: bool = False  # what it answers changed: back to draft for a new review
    expires_on: Optional[date] = None  # the last day the recorded run counts
    stale: bool = False  # the recorded run is already older than its time-to-live: it proves nothing today


@dataclass
class CollectionReport:
    collector: str
    source: str
    perimeter: str
    lines: list[SubjectLine] = field(default_factory=list)

    def _count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    @property
    def created(self) -> int:
        return self._count(CREATED)

    @property
    def refreshed(self) -> int:
        return self._count(REFRESHED)

    @property
    def unchanged(self) -> int:
        return self._count(UNCHANGED)


def collector_key(collector: str, source: str, subject: str, perimeter: Perimeter) -> str:
    """The automated evidence a run refreshes: one per collector, source, subject and perimeter."""
    return f"{collector}:{source}:{subject}:{perimeter.code}"


def configured_ttl(collector: str, config: Optional[Mapping] = None, own_default: Optional[int] = None) -> int:
    """How long a collector's result stands, in days: COLLECTOR_TTL's entry for it, else the collector's own
    default (`own_default`: Collector.default_ttl_days), else COLLECTOR_TTL_DAYS (`config`: the app's config, which
    the boundary that calls the service passes; None: the defaults)."""
    config = config or {}
    return ((config.get("COLLECTOR_TTL") or {}).get(collector) or own_default or config.get("COLLECTOR_TTL_DAYS")
            or DEFAULT_TTL_DAYS)


@dataclass
class _Planned:
    item: Collected
    key: str
    content: bytes
    sha256: str
    requirement_ids: tuple[int, ...]
    answers: tuple[str, ...]
    evidence: Optional[Evidence] = None
    current: Optional[EvidenceVersion] = None
    run: Optional[CollectionRun] = None
    blob: object = None


def record_collected(session: Session, actor: User, perimeter: Perimeter, collector: str, source: str,
                     items: Sequence[Collected], *, store, today: date, ttl_days: Optional[int] = None,
                     max_size: Optional[int] = None) -> CollectionReport:
    """Record a collector's results for `perimeter` (see the module's words). Everything is checked, and the
    files stored, before the transaction; nothing is written when anything is refused. `ttl_days`: how long
    each result stands unless the collector gave its own; the boundary passes configured_ttl(collector,
    app.config) (None: the default, DEFAULT_TTL_DAYS)."""
    evidence_service.require(evidence_service.can_edit_evidence(actor, None),
                             f"{getattr(actor, 'email', actor)} may not collect evidence")
    ttl_days = ttl_days or configured_ttl(collector)
    planned = _plan(session, perimeter, collector, source, items)
    existing = {e.collector_key: e for e in session.exec(
        select(Evidence).where(Evidence.collector_key.in_([p.key for p in planned] or ["-"])))}
    for plan in planned:
        plan.evidence = existing.get(plan.key)
        if plan.evidence is not None:
            evidence_service.require_edit(session, actor, plan.evidence)
            plan.current = evidence_service.current_version(session, plan.evidence)
            plan.run = session.exec(select(CollectionRun).where(
                CollectionRun.evidence_version_id == plan.current.id)).first() if plan.current else None
        if _needs_version(plan):
            plan.blob = store_upload(store, BytesIO(plan.content), plan.item.files[0].name, max_size)

    report = CollectionReport(collector, source, perimeter.code)
    try:
        for plan in planned:
            report.lines.append(_record(session, actor, perimeter, collector, source, plan, ttl_days, today))
        if all(line.outcome == UNCHANGED and not line.reopened for line in report.lines):
            session.rollback()  # the same results again: nothing to write, nothing to audit
            return report
        audit.record(session, actor, "evidence.collect", perimeter, {
            "collector": collector, "source": source, "created": report.created, "refreshed": report.refreshed,
            "unchanged": report.unchanged,
            "collection_subjects": {line.subject: {"evidence": line.ref, "outcome": line.outcome,
                                                   "result": line.result} for line in report.lines}})
        session.commit()
    except BaseException:
        session.rollback()  # one subject refused (or anything else): none of them is written
        raise
    return report


def _plan(session: Session, perimeter: Perimeter, collector: str, source: str,
          items: Sequence[Collected]) -> list[_Planned]:
    """Each item checked (its subject, its file, the items and entries it answers in the perimeter's
    referential), in the order given."""
    refs = sorted({ref for item in items for ref in item.answers})
    found = dict(session.exec(select(Requirement.ref, Requirement.id).where(
        Requirement.framework_id == perimeter.framework_id, Requirement.ref.in_(refs or ["-"]))).all())
    planned, seen = [], set()
    for item in items:
        subject = (item.subject or "").strip()
        if not subject or len(subject) > MAX_SUBJECT or len(collector_key(collector, source, subject, perimeter)) > 300:
            raise EvidenceError(N_("%(collector)s : sujet « %(subject)s » vide ou trop long"), collector=collector,
                                subject=subject[:MAX_SUBJECT])
        if subject in seen:
            raise EvidenceError(N_("%(collector)s : le sujet « %(subject)s » apparaît deux fois dans le même "
                                   "résultat"), collector=collector, subject=subject)
        seen.add(subject)
        if len(item.files) != 1:
            raise EvidenceError(N_("%(collector)s : le sujet « %(subject)s » doit fournir un fichier, et un seul "
                                   "(la sortie brute du contrôle)"), collector=collector, subject=subject)
        if unknown := [ref for ref in item.answers if ref not in found]:
            raise EvidenceError(N_("%(collector)s : le sujet « %(subject)s » répond à « %(ref)s », que le "
                                   "référentiel du périmètre %(code)s ne contient pas"),
                                collector=collector, subject=subject, ref=unknown[0], code=perimeter.code)
        content = item.files[0].read()
        planned.append(_Planned(
            item=item, key=collector_key(collector, source, subject, perimeter), content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            requirement_ids=tuple(found[ref] for ref in sorted(item.answers)),
            answers=tuple(dict.fromkeys(e for ref in sorted(item.answers) for e in item.answers[ref]))))
    return planned


def _needs_version(plan: _Planned) -> bool:
    """A new version unless the evidence already holds this run: the same file, or a run as recent or newer
    (the same scan read from its other format, or an older report imported late)."""
    if plan.evidence is None or plan.current is None:
        return True
    if plan.current.sha256 == plan.sha256:
        return False
    return plan.run is None or plan.item.run_at > plan.run.run_at


def _record(session: Session, actor: User, perimeter: Perimeter, collector: str, source: str, plan: _Planned,
            ttl_days: int, today: date) -> SubjectLine:
    item = plan.item
    ttl = item.ttl_days or ttl_days
    if plan.evidence is None:
        evidence, version = _create(session, actor, perimeter, collector, plan)
        outcome, reopened = CREATED, False
    else:
        evidence, version = plan.evidence, None
        reopened = _follow_mapping(session, actor, evidence, plan)
        if plan.blob is not None:
            version = _refresh(session, actor, evidence, plan)
        outcome = REFRESHED if version is not None else UNCHANGED
    if version is not None:
        session.add(CollectionRun(
            evidence_version_id=version.id, collector=collector, source=source, subject=item.subject,
            run_at=item.run_at, result=item.result, ttl_days=ttl, details=[f.as_dict() for f in item.failing],
            **item.counts.as_dict()))
        run_at, number = item.run_at, version.number
    else:
        run_at = plan.run.run_at if plan.run else item.run_at
        ttl = plan.run.ttl_days if plan.run else ttl
        number = plan.current.number if plan.current else None
    expires_on = run_at.astimezone(timezone.utc).date() + timedelta(days=ttl)
    return SubjectLine(
        item.subject, evidence.ref, outcome, item.result, item.counts, number,
        failing=tuple(f for f in item.failing if not f.muted), muted=tuple(f for f in item.failing if f.muted),
        older=outcome == UNCHANGED and plan.run is not None and item.run_at < plan.run.run_at, reopened=reopened,
        expires_on=expires_on, stale=today > expires_on)


def _note(collector: str, item: Collected) -> str:
    """The version's note: the run in the tool's own status words (PASS, FAIL...), readable in any language."""
    c = item.counts
    return (f"{collector} {item.subject} · {item.run_at.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC · "
            f"PASS {c.passed} · FAIL {c.failed} · MUTED {c.muted} · MANUAL {c.manual}")


def _create(session: Session, actor: User, perimeter: Perimeter, collector: str, plan: _Planned):
    """New automated evidence, checked by the rules every evidence follows, submitted for review at once: it is
    reviewed once, now (rules.keeps_review)."""
    item = plan.item
    draft = EvidenceDraft(title=item.title[:MAX_TITLE], kind=AUTOMATED_KIND, description=item.description,
                          requirements=plan.requirement_ids, perimeters=(perimeter.id,), answers=plan.answers)
    checked = check_evidence(actor, draft, DatabaseLookup(session), collected=True, note=_note(collector, item))
    evidence, version = evidence_service.insert_checked(session, actor, checked, plan.blob, item.files[0].name,
                                                        _note(collector, item), collector=collector,
                                                        collector_key=plan.key)
    audit.record(session, actor, "evidence.create", evidence,
                 {**evidence_service.creation_details(checked, version), **_run_details(item)})
    evidence_service.record_review(session, actor, evidence, "submit")
    return evidence, version


def _refresh(session: Session, actor: User, evidence: Evidence, plan: _Planned) -> EvidenceVersion:
    """A newer run: a new version. The review stands (rules.status_after_new_version); an approval is carried to
    the run's version, which the coverage and the dossier cite."""
    item = plan.item
    version = evidence_service.add_file_version(session, actor, evidence, plan.blob, item.files[0].name,
                                                _note(evidence.collector or "", item))
    status_before = evidence.status
    evidence.status = rules.status_after_new_version(evidence.kind, status_before, collected=True)
    if evidence.status == "approved":
        version.approved_at, version.approved_by_id = evidence.reviewed_at, evidence.reviewed_by_id
        session.add(version)
    evidence.updated_at = utcnow()
    session.add(evidence)
    audit.record(session, actor, "evidence.version", evidence,
                 {**evidence_service.version_details(version), "status_before": status_before, **_run_details(item)})
    return version


def _follow_mapping(session: Session, actor: User, evidence: Evidence, plan: _Planned) -> bool:
    """Make the items and entries the evidence answers those the collector's mapping gives now; a change is an
    edit of proving fields (record_edit: audited, back to draft when it was reviewed). Whether it re-opened it."""
    linked = set(session.exec(select(EvidenceRequirement.requirement_id)
                              .where(EvidenceRequirement.evidence_id == evidence.id)))
    answered = set(session.exec(select(EvidenceAnswer.entry_id).where(EvidenceAnswer.evidence_id == evidence.id)))
    if linked == set(plan.requirement_ids) and answered == set(plan.answers):
        return False
    draft = EvidenceDraft(title=evidence.title, kind=evidence.kind, description=evidence.description,
                          owner=evidence.owner_id, classification=evidence.classification,
                          effective_date=evidence.effective_date, valid_until=evidence.valid_until,
                          controls=tuple(session.exec(select(EvidenceControl.control_id).where(
                              EvidenceControl.evidence_id == evidence.id))),
                          requirements=plan.requirement_ids, perimeters=tuple(session.exec(
                              select(EvidencePerimeter.perimeter_id).where(EvidencePerimeter.evidence_id == evidence.id))),
                          answers=plan.answers, document_version=evidence.document_version,
                          renewal=evidence.renewal)
    checked = check_evidence(actor, draft, DatabaseLookup(session), kept_owner_id=evidence.owner_id,
                             kept_control_ids=set(draft.controls), kept_kind=evidence.kind)
    changes = evidence_service.replace_checked_links(session, evidence, checked)
    status_before = evidence.status
    evidence_service.record_edit(session, actor, evidence, changes)
    return evidence.status != status_before


def _run_details(item: Collected) -> dict:
    """What the audit trail records of a run (the failing resources are in its CollectionRun row)."""
    return {"collection_subject": item.subject, "run_at": item.run_at.isoformat(), "result": item.result,
            "counts": item.counts.as_dict()}


def current_runs(session: Session, evidence_ids: Sequence[int]) -> dict[int, CollectionRun]:
    """evidence id -> the collection run behind its current version (for the evidence page and reports)."""
    runs = {}
    for evidence_id, run in session.exec(
        select(EvidenceVersion.evidence_id, CollectionRun)
        .join(CollectionRun, CollectionRun.evidence_version_id == EvidenceVersion.id)
        .where(EvidenceVersion.evidence_id.in_(list(evidence_ids) or [-1]))
        .order_by(EvidenceVersion.number)
    ):
        runs[evidence_id] = run  # the highest version wins
    return runs
