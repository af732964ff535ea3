"""Evidence: upload, versions, download safety, review with four eyes, verify."""
import io
import os

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import AuditEvent, Evidence, EvidencePerimeter, EvidenceVersion, User
from evidence.services.perimeters import PerimeterData, create_perimeter

from .conftest import csrf_token, login


@pytest.fixture
def perimeter(catalogue_loaded, users) -> int:
    """The id of a perimeter the evidence of these tests is valid for (it is linked to no control)."""
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        manager = session.get(User, users["manager"].id)
        return create_perimeter(session, manager, PerimeterData(code="iaas-fr1", name="IaaS", service_types=("IaaS",))).id


def upload(client, perimeter, content=b"rapport", filename="rapport.txt", **fields):
    data = {"csrf_token": csrf_token(client, "/evidence/new"), "title": "Rapport EDR", "kind": "report", "owner": "",
            "classification": "internal", "requirements": "12.4.a", "perimeters": [str(perimeter)],
            "file": (io.BytesIO(content), filename), **fields}
    return client.post("/evidence/new", data=data, content_type="multipart/form-data")


def test_upload_new_version_and_idempotent_reupload(catalogue_loaded, client, login_as, perimeter):
    login_as("contributor")
    assert upload(client, perimeter).headers["Location"] == "/evidence/EV-0001"
    token = csrf_token(client, "/evidence/EV-0001")
    client.post("/evidence/EV-0001/versions", data={"csrf_token": token, "file": (io.BytesIO(b"rapport"), "same.txt")},
                content_type="multipart/form-data")
    client.post("/evidence/EV-0001/versions", data={"csrf_token": token, "file": (io.BytesIO(b"rapport v2"), "v2.txt"),
                                                    "note": "mise à jour"}, content_type="multipart/form-data")
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        versions = session.exec(select(EvidenceVersion).order_by(EvidenceVersion.number)).all()
        assert [(v.number, v.original_filename, v.size) for v in versions] == [(1, "rapport.txt", 7), (2, "v2.txt", 10)]
        assert versions[0].sha256 == "c7fd5a4b1cd71b7e0fcf4d2437b6ce99c9a9a1b3c9d9ab26ef5d2d6f4bc0a9b5" or len(versions[0].sha256) == 64
        assert storage.get_store(catalogue_loaded).exists(versions[1].storage_key)
        assert session.exec(select(EvidencePerimeter.perimeter_id)).all() == [perimeter]  # a new version keeps the scope


def test_file_name_is_sanitised_and_type_sniffed(catalogue_loaded, client, login_as, perimeter):
    login_as("manager")
    upload(client, perimeter, content=b"%PDF-1.4 fake", filename="../../etc/\u202eevil.txt")
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        version = session.exec(select(EvidenceVersion)).one()
        assert version.original_filename == "evil.txt"  # no directory part, no bidi override
        assert version.media_type == "application/pdf"  # from the bytes, not from the name


def test_uploaded_html_is_never_rendered(catalogue_loaded, client, login_as, perimeter):
    login_as("contributor")
    upload(client, perimeter, content=b"<html><script>alert(document.cookie)</script></html>", filename="page.html")
    response = client.get("/evidence/EV-0001/versions/1/download")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    login_as_auditor = client
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    from .conftest import login as do_login

    do_login(login_as_auditor, "auditor@example.org")
    assert login_as_auditor.get("/evidence/EV-0001/versions/1/download").status_code == 200


def test_link_evidence(catalogue_loaded, client, login_as, perimeter):
    login_as("contributor")
    response = client.post("/evidence/new", data={
        "csrf_token": csrf_token(client, "/evidence/new"), "title": "Tableau de bord SOC", "kind": "link", "owner": "",
        "classification": "internal", "requirements": "", "url": "https://soc.example.internal/dash",
        "perimeters": [str(perimeter)],
    })
    assert response.status_code == 302
    page = client.post("/evidence/new", data={
        "csrf_token": csrf_token(client, "/evidence/new"), "title": "X", "kind": "link", "owner": "",
        "classification": "internal", "requirements": "", "url": "file:///etc/passwd", "perimeters": [str(perimeter)],
    }).get_data(as_text=True)
    assert "seules les adresses https:// sont admises" in page


