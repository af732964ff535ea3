"""A dossier's PDF from its snapshot: the HTML (Jinja, autoescaped) and its layout by WeasyPrint, in parts.

snapshot (plain data, evidence versions pinned) → Jinja (autoescaped) → HTML → WeasyPrint with a URL fetcher
that serves only the package's own assets and the pinned blobs → PDF → blob store + `Dossier` row.

The HTML comes in parts that each start on a new page (DossierView.parts); render/ lays them out in worker
processes, takes unchanged ones from its cache and merges them with global page numbers, contents and
outline. `render_html` gives the same parts as one document: what a single WeasyPrint pass lays out.

Every dossier is PDF/A-3U (render/merge.py); with --attach-evidence the pinned evidence files are embedded at
merge time as associated files (`attachments`). The bundle manifest's SHA-256 is written in the metadata.

What the dossier needs from the application (its Jinja environment, the organisation, the DOSSIER_*
settings) comes in a DossierSettings that the boundary builds (evidence.context.dossier_settings), and the
store as an argument. The words are Flask-Babel's: rendering runs inside the application context the
boundary opened, which force_locale needs to switch between French and English.
"""
from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Optional

from flask_babel import force_locale
from markupsafe import Markup

from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import LOCALES
from evidence.dossier.render.archive import MANIFEST_INFO_KEY, Attachment
from evidence.dossier.render.cache import PartCache
from evidence.dossier.render.fetcher import ASSET_SCHEME
from evidence.dossier.render.merge import merge
from evidence.dossier.render.parts import TAGS_META
from evidence.dossier.render.pool import PartRenderer, RenderStats, default_workers
from evidence.dossier.signing import SigningSettings
from evidence.dossier.snapshot import snapshot_digest
from evidence.dossier.view import DossierView
from evidence.presentation.typography import french_spacing

if TYPE_CHECKING:
    from jinja2 import Environment

LANGUAGES = LOCALES
DEFAULT_MAX_ATTACHMENTS = 200 * 1024 * 1024
CHROME_RUN = 160  # pages of running texts laid out per task
PARALLEL_FROM = 100  # items + evidence/4 below which worker processes cost more (about 1 s to start) than they save




@dataclass(frozen=True)
class DossierSettings:
    """What the dossier needs from the application, handed in by the boundary (web view, command, job)."""

    templates: Environment  # renders dossier/*.html: the application's, autoescaped, with Flask-Babel's gettext
    organisation: str = ""  # the provider's name, on the cover
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS  # ceiling of the files embedded by --attach-evidence
    workers: Optional[int] = None  # processes laying parts out; None: one per core, none for a small dossier
    cache: Optional[PartCache] = None  # None: every part is laid out again
    signing: Optional[SigningSettings] = None  # None: approved dossiers are not signed
    tagged: bool = False  # a structure tree in every part, joined by the merge (DOSSIER_TAGGED)

    @classmethod
    def from_config(cls, config: Mapping, instance_path, templates: Environment) -> DossierSettings:
        """From the application's typed settings (evidence.settings): ORGANISATION, DOSSIER_MAX_ATTACHMENTS,
        DOSSIER_RENDER_WORKERS (None: one per core), and the part cache in DOSSIER_CACHE_DIR up to
        DOSSIER_CACHE_LIMIT bytes (least recently used parts go first) unless DOSSIER_CACHE is off, and the
        signing settings (DOSSIER_SIGNING_PKCS12, DOSSIER_SIGNING_PASSPHRASE_FILE, DOSSIER_TSA_URL)."""
        cache = None
        if config["DOSSIER_CACHE"]:
            folder = config["DOSSIER_CACHE_DIR"] or Path(instance_path) / "dossier-cache"
            cache = PartCache(Path(folder), config["DOSSIER_CACHE_LIMIT"])
        return cls(templates=templates, organisation=config["ORGANISATION"],
                   max_attachments=config["DOSSIER_MAX_ATTACHMENTS"], workers=config["DOSSIER_RENDER_WORKERS"],
                   cache=cache, signing=SigningSettings.from_config(config), tagged=config["DOSSIER_TAGGED"])


@dataclass(frozen=True)
class RenderResult:
    pdf: bytes
    stats: Optional[RenderStats]  # parts laid out and cached, workers


