"""Comment threads: posted, edited and deleted in the pages and through the API, never silently; mentions notify
whoever reads the thread and are refused for anyone else; an evaluator sees no thread beyond his perimeters or on a
version he may not see."""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlmodel import select

from evidence.core.errors import EvidenceError
from evidence.core.rules import comments as rule
from evidence.data import database as db
from evidence.data.models import (
    AuditEvent,
    Comment,
    EvidenceVersion,
    Notification,
    Perimeter,
    PerimeterGrant,
    Requirement,
    User,
)
from evidence.services import comments, controls, perimeters
from evidence.services.evidence import EvidenceData, add_version, create_evidence, review

from .api_support import bearer, make_token
from .conftest import TINY_CATALOGUE, csrf_token, login

# Words, forms and templates over a few rows: no SQL that differs between the databases.
pytestmark = pytest.mark.sqlite_only

TODAY = date(2026, 6, 1)


@pytest.mark.parametrize("body, expected", [
    ("@alice@example.org, voyez-vous ?", ["alice@example.org"]),
    ("(@Bob.Martin@Example.org) et @alice@example.org puis @bob.martin@example.org.", [
        "bob.martin@example.org", "alice@example.org"]),
    ("écrire à alice@example.org ou @personne", []),
    ("", []),
])
def test_mentions(body, expected):
    assert rule.mentions(body) == expected


def test_who_edits_and_deletes():
    assert rule.may_edit(3, 3, False) and not rule.may_edit(3, 4, False) and not rule.may_edit(3, 3, True)
    assert rule.may_delete("contributor", 3, 3, False) and rule.may_delete("manager", 4, 3, False)
    assert not rule.may_delete("evaluator", 4, 3, False) and not rule.may_delete("manager", 4, 3, True)


@pytest.fixture
def world(tmp_path, database_url):
    """Perimeters A (iaas-t) and B (saas-t) on the tiny referential; CTL-AV-01 in A; in A an evidence approved
    (v1) with a draft v2, in B one approved; the evaluator granted A alone."""
    from evidence import catalogue

    from .conftest import create_role_users, make_app

    app = make_app(tmp_path / "instance", database_url, TODAY=TODAY)
    with app.app_context(), db.session_scope(app) as session:
        users = create_role_users(session)
        catalogue.load_catalogues(session, [TINY_CATALOGUE], "cli:test")
        manager = session.get(User, users["manager"].id)
        a, b = (perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code=code, name=f"Périmètre {code}", service_types=("IaaS",), framework_key="tiny-1.0"))
            for code in ("iaas-t", "saas-t"))
        control = controls.create_control(session, manager, controls.ControlData(
            ref="CTL-AV-01", title="EDR", status="implemented", perimeter_ids=[a.id]))
        item = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()

        def approved(title, perimeter):
            evidence = create_evidence(session, manager, EvidenceData(title=title, kind="link",
                                                                      perimeter_ids=[perimeter.id]),
                                       url="https://intranet.example/" + title)
            review(session, manager, evidence, "submit")
            review(session, session.get(User, users["admin"].id), evidence, "approve", admin_approves=True)
            return evidence

        in_a, in_b = approved("edr", a), approved("pssi", b)
        add_version(session, manager, in_a, url="https://intranet.example/edr-2")
        versions = {(v.evidence_id, v.number): v.id for v in session.exec(select(EvidenceVersion))}
        session.add(PerimeterGrant(user_id=users["evaluator"].id, perimeter_id=a.id))
        session.commit()
        ids = SimpleNamespace(a=a.id, b=b.id, control=control.id, item=item.id, ref_a=in_a.ref, ref_b=in_b.ref,
                              v1=versions[(in_a.id, 1)], v2=versions[(in_a.id, 2)], b1=versions[(in_b.id, 1)],
                              users={role: u.id for role, u in users.items()})
    yield SimpleNamespace(app=app, ids=ids)
    db.get_engine(app).dispose()


