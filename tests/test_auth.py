"""Logging in and out, wrong passwords, throttling, sessions."""
from argon2 import PasswordHasher
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import AuditEvent, LoginFailure, User
from evidence.services import users as auth

from .conftest import PASSWORD, csrf_token, login


def events(app, action):
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_login_then_dashboard_then_logout(app, client, users):
    response = login(client, "Manager@Example.org")  # e-mail addresses are case-insensitive
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Bienvenue, Manager." in page
    assert [e.actor for e in events(app, "login")] == ["manager@example.org"]

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # back to the login page
    assert len(events(app, "logout")) == 1


def test_wrong_password_is_refused_and_recorded(app, client, users):
    response = login(client, "auditor@example.org", "not the password")
    assert response.status_code == 200
    assert "Adresse e-mail ou mot de passe incorrect." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    failed = events(app, "login.failed")
    assert [(e.object_id, e.actor) for e in failed] == [("auditor@example.org", "system")]


def test_unknown_account_answers_like_a_wrong_password(app, client, users):
    response = login(client, "nobody@example.org", PASSWORD)
    assert "Adresse e-mail ou mot de passe incorrect." in response.get_data(as_text=True)


def test_disabled_user_cannot_log_in(app, client, users):
    with app.app_context(), db.session_scope(app) as session:
        auth.set_active(session, None, session.get(User, users["contributor"].id), False)
    response = login(client, "contributor@example.org")
    assert response.status_code == 200
    assert events(app, "login.failed")[-1].details["reason"] == "disabled"


def test_five_failures_throttle_the_account_even_with_the_right_password(app, client, users):
    for _ in range(5):
        assert login(client, "manager@example.org", "wrong").status_code == 200
    response = login(client, "manager@example.org", PASSWORD)
    assert response.status_code == 429
    assert "Trop de tentatives" in response.get_data(as_text=True)
    assert len(events(app, "login.throttled")) == 1
    # Another account from the same address is not locked by these five.
    assert login(client, "auditor@example.org").status_code == 302


def test_throttling_holds_across_workers(app, client, users):
    """Failures live in the database: a second app on the same database (another worker) sees them."""
    for _ in range(5):
        login(client, "admin@example.org", "wrong")
    from .conftest import make_app

    other = make_app(app.instance_path, app.config["DATABASE_URL"])
    try:
        assert login(other.test_client(), "admin@example.org").status_code == 429
    finally:
        db.get_engine(other).dispose()


def test_throttling_per_address(app, client, users):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    for n in range(3):
        login(client, f"guess{n}@example.org", "wrong")
    assert login(client, "auditor@example.org").status_code == 429


def test_success_clears_earlier_failures(app, client, users):
    for _ in range(4):
        login(client, "manager@example.org", "wrong")
    assert login(client, "manager@example.org").status_code == 302
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(LoginFailure)).all() == []  # they were all this account's, from this address


def test_logout_invalidates_copies_of_the_session_cookie(app, users):
    first = app.test_client()
    login(first, "manager@example.org")
    stolen = first.get_cookie("evidence_session").value
    first.post("/logout", data={"csrf_token": csrf_token(first, "/")})
    thief = app.test_client()
    thief.set_cookie("evidence_session", stolen)
    assert thief.get("/").status_code == 302


def test_login_issues_a_new_session(app, client, users):
    client.get("/login")
    before = client.get_cookie("evidence_session").value
    login(client, "manager@example.org")
    assert client.get_cookie("evidence_session").value != before


def test_role_change_ends_the_users_sessions(app, client, users):
    login(client, "manager@example.org")
    assert client.get("/admin/audit").status_code == 200
    with app.app_context(), db.session_scope(app) as session:
        auth.set_role(session, None, session.get(User, users["manager"].id), "auditor")
    assert client.get("/admin/audit").status_code == 302  # logged out, not silently demoted mid-session


def test_next_parameter_never_leaves_the_site(app, client, users):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = login(client, "auditor@example.org", next=target)
        assert response.headers["Location"] == "/"
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    response = login(client, "auditor@example.org", next="/admin/audit?x=1")
    assert response.headers["Location"] == "/admin/audit?x=1"


def test_password_rehashed_when_parameters_change(app, client, users):
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    old_hash = users["auditor"].password_hash
    assert stronger.check_needs_rehash(old_hash)
    original, auth._hasher = auth._hasher, stronger
    try:
        assert login(client, "auditor@example.org").status_code == 302
    finally:
        auth._hasher = original
    with app.app_context(), db.session_scope(app) as session:
        new_hash = session.get(User, users["auditor"].id).password_hash
    assert new_hash != old_hash and not stronger.check_needs_rehash(new_hash)
    assert new_hash.startswith("$argon2id$")


def test_password_policy():
    import pytest

    with pytest.raises(auth.PasswordRefused, match="au moins 12 caractères"):
        auth.validate_password("short")
