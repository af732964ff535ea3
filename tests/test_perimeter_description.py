"""What the dossier reads that the team enters: the perimeter's structured description, its reference documents and
architecture diagrams, an evidence's document version (form and import) and an action's residual risk."""
from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlmodel import select

from evidence.cli.evidence import perimeter_document
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Action, AuditEvent, Evidence, EvidenceVersion, Perimeter, PerimeterDocument, User
from evidence.services import perimeter_documents
from evidence.services.evidence import EvidenceData, create_evidence
from evidence.services.perimeters import MAX_DESCRIPTION_PART, PerimeterData, create_perimeter

from .conftest import csrf_token, login

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), "white").save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def world(catalogue_loaded, users):
    """Two perimeters, each with its own evidence: a policy (PDF), a PNG diagram and a text file."""
    app = catalogue_loaded
    refs = {}
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        store = storage.get_store(app)
        for code in ("iaas-fr1", "saas-collab"):
            perimeter = create_perimeter(session, manager, PerimeterData(code=code, name=code, service_types=("IaaS",)))
            for name, content, filename in (("policy", b"%PDF-1.4 PSSI", "pssi.pdf"), ("diagram", png_bytes(), "archi.png"),
                                            ("text", b"not an image at all", "archi.txt")):
                evidence = create_evidence(session, manager, EvidenceData(title=f"{code} {name}", kind="report",
                                                                          perimeter_ids=[perimeter.id]),
                                           store=store, upload=io.BytesIO(content), filename=filename)
                refs[code, name] = evidence.ref
    return SimpleNamespace(app=app, refs=refs)


def edit_data(client, code="iaas-fr1", **fields) -> dict:
    return {"csrf_token": csrf_token(client, f"/perimeters/{code}/edit"), "code": code, "name": code,
            "service_types": ["IaaS"], "framework": "secnumcloud-3.2", "phase": "preparation", "built_on": "",
            "version": "1", **fields}


# --- the structured description ---------------------------------------------------------------------------


def test_the_structured_description_is_edited_in_the_form_and_shown_on_the_page(world, client, login_as):
    login_as("manager")
    description = {"service_offer": "IaaS souverain : instances, volumes <chiffrés>", "customers": "Collectivités",
                   "interconnections": "- Internet\n- Fibre noire LYS1-LYS2", "administration": "Bastion Wallix, MFA",
                   "out_of_scope": "SI interne"}
    response = client.post("/perimeters/iaas-fr1/edit", data=edit_data(client, **description))
    assert response.status_code == 302
    page = client.get("/perimeters/iaas-fr1").get_data(as_text=True)
    for label in ("Offre de service", "Commanditaires et utilisateurs", "Interconnexions", "Chemins d'administration",
                  "Hors périmètre"):
        assert label in page
    assert "instances, volumes &lt;chiffrés&gt;" in page and "Bastion Wallix, MFA" in page
    with world.app.app_context(), db.session_scope(world.app) as session:
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-fr1")).one()
        assert perimeter.interconnections == "- Internet\n- Fibre noire LYS1-LYS2"
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "perimeter.update")).one()
        assert event.details["changes"]["administration"] == ["", "Bastion Wallix, MFA"]


def test_a_description_part_over_its_limit_is_refused_beside_its_field(world, client, login_as):
    login_as("manager")
    page = client.post("/perimeters/iaas-fr1/edit", data=edit_data(
        client, customers="x" * (MAX_DESCRIPTION_PART + 1), service_offer="kept?")).get_data(as_text=True)
    assert 'id="customers-error">Pas plus de 4000 caractères.' in page
    with world.app.app_context(), db.session_scope(world.app) as session:
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-fr1")).one()
        assert perimeter.customers == "" and perimeter.service_offer == ""  # nothing saved
    # Without the CSRF token nothing is saved either.
    data = edit_data(client, service_offer="sans jeton")
    del data["csrf_token"]
    client.post("/perimeters/iaas-fr1/edit", data=data)
    with world.app.app_context(), db.session_scope(world.app) as session:
        assert session.exec(select(Perimeter).where(Perimeter.code == "iaas-fr1")).one().service_offer == ""


# --- reference documents and diagrams ---------------------------------------------------------------------


def designations(app) -> list[tuple]:
    with app.app_context(), db.session_scope(app) as session:
        return [(d.role, session.get(Evidence, d.evidence_id).ref, d.note) for d in session.exec(select(PerimeterDocument))]


