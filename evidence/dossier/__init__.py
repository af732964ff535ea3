"""The qualification dossier: a frozen snapshot of a perimeter, rendered to PDF.

snapshot (plain data, evidence versions pinned) → Jinja (autoescaped) → HTML → WeasyPrint with a URL fetcher
that serves only the package's own assets and the pinned blobs → PDF → blob store + `Dossier` row.
The snapshot is kept with the row: the same snapshot renders the same document, and every stored PDF can be
downloaded again byte for byte.

The HTML comes in parts that each start on a new page (DossierView.parts); dossier_render lays them out in
worker processes, takes unchanged ones from its cache and merges them with global page numbers, contents
and outline. `render_html` gives the same parts as one document: what a single WeasyPrint pass lays out, and
what --attach-evidence (PDF/A-3u, one pass) renders.
"""
from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timezone
from pathlib import Path
from typing import Callable, Iterable, Optional

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import func
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import EvidenceError
from evidence.data import audit
from evidence.data.models import Dossier, Evidence, EvidenceVersion, Perimeter, Section, User, utcnow
from evidence.dossier import render as dossier_render
from evidence.presentation import charts, labels
from evidence.services import gaps

ASSET_SCHEME = dossier_render.ASSET_SCHEME
BLOB_SCHEME = dossier_render.BLOB_SCHEME
STATIC_DIR = dossier_render.STATIC_DIR
LANGUAGES = ("fr", "en")
DEFAULT_MAX_ATTACHMENTS = 200 * 1024 * 1024

Progress = Callable[[int, str], None]


# --- The URL fetcher ----------------------------------------------------------------------------------------
# It lives with the part renderer, whose worker processes use it without importing the application.

safe_fetcher = dossier_render.safe_fetcher


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
        "sovereignty": _sovereignty(session, perimeter) if framework.assessed else None,
        "readiness": {"compliant": readiness.compliant, "applicable": readiness.applicable,
                      "recommendations": [recommendations.compliant, recommendations.applicable],
                      "chapters": [[chapter, r.compliant, r.applicable] for chapter, r in result.chapters()]},
        "counts": dict(result.counts()),
    }


def _sovereignty(session: Session, perimeter: Perimeter) -> dict:
    """The chapter-19 registers and the verdict of each check, for the dossier's annex."""
    from evidence.services import sovereignty

    regs = sovereignty.registers(session, perimeter)
    members = sovereignty.eu_members()
    return {
        "checks": [{"requirement": c.requirement, "name": c.name, "passed": c.passed, "problems": list(c.problems),
                    "figures": [list(f) for f in c.figures]} for c in sovereignty.checks(regs)],
        "seats": [{"kind": s.kind, "address": s.address, "city": s.city, "country": s.country, "eu": s.country in members}
                  for s in regs.seats],
        "holders": [{"name": h.name, "country": h.country, "kind": h.kind, "capital": h.capital_bp / 100,
                     "voting": h.voting_bp / 100, "veto": h.veto, "board_majority": h.board_majority,
                     "eu": h.country in members} for h in regs.holders],
        "subcontractors": [{"name": s.name, "country": s.country, "service": s.service, "data_access": s.data_access,
                            "access_justification": s.access_justification, "qualified": s.qualified,
                            "contract_ref": s.contract_ref, "eu": s.country in members} for s in regs.subcontractors],
        "sites": [{"kind": s.kind, "city": s.city, "country": s.country, "eu": s.country in members} for s in regs.sites],
        "data": [{"category": d.category, "activity": d.activity, "country": d.country, "eu": d.country in members}
                 for d in regs.data],
        "operations": [{"operation": o.operation, "country": o.country, "allowed_operations": o.allowed_operations,
                        "eu": o.country in members} for o in regs.operations],
    }


def _findings(session: Session, perimeter: Perimeter) -> list[dict]:
    from evidence.data.models import Finding, Requirement

    return [{
        "id": f.id, "severity": f.severity, "text": f.text, "response": f.response, "status": f.status,
        "requirement": requirement.ref if requirement else None, "raised_on": _iso(f.raised_on), "due_date": _iso(f.due_date),
    } for f, requirement in session.exec(
        select(Finding, Requirement).outerjoin(Requirement, Requirement.id == Finding.requirement_id)
        .where(Finding.perimeter_id == perimeter.id).order_by(Finding.id)
    )]


