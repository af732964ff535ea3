"""Evidence requests ("demandes de pièces"): an evaluator asks, the owner answers with new or existing evidence that
the normal review approves before the evaluator sees it, the evaluator accepts or reopens; the list, its XLSX
working sheet, the command line and the API."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import (
    AuditEvent,
    Campaign,
    Comment,
    EvidenceRequest,
    Notification,
    PerimeterGrant,
    RequestEvidence,
    Requirement,
    User,
)
from evidence.services import evidence as evidence_service
from evidence.services import perimeters
from evidence.services import requests as service

from .api_support import bearer, make_token
from .conftest import csrf_token, login, seed_tiny_perimeter

# Words, forms, the sheet and the rules' outcomes: the queries are the list pages' plain ones.
pytestmark = pytest.mark.sqlite_only

DAY = date(2026, 6, 10)


@pytest.fixture
def ground(app, users):
    """The tiny perimeter iaas-t (CTL-AV-01 owned by the contributor, mapped to 12.4.a), a second perimeter
    iaas-b, the evaluator granted iaas-t, the clock at DAY; ids of what the tests use."""
    app.config["TODAY"] = DAY
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        manager = session.get(User, users["manager"].id)
        other = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="iaas-b", name="Autre", service_types=("IaaS",), framework_key="tiny-1.0"))
        session.add(PerimeterGrant(user_id=users["evaluator"].id, perimeter_id=tiny.perimeter.id))
        session.commit()
        item = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
        return {"perimeter": tiny.perimeter.id, "other": other.id, "item": item.id, "control": tiny.control.id}


def _evidence(session, actor, title, perimeter_ids, store):
    return evidence_service.create_evidence(
        session, actor, evidence_service.EvidenceData(title=title, kind="report", perimeter_ids=perimeter_ids),
        store=store, upload=io.BytesIO(b"%PDF-1.4 " + title.encode()), filename="r.pdf")


def test_the_request_from_ask_to_accept_through_the_pages(app, client, users, ground):
    """Evaluator asks on 12.4.a → the control's owner is notified → answers with new evidence → the evaluator sees
    « en cours de revue » only → a manager approves → the evaluator sees it (ref, version, SHA-256 in the sheet) and
    accepts; each step audited."""
    login(client, users["evaluator"].email)
    token = csrf_token(client, "/perimeters/iaas-t/requests/new?requirement=12.4.a")
    page = client.get("/perimeters/iaas-t/requests/new?requirement=12.4.a").get_data(as_text=True)
    assert 'value="12.4.a"' in page
    refused = client.post("/perimeters/iaas-t/requests/new", data={
        "csrf_token": token, "requirement": "12.4.a", "control": "", "text": "Rapport EDR", "due_date": "2026-06-01"})
    assert refused.status_code == 200 and "ne peut pas être passée" in refused.get_data(as_text=True)
    raised = client.post("/perimeters/iaas-t/requests/new", data={
        "csrf_token": token, "requirement": "12.4.a", "control": "", "text": "=HYPERLINK(\"x\") le rapport EDR",
        "due_date": "2026-06-30"})
    assert raised.status_code == 302
    request_id = int(raised.headers["Location"].rsplit("/", 1)[1])
    with app.app_context(), db.session_scope(app) as session:
        item = session.get(EvidenceRequest, request_id)
        assert (item.status, item.assignee_id, item.raised_by_id) == ("open", users["contributor"].id, users["evaluator"].id)
        assert session.exec(select(Notification.kind).where(Notification.recipient_id == users["contributor"].id)).all() \
            == ["request_raised"]
    assert client.get("/perimeters/iaas-b/requests").status_code == 404  # not granted
    assert client.post(f"/perimeters/iaas-t/requests/{request_id}/answer", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})

    login(client, users["contributor"].email)
    inbox = client.get("/inbox/").get_data(as_text=True)
    assert "demande une pièce sur 12.4.a (iaas-t, demande n° 1)" in inbox
    opened = client.post("/inbox/1/read", data={"csrf_token": csrf_token(client, "/inbox/"), "open": "1"})
    assert opened.headers["Location"].endswith(f"/perimeters/iaas-t/requests/{request_id}")
    shown = client.get(f"/perimeters/iaas-t/requests/{request_id}").get_data(as_text=True)
    assert "Répondre avec une nouvelle preuve" in shown and "Accepter la réponse" not in shown
    address = f"/evidence/new?request={request_id}&requirement=12.4.a&control=CTL-AV-01"
    form = client.get(address).get_data(as_text=True)
    made = client.post(address, data={
        "csrf_token": csrf_token(client, address), "title": "Rapport EDR juin", "kind": "report", "owner": "",
        "classification": "internal", "requirements": "12.4.a", "perimeters": [str(ground["perimeter"])],
        "file": (io.BytesIO(b"%PDF-1.4 rapport"), "edr.pdf")}, content_type="multipart/form-data")
    assert made.status_code == 302, made.get_data(as_text=True)
    assert 'checked' in form, form
    with app.app_context(), db.session_scope(app) as session:
        item = session.get(EvidenceRequest, request_id)
        link = session.exec(select(RequestEvidence).where(RequestEvidence.request_id == request_id)).one()
        answer = session.get(evidence_service.Evidence, link.evidence_id)
        ref = answer.ref
        assert item.status == "answered"
        assert session.exec(select(Notification.kind).where(Notification.recipient_id == users["evaluator"].id)).all() \
            == ["request_answered"]
        contributor = session.get(User, users["contributor"].id)
        evidence_service.review(session, contributor, answer, "submit")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})

    login(client, users["evaluator"].email)
    before = client.get(f"/perimeters/iaas-t/requests/{request_id}").get_data(as_text=True)
    assert ref not in before and "Une preuve en cours de revue" in before and "Accepter la réponse" in before
    with app.app_context(), db.session_scope(app) as session:
        evidence_service.review(session, session.get(User, users["manager"].id),
                                evidence_service.get_evidence(session, ref), "approve")
        sha = session.exec(select(evidence_service.EvidenceVersion.sha256).where(
            evidence_service.EvidenceVersion.evidence_id == link.evidence_id)).one()
    after = client.get(f"/perimeters/iaas-t/requests/{request_id}").get_data(as_text=True)
    assert ref in after and "Une preuve en cours de revue" not in after
    listed = client.get("/perimeters/iaas-t/requests").get_data(as_text=True)
    assert ref in listed and "Répondue" in listed
    token = csrf_token(client, f"/perimeters/iaas-t/requests/{request_id}")
    assert client.post(f"/perimeters/iaas-t/requests/{request_id}/accept",
                       data={"csrf_token": token, "version": "1"}).status_code == 302
    assert "rechargez" in client.get(f"/perimeters/iaas-t/requests/{request_id}").get_data(as_text=True)  # stale form
    shown = client.get(f"/perimeters/iaas-t/requests/{request_id}").get_data(as_text=True)
    version = shown.split('name="version" type="hidden" value="')[1].split('"')[0]
    assert client.post(f"/perimeters/iaas-t/requests/{request_id}/accept",
                       data={"csrf_token": token, "version": version}).status_code == 302
    sheet = client.get("/perimeters/iaas-t/requests.xlsx")
    assert sheet.status_code == 200, sheet.get_data(as_text=True)[-3000:]
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("N°", "Campagne", "Point") and rows[0][-1] == "Acceptée le"
    assert rows[1][0] == str(request_id) and rows[1][2] == "12.4.a" and rows[1][9] == "Acceptée"
    assert rows[1][5].startswith("'=")  # formula injection neutralised
    assert ref in rows[1][10] and sha in rows[1][10] and rows[1][11]
    with app.app_context(), db.session_scope(app) as session:
        assert session.get(EvidenceRequest, request_id).status == "accepted"
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.object_type == "request")).all()
        assert actions == ["request.raise", "request.answer", "request.accept"]
    english = client.get("/perimeters/iaas-t/requests.xlsx", headers={"Accept-Language": "en"})
    assert english.status_code == 200


def test_the_rules_of_raising_answering_and_judging(app, users, ground):
    with app.app_context(), db.session_scope(app) as session:
        store = storage.get_store(app)
        evaluator, manager, contributor, auditor = (session.get(User, users[r].id) for r in
                                                    ("evaluator", "manager", "contributor", "auditor"))
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        other = perimeters.get_perimeter(session, "iaas-b")
        ask = service.RequestData(text="La revue", requirement_id=ground["item"])
        with pytest.raises(PermissionError):
            service.raise_request(session, auditor, perimeter, ask, DAY)
        with pytest.raises(PermissionError):
            service.raise_request(session, contributor, perimeter, ask, DAY)
        for data, field in ((service.RequestData(text="  ", requirement_id=ground["item"]), "text"),
                            (service.RequestData(text="x"), "requirement"),
                            (service.RequestData(text="x", control_id=ground["control"]), None),
                            (service.RequestData(text="x" * 5001, requirement_id=ground["item"]), "text")):
            if field is None:
                with pytest.raises(EvidenceError) as refused:
                    service.raise_request(session, evaluator, other, data, DAY)  # CTL-AV-01 is not deployed there
                assert refused.value.field == "control"
                continue
            with pytest.raises(EvidenceError) as refused:
                service.raise_request(session, evaluator, perimeter, data, DAY)
            assert refused.value.field == field
        session.rollback()
        request = service.raise_request(session, evaluator, perimeter, ask, DAY)
        logged = service.raise_request(session, manager, perimeter, service.RequestData(
            text="Reçue par courriel", control_id=ground["control"]), DAY)
        assert request.assignee_id == logged.assignee_id == contributor.id
        with pytest.raises(EvidenceError):  # nothing to accept yet
            service.accept(session, evaluator, request)
        session.rollback()
        mine = _evidence(session, contributor, "Rapport", [perimeter.id], store)
        elsewhere = _evidence(session, manager, "Ailleurs", [other.id], store)
        managers = _evidence(session, manager, "Du responsable", [perimeter.id], store)
        with pytest.raises(PermissionError):
            service.answer(session, evaluator, request, [mine.ref])
        session.rollback()
        with pytest.raises(EvidenceError) as refused:
            service.answer(session, manager, request, [elsewhere.ref])
        assert "iaas-t" in str(refused.value) and refused.value.field == "evidence"
        session.rollback()
        with pytest.raises(EvidenceError):
            service.answer(session, manager, request, ["EV-9999"])
        session.rollback()
        # A contributor answers what he is assigned; another's request only with evidence he owns.
        session.add(request)
        request.assignee_id = manager.id
        session.commit()
        with pytest.raises(PermissionError):
            service.answer(session, contributor, request, [managers.ref])
        session.rollback()
        service.answer(session, contributor, request, [mine.ref])
        assert request.status == "answered"
        # The team does not judge an evaluator's request; the evaluator does not judge the one a manager logged.
        with pytest.raises(PermissionError):
            service.accept(session, manager, request)
        session.rollback()
        with pytest.raises(EvidenceError) as refused:
            service.reopen(session, evaluator, request, "  ", DAY)
        assert refused.value.field == "reason"
        session.rollback()
        service.reopen(session, evaluator, request, "La revue de 2025, pas celle de 2026.", DAY)
        assert request.status == "reopened"
        comment = session.exec(select(Comment).where(Comment.subject_type == "request")).one()
        assert (comment.subject_id, comment.author_id) == (request.id, evaluator.id) and "2026" in comment.body
        reopened = session.exec(select(Notification).where(Notification.kind == "request_reopened")).one()
        assert reopened.recipient_id == manager.id and "2025" in reopened.payload["text"]
        service.answer(session, manager, request, [managers.ref])
        service.accept(session, evaluator, request)
        assert request.status == "accepted"
        service.answer(session, manager, logged, [managers.ref])
        with pytest.raises(PermissionError):
            service.accept(session, evaluator, logged)
        session.rollback()
        service.accept(session, manager, logged)
        rows = service.rows(session, perimeter, "evaluator")
        assert [r.request.id for r in rows] == [logged.id, request.id]
        assert [a.evidence.ref for a in rows[1].answers] == [mine.ref, managers.ref]
        assert not any(a.visible for a in rows[1].answers)  # never approved: « en cours de revue »
        assert all(a.visible for a in service.rows(session, perimeter, "manager")[1].answers)
        later = session.get(EvidenceRequest, service.raise_request(session, evaluator, perimeter, service.RequestData(
            text="Plus tard", requirement_id=ground["item"], due_date=DAY), DAY).id)
        assert not service.overdue(later, DAY) and service.overdue(later, DAY + timedelta(days=1))


def test_the_command_line_lists_and_exports(app, runner, users, ground, tmp_path):
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        session.add(Campaign(perimeter_id=perimeter.id, kind="initial", centre="Centre Alpha", starts_on=DAY,
                             ends_on=DAY + timedelta(days=30)))
        session.commit()
        service.raise_request(session, session.get(User, users["evaluator"].id), perimeter, service.RequestData(
            text="+SUM(A1) la politique", requirement_id=ground["item"], due_date=DAY), DAY)
    listed = runner.invoke(args=["requests", "list", "--perimeter", "iaas-t"])
    assert listed.exit_code == 0 and "#1\topen\t2026-06-10\t12.4.a\tevaluator@example.org" in listed.output
    output = tmp_path / "demandes.xlsx"
    exported = runner.invoke(args=["requests", "export", "--perimeter", "iaas-t", "-o", str(output), "--lang", "en"])
    assert exported.exit_code == 0, exported.output
    rows = list(load_workbook(output).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("No.", "Campaign", "Item") and rows[1][9] == "Open" and rows[1][5].startswith("'+")
    assert rows[1][1] == "Initial evaluation · Centre Alpha"  # the perimeter's running campaign
    wrong = runner.invoke(args=["requests", "export", "--perimeter", "iaas-t", "-o", str(tmp_path / "x.csv")])
    assert wrong.exit_code != 0 and ".xlsx" in wrong.output


def test_the_api_with_an_evaluator_token(app, client, users, ground):
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        answer = _evidence(session, manager, "Rapport", [ground["perimeter"]], storage.get_store(app))
        ref = answer.ref
    evaluator = bearer(make_token(app, "centre", user_email=users["evaluator"].email))
    team = bearer(make_token(app, "team", user_email=users["manager"].email))
    assert client.get("/api/v1/perimeters/iaas-b/requests", headers=evaluator).status_code == 404
    refused = client.post("/api/v1/perimeters/iaas-t/requests", headers=evaluator,
                          json={"text": "x", "requirement": "99.9"})
    assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "requirement"
    made = client.post("/api/v1/perimeters/iaas-t/requests", headers=evaluator,
                       json={"text": "Le rapport EDR", "control": "CTL-AV-01", "due_date": "2026-06-30"})
    assert made.status_code == 201, made.json
    number = made.json["id"]
    assert (made.json["status"], made.json["control"], made.json["assignee"]) == ("open", "CTL-AV-01",
                                                                               users["contributor"].email)
    assert client.post(f"/api/v1/perimeters/iaas-t/requests/{number}/answer", headers=evaluator,
                       json={"evidence": [ref]}).status_code == 403
    answered = client.post(f"/api/v1/perimeters/iaas-t/requests/{number}/answer", headers=team,
                           json={"evidence": [ref]})
    assert answered.status_code == 200 and answered.json["answers"][0]["evidence"] == ref
    seen = client.get(f"/api/v1/perimeters/iaas-t/requests/{number}", headers=evaluator).json
    assert seen["answers"] == [{"evidence": None, "title": None, "version": None, "sha256": None, "under_review": True}]
    assert client.post(f"/api/v1/perimeters/iaas-t/requests/{number}/accept", headers=team).status_code == 403
    assert client.post(f"/api/v1/perimeters/iaas-t/requests/{number}/reopen", headers=evaluator,
                       json={}).status_code == 422
    reopened = client.post(f"/api/v1/perimeters/iaas-t/requests/{number}/reopen", headers=evaluator,
                           json={"reason": "Celui de juin, signé."})
    assert reopened.status_code == 200 and reopened.json["status"] == "reopened"
    stale = client.post(f"/api/v1/perimeters/iaas-t/requests/{number}/answer", headers={**team, "If-Match": '"1"'},
                        json={"evidence": [ref]})
    assert stale.status_code == 412
    listed = client.get("/api/v1/perimeters/iaas-t/requests?status=reopened", headers=evaluator).json
    assert listed["total"] == 1 and listed["items"][0]["id"] == number
    assert client.get(f"/api/v1/perimeters/iaas-b/requests/{number}", headers=evaluator).status_code == 404
