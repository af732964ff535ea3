"""Findings raised in place: an evaluator raises a finding on an item from its page, pinning the approved evidence
versions he looked at; the provider answers (response, actions); only the judging side closes it, and the team is
told; the coverage rules and the dossier read it. Web, API and the dossier's snapshot.

On the four-item referential: iaas-t with CTL-AV-01 (owned by the contributor) mapped to 12.4.a; evidence EV on
that control approved at v1, with a draft v2; a running initial campaign; the evaluator granted iaas-t for it.
"""
from __future__ import annotations

import io
import re
from datetime import date
from types import SimpleNamespace

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import (
    AuditEvent,
    EvidenceVersion,
    Finding,
    FindingEvidence,
    Notification,
    Requirement,
    User,
)
from evidence.services import campaigns, gaps
from evidence.services import findings as finding_service
from evidence.services.evidence import EvidenceData, add_version, create_evidence, review

from .api_support import bearer, make_token
from .conftest import create_role_users, csrf_token, login, make_app, seed_tiny_perimeter

# Words, forms, templates and the rules' outcome on one small set-up, not SQL: SQLite only.
pytestmark = pytest.mark.sqlite_only

TODAY = date(2026, 6, 15)


@pytest.fixture
def world(tmp_path, database_url):
    app = make_app(tmp_path / "instance", database_url, TODAY=TODAY)
    with app.app_context(), db.session_scope(app) as session:
        users = create_role_users(session)
        tiny = seed_tiny_perimeter(session, users)
        manager, contributor = tiny.manager, tiny.contributor
        store = storage.get_store(app)
        evidence = create_evidence(session, contributor, EvidenceData(
            title="Export EDR", kind="report", valid_until=date(2027, 1, 1), control_ids=[tiny.control.id]),
            store=store, upload=io.BytesIO(b"poste;edr\npc-01;oui\n"), filename="edr.csv")
        review(session, contributor, evidence, "submit")
        review(session, manager, evidence, "approve")
        add_version(session, contributor, evidence, store=store, upload=io.BytesIO(b"poste;edr\npc-02;non\n"),
                    filename="edr.csv")
        versions = {v.number: v for v in session.exec(select(EvidenceVersion).where(
            EvidenceVersion.evidence_id == evidence.id))}
        campaign = campaigns.create_campaign(session, manager, tiny.perimeter, campaigns.CampaignData(
            kind="initial", centre="Centre Alpha", starts_on=date(2026, 6, 1), ends_on=date(2026, 7, 31)))
        campaigns.set_evaluators(session, manager, campaign, [users["evaluator"].id], TODAY)
        ids = SimpleNamespace(ref=evidence.ref, v1=versions[1].id, v2=versions[2].id, sha1=versions[1].sha256,
                              campaign=campaign.id, control=tiny.control.id,
                              users={role: u.id for role, u in users.items()})
    yield SimpleNamespace(app=app, ids=ids)
    db.get_engine(app).dispose()


def client_of(world, role):
    client = world.app.test_client()
    assert login(client, f"{role}@example.org").status_code == 302
    return client


def finding_row(world, finding_id):
    with world.app.app_context(), db.session_scope(world.app) as session:
        finding = session.get(Finding, finding_id)
        session.expunge(finding)
        return finding


