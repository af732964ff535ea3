"""Pickers in a real browser (Debian's Chromium, driven by Playwright; see tests/browser_support.py).

A manager maps two items to a control by typing in the picker and ticking two matches, confirms, and sees them
mapped; then the same without JavaScript, through the server-side search (the form posted to its page, so that
no address ever carries the form's token); on an item's page, picks the control to map (nothing preselected);
and, without JavaScript, searches in the evidence form with a file chosen (nothing saved, the file to choose again). Screenshots of each step land in test-artifacts/ (and every open page on
failure). SQLite only; skips (saying why) without Playwright or Chromium.
"""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import AuditEvent, Control, ControlRequirement, Evidence, Requirement, User
from evidence.services import controls

from .browser_support import TIMEOUT_MS, browser, database_url, live_server, log_in, pages, screenshot  # noqa: F401  (fixtures)


@pytest.fixture
def picker_app(catalogue_loaded, users):
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        controls.create_control(session, manager, controls.ControlData(
            ref="CTL-CRY-01", title="Chiffrement des disques et des flux", owner_id=manager.id))
        controls.create_control(session, manager, controls.ControlData(
            ref="CTL-AV-01", title="Protection EDR", owner_id=manager.id, status="implemented"))
    return app


@pytest.fixture
def live_url(picker_app):
    with live_server(picker_app) as url:
        yield url



