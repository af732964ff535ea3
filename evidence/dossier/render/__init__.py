"""Rendering the dossier in parts: laid out in parallel processes, reused when unchanged, merged into one PDF.

One WeasyPrint pass lays a 230-page dossier out on one core, page after page, in some 700 MB. Here the
document is cut into parts that each start on a new page (the front matter, the overview, the matrix, each
chapter or run of its sections, the gaps and findings, runs of the evidence index), so that a part laid out
on its own is exactly what it is inside the whole document (the test suite compares them page by page).

- Parts are laid out by worker processes (one per core), the longest first. A worker is a plain
  interpreter running this file alone (not the application), fed HTML, answering PDF bytes. It parses the
  style sheet and loads the fonts once, keeps the cyclic garbage collector off during a layout, and
  compresses at zlib's default level rather than pydyf's level 9.
- Each part's PDF is cached (instance folder), keyed by the SHA-256 of what shapes it: its HTML, the
  static files, the WeasyPrint and pydyf versions. Nothing that belongs to the whole dossier is in a part
  (version number, classification, dates, page numbers), so a new version lays out again only the parts
  whose content changed.
- What depends on the whole comes last: the front part (cover, history, contents with the real page
  numbers) and the running texts: the dossier's name, version and classification (one page, shared) and
  "N / M" (a page each), laid out with the dossier's own style sheet and stamped onto every page but the
  cover as form XObjects.
- The merge (pypdf) keeps the parts' content streams as they are, rebuilds the outline (a continued
  chapter's sections under their chapter) and the named destinations with global page numbers, and takes
  the metadata and language of the front part. The same parts give the same bytes, from the cache or not,
  in one process or several.
"""
from __future__ import annotations

import atexit
import gc
import hashlib
import io
import json
import logging
import mimetypes
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
import zlib
from pathlib import Path
from typing import Callable, Iterable, Optional

# No import from the application: worker processes load this file alone (see _Worker).
PACKAGE_DIR = Path(__file__).resolve().parents[2]  # evidence/
ASSET_SCHEME = "evidence-asset:"
BLOB_SCHEME = "evidence-blob:"
STATIC_DIR = PACKAGE_DIR / "static"
# Bump when the way parts are rendered changes without their HTML changing: cached parts are then ignored.
RENDER_VERSION = "parts-1"
CACHE_LIMIT = 256 * 1024 * 1024


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


# --- One part (runs in a worker process, or in this one) ----------------------------------------------------

STYLE_SHEET = f'<link rel="stylesheet" href="{ASSET_SCHEME}css/dossier.css">'
_local = threading.local()  # per thread: WeasyPrint's font configuration is not meant to be shared by threads


def _warm_up() -> dict:
    """Import WeasyPrint, parse the style sheet and load its fonts once per process and thread (some thirty
    milliseconds saved on every part, and parts are many)."""
    shared = getattr(_local, "shared", None)
    if shared is None or shared.get("digest") != style_digest():  # a new style sheet (an upgrade) is read again
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        refused: list[str] = []
        fonts = FontConfiguration()
        css = CSS(url=f"{ASSET_SCHEME}css/dossier.css", url_fetcher=safe_fetcher(None, {}, refused), font_config=fonts)
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
        pdf = HTML(string=html, url_fetcher=safe_fetcher(None, {}, refused), base_url=None).write_pdf(
            pdf_identifier=hashlib.sha256(html.encode()).hexdigest()[:32].encode(), **options)
    finally:
        if enabled:
            gc.enable()
        if collect:
            gc.collect(0)
    return pdf, refused


# --- The cache ----------------------------------------------------------------------------------------------


_style_digest: dict[tuple, str] = {}


def style_digest() -> str:
    """SHA-256 of the static files a part can load (style sheet, fonts, images): part of every cache key."""
    files = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stamp not in _style_digest:
        digest = hashlib.sha256()
        for path in files:
            digest.update(str(path.relative_to(STATIC_DIR)).encode() + b"\0" + path.read_bytes())
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


