"""The parts merged into one PDF with global page numbers (pypdf).

The parts' content streams stay as they are; the running texts (the dossier's name, version and
classification, one page shared) and "N / M" (a page each) are stamped onto every page but the cover as form
XObjects; the outline (a continued chapter's sections under their chapter) and the named destinations are
rebuilt with global page numbers; the metadata and language are the front part's. The same parts give the
same bytes, from the cache or not, in one process or several.

The result is PDF/A-3U (see archive.py): XMP metadata agreeing with the Info dictionary, the sRGB output
intent, the bundle manifest's SHA-256 in both, and the pinned evidence files as associated files. It is
tagged: the parts' structure trees are joined into one (see _join_structure), the running texts marked as
artifacts. The font programs the parts repeat are replaced by one subset each (see fonts.py), and the
file is written with object streams (see _serialise).
"""
from __future__ import annotations

import io
from typing import Iterable, Optional, Sequence

from evidence.dossier.render.archive import Attachment, archive
from evidence.dossier.render.fonts import share_fonts
from evidence.dossier.render.parts import Part


def merge(parts: list[Part], running: Optional[Part], numbers: list[Part], identifier: bytes,
          owners: Optional[dict[str, int]] = None, continued: Iterable[int] = (), *,
          manifest_sha256: Optional[str] = None, attachments: Sequence[Attachment] = (), cache=None) -> bytes:
    """One PDF from the parts, in order. Every page but the first (the cover) gets the `running` texts (one page,
    the same for all) and its page number (the pages of `numbers`, for pages 2 to M), each as a form XObject
    drawn after the page's own content. `owners` says which part holds each anchor (a part may carry empty
    placeholders for other parts' anchors); the bookmarks of the `continued` parts (a chapter's later
    sections) go under the previous part's last top-level bookmark. `manifest_sha256` goes in the metadata,
    `attachments` are embedded (PDF/A-3 associated files); `cache` (a PartCache) keeps the font subsets."""
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
            draw = b"Q\n/Artifact BMC\n"  # running texts: pagination artifacts, outside the structure tree
            if shared:
                xobjects[NameObject("/DossierRunning")] = shared
                draw += b"q /DossierRunning Do Q\n"
            if number_pages:
                xobjects[NameObject(f"/DossierPage{index + 1}")] = _form_xobject(writer, number_pages[index - 1])
                draw += f"q /DossierPage{index + 1} Do Q\n".encode()
            draw += b"EMC\n"
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
    root = parts[0].reader.trailer["/Root"]
    lang = str(root["/Lang"]) if "/Lang" in root else ""
    if lang:
        writer.root_object[NameObject("/Lang")] = TextStringObject(lang)
    _join_structure(writer, parts, offsets)
    share_fonts(writer, cache)
    archive(writer, dict(parts[0].reader.metadata or {}), lang, manifest_sha256, attachments)
    # pypdf has no public way to set the file identifier; without it, it would derive one of its own.
    writer._ID = ArrayObject([ByteStringObject(identifier), ByteStringObject(identifier)])
    return _serialise(writer)


OBJECTS_PER_STREAM = 200


def _serialise(writer) -> bytes:
    """The writer's objects as a PDF 1.7 file with object streams and a cross-reference stream: every object
    but the streams goes, compressed, into an object stream (pypdf writes each as plain text, which for
    thousands of small dictionaries is most of the file)."""
    import struct

    from pypdf.generic import ArrayObject, DecodedStreamObject, NameObject, NumberObject, StreamObject

    writer._resolve_links()  # what pypdf's own write does first: links to pages of other documents
    objects = writer._objects
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    entries: dict[int, tuple[int, int, int]] = {}
    packed = []
    for number, obj in enumerate(objects, start=1):
        if obj is None:
            continue
        if isinstance(obj, StreamObject):
            entries[number] = (1, out.tell(), 0)
            out.write(f"{number} 0 obj\n".encode())
            obj.write_to_stream(out)
            out.write(b"\nendobj\n")
        else:
            packed.append(number)
    next_number = len(objects) + 1
    for start in range(0, len(packed), OBJECTS_PER_STREAM):
        chunk = packed[start:start + OBJECTS_PER_STREAM]
        body, offsets = io.BytesIO(), []
        for index, number in enumerate(chunk):
            offsets.append(f"{number} {body.tell()}")
            objects[number - 1].write_to_stream(body)
            body.write(b"\n")
            entries[number] = (2, next_number, index)
        head = " ".join(offsets).encode() + b"\n"
        stream = DecodedStreamObject()
        stream.set_data(head + body.getvalue())
        stream[NameObject("/Type")] = NameObject("/ObjStm")
        stream[NameObject("/N")] = NumberObject(len(chunk))
        stream[NameObject("/First")] = NumberObject(len(head))
        entries[next_number] = (1, out.tell(), 0)
        out.write(f"{next_number} 0 obj\n".encode())
        stream.flate_encode().write_to_stream(out)
        out.write(b"\nendobj\n")
        next_number += 1
    xref_number, size = next_number, next_number + 1
    entries[xref_number] = (1, out.tell(), 0)
    free = [n for n in range(1, size) if n not in entries]
    rows = bytearray(struct.pack(">BIH", 0, free[0] if free else 0, 65535))
    following = dict(zip(free, free[1:] + [0]))
    for number in range(1, size):
        kind, first, second = entries.get(number, (0, following.get(number, 0), 1))
        rows += struct.pack(">BIH", kind, first, second)
    xref = DecodedStreamObject()
    xref.set_data(bytes(rows))
    xref[NameObject("/Type")] = NameObject("/XRef")
    xref[NameObject("/Size")] = NumberObject(size)
    xref[NameObject("/W")] = ArrayObject([NumberObject(1), NumberObject(4), NumberObject(2)])
    xref[NameObject("/Root")] = writer.root_object.indirect_reference
    if writer._info is not None:
        xref[NameObject("/Info")] = writer._info.indirect_reference
    if writer._ID is not None:
        xref[NameObject("/ID")] = writer._ID
    position = entries[xref_number][1]
    out.write(f"{xref_number} 0 obj\n".encode())
    xref.flate_encode().write_to_stream(out)
    out.write(f"\nendobj\nstartxref\n{position}\n%%EOF\n".encode())
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