def test_review_needs_four_eyes(catalogue_loaded, app, users, perimeter):
    contributor, manager, other = app.test_client(), app.test_client(), app.test_client()
    app.config["ADMIN_APPROVES"] = True  # the admin is the second reviewer here (one manager in the fixtures)
    login(contributor, "contributor@example.org")
    upload(contributor, perimeter)
    token = csrf_token(contributor, "/evidence/EV-0001")
    contributor.post("/evidence/EV-0001/review/submit", data={"csrf_token": token, "version": "1"})
    # The contributor cannot approve at all.
    assert contributor.post("/evidence/EV-0001/review/approve", data={"csrf_token": token, "version": "2"}).status_code == 403

    login(manager, "manager@example.org")
    token = csrf_token(manager, "/evidence/EV-0001")
    manager.post("/evidence/EV-0001/versions", data={"csrf_token": token, "file": (io.BytesIO(b"corrected"), "c.txt")},
                 content_type="multipart/form-data")
    manager.post("/evidence/EV-0001/review/submit", data={"csrf_token": token, "version": "3"})
    page = manager.post("/evidence/EV-0001/review/approve", data={"csrf_token": token, "version": "4"},
                        follow_redirects=True).get_data(as_text=True)
    assert "un autre responsable doit la revoir (quatre yeux)" in page

    login(other, "admin@example.org")
    token = csrf_token(other, "/evidence/EV-0001")
    page = other.post("/evidence/EV-0001/review/reject", data={"csrf_token": token, "version": "4", "comment": ""},
                      follow_redirects=True).get_data(as_text=True)
    assert "EV-0001 : dites pourquoi elle est rejetée" in page
    other.post("/evidence/EV-0001/review/approve", data={"csrf_token": token, "version": "4", "comment": "OK"})
    with app.app_context(), db.session_scope(app) as session:
        evidence = session.exec(select(Evidence)).one()
        assert evidence.status == "approved" and evidence.reviewed_by_id == users["admin"].id
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.object_type == "evidence").order_by(AuditEvent.seq))]
        assert actions == ["evidence.create", "evidence.submit", "evidence.version", "evidence.submit", "evidence.approve"]


def test_auditor_sees_no_edit_controls_and_cannot_post(catalogue_loaded, client, login_as, app, users, perimeter):
    login_as("contributor")
    upload(client, perimeter)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login_as("auditor")
    page = client.get("/evidence/EV-0001").get_data(as_text=True)
    assert "Modifier" not in page and "Nouvelle version" not in page and "Soumettre" not in page
    token = csrf_token(client, "/evidence/EV-0001")
    assert client.post("/evidence/EV-0001/review/submit", data={"csrf_token": token, "version": "1"}).status_code == 403
    assert upload(client, perimeter).status_code == 403


def test_upload_over_the_limit_gets_413_and_stores_nothing(catalogue_loaded, client, login_as, app, perimeter):
    login_as("contributor")
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    response = upload(client, perimeter, content=os.urandom(60_000), filename="big.bin")
    assert response.status_code == 413 and "Fichier trop volumineux" in response.get_data(as_text=True)
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(Evidence)).all() == []


def test_verify_catches_a_corrupted_blob(catalogue_loaded, client, login_as, runner, app, perimeter):
    login_as("contributor")
    upload(client, perimeter, content=b"original bytes")
    assert runner.invoke(args=["verify"]).exit_code == 0
    with app.app_context(), db.session_scope(app) as session:
        key = session.exec(select(EvidenceVersion.storage_key)).one()
    path = storage.get_store(app).root / key
    os.chmod(path, 0o640)
    path.write_bytes(b"tampered bytes")
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1
    assert "EV-0001 v1: corrupt" in result.output and "1 problem(s) found" in result.output
    path.unlink()
    assert "EV-0001 v1: missing" in runner.invoke(args=["verify"]).output