def _actions(session: Session, perimeter: Perimeter, today: date) -> list[dict]:
    from evidence.data.models import Action
    from evidence.services.findings import overdue

    return [{
        "title": a.title, "description": a.description, "owner": owner.name if owner else "", "due_date": _iso(a.due_date),
        "status": a.status, "overdue": overdue(a, today),
    } for a, owner in session.exec(
        select(Action, User).outerjoin(User, User.id == Action.owner_id)
        .where(Action.perimeter_id == perimeter.id).order_by(Action.due_date, Action.id)
    )]


# --- Rendering ----------------------------------------------------------------------------------------------

INDEX_RUN = 250  # evidence versions per run of the index (each run starts a page: one change re-lays one run)
CHAPTER_RUN = 300  # lines, about 8 pages: a longer chapter comes in runs of whole sections, each on a new page
CHROME_RUN = 160  # pages of running texts laid out per task
PARALLEL_FROM = 100  # items + evidence/4 below which worker processes cost more (about 1 s to start) than they save


class DossierView:
    """The snapshot arranged for the template: chapters → sections → items, evidence by ref, labels."""

    def __init__(self, snapshot: dict, lang: str):
        self.s = snapshot
        self.lang = lang
        self.labels = _Labels()
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
        from evidence.core.rules import Readiness

        data = [(chapter, self.section_titles.get(chapter, ""), Readiness(c, a))
                for chapter, c, a in self.s["readiness"]["chapters"]]
        return charts.chapter_bars(data, title)

    @property
    def contents(self) -> list[dict]:
        """The table of contents: anchor and label of each entry."""
        from flask_babel import gettext as _

        return ([{"anchor": "perimeter", "label": _("Le périmètre")}, {"anchor": "summary", "label": _("Synthèse")},
                 {"anchor": "matrix", "label": _("Matrice de traçabilité")}]
                + [{"anchor": f"ch-{c['ref']}", "label": f"{c['ref']}. {c['title']}"} for c in self.chapters]
                + [{"anchor": "gaps", "label": _("Écarts et plan d'action")},
                   {"anchor": "findings", "label": _("Constats de l'évaluation")}]
                + ([{"anchor": "sovereignty", "label": _("Annexe : souveraineté (chapitre 19)")}]
                   if self.s.get("sovereignty") else [])
                + [{"anchor": "index", "label": _("Index des preuves")}])

    @staticmethod
    def _lines(item: dict) -> int:
        """About how many lines an item takes: what a part's layout time is proportional to."""
        text = item["official_text"] or item["summary"] or ""
        return 3 + len(text) // 110 + 2 * len(item["controls"]) + len(item["evidence"]) + 2 * bool(item["reasons"])

    def _runs(self, blocks: list[dict]) -> list[list[dict]]:
        """A chapter's sections in runs of about CHAPTER_RUN lines (a short chapter is one run). Only the
        snapshot decides where runs start: the same snapshot always gives the same pages."""
        sizes = [sum(self._lines(i) for i in b["items"]) for b in blocks]
        count = max(1, round(sum(sizes) / CHAPTER_RUN))
        target = sum(sizes) / count
        runs, current, filled = [], [], 0
        for block, size in zip(blocks, sizes):
            if current and filled + size / 2 > target * (len(runs) + 1) and len(runs) < count - 1:
                runs.append(current)
                current = []
            current.append(block)
            filled += size
        return runs + [current] if current else runs or [[]]

    def parts(self) -> list[dict]:
        """The document cut into parts that each start on a new page, in order; `anchors` are the ids each
        part holds (the table of contents points at them)."""
        parts = [{"kind": "front", "anchors": ["history", "toc"]},
                 {"kind": "overview", "anchors": ["perimeter", "summary"]},
                 {"kind": "matrix", "items": self.s["items"], "anchors": ["matrix"]}]
        for c in self.chapters:
            runs = self._runs(c["blocks"])
            parts += [{"kind": "chapter", "chapter": c, "blocks": blocks, "first": n == 0,
                       "anchors": [f"ch-{c['ref']}"] if n == 0 else []} for n, blocks in enumerate(runs)]
        parts.append({"kind": "gaps", "anchors": ["gaps", "findings"]})
        if self.s.get("sovereignty"):
            parts.append({"kind": "sovereignty", "anchors": ["sovereignty"]})
        evidence = self.s["evidence"]
        runs = [evidence[i:i + INDEX_RUN] for i in range(0, len(evidence), INDEX_RUN)] or [[]]
        parts += [{"kind": "index", "evidence": run, "first": n == 0, "anchors": ["index"] if n == 0 else []}
                  for n, run in enumerate(runs)]
        return parts


