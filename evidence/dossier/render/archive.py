"""PDF/A-3 for the merged dossier: XMP metadata agreeing with the Info dictionary, the sRGB output intent, the
bundle manifest's SHA-256 in both, and the pinned evidence files as associated files (/AF).

pypdf only, like the merge (see merge.py).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

# --- PDF/A-3 ------------------------------------------------------------------------------------------------
# Level U (ISO 19005-3, conformance "U"): what WeasyPrint's own `pdf/a-3u` writes and the reference here.
# Level B asks for embedded fonts, an output intent and XMP metadata; U adds a Unicode mapping for every glyph,
# which WeasyPrint gives each font (a ToUnicode CMap). The document is tagged (see _join_structure), but level A
# asks more than WeasyPrint's tags give (alternative texts, every content item in the tree): it is not claimed.

PDFA_PART, PDFA_CONFORMANCE = 3, "U"
MANIFEST_INFO_KEY = "/EvidenceManifestSHA256"  # the bundle manifest's SHA-256, in the Info dictionary
MANIFEST_KEYWORD = "EvidenceManifestSHA256="  # and in /Keywords = XMP pdf:Keywords (see _keywords)
SRGB_PROFILE = "sRGB2014.icc"  # the profile WeasyPrint ships and puts in its own PDF/A output intent


@dataclass(frozen=True)
class Attachment:
    """A file embedded in the dossier (PDF/A-3 associated file): name (/F and /UF), description (/Desc),
    relationship (Source, Supplement…), real media type, bytes and modification date (a date or datetime)."""

    name: str
    description: str
    relationship: str
    media_type: str
    data: bytes
    modified: datetime


def _pdf_date(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.strftime("D:%Y%m%d%H%M%S+00'00'")


def _xmp_date(value: str) -> Optional[str]:
    """A PDF date string (D:YYYYMMDDHHmmSS+hh'mm') as XMP's ISO 8601, the same instant."""
    match = re.match(r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(Z|[+-]\d{2}'?\d{2}'?)?", value or "")
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    text = f"{year}-{month or '01'}-{day or '01'}T{hour or '00'}:{minute or '00'}:{second or '00'}"
    if zone in (None, "Z"):
        return text + "Z"
    digits = zone.replace("'", "")
    return f"{text}{digits[:3]}:{digits[3:5] or '00'}"


def _keywords(keywords: str, manifest_sha256: Optional[str]) -> str:
    # pdf:Keywords is in the Adobe PDF schema, which PDF/A predefines: no extension schema to declare, and
    # pyHanko keeps it as it is when it signs (it rewrites only the dates and the producer).
    words = [w.strip() for w in (keywords or "").split(",") if w.strip() and not w.strip().startswith(MANIFEST_KEYWORD)]
    if manifest_sha256:
        words.append(f"{MANIFEST_KEYWORD}{manifest_sha256}")
    return ", ".join(words)


def _xmp(info: dict, lang: str) -> bytes:
    """The XMP packet: pdfaid part and conformance, and every Info entry's XMP equivalent (the same values)."""
    from xml.sax.saxutils import escape, quoteattr

    lang = lang or "x-default"

    def alt(value):
        return (f'<rdf:Alt><rdf:li xml:lang="x-default">{escape(value)}</rdf:li>'
                f'</rdf:Alt>')

    fields = [f"<pdfaid:part>{PDFA_PART}</pdfaid:part>", f"<pdfaid:conformance>{PDFA_CONFORMANCE}</pdfaid:conformance>"]
    def seq(value):
        return f"<rdf:Seq><rdf:li>{escape(value)}</rdf:li></rdf:Seq>"

    # Each Info entry and the XMP property PDF/A pairs it with (ISO 19005-3, 6.7.3), with its XMP shape.
    for key, element, shape in (("/Title", "dc:title", alt), ("/Author", "dc:creator", seq),
                                ("/Subject", "dc:description", alt)):
        if info.get(key):
            fields.append(f"<{element}>{shape(info[key])}</{element}>")
    fields.append(f"<dc:language><rdf:Bag><rdf:li>{escape(lang)}</rdf:li></rdf:Bag></dc:language>")
    fields.append("<dc:format>application/pdf</dc:format>")
    for key, element in (("/Keywords", "pdf:Keywords"), ("/Producer", "pdf:Producer"), ("/Creator", "xmp:CreatorTool")):
        if info.get(key):
            fields.append(f"<{element}>{escape(info[key])}</{element}>")
    for key, name in (("/CreationDate", "xmp:CreateDate"), ("/ModDate", "xmp:ModifyDate")):
        if _xmp_date(info.get(key, "")):
            fields.append(f"<{name}>{_xmp_date(info[key])}</{name}>")
    body = "\n".join(f"   {field}" for field in fields)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about={quoteattr("")} xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/">\n'
        f"{body}\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def _srgb_profile() -> bytes:
    """WeasyPrint's sRGB profile, found without importing WeasyPrint (a third of a second in this process)."""
    from importlib.util import find_spec

    (folder,) = find_spec("weasyprint").submodule_search_locations
    return (Path(folder) / "pdf" / SRGB_PROFILE).read_bytes()


def archive(writer, info: dict, lang: str, manifest_sha256: Optional[str], attachments: Sequence[Attachment]) -> None:
    """Make the merged document PDF/A-3U: Info and XMP metadata that agree, the sRGB output intent, printable
    annotations, and the attachments as associated files."""
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    info = {key: str(value) for key, value in info.items()}
    info["/Keywords"] = _keywords(info.get("/Keywords", ""), manifest_sha256)
    if manifest_sha256:
        info[MANIFEST_INFO_KEY] = manifest_sha256
    writer.add_metadata(info)
    # pypdf adds a /Producer of its own when there is none; the document's is WeasyPrint's, as the parts say.
    metadata = DecodedStreamObject()
    metadata.set_data(_xmp(info, lang))
    metadata[NameObject("/Type")] = NameObject("/Metadata")
    metadata[NameObject("/Subtype")] = NameObject("/XML")
    writer.root_object[NameObject("/Metadata")] = writer._add_object(metadata)

    profile = DecodedStreamObject()
    profile.set_data(_srgb_profile())
    profile[NameObject("/N")] = NumberObject(3)
    intent = DictionaryObject({
        NameObject("/Type"): NameObject("/OutputIntent"),
        NameObject("/S"): NameObject("/GTS_PDFA1"),
        NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB IEC61966-2.1"),
        NameObject("/Info"): TextStringObject("sRGB IEC61966-2.1"),
        NameObject("/DestOutputProfile"): writer._add_object(profile.flate_encode()),
    })
    writer.root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])

    for page in writer.pages:  # PDF/A: every annotation prints (flag 3, "Print"), none hidden
        for annotation in page.get("/Annots") or []:
            annotation.get_object()[NameObject("/F")] = NumberObject(4)

    if attachments:
        _attach(writer, attachments)


