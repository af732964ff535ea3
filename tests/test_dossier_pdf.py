"""The dossier's file format: PDF/A-3U on both variants (with and without attached evidence), fonts embedded
once, attachments with their relationship, media type, names and description, the manifest's SHA-256 in the
metadata."""
import dataclasses
import hashlib
import io
import json
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from datetime import date

import pytest
from pypdf import PdfReader

from evidence import context
from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import User
from evidence.dossier.bundle import evidence_file_name, manifest_sha256
from evidence.dossier.pdf import (
    MANIFEST_INFO_KEY,
    attachment_relationship,
    recorded_manifest_sha256,
    render_pdf,
)
from evidence.dossier.render.archive import ascii_file_name
from evidence.dossier.snapshot import take_snapshot
from evidence.services import evidence as evidence_items
from evidence.services import perimeters
from tests.conftest import seed_tiny_perimeter
from tests.english import refused

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only

DAY = date(2026, 6, 15)
NS = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
      "dc": "http://purl.org/dc/elements/1.1/", "pdf": "http://ns.adobe.com/pdf/1.3/", "xmp": "http://ns.adobe.com/xap/1.0/"}


def png(width=4, height=3) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"\x80\x20\x20" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def approve(session, users, evidence):
    evidence_items.review(session, session.get(User, users["contributor"].id), evidence, "submit")
    evidence_items.review(session, session.get(User, users["manager"].id), evidence, "approve")


@pytest.fixture
def tiny_files(app, users):
    """A perimeter on the four-item referential with two approved files of different kinds (a CSV report, a PNG
    screenshot), a link, and a draft file that must never be attached."""
    app.config["TODAY"] = DAY
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        contributor, control = tiny.contributor, tiny.control
        store = storage.get_store(app)
        report = evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
            title="Export EDR", kind="report", valid_until=date(2027, 1, 1), control_ids=[control.id]),
            store=store, upload=io.BytesIO(b"poste;edr\npc-01;oui\n"), filename="export édr.csv")
        capture = evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
            title="Capture de la console", kind="screenshot", valid_until=date(2027, 1, 1), control_ids=[control.id]),
            store=store, upload=io.BytesIO(png()), filename="console.png")
        evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
            title="Console SOC", kind="link", control_ids=[control.id]), url="https://soc.example.internal/")
        evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
            title="Brouillon", kind="report", valid_until=date(2027, 1, 1), control_ids=[control.id]),
            store=store, upload=io.BytesIO(b"not approved"), filename="brouillon.txt")
        approve(session, users, report)
        approve(session, users, capture)
    return app


def snapshot_of(app) -> dict:
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        snapshot = take_snapshot(session, perimeter, DAY, {"attach_evidence": True, "marking": ""}, organisation="Org")
    snapshot["number"] = 1
    return json.loads(json.dumps(snapshot, default=str))  # as the Dossier row keeps it


def render(app, snapshot, attach, tagged=False):
    with app.app_context():
        settings = dataclasses.replace(context.dossier_settings(), tagged=tagged)
        return render_pdf(snapshot, "fr", storage.get_store(app), attach=attach, settings=settings).pdf


@pytest.fixture
def variants(tiny_files):
    snapshot = snapshot_of(tiny_files)
    return snapshot, {False: render(tiny_files, snapshot, False), True: render(tiny_files, snapshot, True)}


def xmp_fields(reader) -> dict:
    data = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    root = ET.fromstring(data[data.index(b"<x:xmpmeta"):data.index(b"</x:xmpmeta>") + len(b"</x:xmpmeta>")])
    fields = {}
    for description in root.iter(f"{{{NS['rdf']}}}Description"):
        for key, value in description.attrib.items():
            fields[key] = value
        for child in description:
            texts = [li.text for li in child.iter(f"{{{NS['rdf']}}}li")]
            fields[child.tag] = texts[0] if texts else child.text
    return fields


def q(prefix, name):
    return f"{{{NS[prefix]}}}{name}"


def xmp_date(pdf_date: str) -> str:
    m = re.match(r"D:(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})", pdf_date)
    return "{}-{}-{}T{}:{}:{}".format(*m.groups())


def fonts_of(reader):
    """Every font dictionary the pages and their forms use (Type0 fonts as their descendant)."""
    fonts, seen = [], set()

    def visit(resources):
        resources = resources.get_object()
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            font = font["/DescendantFonts"][0].get_object() if font.get("/Subtype") == "/Type0" else font
            if id(font) not in seen:
                seen.add(id(font))
                fonts.append(font)
        for xobject in (resources.get("/XObject") or {}).values():
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Form" and "/Resources" in xobject and id(xobject) not in seen:
                seen.add(id(xobject))
                visit(xobject["/Resources"])

    for page in reader.pages:
        visit(page["/Resources"])
    return fonts


