"""Generating a dossier: queue it (its snapshot frozen), render the PDF, store it and mark it done.

snapshot (plain data, evidence versions pinned) → Jinja (autoescaped) → HTML → WeasyPrint with a URL fetcher
that serves only the package's own assets and the pinned blobs → PDF → blob store + `Dossier` row.

The HTML comes in parts that each start on a new page (DossierView.parts); render/ lays them out in worker
processes, takes unchanged ones from its cache and merges them with global page numbers, contents and
outline. `render_html` gives the same parts as one document: what a single WeasyPrint pass lays out, and
what --attach-evidence (PDF/A-3u, one pass) renders.

What the dossier needs from the application (its Jinja environment, the organisation, the DOSSIER_*
settings) comes in a DossierSettings that the boundary builds (evidence.context.dossier_settings), and the
store as an argument. The words are Flask-Babel's: rendering runs inside the application context the
boundary opened, which force_locale needs to switch between French and English.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Optional

from flask_babel import force_locale
from markupsafe import Markup
from sqlalchemy import func
from sqlmodel import Session, select

from evidence.core import clock
from evidence.core.errors import EvidenceError
from evidence.core.vocabulary import LOCALES
from evidence.data import audit
from evidence.data.models import Dossier, Perimeter
from evidence.dossier.render.cache import PartCache
from evidence.dossier.render.fetcher import ASSET_SCHEME, BLOB_SCHEME, safe_fetcher
from evidence.dossier.render.merge import merge
from evidence.dossier.render.parts import use_default_compression
from evidence.dossier.render.pool import PartRenderer, RenderStats, default_workers
from evidence.dossier.snapshot import snapshot_digest, take_snapshot
from evidence.dossier.view import DossierView

if TYPE_CHECKING:
    from jinja2 import Environment

LANGUAGES = LOCALES
DEFAULT_MAX_ATTACHMENTS = 200 * 1024 * 1024
CHROME_RUN = 160  # pages of running texts laid out per task
PARALLEL_FROM = 100  # items + evidence/4 below which worker processes cost more (about 1 s to start) than they save

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class DossierSettings:
    """What the dossier needs from the application, handed in by the boundary (web view, command, job)."""

    templates: Environment  # renders dossier/*.html: the application's, autoescaped, with Flask-Babel's gettext
    organisation: str = ""  # the provider's name, on the cover
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS  # ceiling of the files embedded by --attach-evidence
    workers: Optional[int] = None  # processes laying parts out; None: one per core, none for a small dossier
    cache: Optional[PartCache] = None  # None: every part is laid out again

    @classmethod
    def from_config(cls, config: Mapping, instance_path, templates: Environment) -> DossierSettings:
        """From the application's typed settings (evidence.settings): ORGANISATION, DOSSIER_MAX_ATTACHMENTS,
        DOSSIER_RENDER_WORKERS (None: one per core), and the part cache in DOSSIER_CACHE_DIR up to
        DOSSIER_CACHE_LIMIT bytes (least recently used parts go first) unless DOSSIER_CACHE is off."""
        cache = None
        if config["DOSSIER_CACHE"]:
            folder = config["DOSSIER_CACHE_DIR"] or Path(instance_path) / "dossier-cache"
            cache = PartCache(Path(folder), config["DOSSIER_CACHE_LIMIT"])
        return cls(templates=templates, organisation=config["ORGANISATION"],
                   max_attachments=config["DOSSIER_MAX_ATTACHMENTS"], workers=config["DOSSIER_RENDER_WORKERS"],
                   cache=cache)


@dataclass(frozen=True)
class RenderResult:
    pdf: bytes
    stats: Optional[RenderStats]  # parts laid out and cached, workers; None for a single pass (attachments)


def _checked(lang: str) -> str:
    if lang not in LANGUAGES:
        raise EvidenceError(f"unknown dossier language {lang!r} (fr or en)")
    return lang


# --- HTML ---------------------------------------------------------------------------------------------------


def _html(templates: Environment, view: DossierView, parts: list[dict], attach: bool = False, in_parts: bool = False,
          toc_pages: Optional[dict] = None, stubs: Iterable[str] = ()) -> str:
    """The HTML of some parts of the dossier (all of them: the whole document). Call under force_locale."""
    # Straight from the environment: the web pages' context processors (navigation, user) stay out.
    return templates.get_template("dossier/dossier.html").render(
        s=view.s, v=view, lang=view.lang, attach=attach, labels=view.labels, parts=parts, in_parts=in_parts,
        toc_pages=toc_pages, stubs=list(stubs),
        chart=Markup(view.chart()) if any(p["kind"] == "overview" for p in parts) else "",
        asset=ASSET_SCHEME, blob=BLOB_SCHEME,
    )


def _chrome_html(templates: Environment, view: DossierView, numbers: Iterable[int] = (), total: int = 0) -> str:
    """The running texts of the whole dossier: its name, version and classification (one page), or the page
    numbers of pages `numbers` of `total` (a page each)."""
    return templates.get_template("dossier/chrome.html").render(
        s=view.s, lang=view.lang, numbers=list(numbers), total=total, asset=ASSET_SCHEME)


def render_html(snapshot: dict, lang: str = "fr", attach: bool = False, *, settings: DossierSettings) -> str:
    """The whole dossier as one HTML document (what a single WeasyPrint pass lays out)."""
    with force_locale(_checked(lang)):
        view = DossierView(snapshot, lang)
        return _html(settings.templates, view, view.parts(), attach=attach)


# --- PDF ----------------------------------------------------------------------------------------------------


def render_pdf(snapshot: dict, lang: str = "fr", store=None, attach: bool = False, refused: Optional[list] = None,
               workers: Optional[int] = None, progress: Optional[Callable[[float], None]] = None, *,
               settings: DossierSettings) -> RenderResult:
    """The PDF of a snapshot. With `attach`, the pinned files are embedded (PDF/A-3u), each linked from the
    evidence index; their total size is capped (settings.max_attachments) so that a dossier stays something
    one can send.

    Without attachments the dossier is rendered in parts (see render/): in parallel, unchanged parts taken
    from the cache. With attachments it is one WeasyPrint pass: the PDF/A-3 conformance (output intent, XMP
    metadata, embedded files) is WeasyPrint's, and a merge would have to rebuild it.

    `workers`: processes laying parts out (default: settings.workers, else one per core, and none for a
    small dossier); `progress` is called with the share of parts done."""
    _checked(lang)
    if not attach:
        return _render_in_parts(snapshot, lang, settings, refused, workers, progress)
    from weasyprint import HTML

    files = [e for e in snapshot["evidence"] if e.get("storage_key")]
    total = sum(e["size"] or 0 for e in files)
    ceiling = settings.max_attachments
    if total > ceiling:
        raise EvidenceError(
            f"the pinned evidence files add up to {total // (1024 * 1024)} MB, over the "
            f"{ceiling // (1024 * 1024)} MB ceiling for an attached dossier; render without "
            f"--attach-evidence and hand over the evidence bundle instead"
        )
    pinned = {e["sha256"]: e["storage_key"] for e in files}
    html = render_html(snapshot, lang, attach=True, settings=settings)
    fetcher = safe_fetcher(store, pinned, refused)
    use_default_compression()
    pdf = HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf(
        pdf_identifier=snapshot_digest(snapshot)[:32].encode(), pdf_variant="pdf/a-3u")
    return RenderResult(pdf, None)


def _render_in_parts(snapshot: dict, lang: str, settings: DossierSettings, refused: Optional[list],
                     workers: Optional[int], progress: Optional[Callable[[float], None]] = None) -> RenderResult:
    templates = settings.templates
    if workers is None:
        workers = settings.workers or default_workers()
        if len(snapshot["items"]) + len(snapshot["evidence"]) // 4 < PARALLEL_FROM:
            workers = 1
    with force_locale(lang), PartRenderer(workers, settings.cache, refused, progress) as renderer:
        view = DossierView(snapshot, lang)
        plan = view.parts()
        parts = renderer.render(_html(templates, view, [part], in_parts=True) for part in plan[1:])
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
                _html(templates, view, plan[:1], in_parts=True, stubs=away,
                      toc_pages={a: front_pages + n for a, n in landing.items()}),
                _chrome_html(templates, view),
                *(_chrome_html(templates, view, range(first, min(first + CHROME_RUN, total + 1)), total)
                  for first in range(2, total + 1, CHROME_RUN)),
            ])
            if front.pages == front_pages:
                break
            front_pages = front.pages
        else:
            raise EvidenceError("the dossier's table of contents does not settle on a length; please report it")
    continued = [n for n, part in enumerate(plan) if part["kind"] == "chapter" and not part["first"]]
    pdf = merge([front, *parts], running, numbers, snapshot_digest(snapshot)[:32].encode(), owners, continued)
    return RenderResult(pdf, renderer.stats)


# --- Generation ---------------------------------------------------------------------------------------------


def next_number(session: Session, perimeter: Perimeter) -> int:
    return (session.exec(select(func.max(Dossier.number)).where(Dossier.perimeter_id == perimeter.id)).one() or 0) + 1


def queue(session: Session, actor, perimeter: Perimeter, lang: str, attach: bool, classification: str,
          today: date, *, organisation: str) -> Dossier:
    """Freeze the snapshot and record the dossier as queued; rendering happens in `render_stored`.
    `organisation` is the provider's name, on the cover (settings.organisation)."""
    _checked(lang)
    options = {"attach_evidence": bool(attach), "classification": classification or "Diffusion restreinte"}
    snapshot = take_snapshot(session, perimeter, today, options, organisation=organisation)
    dossier = Dossier(perimeter_id=perimeter.id, number=next_number(session, perimeter), language=lang,
                      options=options, author_id=getattr(actor, "id", None), status="queued", snapshot=snapshot)
    snapshot["number"] = dossier.number
    session.add(dossier)
    session.flush()
    audit.record(session, actor, "dossier.queue", object_type="dossier", object_id=f"{perimeter.code}-v{dossier.number}",
                 details={"language": lang, **options, "evidence_pinned": len(snapshot["evidence"])})
    session.commit()
    return dossier


def render_stored(session: Session, store, dossier: Dossier, progress: Optional[Progress] = None, *,
                  settings: DossierSettings) -> Dossier:
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
        rendered = render_pdf(dossier.snapshot, dossier.language, store,
                              attach=dossier.options.get("attach_evidence", False), progress=parts_done,
                              settings=settings)
        step(80, "storing")
        blob = store.put(io.BytesIO(rendered.pdf))
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
             classification: str = "", today: Optional[date] = None, progress: Optional[Progress] = None, *,
             settings: DossierSettings) -> Dossier:
    """Queue and render a dossier at once (the command line; the web queues and leaves the rendering to a job)."""
    dossier = queue(session, actor, perimeter, lang, attach, classification, clock.today(today),
                    organisation=settings.organisation)
    return render_stored(session, store, dossier, progress, settings=settings)


def file_name(perimeter_code: str, dossier: Dossier) -> str:
    return f"dossier-secnumcloud-{perimeter_code}-v{dossier.number}.pdf"
