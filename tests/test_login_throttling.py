"""Login throttling that nobody else can turn into a lockout, and an audit trail that keeps only what names an
existing account (issue 16, findings 8 and 9)."""
from datetime import timedelta

import pytest
from sqlalchemy import func, text
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import AuditEvent, LoginFailure, utcnow

from .conftest import csrf_token, login

VICTIM = "manager@example.org"


def at(client, address):
    """Requests of `client` come from `address` (the test client's own is 127.0.0.1)."""
    client.environ_base["REMOTE_ADDR"] = address
    return client


def count(app, model, *where):
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def audited(app, action):
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)).all()


def test_five_failures_from_one_address_lock_only_that_address(app, users):
    attacker = at(app.test_client(), "203.0.113.66")
    for _ in range(5):
        assert login(attacker, VICTIM, "wrong").status_code == 200
    assert login(attacker, VICTIM).status_code == 429  # even with the right password, from there
    assert login(at(app.test_client(), "198.51.100.7"), VICTIM).status_code == 302  # the victim, elsewhere


def test_the_per_address_limit_counts_every_account(app, users):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    sprayer = at(app.test_client(), "203.0.113.66")
    for n in range(3):
        login(sprayer, f"guess{n}@example.org", "wrong")
    assert login(sprayer, "auditor@example.org").status_code == 429
    assert login(at(app.test_client(), "198.51.100.7"), "auditor@example.org").status_code == 302


def test_the_per_account_limit_spares_the_address_of_the_last_login(app, users):
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 6
    assert login(at(app.test_client(), "192.0.2.10"), VICTIM).status_code == 302  # the victim's office
    for n in range(3):  # a botnet: two guesses from each address, below the pair limit
        bot = at(app.test_client(), f"203.0.113.{n}")
        assert [login(bot, VICTIM, "wrong").status_code for _ in range(2)] == [200, 200]
    assert login(at(app.test_client(), "198.51.100.7"), VICTIM).status_code == 429  # any other address
    assert login(at(app.test_client(), "192.0.2.10"), VICTIM).status_code == 302  # the victim's usual one
    # That success forgave nothing from elsewhere: the botnet's count still holds other addresses.
    assert login(at(app.test_client(), "198.51.100.8"), VICTIM).status_code == 429


def test_a_success_forgives_only_its_own_address(app, users):
    attacker = at(app.test_client(), "203.0.113.66")
    for _ in range(4):
        login(attacker, VICTIM, "wrong")
    assert login(at(app.test_client(), "192.0.2.10"), VICTIM).status_code == 302
    # The victim's login did not give the attacker five fresh guesses.
    assert login(attacker, VICTIM, "wrong").status_code == 200
    assert login(attacker, VICTIM, "wrong").status_code == 429


@pytest.mark.sqlite_only
def test_300_failed_posts_write_a_bounded_number_of_audit_events(app, users):
    before = count(app, AuditEvent)
    client = at(app.test_client(), "203.0.113.66")
    token = csrf_token(client)
    for n in range(300):  # unknown accounts: counted, never written to the permanent trail
        client.post("/login", data={"csrf_token": token, "email": f"ghost{n}@example.org", "password": "wrong"})
    assert count(app, AuditEvent) == before
    assert count(app, LoginFailure) == 20  # then the address is throttled, which adds nothing
    # An existing account from many addresses: its five failures per address, and one throttling per address.
    for n in range(3):
        client = at(app.test_client(), f"198.51.100.{n}")
        token = csrf_token(client)
        statuses = [client.post("/login", data={"csrf_token": token, "email": VICTIM, "password": "wrong"}).status_code
                    for _ in range(30)]
        assert statuses == [200] * 5 + [429] * 25
    assert len(audited(app, "login.failed")) == 15
    assert [e.details["address"] for e in audited(app, "login.throttled")] == [f"198.51.100.{n}" for n in range(3)]
    assert count(app, AuditEvent) == before + 18


def test_what_was_typed_for_an_unknown_account_is_kept_nowhere(app, users):
    client = at(app.test_client(), "203.0.113.66")
    for typed in ("Hunter2-password", "Hunter2-password@example.org"):
        for _ in range(25):  # failures, then throttled attempts
            login(client, typed, "wrong")
    with app.app_context(), db.session_scope(app) as session:
        rows = [str(row) for table in ("audit_event", "login_failure")
                for row in session.execute(text(f"SELECT * FROM {table}")).all()]
    assert not [row for row in rows if "hunter2" in row.lower()]
    assert count(app, LoginFailure) == 10  # counted all the same: five per typed text from this address


def test_a_failed_login_for_an_existing_account_is_audited_with_its_address(app, users):
    response = login(at(app.test_client(), "203.0.113.66"), " Auditor@Example.org ", "wrong")
    assert "Adresse e-mail ou mot de passe incorrect." in response.get_data(as_text=True)
    [event] = audited(app, "login.failed")
    assert (event.object_type, event.object_id, event.actor) == ("user", "auditor@example.org", "system")
    assert event.details == {"address": "203.0.113.66"}


def test_old_failures_are_pruned(app, users):
    app.config["LOGIN_WINDOW_SECONDS"] = 60
    client = at(app.test_client(), "203.0.113.66")
    for _ in range(3):
        login(client, "ghost@example.org", "wrong")
    with app.app_context(), db.session_scope(app) as session:
        for failure in session.exec(select(LoginFailure)).all():
            failure.at = utcnow() - timedelta(seconds=61)
            session.add(failure)
        session.commit()
    login(client, VICTIM, "wrong")
    assert count(app, LoginFailure) == 1