def client_of(world, role):
    client = world.app.test_client()
    assert login(client, f"{role}@example.org").status_code == 302
    return client


def post(client, code, subject_type, subject_id, body, page):
    return client.post(f"/perimeters/{code}/comments", data={
        "csrf_token": csrf_token(client, page), "subject_type": subject_type, "subject_id": str(subject_id),
        "body": body})


def test_a_thread_on_an_item(world):
    """Posted with a mention (the person told, with a link to it), shown escaped with its line breaks, edited by
    its author alone, deleted by a manager after confirmation: each an audit event that keeps the text."""
    page = "/perimeters/iaas-t/verdict/12.4.a"
    manager = client_of(world, "manager")
    answer = post(manager, "iaas-t", "requirement", world.ids.item,
                  "Le PV du test EDR <script>x</script> ?\nMerci @contributor@example.org", page)
    assert answer.status_code == 302 and answer.location.startswith(page)
    html = manager.get(page).get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt; ?<br>" in html and "<script>x" not in html
    assert '<mark class="mention">@contributor@example.org</mark>' in html
    with world.app.app_context(), db.session_scope(world.app) as session:
        comment = session.exec(select(Comment)).one()
        note = session.exec(select(Notification).where(Notification.kind == "mentioned")).one()
        assert note.recipient_id == world.ids.users["contributor"] and note.object_id == str(comment.id)
    contributor = client_of(world, "contributor")
    inbox = contributor.get("/inbox/").get_data(as_text=True)
    assert "Manager vous mentionne dans un commentaire sur le point 12.4.a (iaas-t)" in inbox
    opened = contributor.get(f"/perimeters/iaas-t/comments/{comment.id}")
    assert opened.status_code == 302 and opened.location.endswith(f"{page}#comment-{comment.id}")

    # Someone else's comment: neither edited nor deleted by a contributor.
    assert contributor.get(f"/perimeters/iaas-t/comments/{comment.id}/edit").status_code == 403
    token = csrf_token(contributor, page)
    assert contributor.post(f"/perimeters/iaas-t/comments/{comment.id}/delete", data={
        "csrf_token": token, "confirmed": "1"}).status_code == 403

    edit_page = f"/perimeters/iaas-t/comments/{comment.id}/edit"
    assert manager.post(edit_page, data={"csrf_token": csrf_token(manager, edit_page), "version": "1",
                                         "body": "Le PV du test EDR de 2026 ?"}).status_code == 302
    assert "modifié le" in manager.get(page).get_data(as_text=True)

    # A manager deletes the contributor's comment: asked first, then done.
    own = post(contributor, "iaas-t", "requirement", world.ids.item, "Je le dépose demain.", page)
    own_id = int(own.location.rsplit("#comment-", 1)[1])
    delete = f"/perimeters/iaas-t/comments/{own_id}/delete"
    asked = manager.post(delete, data={"csrf_token": csrf_token(manager, page)})
    assert asked.status_code == 200 and "Supprimer ce commentaire ?" in asked.get_data(as_text=True)
    assert manager.post(delete, data={"csrf_token": csrf_token(manager, page), "confirmed": "1"}).status_code == 302
    html = manager.get(page).get_data(as_text=True)
    assert "Commentaire supprimé par Manager le" in html and "Je le dépose demain." not in html
    with world.app.app_context(), db.session_scope(world.app) as session:
        events = {e.action: e.details for e in session.exec(select(AuditEvent).where(
            AuditEvent.object_type == "comment"))}
        assert events["comment.edit"]["before"].startswith("Le PV du test EDR <script>")
        assert events["comment.delete"]["body"] == "Je le dépose demain."
        assert session.get(Comment, own_id).body == ""
    log = manager.get("/admin/audit")
    if log.status_code == 200:
        assert "Commentaire · suppression" in log.get_data(as_text=True)


