"""The REST API's perimeters, requirements, controls, findings, actions, dossiers and audit head: each one's happy
path, and its refusals — the role, the token's perimeters (404 for a read beyond them, 403 naming the perimeter for
a write), a refused field named — with nothing written when refused and every write audited with the token."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from evidence.data import audit
from evidence.data import database as db
from evidence.data.models import AuditEvent, Control, Finding, User
from evidence.services import gaps
from evidence.services import users as auth
from evidence.web.clock import request_today

from .api_support import bearer, fingerprint, make_token
from .conftest import PASSWORD, csrf_token, login, seed_tiny_perimeter

API = "/api/v1"
# The tables of refusals: each is judged before anything is written, by rules that read no SQL of their own, so they
# run on SQLite alone (CI's time); on PostgreSQL the happy paths, the scope refusals and
# test_an_auditor_token_writes_nothing_anywhere write and roll back, and Schemathesis fuzzes every write.
VALIDATION = pytest.mark.sqlite_only


@pytest.fixture
def world(app, users):
    """The tiny perimeter iaas-t (its control CTL-AV-01, the contributor's, implemented and mapped to 12.4.a), a
    second perimeter paas-t, a second contributor, and tokens: a manager's service account, the contributor's
    own (acting as him), the second contributor's, an auditor's, a manager's limited to paas-t."""
    with app.app_context(), db.session_scope(app) as session:
        seed_tiny_perimeter(session, users)
        from evidence.services import perimeters

        manager = session.get(User, users["manager"].id)
        perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="paas-t", name="Plateforme test", service_types=("PaaS",), framework_key="tiny-1.0"))
        auth.create_user(session, None, "contributor2@example.org", "Second Contributor", "contributor", PASSWORD)
    app.config["TOKENS"] = {
        "manager": make_token(app, "ci-conformite", "manager"),
        "contributor": make_token(app, "poste-contrib", user_email="contributor@example.org"),
        "contributor2": make_token(app, "poste-contrib2", user_email="contributor2@example.org"),
        "auditor": make_token(app, "cabinet-audit", "auditor"),
        "paas": make_token(app, "ci-paas", "manager", perimeters=["paas-t"]),
    }
    return app


def token(app, who: str, language: str = "en", **headers) -> dict:
    return bearer(app.config["TOKENS"][who], language, **headers)


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.json


def fields_refused(response) -> set[str]:
    return {e["field"] for e in problem(response, 422)["errors"]}


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context(), db.session_scope(app) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


# --- perimeters -----------------------------------------------------------------------------------------------


def test_perimeters_list_and_coverage_summary(world):
    client = world.test_client()
    listed = client.get(f"{API}/perimeters", headers=token(world, "auditor"))
    assert listed.status_code == 200
    assert [p["code"] for p in listed.json["items"]] == ["iaas-t", "paas-t"] and listed.json["total"] == 2
    one = client.get(f"{API}/perimeters/iaas-t", headers=token(world, "auditor"))
    assert one.status_code == 200 and one.headers["ETag"] == f'"{one.json["version"]}"'
    coverage = one.json["coverage"]
    with world.app_context(), world.test_request_context(), db.session_scope(world) as session:
        from evidence.services.perimeters import get_perimeter

        result = gaps.compute(session, get_perimeter(session, "iaas-t"), request_today())
        expected = result.counts()
    assert coverage["counts"] == {state: expected.get(state, 0)
                                  for state in ("covered", "partly_covered", "not_covered", "not_applicable")}
    assert coverage["readiness"]["applicable"] == result.readiness.applicable
    assert coverage["gaps"] == len(result.gaps()) > 0
    assert sum(c["applicable"] for c in coverage["chapters"]) == coverage["readiness"]["applicable"]
    assert one.json["framework"] == "tiny-1.0" and one.json["service_types"] == ["IaaS"]


def test_a_token_limited_to_perimeters_sees_its_own_and_nothing_else(world):
    client = world.test_client()
    listed = client.get(f"{API}/perimeters", headers=token(world, "paas"))
    assert [p["code"] for p in listed.json["items"]] == ["paas-t"]
    hidden = problem(client.get(f"{API}/perimeters/iaas-t", headers=token(world, "paas")), 404)
    unknown = problem(client.get(f"{API}/perimeters/nowhere", headers=token(world, "paas")), 404)
    assert hidden["detail"] == "no perimeter 'iaas-t'" and unknown["detail"] == "no perimeter 'nowhere'"