def test_raised_in_place_answered_and_closed_by_the_judging_side_only(world):
    evaluator, manager = client_of(world, "evaluator"), client_of(world, "manager")
    item_page = evaluator.get("/perimeters/iaas-t/verdict/12.4.a").get_data(as_text=True)
    assert "/perimeters/iaas-t/findings/raise?ref=12.4.a" in item_page and "Relever un constat" in item_page

    form = evaluator.get("/perimeters/iaas-t/findings/raise?ref=12.4.a").get_data(as_text=True)
    assert f'value="{world.ids.v1}"' in form and f'value="{world.ids.v2}"' not in form  # approved versions only
    token = csrf_token(evaluator, "/perimeters/iaas-t/findings/raise?ref=12.4.a")
    refused = evaluator.post("/perimeters/iaas-t/findings/raise?ref=12.4.a", data={
        "csrf_token": token, "severity": "minor", "text": "Revue non signée.", "versions": [str(world.ids.v2)]})
    assert refused.status_code == 200 and "n’est pas une version approuvée" in refused.get_data(as_text=True)
    raised = evaluator.post("/perimeters/iaas-t/findings/raise?ref=12.4.a", data={
        "csrf_token": token, "severity": "minor", "text": "Revue des accès non signée.",
        "versions": [str(world.ids.v1)]})
    assert raised.status_code == 302
    finding_id = int(re.search(r"/findings/(\d+)$", raised.location).group(1))
    with world.app.app_context(), db.session_scope(world.app) as session:
        finding = session.get(Finding, finding_id)
        assert (finding.raised_by_id, finding.campaign_id, finding.raised_on, finding.status) == (
            world.ids.users["evaluator"], world.ids.campaign, TODAY, "open")
        assert [p.evidence_version_id for p in session.exec(select(FindingEvidence))] == [world.ids.v1]
        raised_told = session.exec(select(Notification.recipient_id).where(Notification.kind == "finding_raised")).all()
        assert raised_told == [world.ids.users["contributor"]]  # the owner of the item's control
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "finding.raise")).one()
        assert event.details["evidence"] == [f"{world.ids.ref} v1"] and event.details["campaign"] == world.ids.campaign

    # The team answers: the response only (no field of the evaluator's words, no « Clore »).
    page = manager.get(f"/perimeters/iaas-t/findings/{finding_id}").get_data(as_text=True)
    assert 'name="response"' in page and 'name="severity"' not in page and "Clore le constat" not in page
    assert world.ids.sha1 in page and "Centre Alpha" in page and "Evaluator" in page
    answer = manager.post(f"/perimeters/iaas-t/findings/{finding_id}", data={
        "csrf_token": csrf_token(manager, f"/perimeters/iaas-t/findings/{finding_id}"),
        "response": "Revue signée le 20 juin (EV v3)."})
    assert answer.status_code == 302 and finding_row(world, finding_id).status == "answered"
    closing = manager.post(f"/perimeters/iaas-t/findings/{finding_id}/close",
                           data={"csrf_token": csrf_token(manager, f"/perimeters/iaas-t/findings/{finding_id}")},
                           follow_redirects=True)
    assert "seul un évaluateur le clôture" in closing.get_data(as_text=True)
    assert finding_row(world, finding_id).status == "answered"
    with world.app.app_context(), db.session_scope(world.app) as session:
        finding, team = session.get(Finding, finding_id), session.get(User, world.ids.users["manager"])
        with pytest.raises(finding_service.EvidenceError, match="l’équipe n’en change ni le texte"):
            finding_service.update_finding(session, team, finding, finding_service.FindingData(
                severity="observation", text=finding.text, requirement_id=finding.requirement_id,
                raised_on=finding.raised_on, response=finding.response, status=finding.status))
        with pytest.raises(finding_service.EvidenceError, match="celle du prestataire"):
            finding_service.update_finding(session, session.get(User, world.ids.users["evaluator"]), finding,
                                           finding_service.FindingData(
                                               severity=finding.severity, text=finding.text,
                                               requirement_id=finding.requirement_id, raised_on=finding.raised_on,
                                               response="Réécrit", status=finding.status))

    # The evaluator closes it; the team is told.
    page = evaluator.get(f"/perimeters/iaas-t/findings/{finding_id}").get_data(as_text=True)
    assert "Clore le constat" in page and 'name="response"' not in page
    closed = evaluator.post(f"/perimeters/iaas-t/findings/{finding_id}/close",
                            data={"csrf_token": csrf_token(evaluator, f"/perimeters/iaas-t/findings/{finding_id}")})
    assert closed.status_code == 302
    finding = finding_row(world, finding_id)
    assert finding.status == "closed" and finding.closed_by_id == world.ids.users["evaluator"] and finding.closed_at
    with world.app.app_context(), db.session_scope(world.app) as session:
        told = {n.recipient_id for n in session.exec(select(Notification).where(Notification.kind == "finding_closed"))}
    assert world.ids.users["manager"] in told and world.ids.users["evaluator"] not in told
    inbox = manager.get("/inbox/").get_data(as_text=True)
    assert "Constat clos" in inbox and "a clos le constat" in inbox


def test_an_action_answers_the_finding_and_an_open_major_one_weighs_on_coverage(world):
    with world.app.app_context(), db.session_scope(world.app) as session:
        from evidence.services.perimeters import get_perimeter

        perimeter = get_perimeter(session, "iaas-t")
        item = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
        evaluator = session.get(User, world.ids.users["evaluator"])
        finding = finding_service.raise_finding(session, evaluator, perimeter, item, finding_service.RaisedFinding(
            severity="major", text="Aucun EDR sur les bastions."), TODAY)
        row = next(r for r in gaps.compute(session, perimeter, TODAY).rows if r.requirement.ref == "12.4.a")
        assert finding.id in [f.id for f in row.findings] and "open_finding" in row.status.reasons
        finding_service.save_action(session, session.get(User, world.ids.users["manager"]), perimeter,
                                    finding_service.ActionData(title="Déployer l’EDR", finding_ids=[finding.id]))
        assert session.get(Finding, finding.id).status == "answered"
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "finding.answer")).one()
        with pytest.raises(finding_service.EvidenceError, match="seul un évaluateur le clôture"):
            finding_service.close_finding(session, session.get(User, world.ids.users["manager"]), finding)
        # An action plan proposed does not lift a major non-conformity: only its closing does.
        row = next(r for r in gaps.compute(session, perimeter, TODAY).rows if r.requirement.ref == "12.4.a")
        assert "open_finding" in row.status.reasons
        finding_service.close_finding(session, evaluator, session.get(Finding, finding.id))
        row = next(r for r in gaps.compute(session, perimeter, TODAY).rows if r.requirement.ref == "12.4.a")
        assert "open_finding" not in row.status.reasons


