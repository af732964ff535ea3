"""In a real browser (Debian's Chromium, driven by Playwright; see tests/browser_support.py), without any script
needed: a bulk applicability decision (tick rows, decide, check the confirmation page, confirm) and an action
created from a gap (prefilled, saved, then shown on the gap's row).

SQLite only. Skips (saying why) without Playwright or Chromium. Screenshots of each step go to test-artifacts/.
"""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import Action, ActionRequirement, Applicability, Requirement, User
from evidence.services import perimeters

from .browser_support import browser, database_url, live_server, log_in, pages, screenshot  # noqa: F401  (fixtures)
from .conftest import seed_tiny_perimeter

TODAY = date(2026, 6, 15)
WHY = "Le socle qualifié iaas-t assure ce point pour tout ce qui repose sur lui."


@pytest.fixture
def bulk_app(app, users):
    app.config["TODAY"] = TODAY
    with app.app_context(), db.session_scope(app) as session:
        seed_tiny_perimeter(session, users)
        perimeters.create_perimeter(session, session.get(User, users["manager"].id), perimeters.PerimeterData(
            code="saas-t", name="Collaboration", service_types=("SaaS",), framework_key="tiny-1.0",
            built_on_code="iaas-t"))
    return app


@pytest.fixture
def live_url(bulk_app):
    with live_server(bulk_app) as url:
        yield url



def test_bulk_applicability_decision_clicked_through(pages, bulk_app, users):
    page = pages.new()
    log_in(page, users["manager"].email)
    page.goto("/perimeters/saas-t")
    page.get_by_label("Choisir 5.1.a").check()
    page.get_by_label("Choisir 12.4.a").check()
    panel = page.locator("fieldset.bulk-panel")
    panel.get_by_label("Décision").select_option("inherited")
    panel.get_by_label("Justification").fill(WHY)
    screenshot(page, "bulk-1-soa-ticked")
    panel.get_by_role("button", name="Vérifier les changements").click()

    page.wait_for_url(re.compile(r"/perimeters/saas-t/applicability$"))
    rows = page.locator("table.bulk-changes tbody tr")
    assert rows.count() == 2
    assert "5.1.a" in rows.nth(0).inner_text() and "Hérité" in rows.nth(0).inner_text()
    assert page.get_by_text("2 modifications").is_visible()
    screenshot(page, "bulk-2-soa-confirmation")
    with bulk_app.app_context(), db.session_scope(bulk_app) as session:
        assert session.exec(select(Applicability)).all() == []  # nothing before "Confirmer"

    page.get_by_role("button", name="Confirmer").click()
    page.wait_for_url(re.compile(r"/perimeters/saas-t(\?.*)?#soa$"))
    assert page.get_by_text("2 modifications enregistrées.").is_visible()
    screenshot(page, "bulk-3-soa-done")
    with bulk_app.app_context(), db.session_scope(bulk_app) as session:
        decided = session.exec(select(Requirement.ref, Applicability.reason).join(
            Requirement, Requirement.id == Applicability.requirement_id)).all()
    assert sorted(decided) == [("12.4.a", "inherited"), ("5.1.a", "inherited")]


def test_an_action_from_a_gap_clicked_through(pages, bulk_app, users):
    page = pages.new()
    log_in(page, users["manager"].email)
    page.goto("/perimeters/iaas-t/gaps")
    row = page.locator("tbody tr", has_text="12.4.a")
    row.get_by_role("link", name="Créer une action").click()

    page.wait_for_url(re.compile(r"/actions/new\?requirement=12\.4\.a$"))
    assert page.locator("#requirements").input_value() == "12.4.a"
    description = page.locator("#description").input_value()
    assert "Écart sur 12.4.a" in description and "12.4.a#1" in description
    page.locator("#owner").select_option(str(users["contributor"].id))
    page.locator("#due_date").fill("2026-07-15")
    screenshot(page, "bulk-4-action-prefilled")
    page.get_by_role("button", name="Enregistrer").click()

    page.wait_for_url(re.compile(r"/perimeters/iaas-t/actions#action-\d+$"))
    assert page.get_by_text("Action ajoutée au plan.").is_visible()
    screenshot(page, "bulk-5-action-plan")
    with bulk_app.app_context(), db.session_scope(bulk_app) as session:
        action = session.exec(select(Action)).one()
        assert session.exec(select(Requirement.ref).join(
            ActionRequirement, ActionRequirement.requirement_id == Requirement.id)).all() == ["12.4.a"]
        title = action.title

    page.goto("/perimeters/iaas-t/gaps")
    row = page.locator("tbody tr", has_text="12.4.a")
    row.get_by_role("link", name=title).click()  # the gap row links its open action
    page.wait_for_url(re.compile(r"/perimeters/iaas-t/actions#action-\d+$"))
    page.goto("/perimeters/iaas-t/gaps")
    screenshot(page, "bulk-6-gap-with-action")
