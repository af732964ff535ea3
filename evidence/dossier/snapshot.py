"""The dossier's snapshot: everything it shows about a perimeter, frozen as plain JSON-able data.

Only proofs are cited: evidence valid for the perimeter, approved and unexpired; each is pinned at the version
that was approved (number, SHA-256, storage key; for automated evidence, its current run's version, which carries
the approval: rules.keeps_review), and so are the perimeter's designated reference documents and
architecture diagrams. The snapshot is kept with the `Dossier` row: the same snapshot renders the same
document, so every stored PDF can be rendered again (the templates read a key added since format 1 with a
default, so that an older snapshot still renders).
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Optional

from sqlalchemy import func
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.vocabulary import ARCHITECTURE_DIAGRAM
from evidence.data.models import (
    Action,
    ActionFinding,
    ActionRequirement,
    Campaign,
    Evidence,
    EvidencePerimeter,
    EvidenceVersion,
    Finding,
    Perimeter,
    Requirement,
    Section,
    Site,
    User,
    utcnow,
)
from evidence.dossier import history
from evidence.services import campaigns, gaps, perimeter_documents, perimeters, sovereignty
from evidence.services.findings import pinned_versions

FORMAT = 2  # 2: structured perimeter, reference documents, diagrams, sign-off history, structured problems
# Since format 2 too, read with a default: "campaign" (the evaluation the dossier is for) and, per finding, who
# raised it, its campaign, the evidence versions pinned and its closing date.


def _iso(value) -> Optional[str]:
    return value.isoformat() if value else None


def _plain(value):
    """A check's figure or problem parameter as JSON keeps it: numbers stay numbers, a date becomes ISO text."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def take_snapshot(session: Session, perimeter: Perimeter, today: date, options: dict, *, organisation: str) -> dict:
    """Everything the dossier shows, as plain JSON-able data, with each evidence's current version pinned;
    `organisation` is the provider's name, on the cover."""
    result = gaps.compute(session, perimeter, today)
    framework = result.framework
    lower = session.get(Perimeter, perimeter.built_on_id) if perimeter.built_on_id else None
    sections = list(session.exec(select(Section).where(Section.framework_id == framework.id).order_by(Section.order)))

    designated = _designated(session, perimeter, today)
    evidence_refs = sorted({e.ref for row in result.rows for e in row.proofs}
                           | {d["ref"] for d in designated if d["usable"]})
    versions = _pinned(session, evidence_refs, today)

    items = []
    for row in result.rows:
        requirement = row.requirement
        items.append({
            "ref": requirement.ref, "chapter": requirement.chapter, "section": requirement.section,
            "kind": requirement.kind, "title": requirement.title, "title_en": requirement.title_en,
            "summary": requirement.summary, "official_text": requirement.official_text,
            "applicability": row.applicability.state, "applicability_derived": row.applicability.derived,
            "applicability_justification": row.applicability.justification,
            "applicability_basis": row.applicability.basis, "limited_to": list(row.applicability.limited_to),
            "condition": requirement.condition, "condition_en": requirement.condition_en,
            "summary_en": requirement.summary_en,
            "inherited_from": row.lower.code if row.lower else None,
            "status": row.status.status, "reasons": list(row.status.reasons),
            # Automated evidence behind an automated_* reason (worded by the dossier: labels.automated_sentence).
            "automated": [{"reason": n.reason, "ref": n.ref, "collector": n.collector, "run_on": _iso(n.run_on),
                           "failed": n.failed} for n in row.status.automated],
            "gap": row.status.is_gap,
            "expected_evidence": [
                {**entry, "state": state.state, "proofs": list(state.proofs),
                 "waiver": row.waivers[entry["id"]].justification if entry["id"] in row.waivers else None}
                for entry in requirement.expected_evidence or []
                for state in row.status.entries if state.id == entry["id"]
            ],
            "verdict": {"status": row.verdict.status, "justification": row.verdict.justification} if row.verdict else None,
            "controls": [{"ref": c.ref, "title": c.title, "status": c.status, "owner": c.owner, "statement": c.statement}
                         for c in row.controls],
            "evidence": [e.ref for e in row.proofs],
            "findings": [{"id": f.id, "severity": f.severity, "text": f.text, "status": f.status} for f in row.findings],
        })

    findings = _findings(session, perimeter)
    readiness = result.readiness
    recommendations = result.recommendation_readiness
    snapshot = {
        "format": FORMAT,
        "taken_at": utcnow().replace(microsecond=0).isoformat(),
        "today": today.isoformat(),
        "organisation": organisation,
        "options": options,
        "perimeter": {
            "code": perimeter.code, "name": perimeter.name, "description": perimeter.description,
            "service_types": perimeter.service_types, "phase": perimeter.phase,
            **{k: getattr(perimeter, k) or "" for k in perimeters.DESCRIPTION_FIELDS},
            "sites": [{"name": x.name, "role": x.role, "kind": x.kind, "city": x.city, "country": x.country}
                      for x in session.exec(select(Site).where(Site.perimeter_id == perimeter.id).order_by(Site.id))],
            "evaluation_centre": perimeter.evaluation_centre,
            "built_on": {"code": lower.code, "name": lower.name, "phase": lower.phase,
                         "qualification_reference": lower.qualification_reference,
                         "qualified_on": _iso(lower.qualified_on)} if lower else None,
            "qualification_reference": perimeter.qualification_reference,
            "dates": {k: _iso(getattr(perimeter, k)) for k in (
                "request_filed_on", "evaluation_started_on", "qualified_on", "qualification_expires_on", "next_surveillance_on")},
        },
        "framework": {"key": framework.key, "name": framework.name, "version": framework.version, "source": framework.source},
        "sections": [{"ref": s.ref, "parent": s.parent_ref, "title": s.title, "title_en": s.title_en, "depth": s.depth}
                     for s in sections],
        "items": items,
        "evidence": [versions[ref] for ref in evidence_refs if ref in versions],
        "documents": [_document(d, versions) for d in designated if d["role"] != ARCHITECTURE_DIAGRAM],
        "diagrams": [_document(d, versions) for d in designated if d["role"] == ARCHITECTURE_DIAGRAM],
        "findings": findings,
        "campaign": _campaign(campaigns.latest(session, perimeter)),
        "actions": _actions(session, perimeter, today),
        "history": history.entries(session, perimeter),
        "sovereignty": _sovereignty(session, perimeter, today) if framework.assessed else None,
        "readiness": {"covered": readiness.covered, "applicable": readiness.applicable,
                      "recommendations": [recommendations.covered, recommendations.applicable],
                      "chapters": [[chapter, r.covered, r.applicable] for chapter, r in result.chapters()]},
        "counts": dict(result.counts()),
        "recommendation_counts": dict(result.recommendation_counts()),
    }
    # What changed since the last rendered version (None for the first), for the front part's summary.
    previous = history.last_snapshot(session, perimeter)
    # None for the first version: the dossier then says it is the first, not that nothing changed.
    snapshot["changes"] = history.changes(previous, snapshot) if previous is not None else None
    return snapshot