@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_no_token_no_answer(world):
    response = world.test_client().get(f"{API}/perimeters")
    assert problem(response, 401)["type"] == "urn:evidence:problem:unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- requirements ---------------------------------------------------------------------------------------------


def test_requirements_list_with_the_browser_s_filters(world):
    client, headers = world.test_client(), token(world, "contributor")
    everything = client.get(f"{API}/requirements?framework=tiny-1.0", headers=headers).json
    assert everything["total"] == 4 and everything["items"][0]["framework"] == "tiny-1.0"
    recommendations = client.get(f"{API}/requirements?framework=tiny-1.0&kind=recommandation", headers=headers).json
    assert {r["kind"] for r in recommendations["items"]} <= {"recommandation"}
    assert recommendations["total"] < everything["total"]
    paged = client.get(f"{API}/requirements?framework=tiny-1.0&per_page=3&page=2", headers=headers).json
    assert (paged["page"], paged["pages"], len(paged["items"])) == (2, 2, 1)
    found = client.get(f"{API}/requirements?framework=tiny-1.0&q=12.4.a", headers=headers).json
    assert [r["ref"] for r in found["items"]] == ["12.4.a"]
    problem(client.get(f"{API}/requirements?framework=nope", headers=headers), 404)
    assert problem(client.get(f"{API}/requirements?per_page=101", headers=headers), 422)["errors"][0]["field"] == \
        "per_page"


@pytest.mark.sqlite_only  # words, not SQL (the coverage itself is computed on both databases elsewhere)
def test_a_requirement_s_coverage_per_perimeter_with_reasons_in_codes_and_words(world):
    client = world.test_client()
    english = client.get(f"{API}/requirements/tiny-1.0/12.4.a", headers=token(world, "auditor", "en")).json
    assert [c["perimeter"] for c in english["coverage"]] == ["iaas-t", "paas-t"]
    iaas, paas = english["coverage"]
    assert iaas["controls"][0]["ref"] == "CTL-AV-01" and iaas["controls"][0]["statement"] == "EDR sur tous les postes"
    assert paas["status"] == "not_covered" and "no_control" in paas["reasons"] and paas["gap"] is True
    assert iaas["status"] == "partly_covered" and iaas["reasons"]
    assert len(iaas["reason_words"]) == len(iaas["reasons"]) and iaas["sentences"]
    assert {e["id"] for e in iaas["entries"]} == {e["id"] for e in english["expected_evidence"]}
    french = client.get(f"{API}/requirements/tiny-1.0/12.4.a", headers=token(world, "auditor", "fr")).json
    assert french["coverage"][1]["reason_words"][0] == "aucune mesure"
    assert english["coverage"][1]["reason_words"][0] == "no control"
    assert french["coverage"][0]["status_words"] == "Partiellement couvert"
    assert english["coverage"][0]["status_words"] == "Partly covered"
    limited = client.get(f"{API}/requirements/tiny-1.0/12.4.a", headers=token(world, "paas")).json
    assert [c["perimeter"] for c in limited["coverage"]] == ["paas-t"]
    assert problem(client.get(f"{API}/requirements/tiny-1.0/99.9.z", headers=token(world, "paas")), 404)


# --- controls -------------------------------------------------------------------------------------------------


NEW_CONTROL = {"ref": "CTL-LOG-01", "title": "Journalisation centralisée", "category": "technical",
               "status": "implemented", "perimeters": ["iaas-t"], "owner": "contributor@example.org"}


