"""The hash chain: every change recorded, and any edit, removal or reordering detected."""
import threading

import pytest
from sqlalchemy import text
from sqlmodel import select

from evidence.data import audit
from evidence.data import database as db
from evidence.data.models import AuditEvent, AuditHead, User
from evidence.services import users as auth


def append(app, n):
    with app.app_context(), db.session_scope(app) as session:
        for i in range(n):
            audit.record(session, "cli:test", "test.event", object_type="thing", object_id=str(i), details={"n": i})
        session.commit()


def verify(app):
    with app.app_context(), db.session_scope(app) as session:
        return audit.verify(session)


def execute(app, sql, **params):
    with app.app_context(), db.get_engine(app).begin() as conn:
        conn.execute(text(sql), params)


def test_intact_chain_verifies(app):
    append(app, 5)
    assert verify(app) == (5, None)


def test_edited_event_is_detected(app):
    append(app, 5)
    execute(app, "UPDATE audit_event SET actor = 'someone-else' WHERE seq = 3")
    count, problem = verify(app)
    assert (problem.seq, problem.problem) == (3, "modified")


def test_edited_event_with_recomputed_hash_is_detected_at_the_next_one(app):
    append(app, 5)
    with app.app_context(), db.session_scope(app) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.seq == 2)).one()
        event.details = {"n": 999}
        event.hash = audit.event_hash(event)
        session.add(event)
        session.commit()
    problem = verify(app)[1]
    assert (problem.seq, problem.problem) == (2, "unsealed")  # its seal no longer matches its new hash
    with app.app_context(), db.session_scope(app) as session:  # the chain alone, without the key: at the next one
        report = audit.verify_chain(session, key=None)
    assert (report.problem.seq, report.problem.problem) == (3, "reordered")


def test_deleted_event_is_detected(app):
    append(app, 5)
    execute(app, "DELETE FROM audit_event WHERE seq = 2")
    problem = verify(app)[1]
    assert (problem.seq, problem.problem) == (2, "removed")
    assert str(problem) == "audit event #2 was removed"


def test_deleted_last_event_is_detected(app):
    append(app, 5)
    execute(app, "DELETE FROM audit_event WHERE seq = 5")
    problem = verify(app)[1]
    assert (problem.seq, problem.problem) == (4, "truncated")


def test_swapped_events_are_detected(app):
    append(app, 5)
    # Swap the positions of #2 and #3 (through a free number: seq is unique).
    execute(app, "UPDATE audit_event SET seq = -1 WHERE seq = 2")
    execute(app, "UPDATE audit_event SET seq = 2 WHERE seq = 3")
    execute(app, "UPDATE audit_event SET seq = 3 WHERE seq = -1")
    problem = verify(app)[1]
    assert (problem.seq, problem.problem) == (2, "reordered")


def test_event_rolls_back_with_the_change_it_records(app):
    append(app, 1)
    with app.app_context(), db.session_scope(app) as session:
        session.add(User(email="ghost@example.org", name="Ghost", password_hash="x", role="auditor", session_token="t"))
        audit.record(session, None, "user.create", object_type="user", object_id="ghost@example.org")
        session.rollback()
    with app.app_context(), db.session_scope(app) as session:
        assert session.get(AuditHead, 1).seq == 1
        assert [e.action for e in session.exec(select(AuditEvent))] == ["test.event"]
    assert verify(app) == (1, None)


def test_concurrent_writers_keep_one_chain(app):
    """Several threads (standing for workers) appending at once leave a gap-free, valid chain."""
    errors = []

    def worker():
        try:
            append(app, 10)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert verify(app) == (40, None)


def test_user_changes_are_audited_with_their_actor(app, users):
    with app.app_context(), db.session_scope(app) as session:
        admin = session.get(User, users["admin"].id)
        target = session.get(User, users["contributor"].id)
        auth.set_role(session, admin, target, "manager")
        auth.set_active(session, admin, target, False)
        rows = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
    actions = [(e.actor, e.action, e.object_id) for e in rows[-2:]]
    assert actions == [
        ("admin@example.org", "user.role_change", "contributor@example.org"),
        ("admin@example.org", "user.disable", "contributor@example.org"),
    ]
    assert rows[-2].details == {"from": "contributor", "to": "manager"}


def test_verify_command_reports_the_break_and_exits_1(app, runner):
    append(app, 3)
    result = runner.invoke(args=["verify", "--audit"])
    assert result.exit_code == 0 and "3 events, chain intact" in result.output
    execute(app, "UPDATE audit_event SET action = 'x' WHERE seq = 2")
    result = runner.invoke(args=["verify", "--audit"])
    assert result.exit_code == 1
    assert "audit event #2 was modified" in result.output and "1 problem(s) found" in result.output
    assert "Traceback" not in result.output


def test_audit_log_page_filters(app, client, users, login_as):
    append(app, 3)
    login_as("manager")
    page = client.get("/admin/audit?actor=cli:test").get_data(as_text=True)
    assert page.count("<code>test.event</code>") == 3 and "user.create" not in page
    page = client.get("/admin/audit?object=auditor@example.org").get_data(as_text=True)
    assert "user.create" in page and "test.event" not in page
    page = client.get("/admin/audit?date_from=2000-01-01&date_to=2000-01-02").get_data(as_text=True)
    assert "Aucun événement ne correspond." in page


@pytest.mark.parametrize("actor", ["<script>alert(1)</script>"])
def test_audit_log_escapes_what_it_shows(app, client, users, login_as, actor):
    with app.app_context(), db.session_scope(app) as session:
        audit.record(session, actor, "test.xss", details={"note": "<img src=x onerror=alert(1)>"})
        session.commit()
    login_as("admin")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page