def _pinned(session: Session, refs: list[str], today: date) -> dict[str, dict]:
    """ref → the evidence at its latest approved version: what the dossier cites and the register lists."""
    latest = (select(EvidenceVersion.evidence_id, func.max(EvidenceVersion.number).label("number"))
              .where(EvidenceVersion.approved_at.is_not(None))
              .group_by(EvidenceVersion.evidence_id).subquery())
    approver = User.__table__.alias("approver")
    versions = {}
    for evidence, version, owner, approved_by in session.exec(
        select(Evidence, EvidenceVersion, User, approver.c.name)
        .join(EvidenceVersion, EvidenceVersion.evidence_id == Evidence.id)
        .join(latest, (latest.c.evidence_id == EvidenceVersion.evidence_id) & (latest.c.number == EvidenceVersion.number))
        .outerjoin(User, User.id == Evidence.owner_id)
        .outerjoin(approver, approver.c.id == EvidenceVersion.approved_by_id)
        .where(Evidence.ref.in_(refs or ["-"]))
    ):
        versions[evidence.ref] = {
            "ref": evidence.ref, "title": evidence.title, "kind": evidence.kind, "status": evidence.status,
            "version": version.number, "sha256": version.sha256, "size": version.size,
            "media_type": version.media_type, "file_name": version.original_filename, "url": version.url,
            "storage_key": version.storage_key, "version_date": _iso(version.created_at.date()),
            "effective_date": _iso(evidence.effective_date), "valid_until": _iso(evidence.valid_until),
            "owner": owner.name if owner else "", "classification": evidence.classification,
            "freshness": rules.freshness(evidence.valid_until, today),
            "document_version": evidence.document_version or "", "approver": approved_by or "",
            "approved_on": _iso(version.approved_at.date()) if version.approved_at else None,
        }
    return versions


