"""The qualification dossier: a frozen snapshot of a perimeter, rendered to PDF.

snapshot (plain data, evidence versions pinned) → Jinja (autoescaped) → HTML → WeasyPrint with a URL fetcher
that serves only the package's own assets and the pinned blobs → PDF → blob store + `Dossier` row.
The snapshot is kept with the row: the same snapshot renders the same document, and every stored PDF can be
downloaded again byte for byte.
"""
from __future__ import annotations

import hashlib
import io
import json
import mimetypes
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import func
from sqlmodel import Session, select

from . import audit, charts, gaps, labels, rules
from .config import PACKAGE_DIR
from .errors import EvidenceError
from .models import (
    Dossier, EvidenceVersion, Evidence, Framework, Perimeter, Section, User, utcnow,
)

ASSET_SCHEME = "evidence-asset:"
BLOB_SCHEME = "evidence-blob:"
STATIC_DIR = PACKAGE_DIR / "static"
LANGUAGES = ("fr", "en")
DEFAULT_MAX_ATTACHMENTS = 200 * 1024 * 1024

Progress = Callable[[int, str], None]


# --- The URL fetcher ----------------------------------------------------------------------------------------


def safe_fetcher(store=None, pinned: Optional[dict[str, str]] = None, refused: Optional[list] = None):
    """A WeasyPrint URL fetcher that serves the package's static files and the pinned evidence blobs, and
    refuses everything else: http(s), file, data, and anything a user could have typed."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    pinned = pinned or {}

    class SafeFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith(ASSET_SCHEME):
                relative = url[len(ASSET_SCHEME):].lstrip("/")
                path = (STATIC_DIR / relative).resolve()
                if path.is_file() and STATIC_DIR.resolve() in path.parents:
                    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": media_type})
            elif url.startswith(BLOB_SCHEME) and store is not None:
                sha = url[len(BLOB_SCHEME):]
                if sha in pinned:
                    return URLFetcherResponse(url, store.open(pinned[sha]), {"Content-Type": "application/octet-stream"})
            if refused is not None:
                refused.append(url)
            raise ValueError(f"refused by the dossier's URL fetcher: {url[:200]}")

    return SafeFetcher()


# --- Snapshot -----------------------------------------------------------------------------------------------


def _iso(value) -> Optional[str]:
    return value.isoformat() if value else None


def take_snapshot(session: Session, perimeter: Perimeter, today: date, options: dict) -> dict:
    """Everything the dossier shows, as plain JSON-able data, with each evidence's current version pinned."""
    result = gaps.compute(session, perimeter, today)
    framework = result.framework
    lower = session.get(Perimeter, perimeter.built_on_id) if perimeter.built_on_id else None
    sections = list(session.exec(select(Section).where(Section.framework_id == framework.id).order_by(Section.order)))

    evidence_refs = sorted({e.ref for row in result.rows for e in row.evidence})
    latest = (select(EvidenceVersion.evidence_id, func.max(EvidenceVersion.number).label("number"))
              .group_by(EvidenceVersion.evidence_id).subquery())
    versions = {}
    for evidence, version, owner in session.exec(
        select(Evidence, EvidenceVersion, User)
        .join(EvidenceVersion, EvidenceVersion.evidence_id == Evidence.id)
        .join(latest, (latest.c.evidence_id == EvidenceVersion.evidence_id) & (latest.c.number == EvidenceVersion.number))
        .outerjoin(User, User.id == Evidence.owner_id)
        .where(Evidence.ref.in_(evidence_refs or ["-"]))
    ):
        versions[evidence.ref] = {
            "ref": evidence.ref, "title": evidence.title, "kind": evidence.kind, "status": evidence.status,
            "version": version.number, "sha256": version.sha256, "size": version.size,
            "media_type": version.media_type, "file_name": version.original_filename, "url": version.url,
            "storage_key": version.storage_key, "version_date": _iso(version.created_at.date()),
            "effective_date": _iso(evidence.effective_date), "valid_until": _iso(evidence.valid_until),
            "owner": owner.name if owner else "", "classification": evidence.classification,
            "freshness": rules.freshness(evidence.valid_until, today),
        }

    items = []
    for row in result.rows:
        requirement = row.requirement
        items.append({
            "ref": requirement.ref, "chapter": requirement.chapter, "section": requirement.section,
            "kind": requirement.kind, "title": requirement.title, "title_en": requirement.title_en,
            "summary": requirement.summary, "official_text": requirement.official_text,
            "applicability": row.applicability.state, "applicability_derived": row.applicability.derived,
            "applicability_justification": row.applicability.justification,
            "status": row.status.status, "reasons": list(row.status.reasons),
            "verdict": {"status": row.verdict.status, "justification": row.verdict.justification} if row.verdict else None,
            "controls": [{"ref": c.ref, "title": c.title, "status": c.status, "owner": c.owner, "statement": c.statement}
                         for c in row.controls],
            "evidence": [e.ref for e in row.evidence],
            "findings": [{"id": f.id, "severity": f.severity, "text": f.text, "status": f.status} for f in row.findings],
        })

    findings = _findings(session, perimeter)
    history = [{
        "number": d.number, "created_at": _iso(d.created_at.astimezone(timezone.utc).replace(microsecond=0)),
        "author": author.name if author else "", "sha256": d.sha256, "language": d.language,
    } for d, author in session.exec(
        select(Dossier, User).outerjoin(User, User.id == Dossier.author_id)
        .where(Dossier.perimeter_id == perimeter.id, Dossier.status == "done").order_by(Dossier.number)
    )]
    readiness = result.readiness
    recommendations = result.recommendation_readiness
    return {
        "format": 1,
        "taken_at": utcnow().replace(microsecond=0).isoformat(),
        "today": today.isoformat(),
        "organisation": current_app.config.get("ORGANISATION", ""),
        "options": options,
        "perimeter": {
            "code": perimeter.code, "name": perimeter.name, "description": perimeter.description,
            "service_types": perimeter.service_types, "phase": perimeter.phase,
            "evaluation_centre": perimeter.evaluation_centre,
            "built_on": {"code": lower.code, "name": lower.name} if lower else None,
            "dates": {k: _iso(getattr(perimeter, k)) for k in (
                "request_filed_on", "evaluation_started_on", "qualified_on", "qualification_expires_on", "next_surveillance_on")},
        },
        "framework": {"key": framework.key, "name": framework.name, "version": framework.version, "source": framework.source},
        "sections": [{"ref": s.ref, "parent": s.parent_ref, "title": s.title, "title_en": s.title_en, "depth": s.depth}
                     for s in sections],
        "items": items,
        "evidence": [versions[ref] for ref in evidence_refs if ref in versions],
        "findings": findings,
        "actions": _actions(session, perimeter, today),
        "history": history,
        "readiness": {"compliant": readiness.compliant, "applicable": readiness.applicable,
                      "recommendations": [recommendations.compliant, recommendations.applicable],
                      "chapters": [[chapter, r.compliant, r.applicable] for chapter, r in result.chapters()]},
        "counts": dict(result.counts()),
    }