def test_the_evaluator_sees_threads_of_his_perimeters_and_approved_versions_only(world):
    ids = world.ids
    manager = client_of(world, "manager")
    evidence_page = f"/evidence/{ids.ref_a}"
    assert post(manager, "iaas-t", "evidence_version", ids.v2, "Brouillon : à revoir", evidence_page).status_code == 302
    assert post(manager, "iaas-t", "evidence_version", ids.v1, "Version approuvée", evidence_page).status_code == 302
    assert post(manager, "saas-t", "evidence_version", ids.b1, "Sur B", f"/evidence/{ids.ref_b}").status_code == 302
    # The team's thread on the draft is the one shown first; the approved version's a link away.
    team_view = manager.get(evidence_page).get_data(as_text=True)
    assert "Brouillon : à revoir" in team_view and "version 1 (1 commentaire)" in team_view
    with world.app.app_context(), db.session_scope(world.app) as session:
        on_draft, on_v1, on_b = (session.exec(select(Comment.id).where(Comment.subject_id == v)).one()
                                 for v in (ids.v2, ids.v1, ids.b1))
        # Mentioning the evaluator where he may not read is refused, naming him; nothing is written.
        a = session.get(Perimeter, ids.a)
        manager_user = session.get(User, ids.users["manager"])
        for subject_type, subject_id, perimeter_id in (("evidence_version", ids.v2, ids.a),
                                                       ("evidence_version", ids.b1, ids.b)):
            with pytest.raises(EvidenceError) as refused:
                comments.post(session, manager_user, session.get(Perimeter, perimeter_id), subject_type,
                              subject_id, "Vu ? @evaluator@example.org", TODAY)
            assert refused.value.message.params["email"] == "evaluator@example.org"
        with pytest.raises(EvidenceError):
            comments.post(session, manager_user, a, "control", ids.control, "@nobody@example.org ?", TODAY)
        comments.post(session, manager_user, a, "control", ids.control, "@evaluator@example.org : voici", TODAY)
        assert session.exec(select(Notification).where(Notification.kind == "mentioned",
                                                       Notification.recipient_id == ids.users["evaluator"])).one()

    evaluator = client_of(world, "evaluator")
    seen = evaluator.get(evidence_page).get_data(as_text=True)
    assert "Version approuvée" in seen and "à revoir" not in seen
    assert "@evaluator@example.org" in evaluator.get("/controls/CTL-AV-01").get_data(as_text=True)
    assert evaluator.get(f"/perimeters/iaas-t/comments/{on_v1}").status_code == 302
    token = csrf_token(evaluator, evidence_page)
    for url in (f"/perimeters/iaas-t/comments/{on_draft}", f"/perimeters/iaas-t/comments/{on_draft}/edit",
                f"/perimeters/saas-t/comments/{on_b}", f"/perimeters/iaas-t/comments/{on_b}"):
        assert evaluator.get(url).status_code == 404, url
    for url, data in ((f"/perimeters/saas-t/comments/{on_b}/delete", {}),
                      ("/perimeters/iaas-t/comments", {"subject_type": "evidence_version", "subject_id": ids.v2}),
                      ("/perimeters/saas-t/comments", {"subject_type": "evidence_version", "subject_id": ids.b1}),
                      ("/perimeters/iaas-t/comments", {"subject_type": "evidence_version", "subject_id": ids.b1})):
        assert evaluator.post(url, data={"csrf_token": token, "body": "x", **data}).status_code == 404, (url, data)
    # He comments on what he sees, as the auditor may.
    assert post(evaluator, "iaas-t", "evidence_version", ids.v1, "Lu, merci.", evidence_page).status_code == 302
    assert post(client_of(world, "auditor"), "iaas-t", "control", ids.control, "Noté.",
                "/controls/CTL-AV-01").status_code == 302