def _designated(session: Session, perimeter: Perimeter, today: date) -> list[dict]:
    """The perimeter's reference documents and diagrams as designated, each with whether it can be cited
    (valid for the perimeter, approved, unexpired: the rule every proof follows)."""
    in_scope = set(session.exec(select(EvidencePerimeter.evidence_id)
                                .where(EvidencePerimeter.perimeter_id == perimeter.id)))
    return [{"role": d.role, "ref": e.ref, "title": e.title, "note": d.note,
             "usable": rules.usable(rules.EvidenceFacts(e.status, e.valid_until, in_scope=e.id in in_scope), today),
             "status": e.status, "freshness": rules.freshness(e.valid_until, today)}
            for d, e in perimeter_documents.listed(session, perimeter)]


def _document(designated: dict, versions: dict) -> dict:
    """A designated document as the dossier prints it: the pinned version's facts, or none when it cannot be
    cited (it is then listed as not approved, expired or out of the perimeter)."""
    pinned = versions.get(designated["ref"]) if designated["usable"] else None
    return {"role": designated["role"], "ref": designated["ref"], "title": designated["title"],
            "note": designated["note"], "cited": pinned is not None,
            "status": designated["status"], "freshness": designated["freshness"],
            **({k: pinned[k] for k in ("version", "sha256", "storage_key", "media_type", "document_version",
                                       "effective_date", "approver", "size")} if pinned else {})}


def _sovereignty(session: Session, perimeter: Perimeter, today: date) -> dict:
    """The chapter-19 registers and the verdict of each check, for the dossier's annex."""
    regs = sovereignty.registers(session, perimeter, today)
    members = sovereignty.eu_members()
    return {
        # Problems as codes and parameters (the dossier words them in its language); figures raw.
        "checks": [{"requirement": c.requirement, "name": c.name, "passed": c.passed,
                    "problems": [_plain(p.as_dict() if hasattr(p, "as_dict") else p) for p in c.problems],
                    "figures": [[key, _plain(value)] for key, value in c.figures]} for c in sovereignty.checks(regs)],
        "seats": [{"kind": s.kind, "address": s.address, "city": s.city, "country": s.country, "eu": s.country in members}
                  for s in regs.seats],
        "holders": [{"name": h.name, "country": h.country, "kind": h.kind, "capital": h.capital_bp / 100,
                     "voting": h.voting_bp / 100, "veto": h.veto, "board_majority": h.board_majority,
                     "eu": h.country in members} for h in regs.holders],
        "subcontractors": [{"name": s.name, "country": s.country, "service": s.service, "data_access": s.data_access,
                            "access_justification": s.access_justification, "qualified": s.qualified,
                            "contract_ref": s.contract_ref, "eu": s.country in members} for s in regs.subcontractors],
        "sites": [{"name": s.name, "role": s.role, "kind": s.kind, "city": s.city, "country": s.country,
                   "eu": s.country in members} for s in regs.sites],
        "data": [{"category": d.category, "activity": d.activity, "country": d.country, "eu": d.country in members}
                 for d in regs.data],
        "operations": [{"operation": o.operation, "country": o.country, "allowed_operations": o.allowed_operations,
                        "eu": o.country in members} for o in regs.operations],
    }