def _findings(session: Session, perimeter: Perimeter) -> list[dict]:
    from .models import Finding, Requirement

    return [{
        "id": f.id, "severity": f.severity, "text": f.text, "response": f.response, "status": f.status,
        "requirement": requirement.ref if requirement else None, "raised_on": _iso(f.raised_on), "due_date": _iso(f.due_date),
    } for f, requirement in session.exec(
        select(Finding, Requirement).outerjoin(Requirement, Requirement.id == Finding.requirement_id)
        .where(Finding.perimeter_id == perimeter.id).order_by(Finding.id)
    )]


def _actions(session: Session, perimeter: Perimeter, today: date) -> list[dict]:
    from .findings import overdue
    from .models import Action

    return [{
        "title": a.title, "description": a.description, "owner": owner.name if owner else "", "due_date": _iso(a.due_date),
        "status": a.status, "overdue": overdue(a, today),
    } for a, owner in session.exec(
        select(Action, User).outerjoin(User, User.id == Action.owner_id)
        .where(Action.perimeter_id == perimeter.id).order_by(Action.due_date, Action.id)
    )]


# --- Rendering ----------------------------------------------------------------------------------------------


class DossierView:
    """The snapshot arranged for the template: chapters → sections → items, evidence by ref, labels."""

    def __init__(self, snapshot: dict, lang: str):
        self.s = snapshot
        self.lang = lang
        self.evidence = {e["ref"]: e for e in snapshot["evidence"]}
        sections = snapshot["sections"]
        self.section_titles = {s["ref"]: (s["title_en"] if lang == "en" and s["title_en"] else s["title"]) for s in sections}
        by_section: dict[str, list] = {}
        for item in snapshot["items"]:
            by_section.setdefault(item["section"], []).append(item)
        self.chapters = []
        for chapter in (s for s in sections if s["parent"] is None):
            subsections = [s for s in sections if s["ref"] != chapter["ref"] and self._chapter_of(s, sections) == chapter["ref"]]
            blocks = [{"ref": s["ref"], "title": self.section_titles[s["ref"]], "depth": s["depth"],
                       "items": by_section.get(s["ref"], [])} for s in [chapter] + subsections]
            blocks = [b for b in blocks if b["items"]] or []
            self.chapters.append({"ref": chapter["ref"], "title": self.section_titles[chapter["ref"]], "blocks": blocks,
                                  "count": sum(len(b["items"]) for b in blocks)})
        self.chapters = [c for c in self.chapters if c["count"]]

    @staticmethod
    def _chapter_of(section, sections):
        by_ref = {s["ref"]: s for s in sections}
        while section["parent"]:
            section = by_ref[section["parent"]]
        return section["ref"]

    def title(self, item) -> str:
        return item["title_en"] if self.lang == "en" and item.get("title_en") else item["title"]

    def chart(self, title: str) -> str:
        from .rules import Readiness

        data = [(chapter, self.section_titles.get(chapter, ""), Readiness(c, a))
                for chapter, c, a in self.s["readiness"]["chapters"]]
        return charts.chapter_bars(data, title)


