"""End to end in a real browser (Debian's Chromium, driven by Playwright; see tests/browser_support.py).

The compliance manager's day: log in, create a perimeter, create a control from an item's page and map it to a
second item, upload evidence, send it to review, log out; another manager approves it (four eyes); readiness
moves on the perimeter's dashboard; a dossier is generated and downloaded; the interface switches to English.
Then an auditor finds nothing to edit and every POST they forge from the page is refused.

SQLite only: the browser adds nothing the database matrix of the other tests does not already cover.
Skips (saying why) without Playwright or Chromium. On failure, screenshots land in test-artifacts/.
"""
from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from evidence import catalogue, context
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import (
    AuditEvent,
    Control,
    ControlRequirement,
    Dossier,
    Evidence,
    EvidenceAnswer,
    Perimeter,
    Requirement,
    User,
)
from evidence.dossier.generate import generate as generate_dossier
from evidence.services import controls, perimeters
from evidence.services import evidence as evidence_items
from evidence.services import users as auth

from .browser_support import browser, database_url, live_server, log_in, pages, screenshot  # noqa: F401  (fixtures)
from .conftest import PASSWORD

TINY = Path(__file__).parent / "fixtures" / "tiny-catalogue.yaml"  # four items: a dossier renders in a second
TODAY = date(2026, 6, 15)


@pytest.fixture
def story_app(app, users):
    """The four-item referential (fast dossiers) and a second manager for the four-eyes review."""
    app.config["TODAY"] = TODAY
    with app.app_context(), db.session_scope(app) as session:
        catalogue.load_catalogues(session, [TINY], "cli:test")
        auth.create_user(session, None, "manager2@example.org", "Second Manager", "manager", PASSWORD)
    return app


@pytest.fixture
def live_url(story_app):
    with live_server(story_app) as url:
        yield url


