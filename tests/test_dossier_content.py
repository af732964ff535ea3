"""What the dossier says: French throughout (no internal key, no English unit or sentence), English throughout
from the catalogue's English, the statement of applicability as a table, reference documents, diagrams made
safe, actions beside the gaps, the draft mark and the approval page."""
import copy
import io
import re
import subprocess
from datetime import date

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlmodel import select

from evidence import context
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Requirement, Site
from evidence.dossier import diagrams
from evidence.dossier import view as dossier_view
from evidence.dossier.generate import render_pdf
from evidence.dossier.snapshot import take_snapshot
from evidence.services import evidence as evidence_items
from evidence.services import findings, perimeter_documents, perimeters
from tests.conftest import seed_tiny_perimeter

from .test_dossier import APPROVED, DAY

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only

# Words that are English and never French: one of them in the French dossier is a sentence left untranslated.
ENGLISH = ("the", "and", "with", "missing", "covered", "none", "approved", "expired", "draft", "owner", "shareholding",
           "seats", "holders", "evidence", "requirement", "findings", "action plan", "statement", "since", "not")
SNAKE_CASE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
ENGLISH_UNITS = re.compile(r"\b(?:[kKMG]i?B|bytes?|Bytes?)\b")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def png(width=120, height=80, colour=(31, 58, 104), **info) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), colour)
    if info:
        from PIL import PngImagePlugin

        meta = PngImagePlugin.PngInfo()
        for key, value in info.items():
            meta.add_text(key, value)
        image.save(out, format="PNG", pnginfo=meta)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def pdftotext(data: bytes, layout: bool = False) -> list[str]:
    """The text of each page as poppler reads it (what an evaluator copies out of the PDF); `layout` keeps each
    line of a table on one line."""
    done = subprocess.run(["pdftotext", *(["-layout"] if layout else []), "-", "-"], input=data, capture_output=True,
                          check=True)
    return done.stdout.decode().split("\f")


@pytest.fixture
def described(app, users):
    """The tiny perimeter with its structured description, a site, reference documents (one approved, one only
    designated), a safe diagram and a file that only looks like one, an action on a gap and one on a finding."""
    app.config["TODAY"] = DAY
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users, service_offer="Machines virtuelles et stockage bloc pour les administrations.", customers="Ministères et opérateurs d'importance vitale, par le portail et l'API.", interconnections="Réseau interministériel (RIE) et internet via deux passerelles filtrantes.", administration="Depuis le centre d'opérations de Lyon, par bastion et authentification forte.", out_of_scope="Les postes de travail des commanditaires.")
        manager, contributor, perimeter, control = tiny.manager, tiny.contributor, tiny.perimeter, tiny.control
        requirement = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
        session.add(Site(perimeter_id=perimeter.id, kind="datacenter", name="LYS-1", role="Production",
                         city="Vénissieux", country="FR"))
        session.commit()
        store = storage.get_store(app)

        def add(title, content, filename, kind="report", **extra):
            evidence = evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
                title=title, kind=kind, control_ids=[control.id], effective_date=date(2026, 3, 1), **extra),
                store=store, upload=io.BytesIO(content), filename=filename)
            evidence_items.review(session, contributor, evidence, "submit")
            evidence_items.review(session, manager, evidence, "approve")
            return evidence

        policy = add("Politique de sécurité du service", b"%PDF-1.4 pssi", "pssi.pdf", kind="policy",
                     document_version="2.3")
        risks = add("Analyse de risques", b"%PDF-1.4 risques", "risques.pdf")
        diagram = add("Schéma des zones réseau", png(), "zones.png", kind="screenshot")
        broken = add("Schéma tronqué", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "tronque.png", kind="screenshot")
        perimeter_documents.designate(session, manager, perimeter, "security_policy", policy)
        perimeter_documents.designate(session, manager, perimeter, "risk_assessment", risks, "EBIOS RM")
        perimeter_documents.designate(session, manager, perimeter, "architecture", diagram, store=store)
        perimeter_documents.designate(session, manager, perimeter, "architecture", broken, store=store)
        finding = findings.create_finding(session, manager, perimeter, findings.FindingData(
            severity="minor", text="Revue des comptes à formaliser", requirement_id=requirement.id))
        findings.save_action(session, manager, perimeter, findings.ActionData(
            title="Déployer l'analyse des passerelles", owner_id=manager.id, due_date=date(2026, 9, 30),
            requirement_ids=[requirement.id], residual_risk="medium"))
        findings.save_action(session, manager, perimeter, findings.ActionData(
            title="Formaliser la revue des comptes", finding_ids=[finding.id], residual_risk="low"))
    return app