def render_html(snapshot: dict, lang: str = "fr", attach: bool = False) -> str:
    if lang not in LANGUAGES:
        raise EvidenceError(f"unknown dossier language {lang!r} (fr or en)")
    with force_locale(lang):
        from markupsafe import Markup

        view = DossierView(snapshot, lang)
        # Straight from the environment: the web pages' context processors (navigation, user) stay out.
        return current_app.jinja_env.get_template("dossier/dossier.html").render(
            s=snapshot, v=view, lang=lang, attach=attach, labels=labels,
            chart=Markup(view.chart(str(_chart_title()))), asset=ASSET_SCHEME, blob=BLOB_SCHEME,
        )


def _chart_title():
    from flask_babel import lazy_gettext as _l

    return _l("Exigences conformes par chapitre")


def snapshot_digest(snapshot: dict) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def render_pdf(snapshot: dict, lang: str = "fr", store=None, attach: bool = False,
               max_attachments: int = DEFAULT_MAX_ATTACHMENTS, refused: Optional[list] = None) -> bytes:
    """The PDF of a snapshot. With `attach`, the pinned files are embedded (PDF/A-3u), each linked from the
    evidence index; the total size is capped so that a dossier stays something one can send."""
    from weasyprint import HTML

    pinned = {}
    if attach:
        files = [e for e in snapshot["evidence"] if e.get("storage_key")]
        total = sum(e["size"] or 0 for e in files)
        if total > max_attachments:
            raise EvidenceError(
                f"the pinned evidence files add up to {total // (1024 * 1024)} MB, over the "
                f"{max_attachments // (1024 * 1024)} MB ceiling for an attached dossier; render without "
                f"--attach-evidence and hand over the evidence bundle instead"
            )
        pinned = {e["sha256"]: e["storage_key"] for e in files}
    html = render_html(snapshot, lang, attach=attach)
    fetcher = safe_fetcher(store, pinned, refused)
    options = {"pdf_identifier": snapshot_digest(snapshot)[:32].encode()}
    if attach:
        options["pdf_variant"] = "pdf/a-3u"
    return HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf(**options)