def _campaign(campaign: Optional[Campaign]) -> Optional[dict]:
    if campaign is None:
        return None
    return {"id": campaign.id, "kind": campaign.kind, "centre": campaign.centre, "starts_on": _iso(campaign.starts_on),
            "ends_on": _iso(campaign.ends_on), "closed_on": _iso(campaign.closed_at.date()) if campaign.closed_at else None}


def _findings(session: Session, perimeter: Perimeter) -> list[dict]:
    """Each finding with who raised it (an evaluator's name and centre, or the team from the centre's report),
    its campaign, the evidence versions the evaluator looked at (ref, version, SHA-256) and when it was closed."""
    rows = list(session.exec(
        select(Finding, Requirement).outerjoin(Requirement, Requirement.id == Finding.requirement_id)
        .where(Finding.perimeter_id == perimeter.id).order_by(Finding.id)))
    ids = [f.id for f, _r in rows]
    people = {u.id: u.name or u.email for u in session.exec(select(User).where(User.id.in_(
        {f.raised_by_id for f, _r in rows if f.raised_by_id} or {-1})))}
    found_campaigns = {c.id: c for c in session.exec(select(Campaign).where(Campaign.id.in_(
        {f.campaign_id for f, _r in rows if f.campaign_id} or {-1})))}
    pinned = pinned_versions(session, ids)
    return [{
        "id": f.id, "severity": f.severity, "text": f.text, "response": f.response, "status": f.status,
        "requirement": requirement.ref if requirement else None, "raised_on": _iso(f.raised_on), "due_date": _iso(f.due_date),
        "raised_by": people.get(f.raised_by_id), "campaign": _campaign(found_campaigns.get(f.campaign_id)),
        "evidence": [{"ref": e.ref, "version": v.number, "sha256": v.sha256} for e, v in pinned.get(f.id, [])],
        "closed_on": _iso(f.closed_at.date()) if f.closed_at else None,
    } for f, requirement in rows]


def _actions(session: Session, perimeter: Perimeter, today: date) -> list[dict]:
    """The action plan, each action with the items and findings it answers (the gaps part links them)."""
    actions = list(session.exec(
        select(Action, User).outerjoin(User, User.id == Action.owner_id)
        .where(Action.perimeter_id == perimeter.id).order_by(Action.due_date, Action.id)))
    ids = [a.id for a, _owner in actions] or [-1]
    requirements, findings = {}, {}
    for action_id, ref in session.exec(
        select(ActionRequirement.action_id, Requirement.ref)
        .join(Requirement, Requirement.id == ActionRequirement.requirement_id)
        .where(ActionRequirement.action_id.in_(ids)).order_by(Requirement.order, Requirement.ref)
    ):
        requirements.setdefault(action_id, []).append(ref)
    for action_id, finding_id in session.exec(
        select(ActionFinding.action_id, ActionFinding.finding_id).where(ActionFinding.action_id.in_(ids))
        .order_by(ActionFinding.finding_id)
    ):
        findings.setdefault(action_id, []).append(finding_id)
    return [{
        "id": a.id, "title": a.title, "description": a.description, "owner": owner.name if owner else "",
        "due_date": _iso(a.due_date), "status": a.status, "overdue": rules.action_overdue(a.status, a.due_date, today),
        "residual_risk": a.residual_risk or "", "requirements": requirements.get(a.id, []),
        "findings": findings.get(a.id, []),
    } for a, owner in actions]


def snapshot_digest(snapshot: dict) -> str:
    """SHA-256 of the snapshot's canonical JSON: the PDF's file identifier derives from it."""
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
