"""Confirmations in a real browser (Debian's Chromium, driven by Playwright; see tests/browser_support.py).

With JavaScript, « Retirer » opens a dialog with the button's question: « Annuler » changes nothing, « Confirmer »
acts at once, with no page in between. Without JavaScript, the server's confirmation page asks instead. The CSP
(script-src 'self') holds: the dialog's script is a file, never inline. Screenshots land in test-artifacts/.
"""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import Control

from .browser_support import ARTIFACTS, browser, database_url, live_server, log_in, pages, screenshot  # noqa: F401  (fixtures)
from .conftest import seed_tiny_perimeter


@pytest.fixture
def tiny(app, users):
    with app.app_context(), db.session_scope(app) as session:
        seed_tiny_perimeter(session, users)
    return app


@pytest.fixture
def live_url(tiny):
    with live_server(tiny) as url:
        yield url


def status(app) -> str:
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(Control.status).where(Control.ref == "CTL-AV-01")).one()


def test_retiring_a_control_asks_in_a_dialog(tiny, pages):
    page = pages.new()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in(page, "manager@example.org")
    page.goto("/controls/CTL-AV-01")
    dialog = page.locator("#confirm-dialog")
    assert not dialog.is_visible()  # closed until a button asks

    page.get_by_role("button", name="Retirer").click()
    assert dialog.is_visible()
    assert "Retirer la mesure CTL-AV-01 ?" in dialog.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot(page, "confirm-dialog")
    dialog.get_by_role("button", name="Annuler").click()
    assert not dialog.is_visible()
    assert page.url.endswith("/controls/CTL-AV-01") and status(tiny) == "implemented"

    page.get_by_role("button", name="Retirer").click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Confirmer").click()
    page.wait_for_url(re.compile(r"/controls/CTL-AV-01$"))  # straight back: no confirmation page
    assert "Mesure CTL-AV-01 retirée." in page.locator(".flash-info").inner_text()
    assert status(tiny) == "retired"
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_without_javascript_the_server_asks_on_a_page(tiny, browser, live_url):
    context = browser.new_context(base_url=live_url, java_script_enabled=False, locale="fr-FR",
                                  viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        log_in(page, "manager@example.org")
        page.goto("/controls/CTL-AV-01")
        page.get_by_role("button", name="Retirer").click()
        page.wait_for_url(re.compile(r"/controls/CTL-AV-01/retire$"))
        assert "Retirer la mesure CTL-AV-01 « EDR » ?" in page.locator("h1").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot(page, "confirm-page")
        assert status(tiny) == "implemented"
        page.get_by_role("link", name="Annuler").click()
        page.wait_for_url(re.compile(r"/controls/CTL-AV-01$"))
        assert status(tiny) == "implemented"
        page.get_by_role("button", name="Retirer").click()
        page.get_by_role("button", name="Retirer").click()  # the confirmation page's button
        page.wait_for_url(re.compile(r"/controls/CTL-AV-01$"))
        assert status(tiny) == "retired"
    finally:
        context.close()


def test_an_admin_is_not_offered_to_disable_himself(tiny, pages):
    page = pages.new()
    log_in(page, "admin@example.org")
    page.goto("/admin/users")
    own_row = page.locator("tr", has_text="admin@example.org")
    assert own_row.get_by_role("button", name="Désactiver").count() == 0
    assert "(vous)" in own_row.inner_text()
    other_row = page.locator("tr", has_text="contributor@example.org")
    other_row.get_by_role("button", name="Désactiver").click()
    dialog = page.locator("#confirm-dialog")
    assert "Désactiver le compte de Contributor ?" in dialog.inner_text()
    dialog.get_by_role("button", name="Annuler").click()
    assert other_row.get_by_role("button", name="Désactiver").count() == 1
