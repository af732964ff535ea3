"""The parts merged into one PDF with global page numbers (pypdf).

The parts' content streams stay as they are; the running texts (the dossier's name, version and
classification, one page shared) and "N / M" (a page each) are stamped onto every page but the cover as form
XObjects; the outline (a continued chapter's sections under their chapter) and the named destinations are
rebuilt with global page numbers; the metadata and language are the front part's. The same parts give the
same bytes, from the cache or not, in one process or several.
"""
from __future__ import annotations

import io
from typing import Iterable, Optional

from evidence.dossier.render.parts import Part


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