# --- Tags ---------------------------------------------------------------------------------------------------
# Each part is tagged by WeasyPrint: a StructTreeRoot over one Document element, a ParentTree whose key i below
# the part's page count maps page i's marked contents to their elements, and keys from the page count on map
# its links' annotations. The merged document gets one Document element holding every part's elements in
# order, and one ParentTree renumbered: pages by their global index, then the annotations.


def _join_structure(writer, parts: list[Part], offsets: list[int]) -> None:
    from pypdf.generic import ArrayObject, BooleanObject, DictionaryObject, NameObject, NullObject, NumberObject

    roots = [part.reader.trailer["/Root"].get("/StructTreeRoot") for part in parts]
    if not all(roots):
        return  # a part without tags: the document stays untagged
    total = sum(part.pages for part in parts)
    document = DictionaryObject({NameObject("/Type"): NameObject("/StructElem"),
                                 NameObject("/S"): NameObject("/Document"), NameObject("/K"): ArrayObject()})
    document_ref = writer._add_object(document)
    entries, next_key, renumbered = {}, total, []
    for number, (part, root) in enumerate(zip(parts, roots)):
        root = root.get_object()
        kids = root["/K"]
        top = (kids[0] if isinstance(kids, list) else kids).get_object()
        top[NameObject("/P")] = NullObject()  # the part's own root stays behind, not cloned with its elements
        for kid in top.clone(writer).get("/K") or []:
            element = kid.get_object()
            if isinstance(element, dict):
                element[NameObject("/P")] = document_ref
            document["/K"].append(kid)
        keys = {}
        old = root["/ParentTree"].get_object().get("/Nums") or []
        for index in range(0, len(old) - 1, 2):
            key, value = int(old[index]), old[index + 1]
            if key < part.pages:
                entries[offsets[number] + key] = value.clone(writer)
            else:
                keys[key] = next_key
                entries[next_key] = value.clone(writer)
                next_key += 1
        renumbered.append(keys)
    for number, part in enumerate(parts):
        for index in range(part.pages):
            page = writer.pages[offsets[number] + index]
            page[NameObject("/StructParents")] = NumberObject(offsets[number] + index)
            for annotation in page.get("/Annots") or []:
                annotation = annotation.get_object()
                old_key = annotation.get("/StructParent")
                if old_key is not None and int(old_key) in renumbered[number]:
                    annotation[NameObject("/StructParent")] = NumberObject(renumbered[number][int(old_key)])
    nums = ArrayObject()
    for key in sorted(entries):
        nums.extend([NumberObject(key), entries[key]])
    root = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/StructTreeRoot"), NameObject("/K"): ArrayObject([document_ref]),
        NameObject("/ParentTree"): writer._add_object(DictionaryObject({NameObject("/Nums"): nums})),
        NameObject("/ParentTreeNextKey"): NumberObject(next_key)}))
    document[NameObject("/P")] = root
    writer.root_object[NameObject("/StructTreeRoot")] = root
    writer.root_object[NameObject("/MarkInfo")] = DictionaryObject({NameObject("/Marked"): BooleanObject(True)})
    writer.root_object[NameObject("/ViewerPreferences")] = DictionaryObject(
        {NameObject("/DisplayDocTitle"): BooleanObject(True)})
