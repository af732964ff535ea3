"""The REST API's evidence story, as a pipeline lives it: push a file as evidence, upload a new version with its
digest, submit it; another manager approves (four eyes); the gaps change. And every refusal on the way: problem+json
in the reader's language, the web's words, and nothing written."""
from __future__ import annotations

import base64
import hashlib
import io
import re

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import AuditEvent, Evidence, EvidenceVersion, User
from evidence.services import users as auth

from .api_support import bearer, fingerprint, make_token
from .conftest import PASSWORD, csrf_token, login, seed_tiny_perimeter

PDF = b"%PDF-1.4\n% export EDR, 2026-06\n" + b"x" * 2000
PDF2 = b"%PDF-1.4\n% export EDR, 2026-07\n" + b"y" * 2000


@pytest.fixture
def world(app, users):
    """The tiny perimeter (iaas-t, its control CTL-AV-01 mapped to 12.4.a), a second one (paas-t), a second manager,
    and tokens: each manager's, a contributor's, an auditor's, one limited to paas-t."""
    with app.app_context(), db.session_scope(app) as session:
        seed_tiny_perimeter(session, users)
        from evidence.services import perimeters

        manager = session.get(User, users["manager"].id)
        perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="paas-t", name="Plateforme test", service_types=("PaaS",), framework_key="tiny-1.0"))
        auth.create_user(session, None, "manager2@example.org", "Second Manager", "manager", PASSWORD)
    app.config["TOKENS"] = {
        "manager": make_token(app, "claire", user_email="manager@example.org"),
        "manager2": make_token(app, "bruno", user_email="manager2@example.org"),
        "contributor": make_token(app, "ci-preuves", "contributor"),
        "auditor": make_token(app, "cabinet-audit", "auditor"),
        "paas": make_token(app, "ci-paas", "manager", perimeters=["paas-t"]),
    }
    return app


def token(app, who: str, language: str = "fr", **headers) -> dict:
    return bearer(app.config["TOKENS"][who], language, **headers)


def create_with_file(client, headers, **fields):
    data = {"title": "Export EDR de juin", "kind": "report", "controls": "CTL-AV-01",
            "answers": ["12.4.a#1", "12.4.a#2"], "file": (io.BytesIO(PDF), "edr-juin.pdf"), **fields}
    return client.post("/api/v1/evidence", data=data, headers=headers, content_type="multipart/form-data")


