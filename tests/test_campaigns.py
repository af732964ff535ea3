"""Evaluation campaigns: opened by a manager (web and command line), the perimeter's phase following it, one running
at a time; its evaluators granted from its page until its last day, their access moving with its end date and
ending on the day it is closed."""
from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import AuditEvent, Campaign, Perimeter, PerimeterGrant
from evidence.services import campaigns
from evidence.services.perimeters import get_perimeter

from .conftest import create_role_users, csrf_token, login, make_app, seed_tiny_perimeter

# Forms, words and the command line's output on one small set-up, not SQL: SQLite only.
pytestmark = pytest.mark.sqlite_only

TODAY = date(2026, 6, 15)


@pytest.fixture
def world(tmp_path, database_url):
    app = make_app(tmp_path / "instance", database_url, TODAY=TODAY)
    with app.app_context(), db.session_scope(app) as session:
        users = create_role_users(session)
        seed_tiny_perimeter(session, users)
        ids = SimpleNamespace(users={role: u.id for role, u in users.items()})
    yield SimpleNamespace(app=app, ids=ids)
    db.get_engine(app).dispose()


def client_of(world, role):
    client = world.app.test_client()
    assert login(client, f"{role}@example.org").status_code == 302
    return client


def grant_of(world):
    with world.app.app_context(), db.session_scope(world.app) as session:
        grant = session.exec(select(PerimeterGrant).where(
            PerimeterGrant.user_id == world.ids.users["evaluator"])).first()
        return (grant.until, grant.campaign_id) if grant else None


def test_a_campaign_from_its_page_bounds_its_evaluators_access(world):
    manager, evaluator = client_of(world, "manager"), client_of(world, "evaluator")
    assert evaluator.get("/perimeters/iaas-t").status_code == 404  # granted nothing yet
    page = "/perimeters/iaas-t/campaigns"
    opened = manager.post(page, data={"csrf_token": csrf_token(manager, page), "kind": "initial",
                                      "centre": "Centre Alpha", "starts_on": "2026-06-01", "ends_on": "2026-06-30"})
    assert opened.status_code == 302
    campaign_page = opened.location
    with world.app.app_context(), db.session_scope(world.app) as session:
        perimeter = get_perimeter(session, "iaas-t")
        campaign = session.exec(select(Campaign)).one()
        assert (perimeter.phase, perimeter.evaluation_centre, perimeter.evaluation_started_on) == (
            "under_evaluation", "Centre Alpha", date(2026, 6, 1))
        phase = session.exec(select(AuditEvent).where(AuditEvent.action == "perimeter.update")).all()[-1]
        assert phase.details["changes"]["phase"] == ["preparation", "under_evaluation"]
    again = manager.post(page, data={"csrf_token": csrf_token(manager, page), "kind": "renewal", "centre": "B",
                                     "starts_on": "2026-06-01", "ends_on": "2026-05-01"})
    assert "avant de commencer" in again.get_data(as_text=True)
    again = manager.post(page, data={"csrf_token": csrf_token(manager, page), "kind": "renewal", "centre": "B",
                                     "starts_on": "2026-06-01", "ends_on": "2026-07-01"})
    assert "est en cours : clôturez-la" in again.get_data(as_text=True)

    shown = manager.get(campaign_page).get_data(as_text=True)
    assert "Évaluation initiale" in shown and 'name="evaluators"' in shown
    token = csrf_token(manager, campaign_page)
    assert manager.post(f"{campaign_page}/evaluators", data={
        "csrf_token": token, "evaluators": [str(world.ids.users["evaluator"])]}).status_code == 302
    assert grant_of(world) == (date(2026, 6, 30), campaign.id)
    perimeter_page = evaluator.get("/perimeters/iaas-t").get_data(as_text=True)
    assert "Centre Alpha" in perimeter_page and "Campagne d’évaluation" in perimeter_page
    assert evaluator.post(campaign_page, data={"csrf_token": csrf_token(evaluator, campaign_page)}).status_code == 403

    # A new end date moves the access; closing ends it tonight, and the next day it is gone.
    moved = manager.post(campaign_page, data={"csrf_token": token, "version": str(campaign.version),
                                              "kind": "initial", "centre": "Centre Alpha",
                                              "starts_on": "2026-06-01", "ends_on": "2026-07-15"})
    assert moved.status_code == 302 and grant_of(world) == (date(2026, 7, 15), campaign.id)
    assert manager.post(f"{campaign_page}/close", data={"csrf_token": token}).status_code == 302
    assert grant_of(world) == (TODAY, campaign.id)
    assert evaluator.get("/perimeters/iaas-t").status_code == 200
    world.app.config["TODAY"] = TODAY + timedelta(days=1)
    assert evaluator.get("/perimeters/iaas-t").status_code == 404
    with world.app.app_context(), db.session_scope(world.app) as session:
        actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]
    assert {"campaign.create", "campaign.update", "campaign.close", "user.grants"} <= set(actions)


def test_the_command_line_opens_and_lists_campaigns(world):
    runner = world.app.test_cli_runner()
    result = runner.invoke(args=["campaigns", "add", "--perimeter", "iaas-t", "--kind", "surveillance_1",
                                 "--centre", "Centre Alpha", "--from", "2026-09-01", "--to", "2026-09-10"])
    assert result.exit_code == 0, result.output
    assert "phase: surveillance" in result.output
    refused = runner.invoke(args=["campaigns", "add", "--perimeter", "iaas-t", "--kind", "initial",
                                  "--centre", "X", "--from", "2026-09-01", "--to", "2026-08-01"],
                             env={"EVIDENCE_LOCALE": "en"})
    assert refused.exit_code != 0 and "the campaign ends on 2026-08-01, before it starts on 2026-09-01" in refused.output
    listed = runner.invoke(args=["campaigns", "list"])
    assert "iaas-t" in listed.output and "surveillance_1" in listed.output and "running" in listed.output
    with world.app.app_context(), db.session_scope(world.app) as session:
        assert session.exec(select(Perimeter.phase).where(Perimeter.code == "iaas-t")).one() == "surveillance"
        assert campaigns.running(session, get_perimeter(session, "iaas-t")).kind == "surveillance_1"