def checked_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise EvidenceError(N_("langue de dossier « %(lang)s » inconnue (fr ou en)"), lang=lang)
    return lang


# --- HTML ---------------------------------------------------------------------------------------------------


def _html(templates: Environment, view: DossierView, parts: list[dict], in_parts: bool = False,
          toc_pages: Optional[dict] = None, stubs: Iterable[str] = (), tagged: bool = False) -> str:
    """The HTML of some parts of the dossier (all of them: the whole document). Call under force_locale."""
    # Straight from the environment: the web pages' context processors (navigation, user) stay out.
    return _typeset(view.lang, templates.get_template("dossier/dossier.html").render(
        s=view.s, v=view, lang=view.lang, labels=view.labels, parts=parts, in_parts=in_parts,
        toc_pages=toc_pages, stubs=list(stubs), tags=Markup(TAGS_META) if tagged else "",
        chart=Markup(view.chart()) if any(p["kind"] == "overview" for p in parts) else "",
        asset=ASSET_SCHEME,
    ))


def _chrome_html(templates: Environment, view: DossierView, numbers: Iterable[int] = (), total: int = 0) -> str:
    """The running texts of the whole dossier: its name, version and classification (one page), or the page
    numbers of pages `numbers` of `total` (a page each)."""
    return _typeset(view.lang, templates.get_template("dossier/chrome.html").render(
        s=view.s, v=view, lang=view.lang, numbers=list(numbers), total=total, asset=ASSET_SCHEME))


def _typeset(lang: str, html: str) -> str:
    """French typography on the whole text, translated words and users' texts alike: no-break spaces before
    « ; : ! ? % » and after «, so that a line never starts with a colon."""
    return french_spacing(html) if lang == "fr" else html


def render_html(snapshot: dict, lang: str = "fr", *, settings: DossierSettings,
                signoff: Optional[dict] = None, store=None) -> str:
    """The whole dossier as one HTML document (what a single WeasyPrint pass lays out)."""
    with force_locale(checked_language(lang)):
        view = DossierView(snapshot, lang, signoff, _images(snapshot, store))
        return _html(settings.templates, view, view.parts())


# --- PDF ----------------------------------------------------------------------------------------------------


def _images(snapshot: dict, store) -> dict:
    """The snapshot's architecture diagrams as data: URIs of safe PNGs (diagrams.inline_images): inside the
    HTML, so that worker processes, which have no store, lay them out too."""
    if store is None:
        return {}
    from evidence.dossier.diagrams import inline_images

    return inline_images(snapshot, store)


def render_pdf(snapshot: dict, lang: str = "fr", store=None, attach: bool = False, refused: Optional[list] = None,
               workers: Optional[int] = None, progress: Optional[Callable[[float], None]] = None, *,
               settings: DossierSettings, signoff: Optional[dict] = None) -> RenderResult:
    """The PDF/A-3U of a snapshot, rendered in parts (see render/): in parallel, unchanged parts taken from the
    cache. With `attach`, the pinned evidence files are embedded as associated files; their total size is
    capped (settings.max_attachments) so that a dossier stays something one can send.

    `signoff` (spec: None, or {"final", "approvals", "manifest_sha256"}) goes to the view (draft mark,
    approval page); the manifest SHA-256 written in the metadata is signoff's, else the snapshot's own
    (bundle.manifest_sha256: the same value). `workers`: processes laying parts out (default:
    settings.workers, else one per core, and none for a small dossier); `progress` is called with the share
    of parts done."""
    from evidence.dossier.bundle import manifest_sha256

    checked_language(lang)
    files = attachments(snapshot, store, settings.max_attachments) if attach else []
    manifest = (signoff or {}).get("manifest_sha256") or manifest_sha256(snapshot)
    return _render_in_parts(snapshot, lang, settings, refused, workers, progress, signoff, manifest, files, store)


# Which attachments are the dossier's sources: the documents the organisation wrote and stands by (policies,
# procedures, reports, attestations) are /Source; what supports them (records, configurations, screenshots)
# is /Supplement. One rule, here.
SOURCE_KINDS = ("policy", "procedure", "report", "attestation")


def attachment_relationship(evidence: dict) -> str:
    return "Source" if evidence.get("kind") in SOURCE_KINDS else "Supplement"