def snapshot_of(app, marking="") -> dict:
    with app.app_context(), db.session_scope(app) as session:
        snapshot = take_snapshot(session, perimeters.get_perimeter(session, "iaas-t"), DAY,
                                 {"marking": marking, "attach_evidence": False}, organisation="Nuage SAS")
    snapshot["number"] = 1
    return snapshot


def rendered(app, snapshot, lang="fr", signoff=None) -> bytes:
    with app.app_context():
        return render_pdf(snapshot, lang, storage.get_store(app), settings=context.dossier_settings(),
                          signoff=signoff).pdf


def test_the_french_dossier_is_french(described):
    app = described
    snapshot = snapshot_of(app)
    pages = pdftotext(rendered(app, snapshot, "fr"))
    text = "\n".join(pages)
    flat = " ".join(text.split())
    assert SNAKE_CASE.findall(text) == []  # no internal key (registered_office, non_eu_combined, not_covered…)
    assert ENGLISH_UNITS.findall(text) == []  # sizes in octets, ko, Mo
    assert ISO_DATE.findall(text) == []  # dates are written out or day/month/year
    words = set(re.findall(r"[a-zA-Z]+", text.lower()))
    assert sorted(w for w in ENGLISH if " " not in w and w in words) == []
    assert "Diffusion restreinte" not in flat  # no marking unless one is set
    # Structured perimeter, site with its role, reference documents, actions beside the gaps.
    for expected in ("Offre de service", "Machines virtuelles et stockage bloc", "Chemins d'administration",
                     "Hors périmètre", "LYS-1", "Production", "Vénissieux", "Déclaration d'applicabilité",
                     "Documents de référence", "EBIOS RM", "Registre des documents", "Déployer l'analyse des passerelles",
                     "risque résiduel moyen", "Formaliser la revue des comptes", "01/03/2026", "15 juin 2026"):
        assert expected in flat, expected
    # The policy's own version and its approver; a role with nothing designated is missing.
    assert re.search(r"Politique de sécurité du service \(5\.2\.a\)\s+EV-\d+ Politique de sécurité du service\s+2\.3", flat)
    assert re.search(r"Convention de service \(19\.1\.a\)\s+manquant", flat)
    assert re.search(r"Revue initiale indépendante par un PASSI \(18\.2\.2\.a\)\s+manquant", flat)


def test_the_english_dossier_has_no_french_summary(described):
    app = described
    snapshot = snapshot_of(app)
    flat = " ".join("\n".join(pdftotext(rendered(app, snapshot, "en"))).split())
    items = snapshot["items"]
    assert all(i["summary_en"] for i in items)
    for item in items:
        assert item["summary"] not in flat, item["ref"]
        assert item["summary_en"] in flat, item["ref"]
        assert f"{item['ref']} {item['title_en']}" in flat or item["title_en"] in flat
    for section in snapshot["sections"]:
        assert section["title_en"] in flat
    for entry in (e for i in items for e in i["expected_evidence"]):
        assert entry["text_en"] in flat


def test_the_statement_of_applicability_is_a_table_with_its_header_on_every_page(described, monkeypatch):
    app = described
    snapshot = snapshot_of(app)
    base = [i for i in snapshot["items"] if i["kind"] == "exigence"]
    for n in range(140):  # enough exigences for the table to span pages and runs
        clone = copy.deepcopy(base[n % len(base)])
        clone.update(ref=f"12.9.{n}", section="12.4", chapter="12")
        snapshot["items"].append(clone)
    monkeypatch.setattr(dossier_view, "SOA_RUN", 60)
    data = rendered(app, snapshot, "fr")
    # The table's pages: those that list the added exigences under the part's running header.
    table = [p for p in pdftotext(data, layout=True)
             if "Déclaration d'applicabilité" in p.split("\n", 1)[0] and re.search(r"\b12\.9\.\d+\b", p)]
    assert len(table) >= 4  # several pages, in three runs
    for page in table:
        assert re.search(r"^ *Point +Intitulé +Applicabilité +Couverture +Mesures +Preuves *$", page, re.M), page[:300]
    html = _html_of(app, snapshot)
    assert html.count('<table class="grid soa">') >= 3 and "<thead><tr><th>Point</th><th>Intitulé</th>" in html


def _html_of(app, snapshot) -> str:
    from evidence.dossier.generate import render_html

    with app.app_context():
        return render_html(snapshot, "fr", settings=context.dossier_settings())


