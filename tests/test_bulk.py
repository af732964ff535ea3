"""Bulk actions: one confirmation page listing what will change, then all or nothing, one audit event per object.

On the four-item referential: iaas-t (IaaS) and saas-t (SaaS, built on iaas-t, so that its items may be inherited).
5.1.a is an unconditional exigence: it can never be excluded, alone or in a batch.
"""
from __future__ import annotations

import io
import re

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Applicability, AuditEvent, Control, Evidence, Requirement, User
from evidence.services import controls, perimeters
from evidence.services import evidence as evidence_items
from evidence.services import users as auth

from .conftest import PASSWORD, csrf_token, login, seed_tiny_perimeter

FLASH_ERROR = re.compile(r'<p class="flash flash-error"[^>]*>(.*?)</p>', re.S)
CONFIRM = 'id="bulk-confirm"'  # the confirmation page's button (base.html has a dialog's too)
WHY = "Le socle qualifié iaas-t assure ce point pour tout ce qui repose sur lui."


@pytest.fixture
def tiny(app, users):
    with app.app_context(), db.session_scope(app) as session:
        seeded = seed_tiny_perimeter(session, users)
        manager = session.get(User, users["manager"].id)
        perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="saas-t", name="Collaboration", service_types=("SaaS",), framework_key="tiny-1.0",
            built_on_code="iaas-t"))
        contributor = session.get(User, users["contributor"].id)
        controls.create_control(session, contributor, controls.ControlData(
            ref="CTL-LOG-01", title="Journalisation", perimeter_ids=[seeded.perimeter.id]))
    return app


def manager_client(app, users, email=None):
    client = app.test_client()
    assert login(client, email or users["manager"].email).status_code == 302
    return client


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context(), db.session_scope(app) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def decisions(app, code: str) -> dict:
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, code)
        return {ref: (row.applicable, row.reason, row.justification) for row, ref in session.exec(
            select(Applicability, Requirement.ref).join(Requirement, Requirement.id == Applicability.requirement_id)
            .where(Applicability.perimeter_id == perimeter.id))}


def post(client, url: str, page: str, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, page), **data})


def flash_errors(client) -> str:
    """The error banners of the page a refused bulk action redirected to."""
    return " ".join(FLASH_ERROR.findall(client.get("/").get_data(as_text=True)))


# --- applicability -------------------------------------------------------------------------------------------


def test_applicability_for_many_items_is_confirmed_then_applied_with_one_event_each(tiny, users):
    client = manager_client(tiny, users)
    page = client.get("/perimeters/saas-t").get_data(as_text=True)
    assert 'name="items" value="5.1.a"' in page and "Vérifier les changements" in page
    data = {"items": ["5.1.a", "12.4.a"], "state": "inherited", "justification": WHY}

    confirmation = post(client, "/perimeters/saas-t/applicability", "/perimeters/saas-t", **data)
    assert confirmation.status_code == 200
    body = confirmation.get_data(as_text=True)
    assert "5.1.a" in body and "12.4.a" in body and CONFIRM in body and "2 modifications" in body
    assert 'name="confirmed" value="1"' in body
    assert decisions(tiny, "saas-t") == {} and events(tiny, "applicability.change") == []  # nothing yet

    done = post(client, "/perimeters/saas-t/applicability", "/perimeters/saas-t", confirmed="1", **data)
    assert done.status_code == 302 and done.headers["Location"].endswith("/perimeters/saas-t#soa")
    assert decisions(tiny, "saas-t") == {"5.1.a": (True, "inherited", WHY), "12.4.a": (True, "inherited", WHY)}
    changed = events(tiny, "applicability.change")
    assert sorted(e.details["requirement"] for e in changed) == ["12.4.a", "5.1.a"]
    assert {e.actor for e in changed} == {users["manager"].email}

    # Asked again, nothing is left to change: no second event.
    again = post(client, "/perimeters/saas-t/applicability", "/perimeters/saas-t", **data).get_data(as_text=True)
    assert CONFIRM not in again and "inchangé" in again
    post(client, "/perimeters/saas-t/applicability", "/perimeters/saas-t", confirmed="1", **data)
    assert len(events(tiny, "applicability.change")) == 2