def test_the_page_lists_every_role_and_designates_the_perimeters_own_evidence(world, client, login_as):
    login_as("manager")
    page = client.get("/perimeters/iaas-fr1").get_data(as_text=True)
    assert page.count("manquant") == 10  # nine reference documents and the architecture diagram
    assert "Politique de sécurité du service (5.2.a)" in page and "(18.2.2.a)" in page
    token = csrf_token(client, "/perimeters/iaas-fr1")
    policy = world.refs["iaas-fr1", "policy"]
    response = client.post("/perimeters/iaas-fr1/documents", data={
        "csrf_token": token, "role": "risk_assessment", "evidence": policy, "note": "EBIOS RM"})
    assert response.status_code == 302
    client.post("/perimeters/iaas-fr1/documents", data={
        "csrf_token": token, "role": "architecture", "evidence": world.refs["iaas-fr1", "diagram"], "note": ""})
    assert sorted(designations(world.app)) == [("architecture", world.refs["iaas-fr1", "diagram"], ""),
                                               ("risk_assessment", policy, "EBIOS RM")]
    page = client.get("/perimeters/iaas-fr1").get_data(as_text=True)
    assert page.count("manquant") == 8 and "EBIOS RM" in page
    with world.app.app_context(), db.session_scope(world.app) as session:
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("perimeter.document%")))]
        assert actions == ["perimeter.document.designate"] * 2
    client.post("/perimeters/iaas-fr1/documents/remove", data={"csrf_token": token, "role": "risk_assessment",
                                                               "evidence": policy, "confirmed": "1"})
    assert designations(world.app) == [("architecture", world.refs["iaas-fr1", "diagram"], "")]


def test_designation_refuses_another_perimeters_evidence_and_a_diagram_that_is_no_image_on_the_web(
        world, client, login_as, users):
    login_as("manager")
    token = csrf_token(client, "/perimeters/iaas-fr1")

    def designate(role, ref):
        return client.post("/perimeters/iaas-fr1/documents", data={"csrf_token": token, "role": role, "evidence": ref},
                           follow_redirects=True).get_data(as_text=True)

    page = designate("security_policy", world.refs["saas-collab", "policy"])
    assert "n’est pas valable pour le périmètre iaas-fr1" in page
    page = designate("architecture", world.refs["iaas-fr1", "policy"])
    assert "PNG ou JPEG" in page
    page = designate("architecture", world.refs["iaas-fr1", "text"])
    assert "PNG ou JPEG" in page
    assert designations(world.app) == []
    auditor = world.app.test_client()  # designating is the compliance team's
    login(auditor, users["auditor"].email)
    response = auditor.post("/perimeters/iaas-fr1/documents", data={
        "csrf_token": csrf_token(auditor, "/perimeters/iaas-fr1"), "role": "security_policy",
        "evidence": world.refs["iaas-fr1", "policy"]})
    assert response.status_code == 403 and designations(world.app) == []


def test_a_diagram_is_judged_by_its_bytes_not_only_by_its_recorded_type(world):
    with world.app.app_context(), db.session_scope(world.app) as session:
        evidence = session.exec(select(Evidence).where(Evidence.ref == world.refs["iaas-fr1", "text"])).one()
        version = session.exec(select(EvidenceVersion).where(EvidenceVersion.evidence_id == evidence.id)).one()
        version.media_type = "image/png"  # a type that does not match the content
        session.add(version)
        session.commit()
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-fr1")).one()
        with pytest.raises(Exception, match="son contenu ne commence pas comme tel"):
            perimeter_documents.designate(session, "cli:test", perimeter, "architecture", evidence,
                                          store=storage.get_store(world.app))


def test_the_command_line_designates_lists_refuses_and_removes(world):
    runner = world.app.test_cli_runner()

    def run(*args):
        return runner.invoke(perimeter_document, list(args))

    result = run("set", "iaas-fr1", "security_policy", world.refs["iaas-fr1", "policy"], "--note", "v4.2")
    assert result.exit_code == 0, result.output
    result = run("set", "iaas-fr1", "service_agreement", world.refs["saas-collab", "policy"])
    assert result.exit_code == 1 and "is not valid for the perimeter iaas-fr1" in result.output
    result = run("set", "iaas-fr1", "architecture", world.refs["iaas-fr1", "text"])
    assert result.exit_code == 1 and "PNG or JPEG" in result.output
    result = run("set", "iaas-fr1", "architecture", world.refs["iaas-fr1", "diagram"])
    assert result.exit_code == 0, result.output
    listing = run("list", "iaas-fr1").output
    assert re.search(r"security_policy\s+5\.2\.a\s+EV-\d+ .*\(v4\.2\)", listing)
    assert re.search(r"passi_audit\s+18\.2\.2\.a\s+missing", listing)
    result = run("remove", "iaas-fr1", "security_policy", world.refs["iaas-fr1", "policy"])
    assert result.exit_code == 0, result.output
    assert designations(world.app) == [("architecture", world.refs["iaas-fr1", "diagram"], "")]
    with world.app.app_context(), db.session_scope(world.app) as session:
        events = [(e.action, e.actor) for e in session.exec(
            select(AuditEvent).where(AuditEvent.action.like("perimeter.document%")).order_by(AuditEvent.id))]
        assert [a for a, _who in events] == ["perimeter.document.designate"] * 2 + ["perimeter.document.remove"]
        assert all(who.startswith("cli") for _a, who in events)