@pytest.mark.parametrize("attach", [False, True], ids=["plain", "attached"])
def test_every_dossier_is_pdf_a_3u(variants, attach):
    snapshot, pdfs = variants
    data = pdfs[attach]
    assert data.startswith(b"%PDF-1.7")
    reader = PdfReader(io.BytesIO(data))
    root, info = reader.trailer["/Root"], reader.metadata
    assert len(reader.trailer["/ID"]) == 2
    # XMP: part 3, conformance U, and every Info entry's XMP equivalent with the same value.
    fields = xmp_fields(reader)
    assert fields[q("pdfaid", "part")] == "3" and fields[q("pdfaid", "conformance")] == "U"
    assert fields[q("dc", "title")] == info["/Title"] and "Socle test" in info["/Title"]
    assert fields[q("dc", "creator")] == info["/Author"]
    assert fields[q("dc", "description")] == info["/Subject"]
    assert fields[q("pdf", "Keywords")] == info["/Keywords"]
    assert fields[q("pdf", "Producer")] == info["/Producer"]
    assert fields[q("xmp", "CreatorTool")] == info["/Creator"]
    assert fields[q("xmp", "CreateDate")].startswith(xmp_date(info["/CreationDate"]))
    assert fields[q("xmp", "ModifyDate")].startswith(xmp_date(info["/ModDate"]))
    # The bundle manifest's SHA-256, in the Info dictionary and in the XMP keywords.
    expected = manifest_sha256(snapshot)
    assert info[MANIFEST_INFO_KEY] == expected == recorded_manifest_sha256(data)
    assert f"EvidenceManifestSHA256={expected}" in fields[q("pdf", "Keywords")]
    # The output intent: sRGB, with its ICC profile.
    intent = root["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFA1" and "sRGB" in intent["/OutputConditionIdentifier"]
    profile = intent["/DestOutputProfile"].get_object()
    assert profile["/N"] == 3 and profile.get_data()[36:40] == b"acsp"
    # Annotations print (PDF/A forbids hidden or non-printing ones).
    for page in reader.pages:
        for annotation in page.get("/Annots") or []:
            assert annotation.get_object()["/F"] == 4


@pytest.mark.parametrize("attach", [False, True], ids=["plain", "attached"])
def test_fonts_are_embedded_once(variants, attach):
    reader = PdfReader(io.BytesIO(variants[1][attach]))
    fonts = fonts_of(reader)
    assert fonts
    programs = {}
    for font in fonts:
        descriptor = font["/FontDescriptor"].get_object()
        keys = [k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in descriptor]
        assert keys, f"{font['/BaseFont']} is not embedded"
        reference = descriptor.raw_get(keys[0])
        base = str(font["/BaseFont"]).split("+", 1)[-1]
        programs.setdefault(reference.idnum, set()).add(base)
    datas = [reader.get_object(number).get_data() for number in programs]
    assert len({hashlib.sha256(d).hexdigest() for d in datas}) == len(datas), "a font program is repeated"
    from fontTools.ttLib import TTFont
    names = [TTFont(io.BytesIO(d), lazy=True)["name"].getDebugName(6) for d in datas]
    assert len(names) == len(set(names)), f"one font program embedded more than once: {sorted(names)}"
    for page in reader.pages:  # level U: every font maps its glyphs to Unicode
        for font in (page["/Resources"].get_object().get("/Font") or {}).values():
            assert "/ToUnicode" in font.get_object()


def test_a_font_subset_from_the_part_cache_is_the_one_made_again(tmp_path):
    """A re-render takes the merged font subsets from the part cache: the same bytes as subsetting again (no
    date of its own inside), and a torn file is made again rather than read."""
    from evidence.dossier.render import fonts
    from evidence.dossier.render.cache import PartCache

    cache, path, glyphs = PartCache(tmp_path), fonts.FONT_DIR / "DejaVuSansMono.ttf", frozenset({0, 36, 37, 38})
    fonts._subsets.clear()
    made = fonts._subset(path, glyphs, cache)
    fonts._subsets.clear()
    assert fonts._subset(path, glyphs, cache) == made == fonts._make_subset(path, glyphs)
    (stored,) = tmp_path.glob("*/*.ttf")
    stored.write_bytes(stored.read_bytes()[:-10])
    assert cache.get_program(stored.stem) is None
    fonts._subsets.clear()


def test_attachments_are_associated_files_with_their_names_and_types(variants):
    snapshot, pdfs = variants
    pinned = {e["ref"]: e for e in snapshot["evidence"] if e.get("storage_key")}
    assert len(pinned) == 2  # the draft file is not pinned, the link has no file
    plain = PdfReader(io.BytesIO(pdfs[False])).trailer["/Root"]
    assert "/AF" not in plain and "/EmbeddedFiles" not in (plain.get("/Names") or {})

    root = PdfReader(io.BytesIO(pdfs[True])).trailer["/Root"]
    specs = [spec.get_object() for spec in root["/AF"]]
    tree = root["/Names"]["/EmbeddedFiles"].get_object()["/Names"]
    keys = [n.get_encoded_bytes() for n in tree[0::2]]
    assert keys == sorted(keys) and sorted(map(str, tree[0::2])) == sorted(str(s["/UF"]) for s in specs)
    assert len(specs) == len(pinned)
    for spec in specs:
        ref = str(spec["/UF"]).split("-v")[0]
        evidence = pinned[ref]
        name = evidence_file_name(evidence)
        assert spec["/Type"] == "/Filespec" and spec["/UF"] == name
        assert spec["/F"] == ascii_file_name(name) and str(spec["/F"]).isascii()
        assert spec["/AFRelationship"] == "/" + attachment_relationship(evidence)
        assert spec["/Desc"] == (f"{evidence['ref']} — {evidence['title']} — v{evidence['version']} — "
                                 f"SHA-256 {evidence['sha256']}")
        stream = spec["/EF"]["/F"].get_object()
        data = stream.get_data()
        assert stream["/Type"] == "/EmbeddedFile" and stream["/Subtype"] == "/" + evidence["media_type"]
        assert hashlib.sha256(data).hexdigest() == evidence["sha256"]
        params = stream["/Params"]
        checksum = params["/CheckSum"]
        assert params["/Size"] == len(data) and getattr(checksum, "original_bytes", checksum) == hashlib.md5(data).digest()
        assert str(params["/ModDate"]).startswith("D:" + evidence["version_date"].replace("-", ""))
    relationships = {str(s["/UF"]).split("-v")[0]: s["/AFRelationship"] for s in specs}
    kinds = {ref: e["kind"] for ref, e in pinned.items()}
    assert {kinds[r]: rel for r, rel in relationships.items()} == {"report": "/Source", "screenshot": "/Supplement"}
    assert any(str(s["/UF"]).endswith("-export édr.csv") and str(s["/F"]).endswith("-export edr.csv")
               for s in specs)  # the file's own name in /UF, its ASCII form in /F
    types = sorted(str(s["/EF"]["/F"].get_object()["/Subtype"]) for s in specs)
    assert types == ["/image/png", "/text/csv"]


def test_attachments_keep_their_ceiling(tiny_files):
    snapshot = snapshot_of(tiny_files)
    tiny_files.config["DOSSIER_MAX_ATTACHMENTS"] = 5
    with refused(EvidenceError, "ceiling"):
        render(tiny_files, snapshot, True)


def test_an_altered_pinned_file_is_never_attached(tiny_files):
    snapshot = snapshot_of(tiny_files)
    evidence = next(e for e in snapshot["evidence"] if e.get("storage_key"))
    evidence["sha256"] = "0" * 64
    with refused(EvidenceError, "no longer matches"):
        render(tiny_files, snapshot, True)


def test_the_merged_dossier_is_tagged_with_one_structure_tree(tiny_files, variants):
    """With DOSSIER_TAGGED, every part's structure tree under one Document element, the ParentTree renumbered
    for the whole file: each page's marked contents and each link annotation find their structure element.
    Without it (the default: tags make the merge eight times slower), no structure tree at all."""
    assert "/StructTreeRoot" not in PdfReader(io.BytesIO(variants[1][False])).trailer["/Root"]
    reader = PdfReader(io.BytesIO(render(tiny_files, variants[0], False, tagged=True)))
    root = reader.trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"])
    tree = root["/StructTreeRoot"].get_object()
    (document,) = [kid.get_object() for kid in tree["/K"]]
    assert document["/S"] == "/Document" and len(document["/K"]) > 3
    nums = tree["/ParentTree"].get_object()["/Nums"]
    parents = {int(nums[i]): nums[i + 1] for i in range(0, len(nums), 2)}
    assert int(tree["/ParentTreeNextKey"]) == max(parents) + 1
    assert sorted({int(page["/StructParents"]) for page in reader.pages}) == list(range(len(reader.pages)))
    for page in reader.pages:
        elements = parents[int(page["/StructParents"])].get_object()
        contents = page.get_contents().get_data()
        for mcid in map(int, re.findall(rb"/MCID (\d+)", contents)):
            element = elements[mcid].get_object()
            assert element.raw_get("/Pg").idnum == page.indirect_reference.idnum
        for annotation in page.get("/Annots") or []:
            annotation = annotation.get_object()
            if "/StructParent" in annotation:
                assert int(annotation["/StructParent"]) >= len(reader.pages)
                assert int(annotation["/StructParent"]) in parents
        # The running texts stamped by the merge are artifacts, outside the tree.
        if page is not reader.pages[0]:
            assert b"/Artifact BMC" in contents


def test_the_fetcher_takes_only_png_data_urls():
    import base64

    from evidence.dossier.render.fetcher import safe_fetcher

    refused = []
    fetcher = safe_fetcher(refused)
    image = png()
    response = fetcher.fetch("data:image/png;base64," + base64.b64encode(image).decode())
    assert response is not None
    for url in ("data:image/png;base64," + base64.b64encode(b"<svg onload=x>").decode(),
                "data:image/svg+xml;base64," + base64.b64encode(image).decode(), "data:image/png;base64,%%%"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert len(refused) == 3