def ascii_file_name(name: str) -> str:
    """/F's form of a file name: /UF holds it as it is (a Unicode text string); /F, a byte string that readers
    take as ASCII or as their own code page, gets each accented letter without its accent ("é" → "e") and any
    other non-ASCII character as "_"."""
    import unicodedata

    def ascii(character: str) -> str:
        if character.isascii():
            return character
        base = "".join(c for c in unicodedata.normalize("NFKD", character) if c.isascii())
        return base or "_"

    return "".join(ascii(c) for c in unicodedata.normalize("NFC", name))


def _attach(writer, attachments: Sequence[Attachment]) -> None:
    from pypdf.generic import (
        ArrayObject,
        ByteStringObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    specs, names = [], []
    # A name tree's keys in the order of their bytes as written (PDFDocEncoding, or UTF-16 for other names).
    for attachment in sorted(attachments, key=lambda a: TextStringObject(a.name).get_encoded_bytes()):
        stream = DecodedStreamObject()
        stream.set_data(attachment.data)
        stream[NameObject("/Type")] = NameObject("/EmbeddedFile")
        stream[NameObject("/Subtype")] = NameObject("/" + (attachment.media_type or "application/octet-stream"))
        stream[NameObject("/Params")] = DictionaryObject({
            NameObject("/Size"): NumberObject(len(attachment.data)),
            NameObject("/ModDate"): TextStringObject(_pdf_date(attachment.modified)),
            NameObject("/CheckSum"): ByteStringObject(hashlib.md5(attachment.data).digest()),  # noqa: S324 - PDF's own
        })
        embedded = writer._add_object(stream.flate_encode())
        spec = writer._add_object(DictionaryObject({
            NameObject("/Type"): NameObject("/Filespec"),
            NameObject("/F"): TextStringObject(ascii_file_name(attachment.name)),
            NameObject("/UF"): TextStringObject(attachment.name),
            NameObject("/Desc"): TextStringObject(attachment.description),
            NameObject("/AFRelationship"): NameObject("/" + attachment.relationship),
            NameObject("/EF"): DictionaryObject({NameObject("/F"): embedded, NameObject("/UF"): embedded}),
        }))
        specs.append(spec)
        names.extend([TextStringObject(attachment.name), spec])
    writer.root_object[NameObject("/AF")] = ArrayObject(specs)
    if "/Names" not in writer.root_object:
        writer.root_object[NameObject("/Names")] = DictionaryObject()
    tree = writer._add_object(DictionaryObject({NameObject("/Names"): ArrayObject(names)}))
    writer.root_object["/Names"].get_object()[NameObject("/EmbeddedFiles")] = tree
