"""The dossier: pinned snapshot, byte-identical downloads, nothing fetched, escaped text, bundles, the job."""
import ast
import hashlib
import http.server
import io
import json
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader
from pypdf.generic import IndirectObject
from sqlmodel import select

from evidence import context
from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Dossier, Requirement, User
from evidence.dossier import generate as dossier_life
from evidence.dossier import view as dossier_view
from evidence.dossier.generate import DEFAULT_MAX_ATTACHMENTS, DossierSettings, render_html, render_pdf
from evidence.dossier.generate import generate as generate_dossier
from evidence.dossier.render.cache import PartCache
from evidence.dossier.render.fetcher import safe_fetcher
from evidence.dossier.render.parts import receive_frame, send_frames
from evidence.dossier.render.pool import PartRenderer, Worker
from evidence.dossier.snapshot import take_snapshot
from evidence.dossier.view import DossierView
from evidence.services import controls, findings, perimeters, waivers
from evidence.services import evidence as evidence_items
from evidence.services import users as auth
from tests.conftest import seed_tiny_perimeter
from tests.english import refused

from .conftest import csrf_token, login

DAY = date(2026, 6, 15)
APPROVED = {"final": True, "manifest_sha256": "0" * 64, "approvals": [
    {"name": "Claire Fontaine", "function": "RSSI", "approved_at": "2026-06-16T09:00:00+00:00"},
    {"name": "Marc Petit", "function": "Direction", "approved_at": "2026-06-17T09:00:00+00:00"}]}


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def tiny(app, users):
    """A perimeter on the four-item referential, with a control, evidence (a file and a link) and a finding."""
    app.config["TODAY"] = DAY
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        manager, contributor, control = tiny.manager, tiny.contributor, tiny.control
        store = storage.get_store(app)
        evidence = evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
            title="Export EDR", kind="report", valid_until=date(2027, 1, 1), control_ids=[control.id]),
            store=store, upload=io.BytesIO(b"version one"), filename="edr.csv")
        evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
            title="Console SOC", kind="link", control_ids=[control.id]), url="https://soc.example.internal/")
        evidence_items.review(session, contributor, evidence, "submit")
        evidence_items.review(session, manager, evidence, "approve")
    return app


def generate(app, **kw):
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        item = generate_dossier(session, storage.get_store(app), "cli:test", perimeter, today=DAY,
                                settings=context.dossier_settings(), **kw)
        return item.id, item.sha256, item.snapshot


def stored_signoff(app, dossier_id) -> dict:
    """What the stored PDF of a version says of its approval (rendering again needs the same)."""
    with app.app_context(), db.session_scope(app) as session:
        return dossier_life.signoff(session, session.get(Dossier, dossier_id))


def _approve(app, users, ref):
    """The contributor submits the evidence's current version and the manager approves it (four eyes)."""
    with app.app_context(), db.session_scope(app) as session:
        evidence = evidence_items.get_evidence(session, ref)
        evidence_items.review(session, session.get(User, users["contributor"].id), evidence, "submit")
        evidence_items.review(session, session.get(User, users["manager"].id), evidence, "approve")


def test_snapshot_pins_evidence_versions(tiny, users):
    app = tiny
    first_id, _sha, snapshot = generate(app)
    pinned = {e["ref"]: e for e in snapshot["evidence"]}
    v1 = hashlib.sha256(b"version one").hexdigest()
    assert pinned["EV-0001"]["sha256"] == v1 and pinned["EV-0001"]["version"] == 1
    assert "EV-0002" not in pinned  # the link is a draft: only approved versions are cited as proof
    with app.app_context(), db.session_scope(app) as session:
        evidence = evidence_items.get_evidence(session, "EV-0001")
        evidence_items.add_version(session, session.get(User, users["contributor"].id), evidence,
                                   store=storage.get_store(app), upload=io.BytesIO(b"version two"), filename="edr2.csv")
        stored = session.get(Dossier, first_id)
        # Re-rendering the stored snapshot shows what was true then, not what is true now.
        text = pdf_text(render_pdf(stored.snapshot, "fr", storage.get_store(app), settings=context.dossier_settings()).pdf)
    assert v1 in text.replace("\n", "") and hashlib.sha256(b"version two").hexdigest() not in text.replace("\n", "")
    _approve(app, users, "EV-0002")
    _second, _sha2, snapshot2 = generate(app)
    pinned = {e["ref"]: e for e in snapshot2["evidence"]}
    assert "EV-0001" not in pinned  # back to draft with its new version: nothing of it is cited until approved
    assert pinned["EV-0002"]["url"] == "https://soc.example.internal/" and pinned["EV-0002"]["version"] == 1
    _approve(app, users, "EV-0001")
    _third, _sha3, snapshot3 = generate(app)
    pinned = {e["ref"]: e for e in snapshot3["evidence"]}
    assert pinned["EV-0001"]["version"] == 2 and pinned["EV-0001"]["sha256"] == hashlib.sha256(b"version two").hexdigest()
    assert [d["number"] for d in snapshot3["history"]] == [1, 2]  # the earlier dossiers appear in the history


