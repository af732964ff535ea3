"""One subset per font program in the merged dossier, instead of one per part (see share_fonts)."""
from __future__ import annotations

import functools
import hashlib
import io
import logging
from pathlib import Path

from evidence.dossier.render import fetcher

# --- One subset per font program ----------------------------------------------------------------------------
# WeasyPrint subsets each font per document, retaining glyph ids (CIDToGIDMap /Identity): every part carries
# its own subset of the same DejaVu file. Here each font program (by the PostScript name inside it, checked
# glyph by glyph against the original in static/fonts) is subset once from the original, with the union of
# the glyphs every part uses, and every font descriptor points at that one program. A program of another
# release (another version string: the system's DejaVu, say) keeps its own subsets.

FONT_DIR = fetcher.STATIC_DIR / "fonts"
_originals: dict[str, tuple[Path, tuple]] = {}


def _original_fonts() -> dict[str, tuple[Path, tuple]]:
    """The package's fonts by PostScript name: (file, identity)."""
    if not _originals:
        from fontTools.ttLib import TTFont

        for path in sorted(FONT_DIR.glob("*.ttf")):
            with TTFont(path, lazy=True) as font:
                _originals[_identity(font)[0]] = (path, _identity(font))
    return _originals


def _widths_glyphs(widths) -> set[int]:
    """The glyph ids (CIDs, with CIDToGIDMap /Identity) a /W array gives widths for."""
    glyphs, index, widths = set(), 0, list(widths or [])
    while index < len(widths):
        first = int(widths[index])
        following = widths[index + 1].get_object() if index + 1 < len(widths) else None
        if isinstance(following, list):
            glyphs.update(range(first, first + len(following)))
            index += 2
        else:
            glyphs.update(range(first, int(widths[index + 1]) + 1))
            index += 3
    return glyphs


def _identity(font) -> tuple:
    """What names a font program's release: its PostScript name and its version string (the subsetter keeps
    both), e.g. ("DejaVuSans", "Version 2.37")."""
    if "name" not in font:
        return (None, None)
    return font["name"].getDebugName(6), font["name"].getDebugName(5)


_subsets: dict[tuple, bytes] = {}  # (font file, glyphs) -> subset: a process rendering again reuses them


def _subset(path: Path, glyphs: frozenset, cache=None) -> bytes:
    """The subset of a package font with these glyphs: from this process's memory, else from the part cache
    (a PartCache, or None), else made (and kept in both)."""
    key = (path, glyphs)
    if key not in _subsets:
        stored = _program_key(path, glyphs) if cache is not None else None
        data = cache.get_program(stored) if stored else None
        if data is None:
            data = _make_subset(path, glyphs)
            if stored:
                cache.put_program(stored, data)
        if len(_subsets) > 32:
            _subsets.clear()
        _subsets[key] = data
    return _subsets[key]


def _program_key(path: Path, glyphs: frozenset) -> str:
    """What shapes a subset: the font file's bytes, the glyphs, and the subsetter's version."""
    digest = hashlib.sha256(b"font-subset-1\0" + _font_identity(path))
    digest.update(b"\0" + ",".join(map(str, sorted(glyphs))).encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=16)
def _font_identity(path: Path) -> bytes:
    """The subsetter's version and the font file's SHA-256, read once per process: the package's fonts do not
    change under a running process, and a dossier asks for each several times (a file of some megabytes)."""
    from importlib import metadata

    return metadata.version("fonttools").encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest()


def _make_subset(path: Path, glyphs: frozenset) -> bytes:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    # The glyphs are the original's, unchanged: their bounding boxes stand, and not recomputing them on
    # save halves the subsetting time. The original's modification date stays too: the same glyphs give the
    # same bytes, whenever they are subset (so a subset from the cache is the one made again).
    font = TTFont(path, recalcBBoxes=False, recalcTimestamp=False)
    for table in ("GSUB", "GPOS", "MATH", "kern", "FFTM"):  # laid out already: the PDF holds glyph ids
        if table in font:
            del font[table]
    options = subset.Options()
    options.retain_gids = True  # the parts' CIDs are the original glyph ids (CIDToGIDMap /Identity)
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.layout_features = []
    subsetter = subset.Subsetter(options)
    subsetter.populate(gids=sorted(g for g in glyphs if g < font["maxp"].numGlyphs))
    subsetter.subset(font)
    data = io.BytesIO()
    font.save(data)
    return data.getvalue()


