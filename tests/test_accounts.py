"""Accounts (issue 16, findings 5, 6 and 14's blocklist): nobody but the owner knows a password that works (an
admin hands over a one-time link, or the password he set must be replaced at the first login), the owner changes
his own, common passwords are refused, and a session ends after its lifetime however busy, or when left idle."""
import re
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from evidence.core import passwords as policy
from evidence.data import database as db
from evidence.data.models import AuditEvent, PasswordToken, User, utcnow
from evidence.services import passwords
from evidence.services import users as auth

from .conftest import PASSWORD, csrf_token, login

# Pages and forms: SQLite only (see conftest.pytest_collection_modifyitems); the services' SQL runs on both below.
sqlite_only = pytest.mark.sqlite_only
NEW_PASSWORD = "une phrase que seul le titulaire connaît"


def link_on(page: str) -> str:
    match = re.search(r'id="password-link-url" value="[^"]*(/password/set/[^"]+)"', page)
    assert match, "no link on the page"
    return match.group(1)


def fetch(app, email: str) -> User:
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(User).where(User.email == email)).one()


def audit_events(app, action: str) -> list[AuditEvent]:
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)).all()


def choose(client, path: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    return client.post(path, data={"csrf_token": csrf_token(client, "/login"), "password": password,
                                   "confirm": password if confirm is None else confirm})


# --- the issue's attack: an admin creates a manager and logs in as him ------------------------------------


@sqlite_only
def test_an_admin_creating_an_account_never_sees_a_password_that_works(app, client, users, login_as):
    login_as("admin")
    page = client.post("/admin/users", data={"csrf_token": csrf_token(client, "/admin/users"),
                                             "email": "eve@example.org", "name": "Eve", "role": "manager"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    path = link_on(text)
    assert "Mot de passe initial" not in text and "expire le" in text
    # Nothing on the page the admin reads opens the account: not the link's token, not any word of the page.
    eve = fetch(app, "eve@example.org")
    words = set(re.findall(r"[\w\-]{12,}", text)) | {path.rsplit("/", 1)[1]}
    assert not any(auth.check_password(eve, word) for word in words)
    with app.app_context(), db.session_scope(app) as session:
        stored = session.exec(select(PasswordToken)).one()
        assert path.rsplit("/", 1)[1] not in stored.token_hash  # only its SHA-256 is kept

    owner = app.test_client()
    assert owner.get(path).status_code == 200
    owner.post("/locale/en", data={"csrf_token": csrf_token(owner, path), "next": path})  # she reads English
    assert choose(owner, path).headers["Location"].startswith("/login")
    assert "Log in" in owner.get("/login").get_data(as_text=True)  # her language kept past the fresh session
    assert login(owner, "eve@example.org", NEW_PASSWORD).status_code == 302
    assert owner.get("/").status_code == 200
    assert app.test_client().get(path).status_code == 404  # used: it served once
    assert [e.actor for e in audit_events(app, "user.password_change")] == ["eve@example.org"]


@sqlite_only
def test_expired_used_and_unknown_links_get_the_same_answer(app, client, users):
    with app.app_context(), db.session_scope(app) as session:
        link = passwords.invite_user(session, "cli:test", "late@example.org", "Late", "contributor")
        used = passwords.invite_user(session, "cli:test", "done@example.org", "Done", "contributor")
        passwords.set_password_with_link(session, used.token, NEW_PASSWORD)
    assert client.get(link.path).status_code == 200
    with app.app_context(), db.session_scope(app) as session:
        row = session.exec(select(PasswordToken).where(PasswordToken.user_id == link.user.id)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    paths = (link.path, used.path, "/password/set/" + "A" * 43)
    answers = [client.get(path) for path in paths]
    assert {a.status_code for a in answers} == {404}
    # Nothing tells them apart (but the page's own address, in the language switch's form).
    assert len({a.get_data(as_text=True).replace(path, "") for a, path in zip(answers, paths)}) == 1
    refused = choose(client, link.path)
    assert refused.status_code == 404 and not auth.check_password(fetch(app, "late@example.org"), NEW_PASSWORD)


def test_a_link_expires_after_the_setting_and_a_new_one_replaces_the_unused(app, users):
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        first = passwords.issue_password_link(session, "cli:test", manager, policy.PasswordPolicy(link_hours=2))
        assert timedelta(hours=1, minutes=59) < first.expires_at - utcnow() <= timedelta(hours=2)
        second = passwords.issue_password_link(session, "cli:test", manager)
        assert passwords.password_link_user(session, first.token) is None
        assert passwords.password_link_user(session, second.token).id == manager.id
        assert auth.check_password(manager, PASSWORD)  # a link handed out locks nobody out
        assert passwords.set_password_with_link(session, first.token, NEW_PASSWORD) is None
        assert passwords.set_password_with_link(session, second.token, NEW_PASSWORD).id == manager.id
        assert passwords.set_password_with_link(session, second.token, "encore une autre phrase") is None
        session.refresh(manager)
        assert auth.check_password(manager, NEW_PASSWORD) and not manager.must_change_password


@sqlite_only
def test_the_command_line_prints_a_link_and_a_password_it_sets_must_be_replaced(app, runner, users):
    added = runner.invoke(args=["users", "add", "bob@example.org", "--role", "manager"])
    assert added.exit_code == 0, added.output
    assert "Password" not in added.output and "/password/set/" in added.output
    path = re.search(r"(/password/set/\S+)", added.output).group(1)
    assert app.test_client().get(path).status_code == 200

    reset = runner.invoke(args=["users", "reset-password", "bob@example.org"])
    assert reset.exit_code == 0 and "/password/set/" in reset.output
    assert app.test_client().get(path).status_code == 404  # the earlier link stopped working

    scripted = runner.invoke(args=["users", "set-password", "contributor@example.org", "--password", NEW_PASSWORD])
    assert scripted.exit_code == 0, scripted.output
    assert fetch(app, "contributor@example.org").must_change_password
    typed = runner.invoke(args=["users", "add", "carl@example.org", "--password", NEW_PASSWORD])
    assert typed.exit_code == 0 and fetch(app, "carl@example.org").must_change_password


@sqlite_only
def test_a_password_someone_else_set_blocks_every_page_until_replaced(app, client, users):
    with app.app_context(), db.session_scope(app) as session:
        auth.set_password(session, "cli:test", session.get(User, users["manager"].id), NEW_PASSWORD, must_change=True)
    response = login(client, "manager@example.org", NEW_PASSWORD)
    assert response.headers["Location"] == "/account/password"
    for path in ("/", "/account", "/evidence/", "/admin/audit", "/perimeters/"):
        assert client.get(path).headers.get("Location") == "/account/password", path
    token = csrf_token(client, "/account/password")
    assert client.post("/account", data={"csrf_token": token}).headers["Location"] == "/account/password"
    assert "remplacez-le" in client.get("/account/password").get_data(as_text=True)
    changed = client.post("/account/password", data={"csrf_token": token, "current": NEW_PASSWORD,
                                                      "password": "un mot de passe bien à moi", "confirm":
                                                      "un mot de passe bien à moi"})
    assert changed.headers["Location"] == "/account"
    assert client.get("/").status_code == 200
    assert not fetch(app, "manager@example.org").must_change_password


# --- the account page's change ------------------------------------------------------------------------


@sqlite_only
def test_changing_ones_password_needs_the_current_one_and_ends_the_other_sessions(app, client, users):
    other = app.test_client()
    assert login(client, "auditor@example.org").status_code == 302
    assert login(other, "auditor@example.org").status_code == 302
    token = csrf_token(client, "/account/password")
    wrong = client.post("/account/password", data={"csrf_token": token, "current": "pas le bon mot de passe",
                                                   "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert wrong.status_code == 200 and "le mot de passe actuel est incorrect" in wrong.get_data(as_text=True)
    mismatch = client.post("/account/password", data={"csrf_token": token, "current": PASSWORD,
                                                      "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"})
    assert mismatch.status_code == 200 and not auth.check_password(fetch(app, "auditor@example.org"), NEW_PASSWORD)
    common = client.post("/account/password", data={"csrf_token": token, "current": PASSWORD,
                                                    "password": "password1234", "confirm": "password1234"})
    assert "les plus répandus" in common.get_data(as_text=True)
    done = client.post("/account/password", data={"csrf_token": token, "current": PASSWORD,
                                                  "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200  # this session goes on
    assert other.get("/account").headers["Location"].startswith("/login")  # the other one has ended
    user = fetch(app, "auditor@example.org")
    assert auth.check_password(user, NEW_PASSWORD) and user.password_changed_at is not None
    event = audit_events(app, "user.password_change")[-1]
    assert event.actor == "auditor@example.org" and event.details == {}
    failed = audit_events(app, "login.failed")[-1]
    assert failed.details["reason"] == "current_password" and "pas le bon" not in str(failed.details)


@sqlite_only
def test_wrong_current_passwords_are_throttled_like_failed_logins(app, client, users):
    assert login(client, "contributor@example.org").status_code == 302
    token = csrf_token(client, "/account/password")

    def attempt(current):
        return client.post("/account/password", data={"csrf_token": token, "current": current,
                                                      "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        attempt("encore une mauvaise réponse")
    refused = attempt(PASSWORD)
    assert "trop de mots de passe erronés" in refused.get_data(as_text=True).lower()
    assert not auth.check_password(fetch(app, "contributor@example.org"), NEW_PASSWORD)


# --- what a password must be ---------------------------------------------------------------------------


def test_common_short_and_own_address_passwords_are_refused():
    for password in ("password1234", "Password1234!", "qwertyuiop123", "azertyuiop2024"):
        with pytest.raises(policy.PasswordRefused, match="les plus répandus") as refused:
            policy.validate_password(password)
        assert password not in str(refused.value)  # the refusal never repeats the password
    with pytest.raises(policy.PasswordRefused, match="au moins 12 caractères"):
        policy.validate_password("Xk8#vq2!Lm")
    with pytest.raises(policy.PasswordRefused, match="au moins 16 caractères"):
        policy.validate_password("Xk8#vq2!Lm-Wz7b", policy.PasswordPolicy(min_length=16))
    with pytest.raises(policy.PasswordRefused, match="adresse e-mail"):
        policy.validate_password("jean-christophe.dupont2024", email="jean-christophe.dupont@example.org")
    policy.validate_password(policy.generate_password())
    policy.validate_password("Xk8#vq2!Lm-Wz7b")
    policy.validate_password(PASSWORD, email="manager@example.org")  # the tests' and the demo's stay usable


def test_the_blocklist_ships_offline_and_loads_once():
    listed = policy.common_passwords()
    assert len(listed) > 95_000 and {"password", "123456", "azerty", "soleil"} <= listed
    assert policy.common_passwords() is listed
    assert not policy.is_common(PASSWORD)


@sqlite_only
def test_the_minimum_length_setting_reaches_the_pages(app, client, users):
    app.config["PASSWORD_MIN_LENGTH"] = 41  # NEW_PASSWORD has 40
    assert login(client, "manager@example.org").status_code == 302
    page = client.get("/account/password").get_data(as_text=True)
    assert "Au moins 41 caractères" in page
    token = csrf_token(client, "/account/password")
    refused = client.post("/account/password", data={"csrf_token": token, "current": PASSWORD,
                                                     "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert "au moins 41 caractères" in refused.get_data(as_text=True)


# --- session lifetime and idle timeout -------------------------------------------------------------------


def shift(client, **ago):
    """Move the session's own clocks back: login_at and seen_at so many seconds ago."""
    now = int(time.time())
    with client.session_transaction() as session:
        for name, seconds in ago.items():
            session[name] = now - seconds


@sqlite_only
def test_a_session_ends_after_its_lifetime_however_busy(client, users, login_as):
    login_as("manager")
    shift(client, login_at=12 * 3600 - 60, seen_at=35)
    assert client.get("/").status_code == 200  # eleven hours 59 in, used every 35 s: still on
    shift(client, login_at=12 * 3600 + 1, seen_at=35)
    response = client.get("/evidence/")
    assert response.headers["Location"].startswith("/login?next=/evidence/")
    assert "Votre session a expiré" in client.get("/login").get_data(as_text=True)
    assert client.get("/").headers["Location"].startswith("/login")  # logged out, not just redirected once


@sqlite_only
def test_an_idle_session_ends(app, client, users, login_as):
    login_as("manager")
    token = csrf_token(client, "/account")
    shift(client, seen_at=29 * 60)
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        assert int(time.time()) - session["seen_at"] < 5  # each request counts as use
    shift(client, seen_at=31 * 60)
    posted = client.post("/account", data={"csrf_token": token})
    assert posted.headers["Location"] == "/login"
    assert client.get("/").headers["Location"].startswith("/login")
    app.config["SESSION_IDLE_MINUTES"] = 60  # the setting, not a constant
    login_as("manager")
    shift(client, seen_at=31 * 60)
    assert client.get("/").status_code == 200


@sqlite_only
def test_a_session_without_its_clocks_is_ended(client, users, login_as):
    login_as("auditor")
    with client.session_transaction() as session:
        del session["login_at"]  # a cookie from before the lifetime existed, or one put together by hand
    assert client.get("/").headers["Location"].startswith("/login")


def test_a_generated_password_meets_the_minimum_length_setting():
    """`evidence init` with no password generates one: as long as the policy asks, even past its 20 characters."""
    from evidence.core.passwords import PasswordPolicy, generate_password, validate_password

    for length in (8, 12, 21, 24, 64, 128):
        validate_password(generate_password(length), PasswordPolicy(min_length=length))
