"""One part of the dossier laid out to PDF, and the worker process that lays parts out.

Worker processes load this file alone, by path (see pool.Worker): it imports only the standard library,
WeasyPrint and pypdf, and its one sibling (the URL fetcher) is loaded the same way there, so that neither
the application's package nor Flask is ever imported in a worker. A worker parses the style sheet and
loads the fonts once, keeps the cyclic garbage collector off during a layout, and compresses at zlib's
default level rather than pydyf's level 9.

A part's cache key (part_key) is the SHA-256 of what shapes its PDF: its HTML, the static files, the
WeasyPrint and pydyf versions.
"""
from __future__ import annotations

import atexit
import gc
import hashlib
import io
import json
import os
import sys
import threading
import time
import traceback
import zlib
from pathlib import Path
from typing import Optional

if __package__:
    from evidence.dossier.render import fetcher
else:  # a worker process, which loaded this file by path: the fetcher comes the same way, not from the package
    import importlib.util

    _spec = importlib.util.spec_from_file_location("evidence_dossier_worker_fetcher",
                                                   Path(__file__).with_name("fetcher.py"))
    fetcher = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(fetcher)

# Bump when the way parts are rendered changes without their HTML changing: cached parts are then ignored.
RENDER_VERSION = "parts-3"  # 3: tagged on request (TAGS_META)
# A part asks to be tagged by carrying this element (DossierSettings.tagged): the request travels with the HTML
# to the worker and into the cache key, so that tagged and untagged parts never mix.
TAGS_META = '<meta name="evidence-pdf-tags" content="on">'
STYLE_SHEET = f'<link rel="stylesheet" href="{fetcher.ASSET_SCHEME}css/dossier.css">'
_local = threading.local()  # per thread: WeasyPrint's font configuration is not meant to be shared by threads


# --- One part (in a worker process, or in this one) ---------------------------------------------------------


def _warm_up() -> dict:
    """Import WeasyPrint, parse the style sheet and load its fonts once per process and thread (some thirty
    milliseconds saved on every part, and parts are many)."""
    shared = getattr(_local, "shared", None)
    if shared is None or shared.get("digest") != style_digest():  # a new style sheet (an upgrade) is read again
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        refused: list[str] = []
        fonts = FontConfiguration()
        css = CSS(url=f"{fetcher.ASSET_SCHEME}css/dossier.css", url_fetcher=fetcher.safe_fetcher(refused),
                  font_config=fonts)
        shared = _local.shared = {"css": css, "fonts": fonts, "refused": refused, "digest": style_digest()}
        # Dropped before the interpreter tears its modules down (the font configuration cleans up a folder).
        atexit.register(shared.clear)
    return shared


class _Zlib:
    """zlib, with streams compressed at zlib's default level 6. pydyf (WeasyPrint's PDF writer) compresses
    every stream at level 9, which is an eighth of the time of a part for 3 % of its size."""

    def __getattr__(self, name):
        return getattr(zlib, name)

    @staticmethod
    def compressobj(level=-1, *args, **kwargs):
        return zlib.compressobj(6, *args, **kwargs)


def use_default_compression() -> None:
    """Have pydyf compress at level 6, in this process, from now on. Every dossier PDF (parts, and the
    single pass of --attach-evidence) is written after this call, so that the bytes never depend on what the
    process rendered before."""
    import pydyf

    if getattr(pydyf, "zlib", None) is zlib:
        pydyf.zlib = _Zlib()