def gap_refs(client, headers) -> set[str]:
    response = client.get("/api/v1/perimeters/iaas-t/gaps", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {gap["ref"] for gap in response.json["gaps"]}


def test_the_done_when_story(world):
    """Create evidence with a file, upload a new version with a Digest, submit; the uploader may not approve (four
    eyes), a second manager's token does; the gaps endpoint shows 12.4.a covered."""
    app, client = world, world.test_client()
    manager, manager2 = token(app, "manager"), token(app, "manager2")
    assert "12.4.a" in gap_refs(client, manager)
    before = client.get("/api/v1/perimeters/iaas-t/gaps", headers=manager).json
    gap = next(g for g in before["gaps"] if g["ref"] == "12.4.a")
    assert gap["reasons"] and gap["sentences"] and {m["id"] for m in gap["missing"]} == {"12.4.a#1", "12.4.a#2"}

    created = create_with_file(client, manager)
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.json
    ref = body["ref"]
    assert created.headers["Location"] == f"/api/v1/evidence/{ref}" and created.headers["ETag"] == '"1"'
    assert body["perimeters"] == ["iaas-t"] and body["controls"] == ["CTL-AV-01"] and body["status"] == "draft"
    assert body["current_version"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert body["current_version"]["media_type"] == "application/pdf"

    digest = base64.b64encode(hashlib.sha256(PDF2).digest()).decode()
    version = client.post(f"/api/v1/evidence/{ref}/versions?filename=edr-juillet.pdf", data=PDF2,
                          headers={**manager, "Content-Type": "application/pdf", "Digest": f"sha-256={digest}"})
    assert version.status_code == 201, version.get_data(as_text=True)
    assert version.json["current_version"]["number"] == 2
    assert version.json["current_version"]["filename"] == "edr-juillet.pdf"

    submitted = client.post(f"/api/v1/evidence/{ref}/review", json={"action": "submit"}, headers=manager)
    assert submitted.status_code == 200 and submitted.json["status"] == "in_review"

    refused = client.post(f"/api/v1/evidence/{ref}/review", json={"action": "approve"}, headers=manager)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert "quatre yeux" in refused.json["detail"]
    approved = client.post(f"/api/v1/evidence/{ref}/review", json={"action": "approve", "comment": "vu"},
                           headers=manager2)
    assert approved.status_code == 200, approved.get_data(as_text=True)
    assert approved.json["status"] == "approved"
    assert "12.4.a" not in gap_refs(client, manager)

    listed = client.get("/api/v1/evidence?status=approved&perimeter=iaas-t", headers=manager2).json
    assert [e["ref"] for e in listed["items"]] == [ref] and listed["total"] == 1
    download = client.get(f"/api/v1/evidence/{ref}/versions/2/file", headers=token(app, "auditor"))
    assert download.status_code == 200 and download.data == PDF2
    assert "attachment" in download.headers["Content-Disposition"]
    versions = client.get(f"/api/v1/evidence/{ref}/versions", headers=manager).json
    assert [v["number"] for v in versions["items"]] == [2, 1]

    with app.app_context(), db.session_scope(app) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.object_id == ref).order_by(AuditEvent.seq)).all()
        assert [(e.action, e.details.get("token")) for e in events] == [
            ("evidence.create", "claire"), ("evidence.version", "claire"), ("evidence.submit", "claire"),
            ("evidence.approve", "bruno")]
        assert events[0].actor == "manager@example.org" and events[-1].actor == "manager2@example.org"


@pytest.mark.sqlite_only  # the API's answers; the story, the digest and the scope run on both databases
def test_the_four_eyes_refusal_has_the_web_form_s_words(world):
    app, client = world, world.test_client()
    ref = create_with_file(client, token(app, "manager")).json["ref"]
    client.post(f"/api/v1/evidence/{ref}/review", json={"action": "submit"}, headers=token(app, "manager"))
    api = client.post(f"/api/v1/evidence/{ref}/review", json={"action": "approve"}, headers=token(app, "manager"))
    web = app.test_client()
    login(web, "manager@example.org")
    page = web.post(f"/evidence/{ref}/review/approve", data={"csrf_token": csrf_token(web, f"/evidence/{ref}"),
                                                             "version": 2}, follow_redirects=True)
    flashed = re.sub(r"\s+", " ", page.get_data(as_text=True))
    assert api.json["detail"] in flashed.replace("&#39;", "'").replace("&amp;", "&")
    assert api.json["detail"].startswith(f"{ref} : vous avez déposé sa version actuelle")


@pytest.mark.parametrize("who, fields, status", [
    ("auditor", {}, 403),  # an auditor reads, never writes
    ("paas", {}, 403),  # a token limited to paas-t writing evidence of iaas-t
    ("revoked", {}, 401),
    ("expired", {}, 401),
    ("none", {}, 401),
    ("manager", {"controls": "CTL-NOPE"}, 422),
    ("manager", {"kind": "automated"}, 422),
])
@pytest.mark.sqlite_only  # the API's answers; the story, the digest and the scope run on both databases
def test_refused_writes_leave_nothing_behind(world, who, fields, status):
    app, client = world, world.test_client()
    if who == "revoked":
        from evidence.services import api_tokens

        with app.app_context(), db.session_scope(app) as session:
            api_tokens.revoke_token(session, "cli:test", "claire")
    if who == "expired":
        from datetime import timedelta

        from evidence.data.models import ApiToken, utcnow

        with app.app_context(), db.session_scope(app) as session:
            row = session.exec(select(ApiToken).where(ApiToken.name == "claire")).one()
            row.expires_at = utcnow() - timedelta(minutes=1)
            session.add(row)
            session.commit()
    headers = {"Accept-Language": "fr"} if who == "none" else token(
        app, "manager" if who in ("revoked", "expired") else who)
    before = fingerprint(app)
    response = create_with_file(client, headers, **fields)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert set(response.json) >= {"type", "title", "status", "detail"} and response.json["status"] == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if who == "paas":
        assert "iaas-t" in response.json["detail"] and response.json["type"].endswith("out-of-scope")
    if status == 422:
        assert response.json["errors"] and response.json["errors"][0]["field"] in ("controls", "kind")
    assert fingerprint(app) == before