def test_the_api(world):
    ids = world.ids
    manager = bearer(make_token(world.app, "pipeline", user_email="manager@example.org"))
    evaluator = bearer(make_token(world.app, "centre", user_email="evaluator@example.org"))
    client = world.app.test_client()
    base = "/api/v1/perimeters/iaas-t/comments"
    created = client.post(base, headers=manager, json={"subject_type": "requirement", "subject_id": ids.item,
                                                       "body": "Où est le PV ?"})
    assert created.status_code == 201, created.get_json()
    comment = created.get_json()
    listed = client.get(base, headers=evaluator, query_string={"subject_type": "requirement", "subject_id": ids.item})
    assert [c["body"] for c in listed.get_json()["items"]] == ["Où est le PV ?"]
    url = f"{base}/{comment['id']}"
    assert client.patch(url, headers=evaluator, json={"body": "non"}).status_code == 428
    assert client.patch(url, headers={**evaluator, "If-Match": '"1"'}, json={"body": "non"}).status_code == 409
    edited = client.patch(url, headers={**manager, "If-Match": '"1"'}, json={"body": "Où est le PV de 2026 ?"})
    assert edited.status_code == 200 and edited.get_json()["edited_at"]
    refused = client.post(base, headers=manager, json={"subject_type": "requirement", "subject_id": ids.item,
                                                       "body": "@someone@example.org"})
    assert refused.status_code == 422 and "someone@example.org" in refused.get_json()["detail"]
    # Beyond his reach: 404 to read, 403 or 404 to write; a draft version's thread does not exist for him.
    assert client.get("/api/v1/perimeters/saas-t/comments", headers=evaluator,
                      query_string={"subject_type": "evidence_version", "subject_id": ids.b1}).status_code == 404
    assert client.get(base, headers=evaluator, query_string={
        "subject_type": "evidence_version", "subject_id": ids.v2}).status_code == 404
    assert client.post("/api/v1/perimeters/saas-t/comments", headers=evaluator, json={
        "subject_type": "evidence_version", "subject_id": ids.b1, "body": "x"}).status_code in (403, 404)
    deleted = client.delete(url, headers=manager)
    assert deleted.status_code == 200 and deleted.get_json()["body"] == "" and deleted.get_json()["deleted_by"]
    assert client.delete(url, headers=manager).status_code == 409


def test_threads_on_a_request_and_a_finding(world):
    """The request's and the finding's pages carry their thread; one of another perimeter has none to post on."""
    from evidence.data.models import EvidenceRequest, Finding

    ids = world.ids
    with world.app.app_context(), db.session_scope(world.app) as session:
        request = EvidenceRequest(perimeter_id=ids.a, requirement_id=ids.item, text="Le PV du test EDR",
                                  raised_by_id=ids.users["evaluator"])
        finding = Finding(perimeter_id=ids.a, requirement_id=ids.item, severity="minor", text="PV absent")
        elsewhere = Finding(perimeter_id=ids.b, severity="minor", text="Ailleurs")
        session.add_all([request, finding, elsewhere])
        session.commit()
        a = session.get(Perimeter, ids.a)
        evaluator = session.get(User, ids.users["evaluator"])
        for subject_type, row in (("request", request), ("finding", finding)):
            comments.post(session, evaluator, a, subject_type, row.id, f"Sur {subject_type} : @manager@example.org",
                          TODAY)
        pages = (f"/perimeters/iaas-t/requests/{request.id}", f"/perimeters/iaas-t/findings/{finding.id}")
        with pytest.raises(comments.SubjectNotFound):
            comments.post(session, evaluator, a, "finding", elsewhere.id, "x", TODAY)
    manager = client_of(world, "manager")
    for page, subject_type in zip(pages, ("request", "finding")):
        html = manager.get(page).get_data(as_text=True)
        assert f"Sur {subject_type} :" in html, page
    inbox = manager.get("/inbox/").get_data(as_text=True)
    assert "sur la demande n° " in inbox and "sur le constat n° " in inbox