def log_out(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(re.compile(r"/login$"))


def readiness_on_dashboard(page, code: str) -> str:
    page.goto(f"/perimeters/{code}/dashboard")
    return page.locator("ul.stats li").first.locator("strong").inner_text()


def flash_errors(page) -> list[str]:
    return page.locator(".flash-error").all_inner_texts()


def test_manager_story_from_perimeter_to_downloaded_dossier(story_app, pages):
    app = story_app
    page = pages.new()

    # Log in; create a perimeter.
    log_in(page, "manager@example.org")
    page.goto("/perimeters/")
    page.get_by_role("link", name="Nouveau périmètre").click()
    page.fill("#code", "iaas-b")
    page.fill("#name", "Socle navigateur")
    page.select_option("#framework", "tiny-1.0")
    page.get_by_label("IaaS", exact=True).check()
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(r"/perimeters/iaas-b$"))
    assert flash_errors(page) == []
    assert readiness_on_dashboard(page, "iaas-b") == "0 %"  # 12.4.a and 5.1.a apply to an IaaS; neither is met

    # Map a control: create one in place from an item's page...
    page.goto("/requirements/tiny-1.0/12.4.a")
    page.get_by_role("link", name="Créer une mesure pour ce point").click()
    page.fill("#statement", "EDR sur tous les serveurs")
    page.fill("#ref", "CTL-AV-01")
    page.fill("#title", "Protection EDR")
    page.select_option("#status", "implemented")
    page.get_by_label("iaas-b", exact=True).check()
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(r"/controls/CTL-AV-01$"))
    assert flash_errors(page) == []
    # ... and map the existing one to another item from that item's page.
    page.goto("/requirements/tiny-1.0/5.1.a")
    page.fill("#control-q", "CTL-AV")  # the control is picked from a search; none is preselected
    page.locator('#control-picker input[value="CTL-AV-01"]').check()
    page.fill("#map-statement", "La politique impose l'EDR")
    page.get_by_role("button", name="Associer").click()
    page.wait_for_url(re.compile(r"/requirements/tiny-1.0/5.1.a$"))
    assert "La politique impose l'EDR" in page.content()
    page.goto("/requirements/tiny-1.0/12.4.a")
    assert "CTL-AV-01" in page.locator("main").inner_text()

    # Upload evidence through the file input, proving the control.
    page.goto("/evidence/")
    page.get_by_role("link", name="Nouvelle preuve").click()
    page.fill("#title", "Export EDR du trimestre")
    page.select_option("#kind", "report")
    page.set_input_files("#file", files=[{"name": "export-edr.csv", "mimeType": "text/csv",
                                          "buffer": b"host;agent\nweb-1;ok\nweb-2;ok\n"}])
    page.fill("#controls-q", "edr")
    page.get_by_role("checkbox", name="CTL-AV-01 Protection EDR").check()
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(r"/evidence/EV-0001$"))
    assert "export-edr.csv" in page.locator("main").inner_text()
    # Linked to the control, it may now answer the checklists of the two items the control is mapped to: the
    # manager ticks every expected evidence entry this export answers (valid for the control's perimeter).
    page.get_by_role("link", name="Modifier").click()
    page.wait_for_url(re.compile(r"/evidence/EV-0001/edit$"))
    for entry in ("5.1.a#1", "5.1.a#2", "12.4.a#1", "12.4.a#2"):
        page.get_by_label(re.compile("^" + re.escape(entry) + " ")).check()
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(r"/evidence/EV-0001$"))
    assert flash_errors(page) == []
    with app.app_context(), db.session_scope(app) as session:
        answered = session.exec(select(EvidenceAnswer.entry_id)).all()
        assert sorted(answered) == ["12.4.a#1", "12.4.a#2", "5.1.a#1", "5.1.a#2"]

    # Send it to review; its author may not approve it.
    page.get_by_role("button", name="Soumettre à la revue").click()
    page.wait_for_url(re.compile(r"/evidence/EV-0001$"))
    assert page.locator(".page-head + .columns .badge").first.inner_text() == "En revue"
    assert page.get_by_role("button", name="Approuver").count() == 0
    assert readiness_on_dashboard(page, "iaas-b") == "0 %"
    log_out(page)

    # Another manager approves (four eyes); readiness moves.
    log_in(page, "manager2@example.org")
    page.goto("/")
    page.get_by_role("link", name=re.compile("EV-0001")).first.click()  # "to review" list on the home page
    page.wait_for_url(re.compile(r"/evidence/EV-0001$"))
    page.fill("#comment-approve", "Export complet")
    page.get_by_role("button", name="Approuver").click()
    page.wait_for_url(re.compile(r"/evidence/EV-0001$"))
    assert page.locator(".page-head + .columns .badge").first.inner_text() == "Approuvée"
    # Both applicable exigences (5.1.b is a recommendation, 12.4.b is for SaaS): control in place with a statement,
    # every expected evidence entry answered by approved evidence.
    assert readiness_on_dashboard(page, "iaas-b") == "100 %"
    with app.app_context(), db.session_scope(app) as session:
        evidence = session.exec(select(Evidence)).one()
        approver = session.get(User, evidence.reviewed_by_id)
        assert (evidence.status, approver.email) == ("approved", "manager2@example.org")

    # Generate the dossier (the job runs at once in tests) and download it.
    page.goto("/dossiers/")
    page.select_option("#perimeter", "iaas-b")
    page.select_option("#language", "fr")
    page.get_by_role("button", name="Générer").click()
    page.wait_for_url(re.compile(r"/dossiers/\d+$"))
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Télécharger")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    with open(download.path(), "rb") as f:
        assert f.read(5) == b"%PDF-"

    # Switch the interface to English and back.
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("link", name="Dashboard", exact=True).is_visible()
    assert page.get_by_role("button", name="Log out").is_visible()
    page.get_by_role("button", name="Français").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "fr"


# --- the auditor -------------------------------------------------------------------------------------------


@pytest.fixture
def seeded(story_app, users):
    """A perimeter with a control, approved evidence and a dossier, arranged through the service functions."""
    app = story_app
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        second = session.exec(select(User).where(User.email == "manager2@example.org")).one()
        perimeter = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="iaas-t", name="Socle test", service_types=("IaaS",), framework_key="tiny-1.0"))
        control = controls.create_control(session, manager, controls.ControlData(
            ref="CTL-AV-01", title="EDR", status="implemented", perimeter_ids=[perimeter.id]))
        controls.map_requirement(session, manager, control,
                                 session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one(), "EDR")
        evidence = evidence_items.create_evidence(session, manager, evidence_items.EvidenceData(
            title="Export EDR", kind="report", control_ids=[control.id]),
            store=storage.get_store(app), upload=io.BytesIO(b"host;agent\n"), filename="edr.csv")
        evidence_items.review(session, manager, evidence, "submit")
        evidence_items.review(session, second, evidence, "approve")
        generate_dossier(session, storage.get_store(app), "cli:test", perimeter, today=TODAY,
                         settings=context.dossier_settings())
    return app


AUDITOR_PAGES = [
    "/", "/requirements/", "/requirements/tiny-1.0/12.4.a", "/perimeters/", "/perimeters/iaas-t",
    "/perimeters/iaas-t/dashboard", "/perimeters/iaas-t/gaps", "/perimeters/iaas-t/findings",
    "/perimeters/iaas-t/actions", "/perimeters/iaas-t/verdict/12.4.a", "/controls/", "/controls/CTL-AV-01",
    "/evidence/", "/evidence/EV-0001",
    "/dossiers/", "/dossiers/1",
]

