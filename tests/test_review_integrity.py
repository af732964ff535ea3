"""Review integrity (issue 16, finding 1): a change to what an approval vouched for sends the evidence back to
draft, on every entry point; owner and renewal cadence keep the status."""
from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date

import pytest
from sqlmodel import select

from evidence.core import rules
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import AuditEvent, Perimeter, User
from evidence.services import bulk
from evidence.services import evidence as evidence_items
from tests.conftest import csrf_token, login, seed_tiny_perimeter

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def approved(app, users):
    """EV-0001 by the contributor, approved by the manager; a second perimeter to relink it to."""
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        data = evidence_items.EvidenceData(title="Export EDR", kind="report", valid_until=date(2026, 1, 1),
                                           effective_date=date(2025, 1, 1), control_ids=[tiny.control.id])
        evidence = evidence_items.create_evidence(session, tiny.contributor, data, store=storage.get_store(app),
                                                  upload=io.BytesIO(b"edr"), filename="edr.csv")
        evidence_items.review(session, tiny.contributor, evidence, "submit")
        evidence_items.review(session, tiny.manager, evidence, "approve")
        return {"data": data, "control": tiny.control.id}


def edit(app, change: dict, status: str = "approved", actor: str = "contributor") -> tuple[str, dict]:
    with app.app_context(), db.session_scope(app) as session:
        evidence = evidence_items.get_evidence(session, "EV-0001")
        if status != evidence.status:
            evidence.status = status
            session.add(evidence)
            session.commit()
        contributor = session.exec(select(User).where(User.email == actor + "@example.org")).one()
        data = evidence_items.EvidenceData(
            title=evidence.title, kind=evidence.kind, description=evidence.description, owner_id=evidence.owner_id,
            classification=evidence.classification, effective_date=evidence.effective_date,
            valid_until=evidence.valid_until, control_ids=change.pop("control_ids", None) or [
                c for c in app.config["_controls"]], document_version=evidence.document_version,
            renewal=evidence.renewal)
        data = replace(data, **change)
        evidence_items.update_evidence(session, contributor, evidence, data, evidence.version)
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence.update")
                             .order_by(AuditEvent.seq.desc())).first()
        return evidence.status, event.details


PROVING = {
    "title": {"title": "Export EDR 2031"},
    "kind": {"kind": "policy"},
    "description": {"description": "Autre chose"},
    "classification": {"classification": "confidential"},
    "effective_date": {"effective_date": date(2025, 6, 1)},
    "valid_until": {"valid_until": date(2031, 1, 1)},
    "document_version": {"document_version": "v9"},
}


@pytest.mark.parametrize("status", ["approved", "in_review"])
@pytest.mark.parametrize("name", sorted(PROVING))
def test_a_proving_change_sends_reviewed_evidence_back_to_draft(app, approved, name, status):
    app.config["_controls"] = [approved["control"]]
    after, details = edit(app, dict(PROVING[name]), status)
    assert after == "draft"
    assert details["status_before"] == status and details["status_after"] == "draft"
    assert name in details["reviewed_fields"]


def test_relinking_the_controls_sends_it_back_to_draft(app, approved):
    app.config["_controls"] = [approved["control"]]
    with app.app_context(), db.session_scope(app) as session:
        from evidence.data.models import Control
        from evidence.services import controls
        manager = session.exec(select(User).where(User.email == "manager@example.org")).one()
        perimeter = session.exec(select(Perimeter)).first()
        other = controls.create_control(session, manager, controls.ControlData(
            ref="C-REL", title="Sauvegardes", perimeter_ids=[perimeter.id])) if hasattr(controls, "ControlData") else None
        other_id = other.id if other else session.exec(select(Control.id).where(Control.id != approved["control"])).first()
    if other_id is None:
        pytest.skip("no second control to relink to")
    after, details = edit(app, {"control_ids": [approved["control"], other_id]})
    assert after == "draft" and "controls" in details["reviewed_fields"]


@pytest.mark.parametrize("name", ["renewal", "owner_id"])
def test_who_keeps_it_up_and_when_keeps_the_status(app, approved, users, name):
    app.config["_controls"] = [approved["control"]]
    change = {"renewal": "yearly"} if name == "renewal" else {"owner_id": users["manager"].id}
    after, details = edit(app, change, actor="manager")
    assert after == "approved" and "status_before" not in details


def test_a_manager_who_changed_what_it_attests_does_not_approve_it(app, approved, users):
    """Four eyes on the edit too: the manager re-dates the contributor's file, he may not approve it (even after
    the owner's own edit); another manager is asked and approves it, which clears the editors."""
    from evidence.core.errors import EvidenceError
    from evidence.services import users as accounts
    from evidence.services.notifications import reviewers

    from .conftest import PASSWORD

    app.config["_controls"] = [approved["control"]]
    assert edit(app, {"valid_until": date(2031, 1, 1)}, actor="manager")[0] == "draft"
    edit(app, {"title": "Export EDR 2031"}, status="draft")  # the owner edits after him: he stays excluded
    with app.app_context(), db.session_scope(app) as session:
        evidence = evidence_items.get_evidence(session, "EV-0001")
        manager, contributor = session.get(User, users["manager"].id), session.get(User, users["contributor"].id)
        other = accounts.create_user(session, None, "m2@example.org", "Second", "manager", PASSWORD)
        evidence_items.review(session, contributor, evidence, "submit")
        assert reviewers(session, evidence) == [other.id]
        with pytest.raises(EvidenceError, match="vous avez modifié ce qu’elle atteste"):
            evidence_items.review(session, manager, evidence, "approve")
        session.rollback()
        evidence_items.review(session, other, evidence, "approve")
        assert evidence.status == "approved" and evidence.editor_ids == []


def test_the_rule_alone():
    assert rules.status_after_edit("approved", {"valid_until": [1, 2]}) == "draft"
    assert rules.status_after_edit("in_review", ["answers"]) == "draft"
    assert rules.status_after_edit("approved", ["owner_id", "renewal"]) == "approved"
    assert rules.status_after_edit("draft", ["title"]) == "draft"
    assert rules.status_after_edit("rejected", ["title"]) == "rejected"


def test_bulk_owner_change_goes_through_the_same_rule_and_keeps_the_approval(app, approved, users):
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        bulk.assign_owner(session, manager, "evidence", ["EV-0001"], users["manager"].id)
        assert evidence_items.get_evidence(session, "EV-0001").status == "approved"


def test_the_edit_page_warns_and_the_flash_says_it_went_back(app, approved, users):
    client = app.test_client()
    login(client, "contributor@example.org")
    page = client.get("/evidence/EV-0001/edit").get_data(as_text=True)
    assert "la repasse en brouillon, à soumettre de nouveau à la revue" in page
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    with app.app_context(), db.session_scope(app) as session:
        perimeter = session.exec(select(Perimeter.id)).first()
    saved = client.post("/evidence/EV-0001/edit", data={
        "csrf_token": csrf_token(client, "/evidence/EV-0001/edit"), "version": version, "title": "Export EDR 2031",
        "kind": "report", "classification": "internal", "owner": str(users["contributor"].id), "requirements": "",
        "controls": [str(approved["control"])], "perimeters": [str(perimeter)]})
    assert saved.status_code == 302 and saved.headers["Location"] == "/evidence/EV-0001"
    shown = client.get("/evidence/EV-0001").get_data(as_text=True)
    assert "elle repasse en brouillon et doit être de nouveau soumise à la revue" in shown
