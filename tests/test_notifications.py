"""The inbox: each kind of notification or task reaches the people it concerns and nobody else; four eyes hold
(nobody is asked to review their own upload); read marks are the reader's own; the words are the reader's."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Control, Notification, User
from evidence.services import evidence as evidence_items
from evidence.services import findings, notifications
from evidence.services import users as auth

from .conftest import PASSWORD, csrf_token, login, seed_tiny_perimeter

DAY = date(2026, 6, 15)


@pytest.fixture
def office(app, users):
    """The four-item referential with a control owned by the contributor, a second manager, and the inbox empty."""
    app.config["TODAY"] = DAY
    with app.app_context(), db.session_scope(app) as session:
        seed_tiny_perimeter(session, users)
        auth.create_user(session, None, "manager2@example.org", "Second Manager", "manager", PASSWORD)
    return app


def ids(session, *emails) -> set[int]:
    return {session.exec(select(User.id).where(User.email == e)).one() for e in emails}


def recipients(session, kind: str, ref: str) -> set[int]:
    return set(session.exec(select(Notification.recipient_id).where(
        Notification.kind == kind, Notification.object_id == ref)))


def user(session, email) -> User:
    return session.exec(select(User).where(User.email == email)).one()


def new_evidence(app, session, author, title="Export EDR", **fields):
    control = session.exec(select(Control).where(Control.ref == "CTL-AV-01")).one()
    return evidence_items.create_evidence(session, author, evidence_items.EvidenceData(
        title=title, kind="report", control_ids=[control.id], **fields),
        store=storage.get_store(app), upload=io.BytesIO(title.encode()), filename="export.csv")


def test_a_submitted_review_is_asked_of_every_manager_but_the_author(office):
    with office.app_context(), db.session_scope(office) as session:
        contributor, manager = user(session, "contributor@example.org"), user(session, "manager@example.org")
        by_contributor = new_evidence(office, session, contributor, "Revue des accès")
        evidence_items.review(session, contributor, by_contributor, "submit")
        # Separation of duties: the administrator does not approve, so he is not asked.
        assert recipients(session, "review_requested", by_contributor.ref) == ids(
            session, "manager@example.org", "manager2@example.org")

        # Four eyes: the manager uploaded this version, so only the others may review it, and only they are asked.
        by_manager = new_evidence(office, session, manager, "Politique de sécurité")
        evidence_items.review(session, manager, by_manager, "submit")
        assert recipients(session, "review_requested", by_manager.ref) == ids(session, "manager2@example.org")

        # A small team whose administrator approves too (ADMIN_APPROVES) asks him as well.
        small_team = new_evidence(office, session, contributor, "Plan de continuité")
        evidence_items.review(session, contributor, small_team, "submit", admin_approves=True)
        assert recipients(session, "review_requested", small_team.ref) == ids(
            session, "admin@example.org", "manager@example.org", "manager2@example.org")


def test_the_verdict_reaches_owner_and_submitter_and_closes_the_request(office):
    with office.app_context(), db.session_scope(office) as session:
        contributor, manager = user(session, "contributor@example.org"), user(session, "manager@example.org")
        other = user(session, "manager2@example.org")
        evidence = new_evidence(office, session, contributor)
        evidence_items.review(session, contributor, evidence, "submit")
        assert notifications.unread_count(session, other) == 1
        evidence_items.review(session, manager, evidence, "approve")
        assert recipients(session, "evidence_approved", evidence.ref) == {contributor.id}
        # The review was given: the other managers have nothing left to do about it.
        assert notifications.unread_count(session, other) == 0
        assert notifications.unread_count(session, manager) == 0

        second = new_evidence(office, session, manager, "Plan de continuité", owner_id=contributor.id)
        evidence_items.review(session, contributor, second, "submit")  # the owner submits the manager's upload
        evidence_items.review(session, user(session, "manager2@example.org"), second, "reject",
                              comment="Version non signée")  # a manager: the admin approves nothing by default
        assert recipients(session, "evidence_rejected", second.ref) == {contributor.id}
        item = notifications.stored(session, contributor)[0]
        assert item.kind == "evidence_rejected" and item.params["comment"] == "Version non signée"


def test_a_finding_reaches_the_owners_of_the_items_controls_only(office):
    from evidence.data.models import Perimeter, Requirement

    with office.app_context(), db.session_scope(office) as session:
        manager, contributor = user(session, "manager@example.org"), user(session, "contributor@example.org")
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-t")).one()
        mapped = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
        other = session.exec(select(Requirement).where(Requirement.ref != "12.4.a")).first()
        raised = findings.create_finding(session, manager, perimeter, findings.FindingData(
            severity="major", text="Pas d'EDR sur les bastions", requirement_id=mapped.id))
        assert recipients(session, "finding_raised", str(raised.id)) == {contributor.id}
        item = notifications.stored(session, contributor)[0]
        assert item.params["controls"] == "CTL-AV-01" and item.perimeter == "iaas-t"
        unrelated = findings.create_finding(session, manager, perimeter, findings.FindingData(
            severity="minor", text="Autre point", requirement_id=other.id))
        assert recipients(session, "finding_raised", str(unrelated.id)) == set()


def test_date_driven_tasks_are_the_owners_and_computed_now(office):
    from evidence.data.models import Perimeter

    with office.app_context(), db.session_scope(office) as session:
        manager, contributor = user(session, "manager@example.org"), user(session, "contributor@example.org")
        soon = new_evidence(office, session, contributor, "Certificat TLS", valid_until=DAY + timedelta(days=10))
        far = new_evidence(office, session, contributor, "Rapport lointain", valid_until=DAY + timedelta(days=90))
        gone = new_evidence(office, session, contributor, "Ancien rapport", effective_date=DAY - timedelta(days=400),
                            valid_until=DAY - timedelta(days=1))
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-t")).one()
        late = findings.save_action(session, manager, perimeter, findings.ActionData(
            title="Déployer l'EDR", owner_id=contributor.id, due_date=DAY - timedelta(days=3)))
        findings.save_action(session, manager, perimeter, findings.ActionData(
            title="Plus tard", owner_id=contributor.id, due_date=DAY + timedelta(days=3)))
        tasks = notifications.tasks(session, contributor, DAY)
        assert [(t.kind, t.object_id) for t in tasks] == [
            ("action_overdue", str(late.id)), ("evidence_expired", gone.ref), ("evidence_expiring", soon.ref)]
        assert notifications.tasks(session, manager, DAY) == []
        # Never stale: once the far one is within its last 30 days, it is there; once renewed, it is gone.
        assert [t.object_id for t in notifications.tasks(session, contributor, DAY + timedelta(days=60))
                if t.kind == "evidence_expiring"] == [far.ref]
        soon.valid_until = DAY + timedelta(days=365)
        session.add(soon)
        session.commit()
        assert soon.ref not in [t.object_id for t in notifications.tasks(session, contributor, DAY)]


def inbox_page(client) -> str:
    response = client.get("/inbox/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_inbox_page_lists_marks_read_and_keeps_to_its_reader(office, client):
    with office.app_context(), db.session_scope(office) as session:
        contributor, manager = user(session, "contributor@example.org"), user(session, "manager@example.org")
        evidence = new_evidence(office, session, contributor, "Revue des accès")
        evidence_items.review(session, contributor, evidence, "submit")
        mine = session.exec(select(Notification.id).where(Notification.recipient_id == manager.id)).one()
        theirs = session.exec(select(Notification.id).where(Notification.recipient_id != manager.id)).first()

    login(client, "manager@example.org")
    page = inbox_page(client)
    assert "Contributor demande la revue de" in page and evidence.ref in page and "Non lue" in page
    assert re.search(r'class="nav-count"[^>]*>\s*1\s*<', page)  # the top bar counts it
    token = csrf_token(client, "/inbox/")
    assert client.post(f"/inbox/{mine}/read", data={}).status_code == 400  # no CSRF token
    assert client.post(f"/inbox/{theirs}/read", data={"csrf_token": token}).status_code == 404
    opened = client.post(f"/inbox/{mine}/read", data={"csrf_token": token, "open": "1"})
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/evidence/{evidence.ref}")
    page = inbox_page(client)
    assert "Non lue" not in page and 'class="nav-count"' not in page
    with office.app_context(), db.session_scope(office) as session:
        assert session.get(Notification, theirs).read_at is None  # the admin's is still unread


def test_mark_all_read_and_the_readers_language(office, client):
    with office.app_context(), db.session_scope(office) as session:
        contributor, manager = user(session, "contributor@example.org"), user(session, "manager@example.org")
        for title in ("Revue des accès", "Journal des sauvegardes"):
            evidence = new_evidence(office, session, contributor, title)
            evidence_items.review(session, contributor, evidence, "submit")
            evidence_items.review(session, manager, evidence, "reject", comment="Illisible")

    login(client, "contributor@example.org")
    token = csrf_token(client, "/inbox/")
    client.post("/locale/en", data={"csrf_token": token, "next": "/inbox/"})
    page = inbox_page(client)
    assert "Manager rejected" in page and "Illisible" in page and "a rejeté" not in page
    assert page.count('class="notification unread"') == 2
    done = client.post("/inbox/read-all", data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    assert "2 notifications marked as read" in done and 'class="notification unread"' not in done


def test_roles_see_only_what_concerns_them(office, client):
    with office.app_context(), db.session_scope(office) as session:
        contributor = user(session, "contributor@example.org")
        evidence = new_evidence(office, session, contributor, "Revue des accès", valid_until=DAY + timedelta(days=5))
        evidence_items.review(session, contributor, evidence, "submit")
        auditor = user(session, "auditor@example.org")
        assert notifications.inbox(session, auditor, DAY).notifications == []
        assert notifications.inbox(session, auditor, DAY).tasks == []
        # The contributor submitted it: not asked to review it, but it is theirs and expires soon.
        box = notifications.inbox(session, contributor, DAY)
        assert box.notifications == [] and [t.kind for t in box.tasks] == ["evidence_expiring"]
    login(client, "auditor@example.org")
    page = inbox_page(client)
    assert "Rien ne vous attend." in page and "Aucune notification" in page


def test_a_new_version_withdraws_the_review_request(office):
    with office.app_context(), db.session_scope(office) as session:
        contributor, manager = user(session, "contributor@example.org"), user(session, "manager@example.org")
        evidence = new_evidence(office, session, contributor)
        evidence_items.review(session, contributor, evidence, "submit")
        assert notifications.unread_count(session, manager) == 1
        evidence_items.add_version(session, contributor, evidence, store=storage.get_store(office),
                                   upload=io.BytesIO(b"corrected"), filename="export-v2.csv")
        assert notifications.unread_count(session, manager) == 0  # back to draft: nothing to review any more
        evidence_items.review(session, contributor, evidence, "submit")
        assert notifications.unread_count(session, manager) == 1  # asked again, once
