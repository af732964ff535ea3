"""Separation of duties (issue 16, finding 14): by default an admin approves neither evidence nor dossiers."""
from __future__ import annotations

import io

import pytest

from evidence.core import rules
from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import User
from evidence.services import bulk
from evidence.services import evidence as evidence_items
from tests.conftest import csrf_token, login, seed_tiny_perimeter

pytestmark = pytest.mark.sqlite_only
S = rules.signoff
FUNCTIONS = ("RSSI", "Direction")


@pytest.mark.parametrize("role, admin_approves, allowed", [
    ("manager", False, True), ("admin", False, False), ("admin", True, True),
    ("contributor", True, False), ("auditor", True, False)])
def test_may_approve(role, admin_approves, allowed):
    assert rules.duties.may_approve(role, admin_approves) is allowed


def test_the_dossier_signoff_refuses_an_admin_by_default():
    with pytest.raises(S.SignoffRefused) as refused:
        S.check_approval("admin", 2, "RSSI", "draft", False, [], FUNCTIONS)
    assert refused.value.code == S.ADMIN_SEPARATED
    S.check_approval("admin", 2, "RSSI", "draft", False, [], FUNCTIONS, admin_approves=True)


@pytest.fixture
def submitted(app, users):
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        evidence = evidence_items.create_evidence(session, tiny.contributor, evidence_items.EvidenceData(
            title="Export EDR", kind="report", control_ids=[tiny.control.id]),
            store=storage.get_store(app), upload=io.BytesIO(b"edr"), filename="edr.csv")
        evidence_items.review(session, tiny.contributor, evidence, "submit")
    return app


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_an_admin_does_not_review_evidence_by_default(submitted, users, action):
    with submitted.app_context(), db.session_scope(submitted) as session:
        admin = session.get(User, users["admin"].id)
        evidence = evidence_items.get_evidence(session, "EV-0001")
        with pytest.raises(EvidenceError) as refused:
            evidence_items.review(session, admin, evidence, action, "motif")
        assert "séparation des tâches" in str(refused.value)
        with pytest.raises(EvidenceError, match="séparation des tâches"):
            bulk.review_many(session, admin, ["EV-0001"], action, "motif")
        evidence_items.review(session, admin, evidence_items.get_evidence(session, "EV-0001"), action, "motif",
                              admin_approves=True)


def test_the_pages_offer_an_admin_no_approval_and_the_route_refuses(submitted):
    client = submitted.test_client()
    login(client, "admin@example.org")
    page = client.get("/evidence/EV-0001").get_data(as_text=True)
    assert "review/approve" not in page
    assert "formaction=\"/evidence/review\"" not in client.get("/evidence/?status=in_review").get_data(as_text=True)
    assert "Preuves en attente de revue" not in client.get("/").get_data(as_text=True)  # nothing for him to review
    token = csrf_token(client, "/evidence/EV-0001")
    page = client.post("/evidence/EV-0001/review/approve", data={"csrf_token": token, "version": "2"},
                       follow_redirects=True).get_data(as_text=True)
    assert "séparation des tâches" in page
    submitted.config["ADMIN_APPROVES"] = True
    assert "review/approve" in client.get("/evidence/EV-0001").get_data(as_text=True)
    assert "Preuves en attente de revue" in client.get("/").get_data(as_text=True)
