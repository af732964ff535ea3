"""Evaluator and auditor accounts per perimeter (services.grants): the service's refusals and its audit, a campaign's
grants that move and end with it, the day after, the command line, the users page, an evaluator's API token."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data.models import AuditEvent, Campaign, PerimeterGrant, User
from evidence.services import grants, perimeters, reach
from evidence.services import users as auth

from .api_support import bearer
from .conftest import csrf_token, seed_tiny_perimeter

# Words, forms and pages over a handful of rows; the grants' SQL is plain inserts and deletes: SQLite alone.
pytestmark = pytest.mark.sqlite_only

DAY = date(2026, 6, 1)
END = date(2026, 6, 30)


def two_perimeters(app, users):
    """iaas-t (the tiny one) and paas-t; their ids."""
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        other = perimeters.create_perimeter(session, tiny.manager, perimeters.PerimeterData(
            code="paas-t", name="Plateforme test", service_types=("PaaS",), framework_key="tiny-1.0"))
        return tiny.perimeter.id, other.id


def test_the_service_grants_refuses_moves_with_a_campaign_and_ends(app, users):
    app.config["TODAY"] = DAY
    a, b = two_perimeters(app, users)
    with app.app_context(), db.session_scope(app) as session:
        admin, evaluator = session.get(User, users["admin"].id), session.get(User, users["evaluator"].id)
        assert reach.scope_of(session, evaluator, DAY).perimeter_ids == frozenset()  # granted none: nothing
        auditor = session.get(User, users["auditor"].id)
        assert not reach.scope_of(session, auditor, DAY).limited  # an internal auditor granted none reads all

        refusals = [
            (lambda: grants.set_grants(session, admin, session.get(User, users["manager"].id), ["iaas-t"], today=DAY),
             "manager@example.org a le rôle « manager »", "perimeters"),
            (lambda: grants.set_grants(session, admin, evaluator, ["iaas-t", "nulle-part"], today=DAY),
             "aucun périmètre « nulle-part »", "perimeters"),
            (lambda: grants.set_grants(session, admin, evaluator, ["iaas-t"], DAY - timedelta(days=1), today=DAY),
             "la date de fin 2026-05-31 est passée", "until"),
        ]
        for attempt, words, field in refusals:
            with pytest.raises(EvidenceError, match=words) as refused:
                attempt()
            assert refused.value.field == field
        assert grants.list_for(session, evaluator) == []  # nothing half done

        lines = grants.set_grants(session, admin, evaluator, ["IAAS-T", "iaas-t"], END, today=DAY)
        assert [(line.code, line.until) for line in lines] == [("iaas-t", END)]
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "user.grants")).one()
        assert event.actor == "admin@example.org" and event.object_id == "evaluator@example.org"
        assert event.details == {"before": [], "after": [{"perimeter": "iaas-t", "until": "2026-06-30"}]}
        assert reach.scope_of(session, evaluator, END).perimeter_ids == {a}  # through its last day
        assert reach.scope_of(session, evaluator, END + timedelta(days=1)).perimeter_ids == frozenset()  # the day after

        # A campaign grants its own perimeter through its last day, leaves the others, moves and ends with it.
        campaign = Campaign(perimeter_id=b, kind="initial", centre="Centre d’évaluation", starts_on=DAY,
                            ends_on=date(2026, 7, 15))
        session.add(campaign)
        session.commit()
        with pytest.raises(EvidenceError, match="la campagne porte sur le périmètre paas-t"):
            grants.set_grants(session, admin, evaluator, ["iaas-t"], campaign=campaign, today=DAY)
        grants.set_grants(session, admin, evaluator, ["paas-t"], campaign=campaign, today=DAY)
        held = {g.perimeter_id: g for g in session.exec(select(PerimeterGrant).where(PerimeterGrant.user_id == evaluator.id))}
        assert held[a].until == END and held[a].campaign_id is None
        assert held[b].until == date(2026, 7, 15) and held[b].campaign_id == campaign.id
        # The admin's own list keeps a campaign's perimeter on the campaign's dates.
        grants.set_grants(session, admin, evaluator, ["iaas-t", "paas-t"], END, today=DAY)
        assert session.get(PerimeterGrant, (evaluator.id, b)).campaign_id == campaign.id

        campaign.ends_on = date(2026, 7, 31)
        assert grants.extend_for_campaign(session, campaign, admin) == 1
        session.commit()
        assert session.get(PerimeterGrant, (evaluator.id, b)).until == date(2026, 7, 31)
        assert grants.end_for_campaign(session, campaign, date(2026, 7, 10), admin) == 1
        session.commit()
        assert session.get(PerimeterGrant, (evaluator.id, b)).until == date(2026, 7, 10)
        assert reach.scope_of(session, evaluator, date(2026, 7, 11)).perimeter_ids == frozenset()

        # Leaving the scoped roles drops the grants, in the role change's transaction.
        auth.set_role(session, admin, evaluator, "contributor")
        assert grants.list_for(session, evaluator) == []
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "user.grants")
                            .order_by(AuditEvent.seq.desc())).first().details["after"] == []


def test_the_command_line_adds_grants_and_lists_evaluators(app, users, runner):
    app.config["TODAY"] = DAY
    two_perimeters(app, users)
    refused = runner.invoke(args=["users", "add", "eve@cesti.example", "--role", "evaluator"])
    assert refused.exit_code == 1 and "--perimeter: an evaluator" in refused.output, refused.output
    unknown = runner.invoke(args=["users", "add", "eve@cesti.example", "--role", "evaluator", "--perimeter", "zz-1"])
    assert unknown.exit_code == 1 and "--perimeter: no perimeter 'zz-1'" in unknown.output, unknown.output
    past = runner.invoke(args=["users", "add", "eve@cesti.example", "--role", "evaluator", "--perimeter", "iaas-t",
                               "--until", "2026-05-01"], env={"EVIDENCE_LOCALE": "fr"})
    assert past.exit_code == 1 and "--until : la date de fin 2026-05-01 est passée" in past.output, past.output
    team = runner.invoke(args=["users", "add", "bob@example.org", "--role", "contributor", "--perimeter", "iaas-t"])
    assert team.exit_code == 1 and "sees every perimeter" in team.output, team.output
    with app.app_context(), db.session_scope(app) as session:
        assert auth.find_user(session, "eve@cesti.example") is None and auth.find_user(session, "bob@example.org") is None

    added = runner.invoke(args=["users", "add", "eve@cesti.example", "--role", "evaluator", "--perimeter", "iaas-t",
                                "--until", "2026-06-30"])
    assert added.exit_code == 0, added.output
    assert "Created eve@cesti.example (evaluator)" in added.output and "perimeters: iaas-t until 2026-06-30" in added.output
    changed = runner.invoke(args=["users", "grant", "eve@cesti.example", "--perimeter", "iaas-t", "--perimeter", "paas-t"])
    assert changed.exit_code == 0 and "eve@cesti.example: perimeters: iaas-t, paas-t" in changed.output, changed.output
    listed = runner.invoke(args=["users", "list"]).output
    assert re.search(r"eve@cesti\.example\s+evaluator .*perimeters: iaas-t, paas-t", listed), listed
    assert re.search(r"auditor@example\.org\s+auditor .*perimeters: all", listed), listed
    assert "perimeters" not in next(line for line in listed.splitlines() if line.startswith("manager@"))
    runner.invoke(args=["users", "grant", "eve@cesti.example", "--perimeter", "iaas-t", "--until", "2026-06-02"])
    app.config["TODAY"] = date(2026, 6, 3)
    assert "perimeters: iaas-t until 2026-06-02 (ended)" in runner.invoke(args=["users", "list"]).output


def test_the_users_page_grants_perimeters(app, client, users, login_as):
    app.config["TODAY"] = DAY
    two_perimeters(app, users)
    login_as("admin")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Périmètres lus" in page and 'value="iaas-t"' in page
    assert "Périmètres : tous" in page  # the ungranted auditor
    base = {"email": "eve@cesti.example", "name": "Ève Martin", "role": "evaluator"}

    refused = client.post("/admin/users", data={**base, "csrf_token": csrf_token(client, "/admin/users")})
    assert "nommez-en au moins un" in refused.get_data(as_text=True)
    created = client.post("/admin/users", data={**base, "perimeters": ["iaas-t"], "until": "2026-06-30",
                                                "csrf_token": csrf_token(client, "/admin/users")})
    html = created.get_data(as_text=True).replace("\u00a0", " ")
    assert "Compte eve@cesti.example créé" in html
    assert "Périmètres : iaas-t jusqu’au 30 juin 2026" in html, html
    with app.app_context(), db.session_scope(app) as session:
        eve = auth.get_user(session, "eve@cesti.example")
        eve_id = eve.id
        assert [(g.code, g.until) for g in grants.list_for(session, eve)] == [("iaas-t", END)]

    forged = client.post(f"/admin/users/{eve_id}/grants", data={"perimeters": ["paas-t"]})
    assert forged.status_code == 400
    client.post(f"/admin/users/{eve_id}/grants", data={"perimeters": ["iaas-t", "paas-t"], "until": "",
                                                       "csrf_token": csrf_token(client, "/admin/users")})
    client.post("/locale/en", data={"csrf_token": csrf_token(client, "/admin/users")})
    english = client.get("/admin/users", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Perimeters: iaas-t, paas-t" in english.replace("\u00a0", " "), english
    past = client.post(f"/admin/users/{eve_id}/grants", data={"perimeters": ["iaas-t"], "until": "2026-01-01",
                                                              "csrf_token": csrf_token(client, "/admin/users")},
                       follow_redirects=True)
    assert "2026-01-01" in past.get_data(as_text=True)
    with app.app_context(), db.session_scope(app) as session:
        assert [g.code for g in grants.list_for(session, session.get(User, eve_id))] == ["iaas-t", "paas-t"]
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "user.grants")).all()[-1].actor == \
            "admin@example.org"


def test_an_evaluator_s_token_reaches_his_perimeters_only(app, users, runner):
    app.config["TODAY"] = DAY
    two_perimeters(app, users)
    with app.app_context(), db.session_scope(app) as session:
        grants.set_grants(session, "cli:test", session.get(User, users["evaluator"].id), ["iaas-t"], END, today=DAY)
    service = runner.invoke(args=["tokens", "create", "cesti", "--role", "evaluator"])
    assert service.exit_code == 1 and "an evaluator's token acts on behalf of an evaluator" in service.output
    created = runner.invoke(args=["tokens", "create", "eve", "--user", "evaluator@example.org"])
    assert created.exit_code == 0 and "(evaluator, acting as evaluator@example.org; every perimeter within the " \
        "perimeters granted to him" in created.output, created.output
    secret = re.search(r"^(snc_\S+)$", created.stdout, re.M).group(1)
    client = app.test_client()
    listed = client.get("/api/v1/perimeters", headers=bearer(secret))
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert "iaas-t" in listed.get_data(as_text=True) and "paas-t" not in listed.get_data(as_text=True)
    assert client.get("/api/v1/perimeters/paas-t", headers=bearer(secret)).status_code in (403, 404)
    app.config["TODAY"] = END + timedelta(days=1)  # the day after: nothing any more
    assert client.get("/api/v1/perimeters/iaas-t", headers=bearer(secret)).status_code in (403, 404)
    assert "iaas-t" not in client.get("/api/v1/perimeters", headers=bearer(secret)).get_data(as_text=True)