def test_a_digest_that_does_not_match_stores_nothing(world):
    app, client = world, world.test_client()
    ref = create_with_file(client, token(app, "manager")).json["ref"]
    before = fingerprint(app)
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    for header, value in (("Digest", f"sha-256={wrong}"), ("Repr-Digest", f"sha-256=:{wrong}:"),
                          ("X-Content-SHA256", hashlib.sha256(b"other").hexdigest())):
        response = client.post(f"/api/v1/evidence/{ref}/versions", data=PDF2,
                               headers=token(app, "manager", "en", **{header: value, "Content-Type": "application/pdf"}))
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.json["type"] == "urn:evidence:problem:digest-mismatch"
        assert response.json["errors"][0]["field"] == header and header in response.json["detail"]
        assert hashlib.sha256(PDF2).hexdigest() in response.json["detail"]
    garbled = client.post(f"/api/v1/evidence/{ref}/versions", data=PDF2,
                          headers=token(app, "manager", **{"Digest": "sha-256=not base64!"}))
    assert garbled.status_code == 400 and "Digest" in garbled.json["detail"]
    assert fingerprint(app) == before
    right = hashlib.sha256(PDF2).hexdigest()
    ok = client.post(f"/api/v1/evidence/{ref}/versions", data=PDF2,
                     headers=token(app, "manager", **{"X-Content-SHA256": right, "Content-Type": "application/pdf"}))
    assert ok.status_code == 201
    again = client.post(f"/api/v1/evidence/{ref}/versions", data=PDF2, headers=token(app, "manager"))
    assert again.status_code == 200 and again.json["current_version"]["number"] == 2  # identical: nothing added


def test_wrong_perimeter_token_neither_sees_nor_changes_evidence(world):
    app, client = world, world.test_client()
    ref = create_with_file(client, token(app, "manager")).json["ref"]
    paas = token(app, "paas")
    assert client.get(f"/api/v1/evidence/{ref}", headers=paas).status_code == 404
    assert client.get("/api/v1/evidence", headers=paas).json["total"] == 0
    assert client.get("/api/v1/perimeters/iaas-t/gaps", headers=paas).status_code == 404
    assert client.get("/api/v1/perimeters/paas-t/gaps", headers=paas).status_code == 200
    before = fingerprint(app)
    for method, url, kwargs in (
        ("post", f"/api/v1/evidence/{ref}/review", {"json": {"action": "submit"}}),
        ("post", f"/api/v1/evidence/{ref}/versions", {"data": PDF2}),
        ("patch", f"/api/v1/evidence/{ref}", {"json": {"title": "x"}, "headers": {"If-Match": '"1"'}}),
    ):
        response = getattr(client, method)(url, headers={**paas, **kwargs.pop("headers", {})}, **kwargs)
        assert response.status_code == 404, (url, response.get_data(as_text=True))
    assert fingerprint(app) == before
    # A token limited to paas-t may create evidence valid for paas-t.
    made = create_with_file(client, paas, controls="", answers="", perimeters="paas-t")
    assert made.status_code == 201, made.get_data(as_text=True)
    assert client.get(f"/api/v1/evidence/{made.json['ref']}", headers=paas).status_code == 200