# --- Generation ---------------------------------------------------------------------------------------------


def next_number(session: Session, perimeter: Perimeter) -> int:
    return (session.exec(select(func.max(Dossier.number)).where(Dossier.perimeter_id == perimeter.id)).one() or 0) + 1


def queue(session: Session, actor, perimeter: Perimeter, lang: str, attach: bool, classification: str,
          today: date) -> Dossier:
    """Freeze the snapshot and record the dossier as queued; rendering happens in `render_stored`."""
    if lang not in LANGUAGES:
        raise EvidenceError(f"unknown dossier language {lang!r} (fr or en)")
    options = {"attach_evidence": bool(attach), "classification": classification or "Diffusion restreinte"}
    snapshot = take_snapshot(session, perimeter, today, options)
    dossier = Dossier(perimeter_id=perimeter.id, number=next_number(session, perimeter), language=lang,
                      options=options, author_id=getattr(actor, "id", None), status="queued", snapshot=snapshot)
    snapshot["number"] = dossier.number
    session.add(dossier)
    session.flush()
    audit.record(session, actor, "dossier.queue", object_type="dossier", object_id=f"{perimeter.code}-v{dossier.number}",
                 details={"language": lang, **options, "evidence_pinned": len(snapshot["evidence"])})
    session.commit()
    return dossier


def render_stored(session: Session, store, dossier: Dossier, progress: Optional[Progress] = None) -> Dossier:
    """Render a queued dossier, store the PDF and mark it done (or failed, with the reason)."""
    progress = progress or (lambda percent, step: None)
    perimeter = session.get(Perimeter, dossier.perimeter_id)

    def step(percent: int, label: str):
        dossier.progress = percent
        session.add(dossier)
        session.commit()
        progress(percent, label)

    dossier.status = "rendering"
    step(10, "rendering")
    try:
        pdf = render_pdf(dossier.snapshot, dossier.language, store, attach=dossier.options.get("attach_evidence", False),
                         max_attachments=int(current_app.config.get("DOSSIER_MAX_ATTACHMENTS", DEFAULT_MAX_ATTACHMENTS)))
        step(80, "storing")
        blob = store.put(io.BytesIO(pdf))
    except Exception as error:
        session.rollback()
        dossier = session.get(Dossier, dossier.id)
        dossier.status, dossier.error = "failed", str(error)[:2000]
        session.add(dossier)
        audit.record(session, None, "dossier.fail", object_type="dossier", object_id=f"{perimeter.code}-v{dossier.number}",
                     details={"error": dossier.error[:300]})
        session.commit()
        raise
    dossier.status, dossier.sha256, dossier.size, dossier.storage_key = "done", blob.sha256, blob.size, blob.key
    dossier.progress = 100
    session.add(dossier)
    audit.record(session, None, "dossier.render", object_type="dossier", object_id=f"{perimeter.code}-v{dossier.number}",
                 details={"sha256": blob.sha256, "size": blob.size})
    session.commit()
    progress(100, "done")
    return dossier


def generate(session: Session, store, actor, perimeter: Perimeter, lang: str = "fr", attach: bool = False,
             classification: str = "", today: Optional[date] = None, progress: Optional[Progress] = None) -> Dossier:
    dossier = queue(session, actor, perimeter, lang, attach, classification, today or utcnow().date())
    return render_stored(session, store, dossier, progress)


def file_name(perimeter_code: str, dossier: Dossier) -> str:
    return f"dossier-secnumcloud-{perimeter_code}-v{dossier.number}.pdf"


def verify_dossiers(session: Session, store) -> tuple[int, list[str]]:
    problems, checked = [], 0
    for dossier, code in session.exec(
        select(Dossier, Perimeter.code).join(Perimeter, Perimeter.id == Dossier.perimeter_id)
        .where(Dossier.status == "done").order_by(Perimeter.code, Dossier.number)
    ):
        checked += 1
        verdict = store.verify(dossier.storage_key, dossier.sha256)
        if verdict:
            problems.append(f"{code} v{dossier.number}: {verdict} PDF {dossier.storage_key}")
    return checked, problems