def test_the_api_raises_with_pinned_versions_and_refuses_the_team_closing_it(world):
    client = world.app.test_client()
    evaluator = bearer(make_token(world.app, "centre", user_email="evaluator@example.org"))
    manager = bearer(make_token(world.app, "pipeline", "manager"))
    raised = client.post("/api/v1/perimeters/iaas-t/findings/raise", headers=evaluator, json={
        "requirement": "12.4.a", "severity": "minor", "text": "Revue non signée.",
        "evidence": [{"ref": world.ids.ref, "version": 1}]})
    assert raised.status_code == 201, raised.get_json()
    body = raised.get_json()
    assert body["raised_by"] == "evaluator@example.org" and body["campaign"] == world.ids.campaign
    assert body["evidence"] == [{"ref": world.ids.ref, "version": 1, "sha256": world.ids.sha1}]
    draft = client.post("/api/v1/perimeters/iaas-t/findings/raise", headers=evaluator, json={
        "requirement": "12.4.a", "severity": "minor", "text": "x", "evidence": [{"ref": world.ids.ref, "version": 2}]})
    assert draft.status_code == 422
    refused = client.post(f"/api/v1/perimeters/iaas-t/findings/{body['id']}/close", headers=manager)
    assert refused.status_code == 409 and "seul un évaluateur le clôture" in refused.get_json()["detail"]
    closed = client.post(f"/api/v1/perimeters/iaas-t/findings/{body['id']}/close", headers=evaluator)
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"


def test_the_dossier_names_the_campaign_and_each_finding_s_provenance(world):
    import html as html_module
    import json

    from evidence import context
    from evidence.dossier import diff
    from evidence.dossier.pdf import render_html
    from evidence.dossier.snapshot import take_snapshot
    from evidence.presentation import changes as change_words
    from evidence.services.perimeters import get_perimeter

    def snapshot():
        perimeter = get_perimeter(session, "iaas-t")
        taken = take_snapshot(session, perimeter, TODAY, {"attach_evidence": False, "marking": ""}, organisation="Org")
        return json.loads(json.dumps({**taken, "number": 1}, default=str))

    with world.app.app_context(), db.session_scope(world.app) as session:
        before = snapshot()
        perimeter = get_perimeter(session, "iaas-t")
        item = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
        evaluator = session.get(User, world.ids.users["evaluator"])
        finding = finding_service.raise_finding(session, evaluator, perimeter, item, finding_service.RaisedFinding(
            severity="minor", text="Revue des accès non signée.", version_ids=[world.ids.v1]), TODAY)
        finding_service.close_finding(session, evaluator, finding)
        campaigns.close_campaign(session, session.get(User, world.ids.users["manager"]),
                                 session.get(campaigns.Campaign, world.ids.campaign), TODAY)
        campaigns.create_campaign(session, session.get(User, world.ids.users["manager"]), perimeter,
                                  campaigns.CampaignData(kind="surveillance_1", centre="Centre Alpha",
                                                         starts_on=date(2026, 9, 1), ends_on=date(2026, 9, 10)))
        finding_service.raise_finding(session, evaluator, perimeter, item, finding_service.RaisedFinding(
            severity="observation", text="Documenter la rotation."), TODAY)
        after = snapshot()
        page = html_module.unescape(render_html(after, "fr", settings=context.dossier_settings()))
    pinned = next(f for f in after["findings"] if f["id"] == finding.id)
    assert pinned["raised_by"] == "Evaluator" and pinned["campaign"]["kind"] == "initial" and pinned["closed_on"]
    assert pinned["evidence"] == [{"ref": world.ids.ref, "version": 1, "sha256": world.ids.sha1}]
    assert after["campaign"]["kind"] == "surveillance_1"
    assert "Audit de surveillance (1re année) — Centre Alpha, du 1er septembre 2026 au 10 septembre 2026" in page
    assert "Relevé par Evaluator (Centre Alpha), le 15 juin 2026 — Évaluation initiale." in page
    assert world.ids.sha1 in page
    found = diff.changes(before, after)
    assert found["campaign"] == [{"from": {"kind": "initial", "centre": "Centre Alpha", "starts_on": "2026-06-01",
                                           "ends_on": "2026-07-31"},
                                  "to": {"kind": "surveillance_1", "centre": "Centre Alpha",
                                         "starts_on": "2026-09-01", "ends_on": "2026-09-10"}}]
    assert found["findings_opened"][0]["campaign"] == {"kind": "surveillance_1", "centre": "Centre Alpha"}
    with world.app.test_request_context():
        sentences = change_words.describe(found)
    assert any(s.startswith("Campagne d’évaluation : Évaluation initiale (Centre Alpha, du 01/06/2026 au "
                            "31/07/2026) → Audit de surveillance (1re année)") for s in sentences), sentences
    assert any("Audit de surveillance (1re année) (Centre Alpha)" in s and "constat ouvert" in s for s in sentences)