def _fonts_in_use(writer) -> tuple[list, dict]:
    """The CIDFontType2 fonts (CIDToGIDMap /Identity) the pages and their forms use, and, for each, the Type0
    fonts over it (by id of the CIDFont dictionary: pypdf may give a direct and an indirect copy alike)."""
    cid_fonts, type0_of, seen = [], {}, set()

    def visit(resources, depth=0):
        if resources is None or depth > 8:
            return
        resources = resources.get_object()
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            if font.get("/Subtype") != "/Type0" or not font.get("/DescendantFonts"):
                continue
            cid_font = font["/DescendantFonts"][0].get_object()
            if id(cid_font) not in seen and cid_font.get("/Subtype") == "/CIDFontType2" \
                    and cid_font.get("/CIDToGIDMap") == "/Identity" and "/FontDescriptor" in cid_font:
                seen.add(id(cid_font))
                cid_fonts.append(cid_font)
            type0_of.setdefault(id(cid_font), [])
            if all(t is not font for t in type0_of[id(cid_font)]):
                type0_of[id(cid_font)].append(font)
        for xobject in (resources.get("/XObject") or {}).values():
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Form" and id(xobject) not in seen:
                seen.add(id(xobject))
                visit(xobject.get("/Resources"), depth + 1)

    pages_seen = set()
    for page in writer.pages:
        resources = page.get("/Resources")
        if resources is not None and id(resources.get_object()) not in pages_seen:
            pages_seen.add(id(resources.get_object()))
            visit(resources)
    return cid_fonts, type0_of


def share_fonts(writer, cache=None) -> None:
    from fontTools.ttLib import TTFont
    from pypdf.generic import IndirectObject, NameObject, NumberObject, StreamObject

    objects = writer._objects
    cid_fonts, type0_of = _fonts_in_use(writer)
    groups: dict[str, list] = {}
    programs: dict[int, object] = {}  # the FontFile2 streams, by object number
    for cid_font in cid_fonts:
        descriptor = cid_font["/FontDescriptor"].get_object()
        reference = descriptor.raw_get("/FontFile2") if "/FontFile2" in descriptor else None
        if not isinstance(reference, IndirectObject):
            continue
        number = reference.idnum
        if number not in programs:
            programs[number] = TTFont(io.BytesIO(reference.get_object().get_data()), lazy=True)
        identity = _identity(programs[number])
        if identity[0] in _original_fonts() and _original_fonts()[identity[0]][1] == identity:
            groups.setdefault(identity[0], []).append((cid_font, descriptor, number))
    for name, members in sorted(groups.items()):
        glyphs = {0}
        for cid_font, _descriptor, _number in members:
            glyphs |= _widths_glyphs(cid_font.get("/W"))
        try:
            data = _subset(_original_fonts()[name][0], frozenset(glyphs), cache)
        except Exception as error:  # fontTools on a damaged font file: the parts' own subsets stay, a larger PDF
            logging.getLogger(__name__).warning("dossier font %s not shared between parts: %s", name, error)
            continue
        program = StreamObject()
        program._data = data
        program[NameObject("/Length1")] = NumberObject(len(program._data))
        shared = writer._add_object(program.flate_encode())
        tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(
            name.encode() + b"\0" + ",".join(map(str, sorted(glyphs))).encode()).digest()[:6])
        for cid_font, descriptor, number in members:
            if objects[number - 1] is not None and number != shared.idnum:
                objects[number - 1] = None  # the part's own subset: no one points at it any more
            descriptor[NameObject("/FontFile2")] = shared
            base = str(descriptor["/FontName"]).lstrip("/").split("+", 1)[-1]
            descriptor[NameObject("/FontName")] = NameObject(f"/{tag}+{base}")
            cid_font[NameObject("/BaseFont")] = NameObject(f"/{tag}+{base}")
            for type0 in type0_of.get(id(cid_font), ()):
                type0[NameObject("/BaseFont")] = NameObject(f"/{tag}+{base}")