# --- the evidence's document version -----------------------------------------------------------------------


def test_document_version_is_edited_in_the_evidence_form(world, client, login_as):
    login_as("manager")
    ref = world.refs["iaas-fr1", "policy"]
    page = client.get(f"/evidence/{ref}/edit").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "version": "1", "title": "PSSI", "kind": "policy", "classification": "internal",
            "owner": "", "perimeters": [], "requirements": ""}
    with world.app.app_context(), db.session_scope(world.app) as session:
        evidence = session.exec(select(Evidence).where(Evidence.ref == ref)).one()
        data["owner"], data["perimeters"] = str(evidence.owner_id), [str(p.id) for p in session.exec(
            select(Perimeter).where(Perimeter.code == "iaas-fr1"))]
    page = client.post(f"/evidence/{ref}/edit", data={**data, "document_version": "v" * 41}).get_data(as_text=True)
    assert 'id="document_version-error">la version du document dépasse 40 caractères' in page
    assert client.post(f"/evidence/{ref}/edit", data={**data, "document_version": " 4.2 "}).status_code == 302
    assert "4.2" in client.get(f"/evidence/{ref}").get_data(as_text=True)
    with world.app.app_context(), db.session_scope(world.app) as session:
        assert session.exec(select(Evidence).where(Evidence.ref == ref)).one().document_version == "4.2"


def test_the_manifest_imports_document_version_and_refuses_one_too_long(world, tmp_path):
    root = tmp_path / "files"
    root.mkdir()
    (root / "pssi.pdf").write_bytes(b"%PDF-1.4 PSSI 4.2")
    (root / "pca.pdf").write_bytes(b"%PDF-1.4 PCA 2.3")

    def manifest(rows):
        buffer = io.StringIO()
        csv.writer(buffer).writerows([["file", "title", "perimeters", "document_version"], *rows])
        path = tmp_path / "manifest.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        return path

    runner = world.app.test_cli_runner()
    bad = runner.invoke(args=["import", str(manifest([["pca.pdf", "PCA", "iaas-fr1", "2." * 21]])), "--root", str(root),
                              "--as", "manager@example.org"])
    assert bad.exit_code == 1
    assert "row 2, column document_version" in bad.output and "longer than 40 characters" in bad.output, bad.output
    good = runner.invoke(args=["import", str(manifest([["pssi.pdf", "PSSI", "iaas-fr1", "4.2"]])), "--root", str(root),
                               "--as", "manager@example.org"])
    assert good.exit_code == 0, good.output
    with world.app.app_context(), db.session_scope(world.app) as session:
        assert session.exec(select(Evidence).where(Evidence.title == "PSSI")).one().document_version == "4.2"
        assert session.exec(select(Evidence).where(Evidence.title == "PCA")).first() is None


# --- the action's residual risk ---------------------------------------------------------------------------


def test_residual_risk_is_saved_from_the_action_form_and_listed(world, client, login_as):
    login_as("manager")
    url = "/perimeters/iaas-fr1/actions"
    token = csrf_token(client, url)
    response = client.post(url, data={"csrf_token": token, "title": "Cartographie à approuver", "status": "open",
                                      "owner": "", "residual_risk": "high"})
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Risque résiduel" in page and "élevé" in page
    with world.app.app_context(), db.session_scope(world.app) as session:
        action = session.exec(select(Action)).one()
        assert action.residual_risk == "high"
        action_id = action.id
    client.post(f"{url}/{action_id}", data={"csrf_token": token, "title": "Cartographie à approuver",
                                             "status": "in_progress", "owner": "", "residual_risk": "medium"})
    page = client.post(url, data={"csrf_token": token, "title": "Autre", "status": "open", "owner": "",
                                  "residual_risk": "extreme"}).get_data(as_text=True)
    assert "risque résiduel « extreme » inconnu" in page
    with world.app.app_context(), db.session_scope(world.app) as session:
        assert [(a.residual_risk, a.status) for a in session.exec(select(Action))] == [("medium", "in_progress")]