def test_an_unconditional_exigence_refuses_the_whole_batch_and_is_named(tiny, users):
    client = manager_client(tiny, users)
    data = {"items": ["5.1.b", "5.1.a"], "state": "not_applicable", "justification": "Hors de notre offre."}
    confirmation = post(client, "/perimeters/iaas-t/applicability", "/perimeters/iaas-t", **data)
    body = confirmation.get_data(as_text=True)
    assert confirmation.status_code == 200
    assert "n’admet aucune exclusion" in body and "refusé" in body
    assert CONFIRM not in body  # nothing to confirm while a line is refused

    # Forced through anyway: every item stays as it was, and the refusal names 5.1.a.
    refused = post(client, "/perimeters/iaas-t/applicability", "/perimeters/iaas-t", confirmed="1", **data)
    assert refused.status_code == 302
    message = flash_errors(client)
    assert "Rien n’a été modifié" in message and "5.1.a" in message and "5.1.b" not in message
    assert decisions(tiny, "iaas-t") == {}
    assert events(tiny, "applicability.change") == []


def test_the_recommendation_alone_goes_through(tiny, users):
    client = manager_client(tiny, users)
    data = {"items": ["5.1.b"], "state": "not_applicable", "justification": "Veille assurée par le groupe."}
    post(client, "/perimeters/iaas-t/applicability", "/perimeters/iaas-t", confirmed="1", **data)
    assert decisions(tiny, "iaas-t") == {"5.1.b": (False, "recommendation", "Veille assurée par le groupe.")}


# --- evidence review -----------------------------------------------------------------------------------------


def submitted(app, users, author_role: str, title: str) -> str:
    """Evidence uploaded by `author_role` and sent to review; its ref."""
    with app.app_context(), db.session_scope(app) as session:
        author = session.get(User, users[author_role].id)
        control = session.exec(select(Control).where(Control.ref == "CTL-AV-01")).one()
        evidence = evidence_items.create_evidence(
            session, author, evidence_items.EvidenceData(title=title, control_ids=[control.id]),
            store=storage.get_store(app), upload=io.BytesIO(title.encode()), filename="rapport.txt")
        evidence_items.review(session, author, evidence, "submit")
        return evidence.ref


def statuses(app, refs) -> dict:
    with app.app_context(), db.session_scope(app) as session:
        return {e.ref: e.status for e in session.exec(select(Evidence).where(Evidence.ref.in_(refs)))}


def test_approve_many_evidence_after_confirmation(tiny, users):
    refs = [submitted(tiny, users, "contributor", "Export EDR"), submitted(tiny, users, "contributor", "Passerelles")]
    client = manager_client(tiny, users)
    queue = client.get("/evidence/?status=in_review").get_data(as_text=True)
    assert all(f'name="items" value="{ref}"' in queue for ref in refs) and "Approuver…" in queue

    confirmation = post(client, "/evidence/review", "/evidence/?status=in_review", operation="approve", items=refs)
    body = confirmation.get_data(as_text=True)
    assert confirmation.status_code == 200 and all(ref in body for ref in refs) and CONFIRM in body
    assert statuses(tiny, refs) == {ref: "in_review" for ref in refs}
    assert events(tiny, "evidence.approve") == []

    post(client, "/evidence/review", "/evidence/?status=in_review", operation="approve", items=refs, confirmed="1")
    assert statuses(tiny, refs) == {ref: "approved" for ref in refs}
    assert sorted(e.object_id for e in events(tiny, "evidence.approve")) == sorted(refs)


def test_four_eyes_refuses_the_batch_naming_the_managers_own_upload(tiny, users):
    theirs = submitted(tiny, users, "contributor", "Export EDR")
    own = submitted(tiny, users, "manager", "Revue des comptes")
    client = manager_client(tiny, users)
    queue = client.get("/evidence/?status=in_review").get_data(as_text=True)
    assert "votre dépôt" in queue and "Tout ou rien" in queue

    body = post(client, "/evidence/review", "/evidence/?status=in_review", operation="approve",
                items=[theirs, own]).get_data(as_text=True)
    assert CONFIRM not in body and "quatre yeux" in body
    post(client, "/evidence/review", "/evidence/?status=in_review", operation="approve", items=[theirs, own],
         confirmed="1")
    message = flash_errors(client)
    assert own in message and theirs not in message
    assert statuses(tiny, [theirs, own]) == {theirs: "in_review", own: "in_review"}
    assert events(tiny, "evidence.approve") == []


def test_reject_many_needs_a_comment_and_records_it(tiny, users):
    refs = [submitted(tiny, users, "contributor", "Export EDR"), submitted(tiny, users, "contributor", "Passerelles")]
    client = manager_client(tiny, users)
    post(client, "/evidence/review", "/evidence/?status=in_review", operation="reject", items=refs, confirmed="1")
    message = flash_errors(client)
    assert all(ref in message for ref in refs) and "pourquoi" in message
    assert statuses(tiny, refs) == {ref: "in_review" for ref in refs}
    post(client, "/evidence/review", "/evidence/?status=in_review", operation="reject", items=refs, confirmed="1",
         comment="Exports illisibles : joindre le CSV.")
    assert statuses(tiny, refs) == {ref: "rejected" for ref in refs}
    assert [e.details["comment"] for e in events(tiny, "evidence.reject")] == ["Exports illisibles : joindre le CSV."] * 2