def test_diagrams_are_embedded_once_made_safe_and_an_unsafe_one_is_listed(described):
    app = described
    snapshot = snapshot_of(app)
    assert [d["title"] for d in snapshot["diagrams"]] == ["Schéma des zones réseau", "Schéma tronqué"]
    with app.app_context():
        images = diagrams.inline_images(snapshot, storage.get_store(app))
    good, bad = snapshot["diagrams"]
    assert set(images) == {good["sha256"]} and images[good["sha256"]].startswith("data:image/png;base64,")
    data = rendered(app, snapshot, "fr")
    reader = PdfReader(io.BytesIO(data))
    embedded = [name for page in reader.pages
                for name, xobject in (page["/Resources"].get("/XObject") or {}).items()
                if xobject.get_object().get("/Subtype") == "/Image"]
    assert embedded, "the safe diagram is drawn as an image"
    flat = " ".join("\n".join(pdftotext(data)).split())
    assert "Schéma des zones réseau — version 1" in flat
    assert re.search(r"Schéma tronqué — non reproduit", flat)


def test_safe_image_takes_only_real_png_and_jpeg_and_strips_them():
    clean = diagrams.safe_image(png(Comment="secret", Author="someone"))
    assert clean is not None and clean.startswith(b"\x89PNG") and b"secret" not in clean and b"tEXt" not in clean
    jpeg = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(jpeg, format="JPEG")
    assert Image.open(io.BytesIO(diagrams.safe_image(jpeg.getvalue()))).format == "PNG"
    gif = io.BytesIO()
    Image.new("P", (10, 10)).save(gif, format="GIF")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><image href="http://127.0.0.1:9/x"/></svg>'
    bomb = png(8000, 6000, (0, 0, 0))  # 48 million pixels in a few kilobytes
    for refused in (gif.getvalue(), svg, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, bomb, b"", b"\xff\xd8\xff\xe0garbage"):
        assert diagrams.safe_image(refused) is None


def test_a_draft_is_marked_on_every_page_and_an_approved_version_has_its_approval_page(described):
    app = described
    snapshot = snapshot_of(app, marking="C2 – usage interne")
    draft = [" ".join(p.split()) for p in pdftotext(rendered(app, snapshot, "fr")) if p.strip()]
    assert all("PROJET" in page for page in draft), [p[:80] for p in draft if "PROJET" not in p]
    assert "Ce document est un projet" in " ".join(draft)
    assert all("C2 – usage interne" in page for page in draft[1:])
    final = [" ".join(p.split()) for p in pdftotext(rendered(app, snapshot, "fr", APPROVED)) if p.strip()]
    joined = " ".join(final)
    assert "PROJET" not in joined
    for expected in ("Approbation", "Claire Fontaine", "RSSI", "16 juin 2026", "Marc Petit", "Direction",
                     "17 juin 2026", "0" * 64, "Cette version est figée"):
        assert expected in joined, expected
    english = " ".join(" ".join(p.split()) for p in pdftotext(rendered(app, snapshot, "en")))
    assert "PROJET" not in english or "DRAFT" in english  # the English word once the catalogue has it


def test_a_snapshot_taken_before_this_content_still_renders(described):
    """A stored version renders again as it was: a format-1 snapshot has none of the keys added since."""
    app = described
    old = snapshot_of(app)
    for key in ("documents", "diagrams", "changes", "format"):
        old.pop(key)
    for key in ("sites", "service_offer", "customers", "interconnections", "administration", "out_of_scope"):
        old["perimeter"].pop(key)
    for evidence in old["evidence"]:
        for key in ("document_version", "approver", "approved_on"):
            evidence.pop(key)
    for action in old["actions"]:
        for key in ("id", "residual_risk", "requirements", "findings"):
            action.pop(key)
    old["history"] = [{"number": 1, "created_at": "2026-06-01T09:00:00+00:00", "author": "Claire Fontaine",
                       "sha256": "1" * 64, "language": "fr"}]
    old["options"] = {"classification": "Interne", "attach_evidence": False}
    for check in (old.get("sovereignty") or {}).get("checks", []):
        check["problems"] = ["Siège statutaire : non enregistré"]
        check["figures"] = [[key, str(value)] for key, value in check["figures"]]
    flat = " ".join(" ".join(pdftotext(rendered(app, old, "fr"))).split())
    assert "Claire Fontaine" in flat and "1" * 64 in flat and "Siège statutaire : non enregistré" in flat
    assert "Interne" in flat  # the marking it was given then
    assert re.search(r"Convention de service \(19\.1\.a\)\s+manquant", flat)