def test_same_snapshot_renders_the_same_document(tiny):
    app = tiny
    dossier_id, sha, snapshot = generate(app)
    with app.app_context():
        again = render_pdf(snapshot, "fr", storage.get_store(app), settings=context.dossier_settings(),
                           signoff=stored_signoff(app, dossier_id)).pdf
    assert hashlib.sha256(again).hexdigest() == sha


def test_dossier_content_and_metadata(tiny):
    app = tiny
    dossier_id, _sha, _snapshot = generate(app)
    with app.app_context(), db.session_scope(app) as session:
        item = session.get(Dossier, dossier_id)
        data = storage.get_store(app).open(item.storage_key).read()
    reader = PdfReader(io.BytesIO(data))
    info = reader.metadata
    assert "Socle test" in info.title and info.author and "iaas-t" in info.subject
    outline = [o.title for o in reader.outline if not isinstance(o, list)]
    assert "Sommaire" in outline and any(t.startswith("12.") for t in outline) and "Registre des documents" in outline
    text = pdf_text(data).replace("\n", " ")
    for expected in ("Dossier de qualification SecNumCloud", "Déclaration d'applicabilité", "PROJET",
                     "EDR sur tous les postes", "Export EDR", "Registre des documents", "1 / "):
        assert expected in text, expected
    assert "12.4.b" in text  # not applicable to an IaaS, and listed as such
    assert "Diffusion restreinte" not in text  # no marking unless one is set: never a regulated mention


def test_nothing_is_fetched_and_user_text_stays_text(tiny, users):
    """Payloads in every user-editable text field: the PDF shows them as text and nothing is requested."""
    app = tiny
    hits = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    payload = (f'<img src="http://127.0.0.1:{port}/img"><link rel="stylesheet" href="file:///etc/passwd">'
               f'<iframe src="http://127.0.0.1:{port}/frame"></iframe><style>@import url(http://127.0.0.1:{port}/css);</style>'
               f'<object data="http://127.0.0.1:{port}/obj"></object><script>fetch("http://127.0.0.1:{port}/js")</script>')
    # Names and titles hold 200 characters: the same attack, shorter.
    short = f'<img src="http://127.0.0.1:{port}/name"><script>fetch("http://127.0.0.1:{port}/js")</script>'
    try:
        app.config["ORGANISATION"] = payload
        with app.app_context(), db.session_scope(app) as session:
            manager = session.get(User, users["manager"].id)
            perimeter = perimeters.get_perimeter(session, "iaas-t")
            perimeters.update_perimeter(session, manager, perimeter, perimeters.PerimeterData(
                code="iaas-t", name="P " + short, description=payload, service_types=("IaaS",),
                framework_key="tiny-1.0", evaluation_centre=short), perimeter.version)
            control = controls.get_control(session, "CTL-AV-01")
            controls.update_control(session, manager, control, controls.ControlData(
                ref="CTL-AV-01", title="C " + short, description=payload, status="implemented",
                perimeter_ids=[perimeter.id]), control.version)
            requirement = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
            controls.map_requirement(session, manager, control, requirement, payload)
            evidence = evidence_items.get_evidence(session, "EV-0001")
            evidence_items.update_evidence(session, manager, evidence, evidence_items.EvidenceData(
                title="E " + short, kind="report", description=payload, control_ids=[control.id]), evidence.version)
            evidence_items.add_version(session, manager, evidence, store=storage.get_store(app),
                                       upload=io.BytesIO(b"x"), filename=payload, note=payload)
            findings.create_finding(session, manager, perimeter, findings.FindingData(
                severity="minor", text=payload, response=payload, requirement_id=requirement.id))
            findings.save_action(session, manager, perimeter, findings.ActionData(title="A " + short, description=payload))
            recommendation = session.exec(select(Requirement).where(Requirement.ref == "5.1.b")).one()
            perimeters.set_applicability(session, manager, perimeter, recommendation, "not_applicable", payload)
            perimeters.set_verdict(session, manager, perimeter, requirement, "partly_covered", payload)
            waivers.set_waiver(session, manager, perimeter, requirement, "12.4.a#2", payload)
            auth.set_password(session, None, manager, "x" * 12)
            manager.name = "M " + short
            session.add(manager)
            session.commit()
        refused = []
        with app.app_context(), db.session_scope(app) as session:
            settings = context.dossier_settings()
            snapshot = take_snapshot(session, perimeters.get_perimeter(session, "iaas-t"), DAY,
                                     {"marking": payload, "attach_evidence": False},
                                     organisation=settings.organisation)
            assert snapshot["organisation"] == payload
            snapshot["number"] = 1
            html = render_html(snapshot, "fr", settings=settings)
            data = render_pdf(snapshot, "fr", storage.get_store(app), refused=refused, settings=settings).pdf
            # The same in worker processes, and the attached variant (one pass, blobs served).
            parallel = render_pdf(snapshot, "fr", storage.get_store(app), refused=refused, workers=2,
                                  settings=settings).pdf
            attached = render_pdf(snapshot, "fr", storage.get_store(app), refused=refused, attach=True,
                                  settings=settings)
    finally:
        server.shutdown()
    assert hits == []
    assert refused == []  # escaped markup is text: no URL of a user ever reached the fetcher
    assert parallel == data
    assert attached.pdf.startswith(b"%PDF")
    assert "<img src=" not in html and "&lt;img src=" in html and "<script>fetch" not in html
    text = pdf_text(data)
    assert f'<img src="http://127.0.0.1:{port}/img">' in text.replace("\n", "")