@pytest.mark.sqlite_only  # the API's answers; the story, the digest and the scope run on both databases
def test_etag_and_if_match(world):
    app, client = world, world.test_client()
    manager = token(app, "manager")
    ref = create_with_file(client, manager).json["ref"]
    read = client.get(f"/api/v1/evidence/{ref}", headers=manager)
    assert read.headers["ETag"] == '"1"'
    before = fingerprint(app)
    missing = client.patch(f"/api/v1/evidence/{ref}", json={"title": "Export EDR (juin)"}, headers=manager)
    assert missing.status_code == 428 and missing.mimetype == "application/problem+json"
    stale = client.patch(f"/api/v1/evidence/{ref}", json={"title": "Export EDR (juin)"},
                         headers={**manager, "If-Match": '"7"'})
    assert stale.status_code == 412 and stale.json["type"] == "urn:evidence:problem:stale-version"
    assert ref in stale.json["detail"]
    assert fingerprint(app) == before
    saved = client.patch(f"/api/v1/evidence/{ref}", json={"title": "Export EDR (juin)"},
                         headers={**manager, "If-Match": read.headers["ETag"]})
    assert saved.status_code == 200 and saved.json["title"] == "Export EDR (juin)"
    assert saved.headers["ETag"] == '"2"' and saved.json["controls"] == ["CTL-AV-01"]  # the rest is kept
    again = client.patch(f"/api/v1/evidence/{ref}", json={"title": "Encore"}, headers={**manager, "If-Match": 'W/"1"'})
    assert again.status_code == 412


@pytest.mark.sqlite_only  # words, not SQL
def test_problems_speak_the_reader_s_language(world):
    app, client = world, world.test_client()
    fr = client.get("/api/v1/evidence/EV-9999", headers=token(app, "manager", "fr"))
    en = client.get("/api/v1/evidence/EV-9999", headers=token(app, "manager", "en-GB,en;q=0.9"))
    assert fr.status_code == en.status_code == 404
    assert fr.json["detail"] == "aucune preuve « EV-9999 »" and en.json["detail"] == "no evidence 'EV-9999'"
    assert fr.json["title"] != en.json["title"] and en.headers["Content-Language"] == "en"
    unknown = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "en"})
    assert unknown.status_code == 404 and unknown.mimetype == "application/problem+json"
    not_allowed = client.delete("/api/v1/evidence", headers=token(app, "manager", "en"))
    assert not_allowed.status_code == 405 and not_allowed.mimetype == "application/problem+json"
    invalid = client.post("/api/v1/evidence", json={"title": "Lien", "kind": "link", "url": "ftp://x", "bogus": 1},
                          headers=token(app, "manager", "en"))
    assert invalid.status_code == 422 and {e["field"] for e in invalid.json["errors"]} == {"bogus"}
    assert invalid.json["errors"][0]["message"] == "unknown field"
    link = client.post("/api/v1/evidence", json={"title": "Lien", "kind": "link", "url": "ftp://x",
                                                 "controls": ["CTL-AV-01"]}, headers=token(app, "manager", "en"))
    assert link.status_code == 422 and link.json["errors"][0]["field"] == "url"
    assert "https://" in link.json["errors"][0]["message"]
    wrong_type = client.post("/api/v1/evidence", data="title=x", headers=token(
        app, "manager", "en", **{"Content-Type": "text/plain"}))
    assert wrong_type.status_code == 415 and wrong_type.mimetype == "application/problem+json"


@pytest.mark.sqlite_only  # the API's answers; the story, the digest and the scope run on both databases
def test_a_contributor_token_creates_a_link_and_the_web_session_means_nothing_to_the_api(world):
    app, client = world, world.test_client()
    made = client.post("/api/v1/evidence", json={"title": "Wiki EDR", "kind": "link", "url": "https://wiki.example/edr",
                                                 "controls": ["CTL-AV-01"]}, headers=token(app, "contributor"))
    assert made.status_code == 201, made.get_data(as_text=True)
    assert made.json["owner"]["email"] == "ci-preuves@service-account.invalid"
    assert made.json["current_version"]["url"] == "https://wiki.example/edr" and "Set-Cookie" not in made.headers
    browser = app.test_client()
    login(browser, "manager@example.org")
    assert browser.get("/api/v1/evidence").status_code == 401  # a logged-in browser's cookie is no API credential
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(Evidence).where(Evidence.ref == made.json["ref"])).one().kind == "link"
        assert session.exec(select(EvidenceVersion)).all()