class _Labels:
    """The `labels` mappings with their words translated once per rendering (a lazy string translates itself
    each time it is printed, and the dossier prints thousands of them)."""

    def __getattr__(self, name: str) -> dict:
        mapping = {key: str(value) for key, value in getattr(labels, name).items()}
        setattr(self, name, mapping)
        return mapping


def _checked(lang: str) -> str:
    if lang not in LANGUAGES:
        raise EvidenceError(f"unknown dossier language {lang!r} (fr or en)")
    return lang


def _html(view: DossierView, parts: list[dict], attach: bool = False, in_parts: bool = False,
          toc_pages: Optional[dict] = None, stubs: Iterable[str] = ()) -> str:
    """The HTML of some parts of the dossier (all of them: the whole document). Call under force_locale."""
    from markupsafe import Markup

    # Straight from the environment: the web pages' context processors (navigation, user) stay out.
    return current_app.jinja_env.get_template("dossier/dossier.html").render(
        s=view.s, v=view, lang=view.lang, attach=attach, labels=view.labels, parts=parts, in_parts=in_parts,
        toc_pages=toc_pages, stubs=list(stubs),
        chart=Markup(view.chart(str(_chart_title()))) if any(p["kind"] == "overview" for p in parts) else "",
        asset=ASSET_SCHEME, blob=BLOB_SCHEME,
    )


def _chrome_html(view: DossierView, numbers: Iterable[int] = (), total: int = 0) -> str:
    """The running texts of the whole dossier: its name, version and classification (one page), or the page
    numbers of pages `numbers` of `total` (a page each)."""
    return current_app.jinja_env.get_template("dossier/chrome.html").render(
        s=view.s, lang=view.lang, numbers=list(numbers), total=total, asset=ASSET_SCHEME)


def render_html(snapshot: dict, lang: str = "fr", attach: bool = False) -> str:
    """The whole dossier as one HTML document (what a single WeasyPrint pass lays out)."""
    with force_locale(_checked(lang)):
        view = DossierView(snapshot, lang)
        return _html(view, view.parts(), attach=attach)


def _chart_title():
    from flask_babel import lazy_gettext as _l

    return _l("Exigences conformes par chapitre")


def snapshot_digest(snapshot: dict) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def render_pdf(snapshot: dict, lang: str = "fr", store=None, attach: bool = False,
               max_attachments: int = DEFAULT_MAX_ATTACHMENTS, refused: Optional[list] = None,
               workers: Optional[int] = None, progress: Optional[Callable[[float], None]] = None) -> bytes:
    """The PDF of a snapshot. With `attach`, the pinned files are embedded (PDF/A-3u), each linked from the
    evidence index; the total size is capped so that a dossier stays something one can send.

    Without attachments the dossier is rendered in parts (see dossier_render): in parallel, unchanged parts
    taken from the cache. With attachments it is one WeasyPrint pass: the PDF/A-3 conformance (output intent,
    XMP metadata, embedded files) is WeasyPrint's, and a merge would have to rebuild it.

    `workers`: processes laying parts out (default: DOSSIER_RENDER_WORKERS, else one per core, and none
    for a small dossier); `progress` is called with the share of parts done."""
    _checked(lang)
    if not attach:
        return _render_in_parts(snapshot, lang, refused, workers, progress)
    from weasyprint import HTML

    files = [e for e in snapshot["evidence"] if e.get("storage_key")]
    total = sum(e["size"] or 0 for e in files)
    if total > max_attachments:
        raise EvidenceError(
            f"the pinned evidence files add up to {total // (1024 * 1024)} MB, over the "
            f"{max_attachments // (1024 * 1024)} MB ceiling for an attached dossier; render without "
            f"--attach-evidence and hand over the evidence bundle instead"
        )
    pinned = {e["sha256"]: e["storage_key"] for e in files}
    html = render_html(snapshot, lang, attach=True)
    fetcher = safe_fetcher(store, pinned, refused)
    dossier_render.use_default_compression()
    return HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf(
        pdf_identifier=snapshot_digest(snapshot)[:32].encode(), pdf_variant="pdf/a-3u")