def test_the_fetcher_serves_only_package_assets(tiny):
    from weasyprint.urls import URLFetcher  # noqa: F401

    refused = []
    fetcher = safe_fetcher(refused)
    assert fetcher.fetch("evidence-asset:css/dossier.css").read().startswith(b"/*")
    for url in ("http://127.0.0.1:1/x", "https://example.org/", "file:///etc/passwd", "data:text/plain,hi",
                "evidence-asset:../../../../etc/passwd", "evidence-asset:../config.py", "evidence-blob:" + "0" * 64,
                "ftp://example.org/x"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert len(refused) == 8


def test_attached_evidence_makes_a_pdf_a3_with_the_files(tiny):
    app = tiny
    dossier_id, _sha, snapshot = generate(app, attach=True)
    with app.app_context(), db.session_scope(app) as session:
        data = storage.get_store(app).open(session.get(Dossier, dossier_id).storage_key).read()
    reader = PdfReader(io.BytesIO(data))
    attached = [str(spec.get_object().get("/UF")) for spec in reader.trailer["/Root"].get("/AF") or []]
    assert any(name.endswith("edr.csv") for name in attached)
    root = reader.trailer["/Root"]
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    assert b'pdfaid:part="3"' in root["/Metadata"].get_object().get_data() or b"<pdfaid:part>3<" in root["/Metadata"].get_object().get_data()
    app.config["DOSSIER_MAX_ATTACHMENTS"] = 5
    with refused(EvidenceError, "ceiling"):
        generate(app, attach=True)


def test_bundle_and_its_verification(tiny, tmp_path):
    app = tiny
    generate(app)  # the bundle is a rendered version's (here its draft, asked for explicitly)
    runner = app.test_cli_runner()
    bundle = tmp_path / "bundle.zip"
    result = runner.invoke(args=["export", "bundle", "iaas-t", "-o", str(bundle), "--draft"])
    assert result.exit_code == 0, result.output
    names = zipfile.ZipFile(bundle).namelist()
    assert "manifest.json" in names and "manifest.csv" in names and any(n.startswith("evidence/EV-0001-v1-") for n in names)
    assert runner.invoke(args=["verify-bundle", str(bundle)]).exit_code == 0
    # Alter one evidence file inside the bundle: verification names it.
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(altered, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            target.writestr(info, b"tampered" if info.filename.startswith("evidence/EV-0001") else content)
    result = runner.invoke(args=["verify-bundle", str(altered)])
    assert result.exit_code == 1 and "evidence/EV-0001-v1-edr.csv: SHA-256 differs" in result.output
    assert "not a readable zip" in runner.invoke(args=["verify-bundle", str(tmp_path / "nope.zip")]).output


def test_generate_in_the_web_then_download_twice(tiny, users):
    app = tiny
    manager, auditor, contributor = app.test_client(), app.test_client(), app.test_client()
    login(manager, "manager@example.org")
    login(auditor, "auditor@example.org")
    login(contributor, "contributor@example.org")
    token = csrf_token(contributor, "/dossiers/")
    assert contributor.post("/dossiers/", data={"csrf_token": token, "perimeter": "iaas-t", "language": "fr"}).status_code == 403
    token = csrf_token(manager, "/dossiers/")
    response = manager.post("/dossiers/", data={"csrf_token": token, "perimeter": "iaas-t", "language": "en",
                                                "classification": "Interne"})
    assert response.status_code == 302
    status_page = auditor.get(response.headers["Location"]).get_data(as_text=True)
    assert "Télécharger" in status_page and "refresh" not in status_page
    with app.app_context(), db.session_scope(app) as session:
        item = session.exec(select(Dossier)).one()
        assert item.status == "draft" and item.language == "en"
    first = auditor.get(f"/dossiers/{item.id}/download")
    second = auditor.get(f"/dossiers/{item.id}/download")
    assert first.status_code == 200 and first.data == second.data
    assert hashlib.sha256(first.data).hexdigest() == item.sha256
    assert first.headers["Content-Disposition"].startswith("attachment") and first.mimetype == "application/pdf"
    assert "v1" in auditor.get("/dossiers/").get_data(as_text=True)


def test_verify_catches_an_altered_dossier(tiny):
    app = tiny
    dossier_id, _sha, _snapshot = generate(app)
    runner = app.test_cli_runner()
    assert "Dossiers: 1 stored PDFs re-hashed, 0 problem(s)" in runner.invoke(args=["verify"]).output
    with app.app_context(), db.session_scope(app) as session:
        key = session.get(Dossier, dossier_id).storage_key
    path = storage.get_store(app).root / key
    path.chmod(0o640)
    path.write_bytes(b"%PDF-1.7 forged")
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "iaas-t v1: corrupt" in result.output


def test_dossier_command_writes_the_file(tiny, tmp_path):
    result = tiny.test_cli_runner().invoke(args=["dossier", "iaas-t", "-o", str(tmp_path / "d.pdf"), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d.pdf").read_bytes().startswith(b"%PDF")
    bad = tiny.test_cli_runner().invoke(args=["dossier", "nope", "-o", str(tmp_path / "x.pdf")])
    assert bad.exit_code == 1 and "no perimeter 'nope'" in bad.output


# --- Rendering in parts: merge, page numbers, contents, outline, cache ---------------------------------------


def _larger(snapshot: dict) -> dict:
    """The tiny perimeter's snapshot grown to several sections per chapter and a dozen evidence versions, so
    that with small runs (see `small_runs`) the dossier comes in many parts: continued chapters and register runs."""
    import copy

    snapshot = copy.deepcopy(snapshot)
    base = [i for i in snapshot["items"] if i["applicability"] != "not_applicable"]
    for n in range(12):
        snapshot["evidence"].append({
            "ref": f"EV-1{n:03d}", "title": f"Preuve ajoutée {n}", "kind": "report", "status": "approved", "version": 1,
            "sha256": hashlib.sha256(f"file {n}".encode()).hexdigest(), "size": 100 + n, "media_type": "text/plain",
            "file_name": f"f{n}.txt", "url": None, "storage_key": None, "version_date": "2026-06-01",
            "effective_date": "2026-06-01", "valid_until": "2027-06-01", "owner": "Owner", "classification": "internal",
            "freshness": "valid"})
    for chapter in ("5", "12"):
        for k in (2, 3, 6):
            ref = f"{chapter}.{k}"
            snapshot["sections"].append({"ref": ref, "parent": chapter, "title": f"Section {ref}",
                                         "title_en": f"Section {ref}", "depth": 2})
            for j, item in enumerate(base[:2]):
                clone = copy.deepcopy(item)
                clone.update(ref=f"{ref}.{'ab'[j]}", chapter=chapter, section=ref, title=f"Point {ref}.{'ab'[j]}",
                             evidence=[f"EV-1{(k * 2 + j) % 12:03d}", f"EV-1{(k + j) % 12:03d}"])
                snapshot["items"].append(clone)
    return snapshot


@pytest.fixture
def small_runs(monkeypatch):
    monkeypatch.setattr(dossier_view, "CHAPTER_RUN", 12)
    monkeypatch.setattr(dossier_view, "INDEX_RUN", 5)
    monkeypatch.setattr(dossier_view, "SOA_RUN", 2)
    monkeypatch.setattr(dossier_view, "GAPS_RUN", 2)


def _plan(app, snapshot):
    from flask_babel import force_locale

    with app.app_context(), force_locale("fr"):
        return DossierView(snapshot, "fr").parts()


def _outline(reader):
    """[(title, page number, [(title, page number), ...]), ...] of the top-level bookmarks."""
    tree, items = [], list(reader.outline)
    for item in items:
        if isinstance(item, list):
            tree[-1][2].extend((child.title, reader.get_destination_page_number(child) + 1)
                               for child in item if not isinstance(child, list))
        else:
            tree.append((item.title, reader.get_destination_page_number(item) + 1, []))
    return tree


@pytest.mark.sqlite_only  # PDF layout, not SQL
def test_parts_merge_into_the_document_one_pass_gives(tiny, small_runs):
    """Rendered in parts and merged, the dossier reads page for page like the same HTML laid out in one pass:
    global page numbers, contents, running headers; its outline and links point at the right pages."""
    from weasyprint import HTML

    app = tiny
    _id, _sha, snapshot = generate(app)
    snapshot = _larger(snapshot)
    plan = _plan(app, snapshot)
    assert sum(p["kind"] == "chapter" and not p["first"] for p in plan) >= 2  # continued chapters
    assert sum(p["kind"] == "register" for p in plan) >= 3  # runs of the register
    assert sum(p["kind"] == "soa" for p in plan) >= 3  # runs of the statement of applicability
    with app.app_context():
        settings = context.dossier_settings()
        # An approved version: a draft's cover carries its mark only once rendered in parts (the page chrome
        # is not stamped on the cover), while a single pass repeats it on every page.
        merged = render_pdf(snapshot, "fr", storage.get_store(app), workers=1, settings=settings, signoff=APPROVED).pdf
        whole = HTML(string=render_html(snapshot, "fr", settings=settings, signoff=APPROVED), url_fetcher=safe_fetcher(),
                     base_url=None).write_pdf()
    reader, reference = PdfReader(io.BytesIO(merged), strict=True), PdfReader(io.BytesIO(whole))
    total = len(reader.pages)
    for page in reader.pages[1:]:  # a well-formed merge: content streams stay indirect objects
        assert all(isinstance(ref, IndirectObject) for ref in page.raw_get("/Contents").get_object())
    assert total == len(reference.pages) and total > len(plan)
    texts = [" ".join(page.extract_text().split()) for page in reader.pages]
    assert texts == [" ".join(page.extract_text().split()) for page in reference.pages]

    # Page N / M on every page but the cover, continuous across the parts.
    assert f"/ {total}" not in texts[0]
    for number, text in enumerate(texts[1:], start=2):
        assert text.endswith(f"{number} / {total}"), (number, text[-40:])
        assert "Dossier SecNumCloud iaas-t v1" in text and "PROJET" not in text
    # The header of a page that continues a chapter in a new part names the chapter.
    continued = [p for p in plan if p["kind"] == "chapter" and not p["first"]][0]
    first_section = continued["blocks"][0]["ref"]
    page = next(t for t in texts if f"{first_section} Section {first_section}" in t)
    assert f"{continued['chapter']['ref']}. {continued['chapter']['title']}" in page

    # The contents: each entry's number is the page its anchor is on.
    destinations = {name: reader.get_destination_page_number(d) + 1 for name, d in reader.named_destinations.items()}
    contents = next(t for t in texts if t.startswith("Sommaire"))
    for anchor, label in (("soa", "Déclaration d'applicabilité"), ("references", "Documents de référence"),
                          ("ch-5", "5. Politiques"), ("ch-12", "12. Exploitation"), ("gaps", "Écarts et plan d'action"),
                          ("findings", "Constats de l'évaluation"), ("register", "Registre des documents")):
        assert re.search(re.escape(label) + r"[^0-9]*?\.{3,} ?" + str(destinations[anchor]) + r"\b", contents), anchor
    # The links of the contents resolve to those pages.
    toc_page = reader.pages[texts.index(contents)]
    targets = {str(a.get_object()["/Dest"]) for a in toc_page["/Annots"] if a.get_object().get("/Subtype") == "/Link"}
    assert {"soa", "ch-5", "ch-12", "register"} <= targets <= set(destinations)

    # The outline: every chapter, the sections of continued parts under their chapter, in page order.
    outline = _outline(reader)
    titles = [title for title, _page, _children in outline]
    assert titles[:7] == ["Approbation", "Historique du document", "Sommaire", "Le périmètre", "Synthèse",
                          "Documents de référence", "Déclaration d'applicabilité"]
    assert "Registre des documents" in titles and "Constats de l'évaluation" in titles
    chapter_12 = next(entry for entry in outline if entry[0].startswith("12."))
    assert [title for title, _page in chapter_12[2]] == ["12.4 Codes malveillants", "12.2 Section 12.2",
                                                          "12.3 Section 12.3", "12.6 Section 12.6"]
    pages = [number for _title, page, children in outline for number in [page, *(p for _t, p in children)]]
    assert pages == sorted(pages)
    # Every pinned version is in the register with its full SHA-256.
    joined = "".join(texts)
    assert all(e["sha256"] in joined for e in snapshot["evidence"] if e["sha256"])


@pytest.mark.sqlite_only  # PDF layout, not SQL
def test_workers_and_cache_do_not_change_a_byte(tiny, small_runs):
    """In this process or in worker processes, from the cache or not: the same snapshot, the same PDF."""
    app = tiny
    _id, sha, snapshot = generate(app)
    larger = _larger(snapshot)
    with app.app_context():
        store = storage.get_store(app)
        app.config["DOSSIER_CACHE"] = False
        alone = render_pdf(larger, "fr", store, workers=1, settings=context.dossier_settings())
        app.config["DOSSIER_CACHE"] = True
        shutil.rmtree(Path(app.instance_path) / "dossier-cache", ignore_errors=True)
        parallel = render_pdf(larger, "fr", store, workers=2, settings=context.dossier_settings())
        assert parallel.stats.workers == 2 and parallel.stats.cached == 0
        cached = render_pdf(larger, "fr", store, workers=2, settings=context.dossier_settings())
        assert cached.stats.rendered == 0 and cached.stats.workers == 1
    assert alone.pdf == parallel.pdf == cached.pdf


@pytest.mark.sqlite_only  # PDF layout, not SQL
def test_a_new_version_lays_out_only_the_parts_that_changed(tiny, small_runs):
    """Version 2 of a dossier where one evidence's title changed: its register run, the front part and the
    running texts (new version number) are laid out (the items cite it by ref only, so their chapters' runs do
    not change); every other part comes from the cache, and the PDF is the one a rendering without cache gives."""
    import copy

    app = tiny
    _id, _sha, snapshot = generate(app)
    first = _larger(snapshot)
    with app.app_context():
        store = storage.get_store(app)
        stats = render_pdf(first, "fr", store, workers=1, settings=context.dossier_settings()).stats
        total = stats.rendered + stats.cached
        second = copy.deepcopy(first)
        second.update(number=2, taken_at="2026-06-16T09:00:00+00:00")
        changed = next(e for e in second["evidence"] if e["ref"] == "EV-1002")  # cited in 5.2.a and 12.2.a
        changed["title"] = "Preuve ajoutée 2, mise à jour"
        again = render_pdf(second, "fr", store, workers=1, settings=context.dossier_settings())
        run = again.stats
        app.config["DOSSIER_CACHE"] = False
        fresh = render_pdf(second, "fr", store, workers=1, settings=context.dossier_settings())
    # The register run, the front part, the running texts (a new version number).
    assert run.rendered == 3 and run.rendered + run.cached == total, run
    assert again.pdf == fresh.pdf
    text = pdf_text(again.pdf)
    assert "Preuve ajoutée 2, mise à jour" in text and "Dossier SecNumCloud iaas-t v2" in text


def test_worker_processes_use_the_safe_fetcher_and_report_what_it_refused(tiny):
    page = ('<html><head><link rel="stylesheet" href="evidence-asset:css/dossier.css"></head><body>'
            '<h1>{}</h1><img src="{}"></body></html>')
    refused = []
    with PartRenderer(workers=2, refused=refused) as renderer:
        parts = renderer.render([page.format("a", "http://127.0.0.1:9/x"), page.format("b", "file:///etc/passwd")])
    assert [part.pages for part in parts] == [1, 1]
    assert sorted(refused) == ["file:///etc/passwd", "http://127.0.0.1:9/x"]
    assert renderer.stats.rendered == 2 and renderer.stats.cached == 0 and renderer.stats.workers == 2


def test_the_part_cache_keeps_whole_files_within_its_limit(tmp_path):
    cache = PartCache(tmp_path / "cache", limit=3000)
    part = b"%PDF-1.7\n" + b"x" * 1000 + b"\n%%EOF\n"
    for n in range(4):
        cache.put(f"{n:064x}", part)
    assert cache.get(f"{0:064x}") == part and cache.get("f" * 64) is None
    (tmp_path / "cache" / "00" / f"{1:064x}.pdf").write_bytes(b"%PDF-1.7\ntruncated")  # an interrupted copy
    assert cache.get(f"{1:064x}") is None
    cache.prune()
    assert sum(f.stat().st_size for f in (tmp_path / "cache").glob("*/*.pdf")) <= 3000
    assert not list((tmp_path / "cache").glob("*/.*.tmp"))


def test_worker_processes_load_neither_the_application_nor_flask():
    """A worker is parts.py alone, loaded by path: laying a part out there imports WeasyPrint (and the
    fetcher, by path too), never the application's package, Flask, Jinja or SQLAlchemy."""
    request = io.BytesIO()
    send_frames(request, b'<html><head><link rel="stylesheet" href="evidence-asset:css/dossier.css"></head>'
                         b'<body><p>Une page</p></body></html>')
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", Worker.BOOT, str(Worker.SOURCE)],
                          input=request.getvalue(), capture_output=True, timeout=300)
    answers = io.BytesIO(done.stdout)
    header, pdf = receive_frame(answers), receive_frame(answers)
    assert header is not None, done.stderr.decode()[-2000:]
    assert json.loads(header)["refused"] == [] and pdf.startswith(b"%PDF")
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.decode().splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "weasyprint" in imported
    forbidden = ("evidence", "flask", "flask_babel", "jinja2", "werkzeug", "sqlalchemy", "sqlmodel")
    assert sorted(m for m in imported if m.split(".")[0] in forbidden) == []


def test_the_dossier_package_reads_nothing_of_the_flask_app():
    """No module of evidence/dossier/ imports Flask (current_app, g, request) nor a boundary: what it needs
    comes in as arguments (Flask-Babel's words excepted)."""
    root = Path(dossier_view.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                assert name != "flask" and not name.startswith("flask."), (path.name, name)
                assert not name.startswith(("evidence.web", "evidence.cli", "evidence.context")), (path.name, name)


def test_dossier_settings_from_the_application_config(tmp_path):
    """The environment's text arrives typed through the one settings table, and the dossier reads it as is."""
    from evidence import settings as product_settings

    def configured(environ):
        return {**product_settings.defaults(), **product_settings.from_environment(environ)}

    templates = object()  # the app's Jinja environment, passed through as it is
    settings = DossierSettings.from_config(configured({
        "EVIDENCE_ORGANISATION": "Nuage SAS", "EVIDENCE_DOSSIER_MAX_ATTACHMENTS": "1048576",
        "EVIDENCE_DOSSIER_RENDER_WORKERS": "3", "EVIDENCE_DOSSIER_CACHE_LIMIT": "4096"}), tmp_path, templates)
    assert settings.templates is templates and settings.organisation == "Nuage SAS"
    assert settings.max_attachments == 1048576 and settings.workers == 3
    assert settings.cache.folder == tmp_path / "dossier-cache" and settings.cache.limit == 4096
    elsewhere = DossierSettings.from_config(configured({"EVIDENCE_DOSSIER_CACHE_DIR": str(tmp_path / "parts")}),
                                            tmp_path, templates)
    assert elsewhere.cache.folder == tmp_path / "parts"
    for off in ("0", "false", "No", " off "):
        config = configured({"EVIDENCE_DOSSIER_CACHE": off})
        assert DossierSettings.from_config(config, tmp_path, templates).cache is None, off
    defaults = DossierSettings.from_config(configured({}), tmp_path, templates)
    assert defaults.organisation == "" and defaults.workers is None and defaults.max_attachments == DEFAULT_MAX_ATTACHMENTS