def test_a_control_s_life_through_the_api(world):
    client, headers = world.test_client(), token(world, "manager")
    created = client.post(f"{API}/controls", json=NEW_CONTROL, headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.headers["Location"] == f"{API}/controls/CTL-LOG-01" and created.headers["ETag"] == '"1"'
    assert created.json["owner"]["email"] == "contributor@example.org" and created.json["perimeters"] == ["iaas-t"]

    problem(client.patch(f"{API}/controls/CTL-LOG-01", json={"title": "x"}, headers=headers), 428)
    changed = client.patch(f"{API}/controls/CTL-LOG-01", json={"title": "Journaux centralisés", "review_cycle_days": 180},
                           headers={**headers, "If-Match": '"1"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    assert changed.json["title"] == "Journaux centralisés" and changed.json["review_cycle_days"] == 180
    assert changed.json["category"] == "technical" and changed.json["perimeters"] == ["iaas-t"]  # kept
    stale = problem(client.patch(f"{API}/controls/CTL-LOG-01", json={"title": "y"},
                                 headers={**headers, "If-Match": '"1"'}), 412)
    assert stale["type"] == "urn:evidence:problem:stale-version"

    mapped = client.put(f"{API}/controls/CTL-LOG-01/requirements/12.4.a", json={"statement": "Collecte des journaux"},
                        headers=headers)
    assert mapped.status_code == 200 and mapped.json == {"framework": "tiny-1.0", "requirement": "12.4.a",
                                                         "statement": "Collecte des journaux"}
    read = client.get(f"{API}/controls/CTL-LOG-01", headers=token(world, "auditor")).json
    assert read["mappings"] == [mapped.json] and read["mapped"] == 1
    coverage = client.get(f"{API}/requirements/tiny-1.0/12.4.a", headers=headers).json["coverage"][0]
    assert "CTL-LOG-01" in [c["ref"] for c in coverage["controls"]]
    assert client.delete(f"{API}/controls/CTL-LOG-01/requirements/12.4.a", headers=headers).status_code == 204
    assert client.get(f"{API}/controls/CTL-LOG-01", headers=headers).json["mappings"] == []

    retired = client.post(f"{API}/controls/CTL-LOG-01/retire", headers={**headers, "If-Match": '"2"'})
    assert retired.status_code == 200 and retired.json["status"] == "retired"
    listed = client.get(f"{API}/controls", headers=headers).json
    assert "CTL-LOG-01" not in [c["ref"] for c in listed["items"]]  # retired ones only when asked for, as the page
    assert [c["ref"] for c in client.get(f"{API}/controls?status=retired", headers=headers).json["items"]] == \
        ["CTL-LOG-01"]

    trail = [(e.action, e.details.get("token")) for e in events(world, "control.create") + events(world, "control.update")
             + events(world, "control.map") + events(world, "control.unmap") + events(world, "control.retire")
             if e.object_id == "CTL-LOG-01"]
    assert trail == [("control.create", "ci-conformite"), ("control.update", "ci-conformite"),
                     ("control.map", "ci-conformite"), ("control.unmap", "ci-conformite"),
                     ("control.retire", "ci-conformite")]


def test_controls_list_filters(world):
    client, headers = world.test_client(), token(world, "manager")
    client.post(f"{API}/controls", json={**NEW_CONTROL, "perimeters": ["paas-t"], "category": "procedural",
                                        "owner": "manager@example.org"}, headers=headers)
    refs = lambda query: [c["ref"] for c in client.get(f"{API}/controls?{query}", headers=headers).json["items"]]  # noqa: E731
    assert refs("") == ["CTL-AV-01", "CTL-LOG-01"]
    assert refs("perimeter=paas-t") == ["CTL-LOG-01"] and refs("category=procedural") == ["CTL-LOG-01"]
    assert refs("owner=contributor@example.org") == ["CTL-AV-01"] and refs("q=log") == ["CTL-LOG-01"]
    assert refs("owner=me") == []  # the token's service account owns nothing
    assert [c["ref"] for c in client.get(f"{API}/controls?owner=me", headers=token(world, "contributor"))
            .json["items"]] == ["CTL-AV-01"]
    assert [c["ref"] for c in client.get(f"{API}/controls", headers=token(world, "paas")).json["items"]] == \
        ["CTL-LOG-01"]


@VALIDATION
@pytest.mark.parametrize("body, field", [
    ({**NEW_CONTROL, "ref": "x"}, "ref"),
    ({**NEW_CONTROL, "ref": "CTL-AV-01"}, "ref"),  # taken
    ({**NEW_CONTROL, "category": "magic"}, "category"),
    ({**NEW_CONTROL, "owner": "nobody@example.org"}, "owner"),
    ({**NEW_CONTROL, "owner": "auditor@example.org"}, "owner"),  # an auditor owns nothing
    ({**NEW_CONTROL, "perimeters": ["iaas-t", "mars-1"]}, "perimeters"),
    ({**NEW_CONTROL, "review_cycle_days": 0}, "review_cycle_days"),
    ({**NEW_CONTROL, "title": ""}, "title"),
    ({**NEW_CONTROL, "colour": "blue"}, "colour"),  # unknown field
    ({"title": "Sans référence"}, "ref"),  # missing
])
@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_a_refused_control_names_its_field_and_writes_nothing(world, body, field):
    before = fingerprint(world)
    response = world.test_client().post(f"{API}/controls", json=body, headers=token(world, "manager"))
    assert field in fields_refused(response)
    assert fingerprint(world) == before


@pytest.mark.sqlite_only  # words, not SQL
def test_a_refusal_has_the_web_form_s_words(world):
    api = world.test_client().post(f"{API}/controls", json={**NEW_CONTROL, "ref": "CTL-AV-01"},
                                   headers=token(world, "manager", "fr"))
    web = world.test_client()
    login(web, "manager@example.org")
    page = web.post("/controls/new", data={"csrf_token": csrf_token(web, "/controls/new"), "ref": "CTL-AV-01",
                                           "title": "Doublon", "category": "technical", "status": "planned",
                                           "review_cycle_days": 365})
    text = re.sub(r"\s+", " ", page.get_data(as_text=True)).replace("&#39;", "'")
    assert api.json["errors"] == [{"field": "ref", "message": "une mesure a déjà la référence « CTL-AV-01 »"}]
    assert api.json["errors"][0]["message"] in text


@VALIDATION
@pytest.mark.parametrize("who, call, status", [
    ("auditor", ("post", "/controls", NEW_CONTROL), 403),  # an auditor reads, never writes
    ("contributor2", ("patch", "/controls/CTL-AV-01", {"title": "x"}), 403),  # not his control
    ("contributor2", ("put", "/controls/CTL-AV-01/requirements/12.4.a", {"statement": "x"}), 403),
    ("contributor2", ("delete", "/controls/CTL-AV-01/requirements/12.4.a", None), 403),
    ("contributor2", ("post", "/controls/CTL-AV-01/retire", None), 403),
    ("paas", ("post", "/controls", NEW_CONTROL), 403),  # deploys it in iaas-t, beyond the token's perimeters
    ("paas", ("patch", "/controls/CTL-AV-01", {"title": "x"}), 404),  # not even visible to it
    ("manager", ("put", "/controls/CTL-AV-01/requirements/99.9.z", {"statement": "x"}), 404),
    ("manager", ("put", "/controls/CTL-NOPE/requirements/12.4.a", {"statement": "x"}), 404),
    ("manager", ("put", "/controls/CTL-AV-01/requirements/12.4.a", {"statement": "x" * 10_001}), 422),
])
@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_refused_control_writes_leave_nothing_behind(world, who, call, status):
    method, path, body = call
    before = fingerprint(world)
    headers = token(world, who, **({"If-Match": '"1"'} if method in ("patch", "post") and "CTL-AV" in path else {}))
    response = getattr(world.test_client(), method)(f"{API}{path}", json=body, headers=headers)
    found = problem(response, status)
    if who == "paas" and status == 403:
        assert "iaas-t" in found["detail"] and found["type"] == "urn:evidence:problem:out-of-scope"
    assert fingerprint(world) == before


@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_a_contributor_s_control_is_his_own(world):
    client = world.test_client()
    created = client.post(f"{API}/controls", json={**NEW_CONTROL, "owner": "manager@example.org"},
                          headers=token(world, "contributor2"))
    assert created.status_code == 201 and created.json["owner"]["email"] == "contributor2@example.org"
    mine = client.patch(f"{API}/controls/CTL-LOG-01", json={"status": "in_progress"},
                        headers=token(world, "contributor2", **{"If-Match": created.headers["ETag"]}))
    assert mine.status_code == 200 and mine.json["status"] == "in_progress"


def test_a_limited_token_writes_controls_of_its_perimeters_only(world):
    client, paas = world.test_client(), token(world, "paas")
    created = client.post(f"{API}/controls", json={**NEW_CONTROL, "perimeters": ["paas-t"]}, headers=paas)
    assert created.status_code == 201
    nowhere = problem(client.post(f"{API}/controls", json={**NEW_CONTROL, "ref": "CTL-X-01", "perimeters": []},
                                  headers=paas), 403)
    assert nowhere["type"] == "urn:evidence:problem:out-of-scope"
    moving = problem(client.patch(f"{API}/controls/CTL-LOG-01", json={"perimeters": ["paas-t", "iaas-t"]},
                                  headers={**paas, "If-Match": '"1"'}), 403)
    assert "iaas-t" in moving["detail"]
    # Deployed in iaas-t too (by an unlimited token), it proves coverage there: the limited token reads it (its
    # perimeters naming paas-t alone), but may not change it.
    client.patch(f"{API}/controls/CTL-LOG-01", json={"perimeters": ["paas-t", "iaas-t"]},
                 headers=token(world, "manager", **{"If-Match": '"1"'}))
    read = client.get(f"{API}/controls/CTL-LOG-01", headers=paas)
    assert read.status_code == 200 and read.json["perimeters"] == ["paas-t"]
    problem(client.patch(f"{API}/controls/CTL-LOG-01", json={"title": "x"}, headers={**paas, "If-Match": '"2"'}), 403)


# --- findings -------------------------------------------------------------------------------------------------


def test_findings_recorded_listed_and_answered(world):
    client, headers = world.test_client(), token(world, "manager")
    created = client.post(f"{API}/perimeters/iaas-t/findings", headers=headers, json={
        "severity": "major", "requirement": "12.4.a", "text": "EDR absent des serveurs de rebond",
        "due_date": "2026-01-31"})
    assert created.status_code == 201, created.get_data(as_text=True)
    finding = created.json
    assert created.headers["Location"] == f"{API}/perimeters/iaas-t/findings/{finding['id']}"
    assert finding["requirement"] == "12.4.a" and finding["status"] == "open"
    client.post(f"{API}/perimeters/iaas-t/findings", headers=headers, json={"severity": "observation", "text": "Note"})
    listed = client.get(f"{API}/perimeters/iaas-t/findings?severity=major", headers=token(world, "auditor")).json
    assert [f["id"] for f in listed["items"]] == [finding["id"]]
    coverage = client.get(f"{API}/requirements/tiny-1.0/12.4.a", headers=headers).json["coverage"][0]
    assert coverage["status"] == "not_covered" and "open_finding" in coverage["reasons"]

    answered = client.patch(f"{API}/perimeters/iaas-t/findings/{finding['id']}", headers=headers,
                            json={"status": "closed", "response": "EDR déployé"})
    assert answered.status_code == 200
    assert (answered.json["status"], answered.json["response"], answered.json["text"]) == \
        ("closed", "EDR déployé", "EDR absent des serveurs de rebond")
    assert client.get(f"{API}/perimeters/iaas-t/findings?open=true", headers=headers).json["total"] == 1
    assert [e.details["token"] for e in events(world, "finding.create")] == ["ci-conformite", "ci-conformite"]
    problem(client.get(f"{API}/perimeters/paas-t/findings/{finding['id']}", headers=headers), 404)  # another's


@VALIDATION
@pytest.mark.parametrize("who, code, body, status, field", [
    ("contributor", "iaas-t", {"severity": "minor", "text": "x"}, 403, None),  # managers record findings
    ("auditor", "iaas-t", {"severity": "minor", "text": "x"}, 403, None),
    ("paas", "iaas-t", {"severity": "minor", "text": "x"}, 403, None),  # beyond its perimeters: named
    ("manager", "iaas-t", {"severity": "minor", "text": "x", "requirement": "99.9.z"}, 422, "requirement"),
    ("manager", "iaas-t", {"severity": "fatal", "text": "x"}, 422, "severity"),
    ("manager", "iaas-t", {"severity": "minor", "text": "  "}, 422, "text"),
    ("manager", "iaas-t", {"severity": "minor", "text": "x", "due_date": "demain"}, 422, "due_date"),
    ("manager", "mars-1", {"severity": "minor", "text": "x"}, 404, None),
])
@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_refused_findings_write_nothing(world, who, code, body, status, field):
    before = fingerprint(world)
    response = world.test_client().post(f"{API}/perimeters/{code}/findings", json=body, headers=token(world, who))
    found = problem(response, status)
    if field:
        assert field in {e["field"] for e in found["errors"]}
    if who == "paas":
        assert "iaas-t" in found["detail"]
    assert fingerprint(world) == before


def test_a_limited_token_does_not_see_another_perimeter_s_findings(world):
    problem(world.test_client().get(f"{API}/perimeters/iaas-t/findings", headers=token(world, "paas")), 404)


# --- actions --------------------------------------------------------------------------------------------------


def test_an_action_planned_by_a_manager_and_reported_by_its_owner(world):
    client, headers = world.test_client(), token(world, "manager")
    finding = client.post(f"{API}/perimeters/iaas-t/findings", headers=headers,
                          json={"severity": "minor", "text": "Revue annuelle manquante"}).json
    created = client.post(f"{API}/perimeters/iaas-t/actions", headers=headers, json={
        "title": "Revoir la politique antimalware", "owner": "contributor@example.org", "due_date": "2020-01-31",
        "requirements": ["12.4.a"], "controls": ["CTL-AV-01"], "findings": [finding["id"]], "residual_risk": "low"})
    assert created.status_code == 201, created.get_data(as_text=True)
    action = created.json
    assert (action["owner"]["email"], action["requirements"], action["controls"], action["findings"]) == \
        ("contributor@example.org", ["12.4.a"], ["CTL-AV-01"], [finding["id"]])
    assert action["overdue"] is True
    assert client.get(f"{API}/perimeters/iaas-t/findings/{finding['id']}", headers=headers).json["actions"] == \
        [action["id"]]
    listed = client.get(f"{API}/perimeters/iaas-t/actions?overdue=true", headers=token(world, "auditor")).json
    assert [a["id"] for a in listed["items"]] == [action["id"]] and listed["total"] == 1

    # Its owner (a contributor) reports progress: the status changes, the plan stays the manager's.
    reported = client.patch(f"{API}/perimeters/iaas-t/actions/{action['id']}", headers=token(world, "contributor"),
                            json={"status": "done", "title": "Autre chose", "controls": []})
    assert reported.status_code == 200, reported.get_data(as_text=True)
    assert (reported.json["status"], reported.json["title"], reported.json["controls"]) == \
        ("done", "Revoir la politique antimalware", ["CTL-AV-01"])
    assert client.get(f"{API}/perimeters/iaas-t/actions?status=open", headers=headers).json["total"] == 0
    replanned = client.patch(f"{API}/perimeters/iaas-t/actions/{action['id']}", headers=headers,
                             json={"owner": None, "controls": []})
    assert replanned.json["owner"] is None and replanned.json["controls"] == [] and replanned.json["findings"]
    assert [e.details["token"] for e in events(world, "action.update")] == ["poste-contrib", "ci-conformite"]


@VALIDATION
@pytest.mark.parametrize("who, body, status, field", [
    ("contributor", {"title": "x"}, 403, None),  # managers plan
    ("auditor", {"title": "x"}, 403, None),
    ("manager", {"title": "x", "owner": "nobody@example.org"}, 422, "owner"),
    ("manager", {"title": "x", "controls": ["CTL-NOPE"]}, 422, "controls"),
    ("manager", {"title": "x", "requirements": ["99.9.z"]}, 422, "requirements"),
    ("manager", {"title": "x", "findings": [999]}, 422, "findings"),
    ("manager", {"title": "x", "status": "someday"}, 422, "status"),
    ("manager", {"title": "x", "residual_risk": "extreme"}, 422, "residual_risk"),
    ("manager", {"title": ""}, 422, "title"),
])
@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_refused_actions_write_nothing(world, who, body, status, field):
    before = fingerprint(world)
    response = world.test_client().post(f"{API}/perimeters/iaas-t/actions", json=body, headers=token(world, who))
    found = problem(response, status)
    if field:
        assert field in {e["field"] for e in found["errors"]}
    assert fingerprint(world) == before


@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_only_the_owner_or_a_manager_updates_an_action(world):
    client = world.test_client()
    action = client.post(f"{API}/perimeters/iaas-t/actions", headers=token(world, "manager"),
                         json={"title": "Durcir les bastions", "owner": "contributor@example.org"}).json
    before = fingerprint(world)
    problem(client.patch(f"{API}/perimeters/iaas-t/actions/{action['id']}", json={"status": "done"},
                         headers=token(world, "contributor2")), 403)
    problem(client.patch(f"{API}/perimeters/paas-t/actions/{action['id']}", json={"status": "done"},
                         headers=token(world, "contributor")), 404)  # not that perimeter's
    problem(client.patch(f"{API}/perimeters/iaas-t/actions/{action['id']}", json={"status": "done"},
                         headers=token(world, "paas")), 403)
    assert fingerprint(world) == before


# --- dossiers -------------------------------------------------------------------------------------------------


def test_a_dossier_queued_followed_and_downloaded(world):
    client, headers = world.test_client(), token(world, "manager")
    queued = client.post(f"{API}/perimeters/iaas-t/dossiers", json={"language": "en", "marking": "Diffusion restreinte"},
                         headers=headers)
    assert queued.status_code == 202, queued.get_data(as_text=True)
    assert queued.headers["Location"] == f"{API}/perimeters/iaas-t/dossiers/1"
    status = client.get(queued.headers["Location"], headers=token(world, "auditor")).json
    assert status["status"] == "draft" and status["progress"] == 100  # tests render at once (JOBS_IMMEDIATE)
    assert status["language"] == "en" and status["marking"] == "Diffusion restreinte"
    assert [p["kind"] for p in status["pdfs"]] == ["draft"] and status["withheld"] == []
    pdf = client.get(f"{API}/perimeters/iaas-t/dossiers/1/pdf", headers=token(world, "auditor"))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert "dossier-secnumcloud-iaas-t-v1.pdf" in pdf.headers["Content-Disposition"]
    draft = client.get(f"{API}/perimeters/iaas-t/dossiers/1/pdf?kind=draft", headers=headers)
    assert draft.data == pdf.data
    problem(client.get(f"{API}/perimeters/iaas-t/dossiers/1/pdf?kind=signed", headers=headers), 404)
    problem(client.get(f"{API}/perimeters/iaas-t/dossiers/2", headers=headers), 404)
    listed = client.get(f"{API}/perimeters/iaas-t/dossiers", headers=headers).json
    assert [d["number"] for d in listed["items"]] == [1]
    assert events(world, "dossier.queue")[0].details["token"] == "ci-conformite"


@VALIDATION
@pytest.mark.parametrize("who, code, body, status", [
    ("contributor", "iaas-t", {}, 403),  # managers queue dossiers
    ("auditor", "iaas-t", {}, 403),
    ("paas", "iaas-t", {}, 403),
    ("manager", "iaas-t", {"language": "de"}, 422),
    ("manager", "iaas-t", {"marking": "x" * 500}, 422),
])
@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_refused_dossiers_write_nothing(world, who, code, body, status):
    before = fingerprint(world)
    found = problem(world.test_client().post(f"{API}/perimeters/{code}/dossiers", json=body,
                                             headers=token(world, who)), status)
    if status == 422:
        assert {e["field"] for e in found["errors"]} & {"language", "marking"}
    assert fingerprint(world) == before


@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_a_dossier_of_another_perimeter_is_not_found(world, monkeypatch):
    from evidence import jobs

    monkeypatch.setattr(jobs, "render_dossier", lambda dossier_id: None)  # queued is enough here
    client = world.test_client()
    client.post(f"{API}/perimeters/iaas-t/dossiers", json={}, headers=token(world, "manager"))
    problem(client.get(f"{API}/perimeters/iaas-t/dossiers/1", headers=token(world, "paas")), 404)
    problem(client.get(f"{API}/perimeters/iaas-t/dossiers/1/pdf", headers=token(world, "paas")), 404)
    not_yet = problem(client.get(f"{API}/perimeters/iaas-t/dossiers/1/pdf", headers=token(world, "manager")), 404)
    assert not_yet["detail"] == "iaas-t-v1 has no PDF yet (state: queued)"


# --- audit head -----------------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_the_audit_head_for_the_audit_log_s_roles(world):
    client = world.test_client()
    head = client.get(f"{API}/audit/head", headers=token(world, "manager"))
    assert head.status_code == 200
    with world.app_context(), db.session_scope(world) as session:
        assert head.json == audit.export_head(session, audit.seal_key_for(session))
        assert audit.check_checkpoint(session, head.json, audit.seal_key_for(session)) is None
    assert head.json["seq"] > 0 and head.json["seal"]
    for who in ("auditor", "contributor"):  # as the web's audit log: admins and managers
        problem(client.get(f"{API}/audit/head", headers=token(world, who)), 403)


# --- what every write shares ----------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # refusals judged by the services, whose SQL runs on both databases in the happy paths above
def test_an_auditor_token_writes_nothing_anywhere(world):
    client, auditor = world.test_client(), token(world, "auditor", **{"If-Match": '"1"'})
    with world.app_context(), db.session_scope(world) as session:
        finding_id = session.exec(select(Finding.id)).first()
        control = session.exec(select(Control).where(Control.ref == "CTL-AV-01")).one()
        assert control.version == 1 and finding_id is None
    before = fingerprint(world)
    for method, path, body in (
        ("post", "/controls", NEW_CONTROL), ("patch", "/controls/CTL-AV-01", {"title": "x"}),
        ("post", "/controls/CTL-AV-01/retire", None), ("put", "/controls/CTL-AV-01/requirements/12.4.a", {}),
        ("delete", "/controls/CTL-AV-01/requirements/12.4.a", None),
        ("post", "/perimeters/iaas-t/findings", {"severity": "minor", "text": "x"}),
        ("patch", "/perimeters/iaas-t/findings/1", {"status": "closed"}),
        ("post", "/perimeters/iaas-t/actions", {"title": "x"}), ("patch", "/perimeters/iaas-t/actions/1", {}),
        ("post", "/perimeters/iaas-t/dossiers", {}),
    ):
        response = getattr(client, method)(f"{API}{path}", json=body, headers=auditor)
        assert response.status_code == 403, (method, path, response.get_data(as_text=True))
    assert fingerprint(world) == before


# --- list pages: a constant number of queries -----------------------------------------------------------------


def queries_of(app, client, path: str, headers: dict) -> int:
    from sqlalchemy import event

    count = []
    engine = db.get_engine(app)
    listener = lambda *args: count.append(1)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get(path, headers=headers).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(count)


@pytest.mark.sqlite_only
def test_api_lists_make_as_many_queries_for_many_rows_as_for_few(world, monkeypatch):
    from evidence import jobs

    monkeypatch.setattr(jobs, "render_dossier", lambda dossier_id: None)  # a queued version is a row all the same
    client, headers = world.test_client(), token(world, "manager")
    paths = [f"{API}/perimeters", f"{API}/controls", f"{API}/perimeters/iaas-t/findings",
             f"{API}/perimeters/iaas-t/actions", f"{API}/requirements?framework=tiny-1.0",
             f"{API}/perimeters/iaas-t/dossiers"]

    def add_rows(n: int, start: int) -> None:
        for i in range(start, start + n):
            client.post(f"{API}/controls", headers=headers, json={**NEW_CONTROL, "ref": f"CTL-Q-{i:02d}"})
            finding = client.post(f"{API}/perimeters/iaas-t/findings", headers=headers,
                                  json={"severity": "minor", "text": f"Constat {i}", "requirement": "12.4.a"}).json
            client.post(f"{API}/perimeters/iaas-t/actions", headers=headers, json={
                "title": f"Action {i}", "owner": "contributor@example.org", "requirements": ["12.4.a"],
                "controls": ["CTL-AV-01"], "findings": [finding["id"]]})
            client.post(f"{API}/perimeters/iaas-t/dossiers", headers=headers, json={})

    add_rows(1, 0)
    few = {path: queries_of(world, client, path, headers) for path in paths}
    add_rows(4, 1)
    many = {path: queries_of(world, client, path, headers) for path in paths}
    assert many == few
    assert client.get(f"{API}/perimeters/iaas-t/dossiers", headers=headers).json["total"] == 5


@pytest.mark.parametrize("method, path, body", [
    ("post", "/controls", {**NEW_CONTROL, "title": "Journalisation\u0000"}),
    ("post", "/perimeters/iaas-t/findings", {"severity": "minor", "text": "a\u0000b"}),
    ("post", "/perimeters/iaas-t/actions", {"title": "x", "description": "\u0000"}),
    ("post", "/perimeters/iaas-t/dossiers", {"marking": "\u0000"}),
])
def test_a_nul_byte_in_a_json_body_is_refused_at_the_door(world, method, path, body):
    """As in an address or a form (web.refuse_nul_bytes): PostgreSQL refuses NUL in text, so it must never reach a
    service (a 500 there, a stored NUL on SQLite)."""
    before = fingerprint(world)
    problem(getattr(world.test_client(), method)(f"{API}{path}", json=body, headers=token(world, "manager")), 400)
    assert fingerprint(world) == before