@pytest.mark.sqlite_only  # words, not SQL
def test_the_openapi_document_is_public_and_declares_bearer_auth(world):
    client = world.test_client()
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200 and document.json["openapi"] == "3.1.0"
    assert document.json["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document.json["security"] == [{"bearer": []}]
    assert {"/api/v1/evidence", "/api/v1/evidence/{ref}/versions", "/api/v1/perimeters/{code}/gaps"} <= set(
        document.json["paths"])
    assert "application/problem+json" in document.json["components"]["responses"]["DEFAULT_ERROR"]["content"]


@pytest.mark.sqlite_only  # the API's answers; the story, the digest and the scope run on both databases
def test_the_readme_example_on_the_demo(demo_loaded, runner):
    """The README's curl example, call for call, on the demo provider: a contributor's token limited to iaas-fr1."""
    app = demo_loaded
    created = runner.invoke(args=["tokens", "create", "ci-preuves", "--role", "contributor", "--perimeter", "iaas-fr1"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    client, headers = app.test_client(), {"Authorization": f"Bearer {secret}"}
    made = client.post("/api/v1/evidence", headers=headers, content_type="multipart/form-data", data={
        "title": "Export EDR de juin", "kind": "report", "controls": "CTL-OPS-02", "answers": "12.4.a#1",
        "perimeters": "iaas-fr1", "file": (io.BytesIO(PDF), "edr-2026-06.pdf")})
    assert made.status_code == 201, made.get_data(as_text=True)
    ref = made.json["ref"]
    digest = base64.b64encode(hashlib.sha256(PDF2).digest()).decode()
    version = client.post(f"/api/v1/evidence/{ref}/versions?filename=edr-2026-07.pdf", data=PDF2, headers={
        **headers, "Content-Type": "application/pdf", "Digest": f"sha-256={digest}"})
    assert version.status_code == 201, version.get_data(as_text=True)
    submitted = client.post(f"/api/v1/evidence/{ref}/review", json={"action": "submit"}, headers=headers)
    assert submitted.status_code == 200 and submitted.json["status"] == "in_review"
    gaps = client.get("/api/v1/perimeters/iaas-fr1/gaps", headers={**headers, "Accept-Language": "en"})
    assert gaps.status_code == 200 and gaps.json["perimeter"] == "iaas-fr1" and gaps.json["readiness"]["applicable"]
    assert all(isinstance(s, str) for gap in gaps.json["gaps"] for s in gap["sentences"])
    assert client.get("/api/v1/perimeters/saas-collab/gaps", headers=headers).status_code == 404  # beyond its reach


@pytest.mark.sqlite_only  # the API's answers; the story, the digest and the scope run on both databases
def test_too_large_or_form_encoded_uploads_are_refused_and_store_nothing(world):
    app, client = world, world.test_client()
    manager = token(app, "manager", "en")
    ref = create_with_file(client, manager).json["ref"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    before = fingerprint(app)
    large = client.post(f"/api/v1/evidence/{ref}/versions", data=PDF2, headers={**manager, "Content-Type": "application/pdf"})
    assert large.status_code == 413 and large.mimetype == "application/problem+json"
    assert large.json["detail"] == "The file exceeds the largest size allowed, 1 kB per upload."
    multipart = create_with_file(client, manager)
    assert multipart.status_code == 413 and multipart.mimetype == "application/problem+json"
    app.config["MAX_CONTENT_LENGTH"] = 10_000_000
    form = client.post(f"/api/v1/evidence/{ref}/versions", data=PDF2,
                       headers={**manager, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and "Content-Type: application/pdf" in form.json["detail"]
    empty = client.post(f"/api/v1/evidence/{ref}/versions", data=b"", headers={**manager, "Content-Type": "text/plain"})
    assert empty.status_code == 422 and empty.json["errors"][0]["field"] == "file"
    assert fingerprint(app) == before