def without_javascript(pages, live_url):
    context = pages.browser.new_context(base_url=live_url, java_script_enabled=False, locale="fr-FR",
                                        viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pages.contexts.append(context)  # saved on failure like the others
    return context.new_page()


def mapped(app, control_ref: str) -> list[str]:
    with app.app_context(), db.session_scope(app) as session:
        return sorted(session.exec(
            select(Requirement.ref).join(ControlRequirement, ControlRequirement.requirement_id == Requirement.id)
            .join(Control, Control.id == ControlRequirement.control_id).where(Control.ref == control_ref)).all())


def map_events(app) -> list[str]:
    with app.app_context(), db.session_scope(app) as session:
        return sorted(e.details["requirement"] for e in session.exec(
            select(AuditEvent).where(AuditEvent.action == "control.map")))


def confirm_and_check(page, app, refs, shot: str) -> None:
    page.get_by_role("button", name="Associer…").click()
    page.wait_for_url(re.compile(r"/controls/CTL-CRY-01/map$"))
    listed = page.locator("main li .ref").all_inner_texts()
    assert sorted(listed) == sorted(refs)
    assert mapped(app, "CTL-CRY-01") == []  # nothing before the confirmation
    screenshot(page, f"pickers-{shot}-2-confirm")
    page.get_by_role("button", name="Confirmer l’association").click()
    page.wait_for_url(re.compile(r"/controls/CTL-CRY-01$"))
    assert "2 points associés à CTL-CRY-01." in page.locator(".flashes").inner_text()
    text = page.locator("main").inner_text()
    assert all(ref in text for ref in refs)
    screenshot(page, f"pickers-{shot}-3-mapped")
    assert mapped(app, "CTL-CRY-01") == sorted(refs)
    assert map_events(app) == sorted(refs)  # one audit event per mapping


def test_type_pick_two_items_and_map_them(picker_app, pages):
    page = pages.new()
    log_in(page, "manager@example.org")
    page.goto("/controls/CTL-CRY-01")
    assert page.locator("[data-picker-search]").is_hidden()  # the script searches as one types
    page.fill("#requirements-q", "CHIFFREMENT donnees")  # case and accents aside
    first = page.locator('#requirements-picker input[name="requirements"][value="10.1.a"]')
    first.wait_for()
    first.check()
    page.fill("#requirements-q", "10.2.a")  # a second search keeps the first pick
    second = page.locator('#requirements-picker [data-picker-results] input[value="10.2.a"]')
    second.wait_for()
    second.check()
    assert page.locator('#requirements-picker input[name="requirements"][value="10.1.a"]').is_checked()
    page.fill("#statement", "LUKS sur les disques, TLS 1.3 sur les flux")
    screenshot(page, "pickers-js-1-picked")
    confirm_and_check(page, picker_app, ["10.1.a", "10.2.a"], "js")


def search_without_javascript(page, path: str) -> None:
    """Press the picker's "Chercher": the form is posted to the page it is on, which comes back with the matches."""
    with page.expect_request(lambda r: r.method == "POST" and r.url.split("#")[0].endswith(path)):
        with page.expect_navigation():
            page.get_by_role("button", name="Chercher").click()


def test_the_same_without_javascript_through_the_server_side_search(picker_app, pages, live_url):
    page = without_javascript(pages, live_url)
    addresses = []
    page.on("request", lambda r: addresses.append(r.url))
    log_in(page, "manager@example.org")
    page.goto("/controls/CTL-CRY-01")
    page.fill("#requirements-q", "chiffrement DONNEES")
    search_without_javascript(page, "/controls/CTL-CRY-01")
    page.locator('#requirements-picker input[name="requirements"][value="10.1.a"]').check()
    page.fill("#requirements-q", "10.2.a")
    search_without_javascript(page, "/controls/CTL-CRY-01")
    assert page.locator('#requirements-picker input[name="requirements"][value="10.1.a"]').is_checked()  # kept across the search
    assert mapped(picker_app, "CTL-CRY-01") == []  # a search maps nothing
    page.locator('#requirements-picker input[name="requirements"][value="10.2.a"]').check()
    screenshot(page, "pickers-nojs-1-picked")
    confirm_and_check(page, picker_app, ["10.1.a", "10.2.a"], "nojs")
    assert addresses and not [a for a in addresses if "csrf_token" in a or "q_requirements" in a]


def test_item_page_maps_the_control_picked_none_preselected(picker_app, pages):
    page = pages.new()
    log_in(page, "manager@example.org")
    page.goto("/requirements/secnumcloud-3.2/12.4.a")
    assert page.locator('#control-picker input[type="radio"]').count() == 0  # nothing offered, nothing chosen
    page.fill("#control-q", "edr")
    radio = page.locator('#control-picker input[value="CTL-AV-01"]')
    radio.wait_for()
    assert not radio.is_checked()
    radio.check()
    page.fill("#map-statement", "EDR sur tous les postes")
    screenshot(page, "pickers-js-4-item-page")
    page.get_by_role("button", name="Associer", exact=True).click()
    page.wait_for_url(re.compile(r"/requirements/secnumcloud-3.2/12.4.a$"))
    assert "EDR sur tous les postes" in page.locator("main").inner_text()
    assert mapped(picker_app, "CTL-AV-01") == ["12.4.a"]


def test_a_search_in_the_evidence_form_without_javascript_saves_nothing(picker_app, pages, live_url, tmp_path):
    page = without_javascript(pages, live_url)
    addresses = []
    page.on("request", lambda r: addresses.append(r.url))
    log_in(page, "manager@example.org")
    page.goto("/evidence/new")
    page.fill("#title", "Rapport EDR trimestriel")
    report = tmp_path / "edr.pdf"
    report.write_bytes(b"%PDF-1.4 rapport EDR")
    page.set_input_files("#file", str(report))
    page.fill("#controls-q", "edr")
    with page.expect_request(lambda r: r.method == "POST" and "/evidence/new" in r.url):
        with page.expect_navigation():
            page.locator("#controls-picker [data-picker-search]").click()
    assert page.locator("#title").input_value() == "Rapport EDR trimestriel"  # the other values kept
    page.locator('#controls-picker input[name="controls"]').first.wait_for()
    assert "« edr.pdf » n’a pas été enregistré" in page.locator("main").inner_text()  # to choose again
    screenshot(page, "pickers-nojs-5-evidence-search")
    with picker_app.app_context(), db.session_scope(picker_app) as session:
        assert session.exec(select(Evidence)).all() == []
    assert not [a for a in addresses if "csrf_token" in a]