class PartCache:
    """Part PDFs by key, as files (written atomically; least recently used ones dropped past `limit`)."""

    def __init__(self, folder: Path, limit: int = CACHE_LIMIT):
        self.folder = Path(folder)
        self.limit = limit

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.pdf"

    def get(self, key: str) -> Optional[bytes]:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-64:]:
            return None  # not a whole file (a disk filled up, say): laid out again
        try:
            os.utime(path)  # recently used
        except OSError:
            pass
        return data

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError:
            pass  # a cache that cannot be written is only slower

    def prune(self) -> None:
        try:
            files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.folder.glob("*/*.pdf")]
        except OSError:
            return
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.limit:
                break
            try:
                path.unlink()
                total -= size
            except OSError:
                pass


# --- The pool -----------------------------------------------------------------------------------------------
# Plain child processes running this file, fed HTML on stdin, answering PDF bytes on stdout: no fork of a
# process that has threads (the web server's job consumer), no re-import of the caller's __main__
# (multiprocessing's spawn does that), and nothing of the application loaded in the workers.


def default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


def _send(stream, *frames: bytes) -> None:
    for frame in frames:
        stream.write(len(frame).to_bytes(8, "big"))
        stream.write(frame)
    stream.flush()


def _receive(stream) -> Optional[bytes]:
    header = stream.read(8)
    if len(header) < 8:
        return None
    size = int.from_bytes(header, "big")
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def _worker_main() -> None:
    """A worker: for each HTML frame on stdin, a JSON frame (refused URLs, or the error) and a PDF frame."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    requests = sys.stdin.buffer
    _warm_up()
    # What is there now (modules, the style sheet, the fonts) lives as long as the worker: out of the
    # collector's sight, so that collecting after each part walks that part's objects only (5 times faster).
    gc.collect()
    gc.freeze()
    while (html := _receive(requests)) is not None:
        try:
            started = time.process_time()
            pdf, refused = render_part(html.decode(), collect=False)
            _send(answers, json.dumps({"refused": refused, "cpu": time.process_time() - started}).encode(), pdf)
        except Exception:
            _send(answers, json.dumps({"error": traceback.format_exc()[-4000:]}).encode(), b"")
        gc.collect(0)  # while the parent reads the answer


class _Worker:
    # This file alone, under a name of its own: the application package (Flask and all) stays out of workers.
    BOOT = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('evidence_dossier_worker', "
            "sys.argv[1]); module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "module._worker_main()")

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-c", self.BOOT, str(Path(__file__).resolve())],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.cpu = 0.0  # seconds of processor time spent laying out parts

    def render(self, html: str) -> tuple[bytes, list[str]]:
        _send(self.process.stdin, html.encode())
        header, pdf = _receive(self.process.stdout), _receive(self.process.stdout)
        if header is None or pdf is None:
            raise RuntimeError(f"a dossier rendering process stopped (exit code {self.process.poll()})")
        answer = json.loads(header)
        if "error" in answer:
            raise RuntimeError(f"rendering a dossier part failed in a worker process:\n{answer['error']}")
        self.cpu += answer["cpu"]
        return pdf, answer["refused"]

    def close(self) -> None:
        # Idle (or still starting): nothing to wait for.
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


last_run: dict = {}  # what the last rendering did (parts laid out and cached, workers): for the bench and tests


class PartRenderer:
    """Lays out parts: from the cache when it can, else in worker processes (or in this one, with one worker).

    The workers start at the first part missing from the cache, so that they import WeasyPrint while the
    caller is still writing the HTML of the next parts."""

    def __init__(self, workers: int = 1, cache: Optional[PartCache] = None, refused: Optional[list] = None,
                 progress: Optional[Callable[[float], None]] = None):
        self.workers = workers
        self.cache = cache
        self.refused = refused
        self.progress = progress  # called with the share of the parts of a render() call that are done
        self.rendered = self.cached = 0  # parts laid out, parts taken from the cache
        self.worker_cpu = 0.0  # processor seconds the worker processes spent laying out parts
        self._pool: list[_Worker] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for worker in self._pool:
            self.worker_cpu += worker.cpu
            worker.close()
        last_run.clear()
        last_run.update(rendered=self.rendered, cached=self.cached, workers=len(self._pool) or 1,
                        worker_cpu=round(self.worker_cpu, 2))
        self._pool = []
        if self.cache is not None:
            self.cache.prune()
        return False

    def render(self, htmls: Iterable[str]) -> list["Part"]:
        """These parts, laid out and read, in order."""
        sources, keys, results = [], [], []
        for html in htmls:
            key = part_key(html)
            sources.append(html)
            keys.append(key)
            results.append(self.cache.get(key) if self.cache is not None else None)
            if results[-1] is None and self.workers > 1 and not self._pool:
                try:
                    while len(self._pool) < self.workers:
                        self._pool.append(_Worker())
                except OSError as error:  # no interpreter to start (an embedded one): lay out here instead
                    logging.getLogger(__name__).warning("dossier workers cannot start (%s): rendering in-process", error)
                    for worker in self._pool:
                        worker.close()
                    self._pool, self.workers = [], 1
        missing = [i for i, pdf in enumerate(results) if pdf is None]
        self.cached += len(results) - len(missing)
        missing.sort(key=lambda i: -len(sources[i]))  # the longest first, so that the workers finish together
        parts: list[Optional[Part]] = [None] * len(sources)

        def done(i: int, pdf: bytes, refused: list[str]) -> None:
            results[i] = pdf
            self.rendered += 1
            if self.refused is not None:
                self.refused.extend(refused)
            if self.cache is not None:
                self.cache.put(keys[i], pdf)
            if self.progress is not None:
                self.progress(sum(r is not None for r in results) / len(results))

        if not self._pool:
            for i in missing:
                done(i, *render_part(sources[i]))
        elif missing:
            jobs, finished = queue.SimpleQueue(), queue.SimpleQueue()
            for i in missing:
                jobs.put(i)
            failures: list[BaseException] = []

            def serve(worker: _Worker) -> None:
                while not failures:
                    try:
                        i = jobs.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        finished.put((i, *worker.render(sources[i])))
                    except BaseException as error:
                        failures.append(error)
                        finished.put(None)
                        return

            threads = [threading.Thread(target=serve, args=(worker,), daemon=True) for worker in self._pool]
            for thread in threads:
                thread.start()
            # Read the parts already there while the workers lay out the others.
            for i, pdf in enumerate(results):
                if pdf is not None:
                    parts[i] = Part(pdf)
            for _ in missing:
                outcome = finished.get()
                if outcome is None:
                    break
                done(*outcome)
                parts[outcome[0]] = Part(outcome[1])
            for thread in threads:
                thread.join()
            if failures:
                raise failures[0]
        return [part if part is not None else Part(pdf) for part, pdf in zip(parts, results)]


# --- Merging ------------------------------------------------------------------------------------------------


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


def merge(parts: list[Part], running: Optional[Part], numbers: list[Part], identifier: bytes,
          owners: Optional[dict[str, int]] = None, continued: Iterable[int] = ()) -> bytes:
    """One PDF from the parts, in order. Every page but the first (the cover) gets the `running` texts (one page,
    the same for all) and its page number (the pages of `numbers`, for pages 2 to M), each as a form XObject
    drawn after the page's own content. `owners` says which part holds each anchor (a part may carry empty
    placeholders for other parts' anchors); the bookmarks of the `continued` parts (a chapter's later
    sections) go under the previous part's last top-level bookmark."""
    from pypdf import PdfWriter
    from pypdf.generic import (
        ArrayObject,
        ByteStringObject,
        DictionaryObject,
        Fit,
        FloatObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    writer = PdfWriter()
    offsets, total = [], 0
    for part in parts:
        offsets.append(total)
        for page in part.reader.pages:
            writer.add_page(page)
        total += part.pages

    number_pages = [page for number_part in numbers for page in number_part.reader.pages]
    if running is not None or number_pages:
        # The forms go into the resources the pages of a part share (WeasyPrint gives them one dictionary):
        # a page's own copy of those resources would weigh kilobytes, times hundreds of pages.
        shared = _form_xobject(writer, running.reader.pages[0]) if running is not None else None
        save = _stream(writer, b"q\n")
        for index in range(1, total):
            page = writer.pages[index]
            resources = page["/Resources"].get_object()
            if "/XObject" not in resources:
                resources[NameObject("/XObject")] = DictionaryObject()
            xobjects = resources["/XObject"].get_object()
            draw = b"Q\n"
            if shared:
                xobjects[NameObject("/DossierRunning")] = shared
                draw += b"q /DossierRunning Do Q\n"
            if number_pages:
                xobjects[NameObject(f"/DossierPage{index + 1}")] = _form_xobject(writer, number_pages[index - 1])
                draw += f"q /DossierPage{index + 1} Do Q\n".encode()
            contents = page.raw_get("/Contents")  # the reference: a stream must stay an indirect object
            contents = list(contents.get_object()) if isinstance(contents.get_object(), list) else [contents]
            page[NameObject("/Contents")] = ArrayObject([save, *contents, _stream(writer, draw)])

    # Named destinations (each anchor where it really is) and the outline, with global page numbers.
    names = {}
    for number, part in enumerate(parts):
        for name, (page, destination) in part.anchors().items():
            if owners is not None and owners.get(name, number) != number:
                continue
            names.setdefault(name, ArrayObject([
                writer.pages[offsets[number] + page].indirect_reference, NameObject("/XYZ"),
                FloatObject(destination.left or 0), FloatObject(destination.top or 0), NumberObject(0)]))
    if names:
        flat = ArrayObject()
        for name in sorted(names):
            flat.extend([TextStringObject(name), names[name]])
        dests = DictionaryObject({NameObject("/Names"): flat})
        writer.root_object[NameObject("/Names")] = DictionaryObject({NameObject("/Dests"): writer._add_object(dests)})

    def outline(items, number, parent=None):
        last = None
        for item in items:
            if isinstance(item, list):
                outline(item, number, last)
                continue
            page = offsets[number] + parts[number].page_of(item)
            last = writer.add_outline_item(str(item.title), page, parent=parent,
                                           fit=Fit.xyz(item.left or 0, item.top or 0, 0))
        return last

    continued, top = set(continued), None
    for number, part in enumerate(parts):
        last = outline(part.reader.outline, number, top if number in continued else None)
        if number not in continued and last is not None:
            top = last

    # Metadata and language as the front part has them (title, author, subject, dates from the snapshot).
    info = parts[0].reader.metadata or {}
    writer.add_metadata({key: str(value) for key, value in info.items()})  # /Producer included: WeasyPrint's
    root = parts[0].reader.trailer["/Root"]
    if "/Lang" in root:
        writer.root_object[NameObject("/Lang")] = TextStringObject(str(root["/Lang"]))
    # pypdf has no public way to set the file identifier; without it, it would derive one of its own.
    writer._ID = ArrayObject([ByteStringObject(identifier), ByteStringObject(identifier)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _stream(writer, data: bytes):
    from pypdf.generic import DecodedStreamObject

    stream = DecodedStreamObject()
    stream.set_data(data)
    return writer._add_object(stream)


def _form_xobject(writer, page):
    """A footer page as a form XObject (its own resources, its content unchanged)."""
    from pypdf.generic import ArrayObject, DecodedStreamObject, FloatObject, NameObject

    contents = page.get_contents()
    form = DecodedStreamObject()
    form.set_data(contents.get_data() if contents is not None else b"")
    form[NameObject("/Type")] = NameObject("/XObject")
    form[NameObject("/Subtype")] = NameObject("/Form")
    form[NameObject("/BBox")] = ArrayObject([FloatObject(float(value)) for value in page.mediabox])
    form[NameObject("/Resources")] = page["/Resources"].get_object().clone(writer)
    form = form.flate_encode()
    return writer._add_object(form)