def attachments(snapshot: dict, store, ceiling: int) -> list[Attachment]:
    """The snapshot's pinned evidence files (approved, in-scope versions: take_snapshot pins nothing else),
    read from the store and checked against their SHA-256, as the dossier's attachments. A file withheld
    on a need-to-know basis when the dossier was queued (services.need_to_know) is not among them."""
    from evidence.dossier.bundle import bundled, evidence_file_name

    files = [e for e in snapshot["evidence"] if e.get("storage_key") and bundled(e)]
    total = sum(e["size"] or 0 for e in files)
    if total > ceiling:
        raise EvidenceError(N_("les fichiers de preuve épinglés totalisent %(total)s Mo, au-delà du plafond de "
                               "%(ceiling)s Mo d’un dossier avec pièces jointes ; rendez-le sans --attach-evidence et "
                               "remettez plutôt le lot de preuves"),
                            total=total // (1024 * 1024), ceiling=ceiling // (1024 * 1024))
    result = []
    for evidence in files:
        with store.open(evidence["storage_key"]) as source:
            data = source.read()
        if hashlib.sha256(data).hexdigest() != evidence["sha256"]:
            raise EvidenceError(N_("%(ref)s v%(version)s : le fichier enregistré ne correspond plus à son SHA-256 ; lancez `evidence verify`"),
                                ref=evidence["ref"], version=evidence["version"])
        day = evidence.get("version_date") or snapshot["today"]
        result.append(Attachment(
            name=evidence_file_name(evidence),
            description=f"{evidence['ref']} — {evidence['title']} — v{evidence['version']} — SHA-256 {evidence['sha256']}",
            relationship=attachment_relationship(evidence),
            media_type=evidence.get("media_type") or "application/octet-stream",
            data=data, modified=datetime.fromisoformat(day).replace(tzinfo=timezone.utc)))
    return result


def recorded_manifest_sha256(pdf: bytes) -> Optional[str]:
    """The bundle manifest's SHA-256 a dossier PDF records in its Info dictionary (None: none, or unreadable)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        value = (PdfReader(io.BytesIO(pdf)).metadata or {}).get(MANIFEST_INFO_KEY)
    except (PdfReadError, ValueError, KeyError, OSError):
        return None
    return str(value) if value and re.fullmatch(r"[0-9a-f]{64}", str(value)) else None


def _render_in_parts(snapshot: dict, lang: str, settings: DossierSettings, refused: Optional[list],
                     workers: Optional[int], progress: Optional[Callable[[float], None]] = None,
                     signoff: Optional[dict] = None, manifest_sha256: Optional[str] = None,
                     files: Iterable[Attachment] = (), store=None) -> RenderResult:
    templates = settings.templates
    if workers is None:
        workers = settings.workers or default_workers()
        if len(snapshot["items"]) + len(snapshot["evidence"]) // 4 < PARALLEL_FROM:
            workers = 1
    with force_locale(lang), PartRenderer(workers, settings.cache, refused, progress) as renderer:
        view = DossierView(snapshot, lang, signoff, _images(snapshot, store))
        plan = view.parts()
        tagged = settings.tagged
        parts = renderer.render(_html(templates, view, [part], in_parts=True, tagged=tagged) for part in plan[1:])
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
                _html(templates, view, plan[:1], in_parts=True, stubs=away, tagged=tagged,
                      toc_pages={a: front_pages + n for a, n in landing.items()}),
                _chrome_html(templates, view),
                *(_chrome_html(templates, view, range(first, min(first + CHROME_RUN, total + 1)), total)
                  for first in range(2, total + 1, CHROME_RUN)),
            ], grow=False)  # a second of layout at most: not worth starting a worker
            if front.pages == front_pages:
                break
            front_pages = front.pages
        else:
            raise EvidenceError(N_("la table des matières du dossier ne se stabilise pas sur une longueur ; merci de "
                                   "le signaler"))
    continued = [n for n, part in enumerate(plan) if part["kind"] == "chapter" and not part["first"]]
    pdf = merge([front, *parts], running, numbers, snapshot_digest(snapshot)[:32].encode(), owners, continued,
                manifest_sha256=manifest_sha256, attachments=list(files), cache=settings.cache)
    return RenderResult(pdf, renderer.stats)