# --- owners --------------------------------------------------------------------------------------------------


def owners(app, model, refs) -> dict:
    with app.app_context(), db.session_scope(app) as session:
        return {o.ref: o.owner_id for o in session.exec(select(model).where(model.ref.in_(refs)))}


def test_assign_an_owner_to_many_controls(tiny, users):
    with tiny.app_context(), db.session_scope(tiny) as session:
        colleague = auth.create_user(session, None, "elodie@example.org", "Élodie Martin", "contributor", PASSWORD).id
    refs = ["CTL-AV-01", "CTL-LOG-01"]
    client = manager_client(tiny, users)
    page = client.get("/controls/").get_data(as_text=True)
    options = re.findall(r'<option value="(\d+)"', page.split('id="owner"', 1)[1].split("</select>", 1)[0])
    assert str(colleague) in options and str(users["auditor"].id) not in options  # an auditor owns nothing
    before = len(events(tiny, "control.update"))

    body = post(client, "/controls/owner", "/controls/", owner=str(colleague), items=refs).get_data(as_text=True)
    assert "Élodie Martin" in body and all(ref in body for ref in refs) and CONFIRM in body
    assert set(owners(tiny, Control, refs).values()) == {users["contributor"].id}

    post(client, "/controls/owner", "/controls/", owner=str(colleague), items=refs, confirmed="1")
    assert owners(tiny, Control, refs) == {ref: colleague for ref in refs}
    added = events(tiny, "control.update")[before:]
    assert sorted(e.object_id for e in added) == refs
    assert all(e.details["changes"]["owner_id"] == [users["contributor"].id, colleague] for e in added)


def test_an_auditor_is_refused_as_owner_and_nothing_changes(tiny, users):
    ref = submitted(tiny, users, "contributor", "Export EDR")
    client = manager_client(tiny, users)
    post(client, "/evidence/owner", "/evidence/", owner=str(users["auditor"].id), items=[ref], confirmed="1")
    assert "ne peut pas être responsable" in flash_errors(client)
    assert owners(tiny, Evidence, [ref]) == {ref: users["contributor"].id}


def test_an_unknown_ref_refuses_the_batch(tiny, users):
    client = manager_client(tiny, users)
    post(client, "/controls/owner", "/controls/", owner=str(users["manager"].id), items=["CTL-AV-01", "CTL-NOPE"],
         confirmed="1")
    assert "CTL-NOPE" in flash_errors(client)
    assert owners(tiny, Control, ["CTL-AV-01"]) == {"CTL-AV-01": users["contributor"].id}


@pytest.mark.parametrize("role", ["contributor", "auditor"])
def test_contributors_and_auditors_cannot_post_bulk_actions(tiny, users, role):
    client = manager_client(tiny, users, users[role].email)
    token = csrf_token(client, "/evidence/")
    for url, data in (
        ("/perimeters/iaas-t/applicability", {"items": "5.1.b", "state": "not_applicable", "justification": "x"}),
        ("/evidence/review", {"items": "EV-0001", "operation": "approve"}),
        ("/evidence/owner", {"items": "EV-0001", "owner": str(users[role].id)}),
        ("/controls/owner", {"items": "CTL-AV-01", "owner": str(users[role].id)}),
    ):
        assert client.post(url, data={"csrf_token": token, "confirmed": "1", **data}).status_code == 403, url
    pages = [client.get(p).get_data(as_text=True) for p in ("/perimeters/iaas-t", "/evidence/", "/controls/")]
    assert not any('name="items"' in page for page in pages)  # not offered either
    assert decisions(tiny, "iaas-t") == {}


@pytest.mark.sqlite_only
def test_the_way_back_to_the_list_refuses_a_control_character(tiny, users):
    """A CR/LF in the list page's address would split the Location header: the batch returns to the list."""
    client = manager_client(tiny, users)
    response = post(client, "/controls/owner", "/controls/", back="/controls/?status=x\r\nSet-Cookie: x=1",
                    owner=str(users["manager"].id), items=["CTL-AV-01"], confirmed="1")
    assert response.status_code == 302 and response.headers["Location"] == "/controls/"