def part_cache() -> Optional[dossier_render.PartCache]:
    """Where rendered parts are kept: DOSSIER_CACHE_DIR, else dossier-cache/ in the instance folder, up to
    DOSSIER_CACHE_LIMIT bytes (least recently used parts go first); DOSSIER_CACHE = False (or "0", "false",
    "no", "off" from the environment) turns the cache off."""
    config = current_app.config
    if str(config.get("DOSSIER_CACHE", True)).strip().lower() in ("false", "0", "no", "off"):
        return None
    folder = config.get("DOSSIER_CACHE_DIR") or Path(current_app.instance_path) / "dossier-cache"
    return dossier_render.PartCache(Path(folder), int(config.get("DOSSIER_CACHE_LIMIT", dossier_render.CACHE_LIMIT)))


def _render_in_parts(snapshot: dict, lang: str, refused: Optional[list], workers: Optional[int],
                     progress: Optional[Callable[[float], None]] = None) -> bytes:
    render = dossier_render
    if workers is None:
        workers = int(current_app.config.get("DOSSIER_RENDER_WORKERS") or render.default_workers())
        if len(snapshot["items"]) + len(snapshot["evidence"]) // 4 < PARALLEL_FROM:
            workers = 1
    with force_locale(lang), render.PartRenderer(workers, part_cache(), refused, progress) as renderer:
        view = DossierView(snapshot, lang)
        plan = view.parts()
        parts = renderer.render(_html(view, [part], in_parts=True) for part in plan[1:])
        owners = {anchor: number for number, part in enumerate(plan) for anchor in part["anchors"]}
        away = [a for a, n in owners.items() if n > 0]  # anchors outside the front part
        # Where each anchor lands, counted from the first page after the front part.
        landing, offset = {}, 0
        for number, part in enumerate(parts, start=1):
            for anchor, (page, _destination) in part.anchors().items():
                if owners.get(anchor, number) == number:
                    landing.setdefault(anchor, offset + page + 1)
            offset += part.pages
        # The front part (cover, history, contents) comes last, with the real page numbers in its contents,
        # and so do the page numbers ("N / M"). The front part's own length moves every number: it is guessed
        # (cover, history, contents: 3 pages) and checked.
        front_pages = 3
        for _attempt in range(6):
            total = front_pages + offset
            front, running, *numbers = renderer.render([
                _html(view, plan[:1], in_parts=True, stubs=away, toc_pages={a: front_pages + n for a, n in landing.items()}),
                _chrome_html(view),
                *(_chrome_html(view, range(first, min(first + CHROME_RUN, total + 1)), total)
                  for first in range(2, total + 1, CHROME_RUN)),
            ])
            if front.pages == front_pages:
                break
            front_pages = front.pages
        else:
            raise EvidenceError("the dossier's table of contents does not settle on a length; please report it")
    continued = [n for n, part in enumerate(plan) if part["kind"] == "chapter" and not part["first"]]
    return render.merge([front, *parts], running, numbers, snapshot_digest(snapshot)[:32].encode(), owners, continued)


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
    def parts_done(share: float):
        percent = 10 + int(70 * share)
        if percent >= dossier.progress + 5:
            step(percent, "rendering")

    try:
        pdf = render_pdf(dossier.snapshot, dossier.language, store, attach=dossier.options.get("attach_evidence", False),
                         max_attachments=int(current_app.config.get("DOSSIER_MAX_ATTACHMENTS", DEFAULT_MAX_ATTACHMENTS)),
                         progress=parts_done)
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