def render_part(html: str, collect: bool = True) -> tuple[bytes, list[str]]:
    """One part's PDF (its identifier derived from its HTML, so the bytes depend on nothing else) and the URLs
    the fetcher refused while laying it out.

    The dossier's style sheet, linked from every part, is parsed once per process and given to WeasyPrint as
    an already parsed sheet; the rest of the HTML is laid out as it is, through the same fetcher."""
    from weasyprint import HTML

    shared = _warm_up()
    use_default_compression()
    refused: list[str] = shared.pop("refused", [])
    options: dict = {}
    if STYLE_SHEET in html:
        html = html.replace(STYLE_SHEET, "", 1)
        options = {"stylesheets": [shared["css"]], "font_config": shared["fonts"]}
    # A layout makes millions of objects that live until the PDF is written, and leaves cycles behind: the
    # collector would walk the live ones again and again. It is off during the layout and run once after
    # (by the worker after it has answered, so that the parent does not wait for it), on the youngest
    # generation: the objects made since, this layout's.
    enabled = gc.isenabled()
    gc.disable()
    try:
        pdf = HTML(string=html, url_fetcher=fetcher.safe_fetcher(refused), base_url=None).write_pdf(
            pdf_identifier=hashlib.sha256(html.encode()).hexdigest()[:32].encode(), pdf_tags=TAGS_META in html, **options)
    finally:
        if enabled:
            gc.enable()
        if collect:
            gc.collect(0)
    return pdf, refused


# --- Cache keys ---------------------------------------------------------------------------------------------


_style_digest: dict[tuple, str] = {}


def style_digest() -> str:
    """SHA-256 of the static files a part can load (style sheet, fonts, images): part of every cache key."""
    files = sorted(p for p in fetcher.STATIC_DIR.rglob("*") if p.is_file())
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stamp not in _style_digest:
        digest = hashlib.sha256()
        for path in files:
            digest.update(str(path.relative_to(fetcher.STATIC_DIR)).encode() + b"\0" + path.read_bytes())
        _style_digest.clear()
        _style_digest[stamp] = digest.hexdigest()
    return _style_digest[stamp]


_versions: list[str] = []


def renderer_versions() -> list[str]:
    """The versions of WeasyPrint and of its PDF writer (read from their metadata: importing WeasyPrint in
    the parent process would cost a third of a second)."""
    if not _versions:
        from importlib import metadata

        _versions.extend(metadata.version(name) for name in ("weasyprint", "pydyf"))
    return _versions


def part_key(html: str) -> str:
    digest = hashlib.sha256()
    for piece in (RENDER_VERSION, *renderer_versions(), style_digest(), html):
        digest.update(piece.encode() + b"\0")
    return digest.hexdigest()


# --- A part's PDF, read -------------------------------------------------------------------------------------


class Part:
    """A part's PDF, read: page count, anchors (name → page index within the part), outline."""

    def __init__(self, pdf: bytes):
        from pypdf import PdfReader

        self.pdf = pdf
        self.reader = PdfReader(io.BytesIO(pdf))
        self.pages = len(self.reader.pages)
        self._index = {page.indirect_reference.idnum: i for i, page in enumerate(self.reader.pages)}

    def page_of(self, destination) -> int:
        return self._index[destination.page.idnum]

    def anchors(self) -> dict:
        return {str(name): (self.page_of(d), d) for name, d in self.reader.named_destinations.items()}


# --- The worker process -------------------------------------------------------------------------------------
# Frames on a pipe: eight bytes of length, then the bytes.


def send_frames(stream, *frames: bytes) -> None:
    for frame in frames:
        stream.write(len(frame).to_bytes(8, "big"))
        stream.write(frame)
    stream.flush()


def receive_frame(stream) -> Optional[bytes]:
    """The next frame, or None when the stream ends (or ends inside a frame)."""
    header = stream.read(8)
    if len(header) < 8:
        return None
    size = int.from_bytes(header, "big")
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def worker_main() -> None:
    """A worker: for each HTML frame on stdin, a JSON frame (refused URLs, or the error) and a PDF frame."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    requests = sys.stdin.buffer
    _warm_up()
    # What is there now (modules, the style sheet, the fonts) lives as long as the worker: out of the
    # collector's sight, so that collecting after each part walks that part's objects only (5 times faster).
    gc.collect()
    gc.freeze()
    while (html := receive_frame(requests)) is not None:
        try:
            started = time.process_time()
            pdf, refused = render_part(html.decode(), collect=False)
            send_frames(answers, json.dumps({"refused": refused, "cpu": time.process_time() - started}).encode(), pdf)
        except Exception:
            send_frames(answers, json.dumps({"error": traceback.format_exc()[-4000:]}).encode(), b"")
        gc.collect(0)  # while the parent reads the answer