# What an auditor might try to post, with the fields a real form would send.
FORGED_POSTS = [
    ("/evidence/EV-0001/review/reopen", {"version": "3"}),
    ("/evidence/EV-0001/edit", {"title": "Falsifiée", "kind": "report", "classification": "internal"}),
    ("/evidence/EV-0001/versions", {"url": "https://attacker.example/"}),
    ("/evidence/new", {"title": "Fausse preuve", "kind": "link", "classification": "internal",
                       "url": "https://attacker.example/"}),
    ("/controls/CTL-AV-01/retire", {"version": "2"}),
    ("/controls/CTL-AV-01/edit", {"ref": "CTL-AV-01", "title": "x", "category": "technical", "status": "planned",
                                  "review_cycle_days": "365"}),
    ("/controls/map", {"control": "CTL-AV-01", "requirement": "5.1.a"}),
    ("/perimeters/new", {"code": "evil", "name": "Evil", "framework": "tiny-1.0", "phase": "preparation"}),
    ("/perimeters/iaas-t/applicability/12.4.a", {"state": "not_applicable", "justification": "x"}),
    ("/perimeters/iaas-t/verdict/12.4.a", {"status": "covered", "justification": "x"}),
    ("/perimeters/iaas-t/waiver/12.4.a", {"entry": "12.4.a#1", "justification": "x"}),
    ("/perimeters/iaas-t/findings", {"severity": "minor", "text": "x", "status": "open"}),
    ("/dossiers/", {"perimeter": "iaas-t", "language": "fr", "classification": "x"}),
    ("/admin/users", {"email": "mallory@example.org", "name": "Mallory", "role": "admin"}),
    ("/admin/users/4/role", {"role": "admin"}),
]

POST_FORMS = """() => Array.from(document.forms)
    .filter(f => (f.getAttribute('method') || 'get').toLowerCase() === 'post')
    .map(f => new URL(f.action, location.href).pathname)"""

FORGE = """async ([posts, token]) => {
    const statuses = [];
    for (const [url, fields] of posts) {
        const body = new URLSearchParams(fields);
        if (token) body.set('csrf_token', token);
        const response = await fetch(url, {method: 'POST', body, redirect: 'manual', credentials: 'same-origin'});
        statuses.push(response.status);
    }
    return statuses;
}"""


def state(app) -> dict:
    with app.app_context(), db.session_scope(app) as session:
        count = lambda model: session.exec(select(func.count()).select_from(model)).one()  # noqa: E731
        evidence = session.exec(select(Evidence)).one()
        return {
            "evidence": (count(Evidence), evidence.status, evidence.title, evidence.version),
            "controls": sorted(session.exec(select(Control.ref, Control.status, Control.version)).all()),
            "mappings": count(ControlRequirement), "perimeters": count(Perimeter), "dossiers": count(Dossier),
            "users": sorted(session.exec(select(User.email, User.role)).all()),
            "changes": count(AuditEvent) - session.exec(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action.in_(("login", "logout", "login.failed")))).one(),
        }


def test_auditor_sees_no_edit_controls_and_forged_posts_are_refused(seeded, pages):
    app = seeded
    before = state(app)
    page = pages.new()
    log_in(page, "auditor@example.org")
    for path in AUDITOR_PAGES:
        response = page.goto(path)
        assert response.status == 200, path
        main = page.locator("main").inner_text()
        assert "Modifier" not in main and "Edit" not in main, path
        # An auditor may comment (a thread's form): nothing else is his to write.
        assert page.locator("a[href$='/edit'], a[href$='/new'], input[type=file], "
                            "textarea:not([name=body])").count() == 0, path
        posting = {p for p in page.evaluate(POST_FORMS) if not p.endswith("/comments")}  # a thread's form
        assert posting <= {"/logout", "/locale/en", "/locale/fr"}, (path, posting)

    # The same requests a form would make, forged with the page's own CSRF token: refused by role.
    page.goto("/evidence/EV-0001")
    token = page.locator("form[action='/logout'] input[name=csrf_token]").input_value()
    assert token
    assert page.evaluate(FORGE, [FORGED_POSTS, token]) == [403] * len(FORGED_POSTS)
    # Without the token they stop earlier, at the CSRF check.
    assert page.evaluate(FORGE, [FORGED_POSTS[:3], ""]) == [400] * 3
    assert state(app) == before
    # The auditor is still logged in and may read and download.
    page.goto("/evidence/EV-0001")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="edr.csv").click()
    with open(download_info.value.path(), "rb") as f:
        assert f.read() == b"host;agent\n"
