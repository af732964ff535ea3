"""The second factor (issue 18): TOTP enrolment and login, recovery codes, single use, throttling, the policy per
role, the reset by an administrator and from the command line, and nothing secret kept in clear or audited."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pyotp
import pytest
from sqlalchemy import func, text
from sqlmodel import select

from evidence import create_app
from evidence.core.rules import second_factor as rule
from evidence.data import database as db
from evidence.data.models import AuditEvent, Evidence, RecoveryCode, TotpFactor, User
from evidence.services import second_factors
from evidence.settings import BY_NAME, SettingError

from .conftest import PASSWORD, TEST_SECRET_KEY, csrf_token, login

START = datetime(2026, 12, 3, 9, 0, 0, tzinfo=timezone.utc)  # a step boundary: 09:00:00 is a multiple of 30 s


class Clock:
    """The time the codes are judged at (services.second_factors.current_time): tests step through TOTP windows
    instead of sleeping."""

    def __init__(self):
        self.now = START

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(second_factors, "current_time", lambda: clock.now)
    return clock


@pytest.fixture
def policy(app):
    """The product's default policy, which the rest of the suite turns off (conftest.make_app)."""
    app.config["MFA_REQUIRED_ROLES"] = BY_NAME["MFA_REQUIRED_ROLES"].default
    return app


def page_token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def enrol(client, clock) -> tuple[str, list[str]]:
    """Enrol an authenticator application for the logged-in user: (its secret, the recovery codes shown)."""
    page = client.get("/account/second-factor/totp").get_data(as_text=True)
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', page).group(1)
    response = client.post("/account/second-factor/totp",
                           data={"code": pyotp.TOTP(secret).at(clock.now), "csrf_token": page_token(page)})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = re.findall(r"<code data-recovery-code>([a-z0-9-]+)</code>", response.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def second_step(client, code: str):
    token = csrf_token(client, "/login/second-factor")
    return client.post("/login/second-factor", data={"code": code, "csrf_token": token})


def logout(client) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})


def audited(app, action: str) -> list[AuditEvent]:
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)).all()


def count(app, model, *where) -> int:
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def enrolled(app, client, users, clock, role="contributor") -> tuple[str, list[str]]:
    """`role`'s user logged in, enrolled, logged out again."""
    assert login(client, users[role].email).status_code == 302
    secret, codes = enrol(client, clock)
    logout(client)
    return secret, codes


# --- the rules ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("matching, last_used, accepted", [
    ([100], None, 100),
    ([100], 99, 100),
    ([100], 100, None),  # the same step again: a replay
    ([99], 100, None),  # an older code than one already given
    ([], None, None),
    ([99, 101], 99, 101),
])
def test_a_step_is_accepted_once(matching, last_used, accepted):
    assert rule.accepted_step(matching, last_used) == accepted


def test_the_window_is_one_step_either_side():
    assert sorted(rule.candidate_steps(START)) == [rule.time_step(START) + d for d in (-1, 0, 1)]


@pytest.mark.parametrize("is_required, has_factor, method, state", [
    (True, False, None, rule.ENROL),
    (True, True, None, rule.LOG_IN_AGAIN),
    (True, True, "totp", rule.SATISFIED),
    (True, False, "sso", rule.SATISFIED),
    (False, False, None, rule.SATISFIED),
    (True, False, "forged", rule.ENROL),
])
def test_session_state(is_required, has_factor, method, state):
    assert rule.session_state(is_required, has_factor, method) == state


def test_service_accounts_are_not_subject_to_the_policy():
    assert rule.required("manager", ("admin", "manager"))
    assert not rule.required("manager", ("admin", "manager"), service_account=True)
    assert not rule.required("contributor", ("admin", "manager"))


def test_the_default_policy_is_admin_manager_and_evaluator(tmp_path, database_url):
    assert BY_NAME["MFA_REQUIRED_ROLES"].default == ("admin", "manager", "evaluator")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url,
                      "SECRET_KEY": TEST_SECRET_KEY, "TESTING": True})
    try:
        assert app.config["MFA_REQUIRED_ROLES"] == ("admin", "manager", "evaluator")
    finally:
        db.get_engine(app).dispose()


def test_the_policy_setting_takes_role_names_only():
    setting = BY_NAME["MFA_REQUIRED_ROLES"]
    assert setting.parse("Admin, manager,auditor") == ("admin", "manager", "auditor")
    assert setting.parse("") == ()  # nobody obliged
    with pytest.raises(SettingError, match="EVIDENCE_MFA_REQUIRED_ROLES"):
        setting.parse("admin, boss")
    with pytest.raises(SettingError):
        setting.check("root", "instance/config.py")


# --- enrolment and login --------------------------------------------------------------------------------------


def test_enrolment_then_login_asks_for_the_code(app, client, users, clock):
    secret, _codes = enrolled(app, client, users, clock)
    assert [e.object_id for e in audited(app, "user.totp_enrolled")] == ["contributor@example.org"]
    assert audited(app, "user.recovery_codes_generated")[0].details == {"count": 10}

    response = login(client, users["contributor"].email)
    assert response.status_code == 302 and response.headers["Location"] == "/login/second-factor"
    assert client.get("/").status_code == 302  # not logged in yet: the password alone opens nothing
    assert audited(app, "login") == audited(app, "login")[:1]  # the enrolment's login only: none for the password

    clock.advance(30)
    response = second_step(client, pyotp.TOTP(secret).at(clock.now))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Bienvenue" in client.get("/").get_data(as_text=True)
    assert audited(app, "login")[-1].details == {"address": "127.0.0.1", "second_factor": "totp"}
    with client.session_transaction() as browser:
        assert browser["second_factor"] == "totp" and "pending_login" not in browser


@pytest.mark.sqlite_only  # pages and words, not SQL
def test_enrolment_needs_a_right_code_and_keeps_the_same_secret_on_reload(app, client, users, clock):
    login(client, users["auditor"].email)
    first = client.get("/account/second-factor/totp").get_data(as_text=True)
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', first).group(1)
    assert 'src="data:image/svg+xml' in first  # the QR code, drawn here: nothing fetched elsewhere
    again = client.get("/account/second-factor/totp").get_data(as_text=True)
    assert f'data-totp-secret="{secret}"' in again
    wrong = f"{(int(pyotp.TOTP(secret).at(clock.now)) + 1) % 1_000_000:06d}"
    response = client.post("/account/second-factor/totp", data={"code": wrong, "csrf_token": page_token(again)})
    assert "ce code ne correspond pas" in response.get_data(as_text=True)
    assert count(app, TotpFactor) == 0


def test_login_without_or_with_a_wrong_code_fails_and_is_throttled(app, client, users, clock):
    secret, _codes = enrolled(app, client, users, clock)
    login(client, users["contributor"].email)
    assert client.post("/login/second-factor", data={"code": ""}).status_code == 400  # no CSRF token, no code
    assert second_step(client, "").status_code == 200  # without a code: the form again
    right = pyotp.TOTP(secret).at(clock.now + timedelta(seconds=30))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(3):
        response = second_step(client, wrong)
        assert response.status_code == 200 and "Code incorrect" in response.get_data(as_text=True)
    # Typing the password again forgives nothing: the code guesses go on counting.
    assert login(client, users["contributor"].email).headers["Location"] == "/login/second-factor"
    for _ in range(2):
        assert second_step(client, wrong).status_code == 200
    clock.advance(30)
    assert second_step(client, right).status_code == 429  # even the right code, once throttled
    assert client.get("/").status_code == 302
    failures = audited(app, "auth.second_factor_failed")
    assert len(failures) == 5 and {e.object_id for e in failures} == {"contributor@example.org"}
    assert failures[0].details == {"address": "127.0.0.1", "step": "login", "method": "totp"}  # never the code
    assert len(audited(app, "login.throttled")) == 1
    assert login(client, users["contributor"].email).status_code == 429  # the password from here too


def test_a_replayed_code_is_refused(app, client, users, clock):
    secret, _codes = enrolled(app, client, users, clock)
    clock.advance(30)
    code = pyotp.TOTP(secret).at(clock.now)
    login(client, users["contributor"].email)
    assert second_step(client, code).status_code == 302
    logout(client)
    clock.advance(5)  # the same 30-second step: the same code
    login(client, users["contributor"].email)
    assert second_step(client, code).status_code == 200
    # The previous step's code, although within the window, is older than the one already given.
    assert second_step(client, pyotp.TOTP(secret).at(clock.now - timedelta(seconds=30))).status_code == 200
    clock.advance(30)
    assert second_step(client, pyotp.TOTP(secret).at(clock.now)).status_code == 302


def test_a_recovery_code_works_once(app, client, users, clock):
    _secret, codes = enrolled(app, client, users, clock)
    login(client, users["contributor"].email)
    response = second_step(client, codes[3].upper().replace("-", " "))  # as someone reads it from paper
    assert response.status_code == 302
    assert "Il vous en reste 9" in client.get("/").get_data(as_text=True)
    assert audited(app, "user.recovery_code_used")[0].details == {"remaining": 9}
    assert audited(app, "login")[-1].details["second_factor"] == "recovery"
    logout(client)
    login(client, users["contributor"].email)
    assert second_step(client, codes[3]).status_code == 200
    assert count(app, RecoveryCode, RecoveryCode.used_at.is_not(None)) == 1


@pytest.mark.sqlite_only  # pages and words, not SQL
def test_a_pending_login_lapses(app, client, users, clock, monkeypatch):
    secret, _codes = enrolled(app, client, users, clock)
    login(client, users["contributor"].email)
    token = csrf_token(client, "/login/second-factor")
    monkeypatch.setattr(rule, "PENDING_LOGIN_SECONDS", 0)
    clock.advance(30)
    response = client.post("/login/second-factor", data={"code": pyotp.TOTP(secret).at(clock.now), "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_new_recovery_codes_need_a_current_code_and_void_the_old_ones(app, client, users, clock):
    login(client, users["contributor"].email)
    secret, old = enrol(client, clock)
    page = client.get("/account/second-factor").get_data(as_text=True)
    assert "Il vous reste 10 codes de récupération inutilisés." in page
    response = client.post("/account/second-factor/recovery-codes", data={"proof": "hunter2",
                                                                          "csrf_token": page_token(page)})
    assert "code incorrect" in response.get_data(as_text=True)  # a code is asked here, not the password
    clock.advance(30)
    response = client.post("/account/second-factor/recovery-codes",
                           data={"proof": pyotp.TOTP(secret).at(clock.now), "csrf_token": page_token(page)})
    new = re.findall(r"<code data-recovery-code>([a-z0-9-]+)</code>", response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    logout(client)
    login(client, users["contributor"].email)
    assert second_step(client, old[0]).status_code == 200
    assert second_step(client, new[0]).status_code == 302


@pytest.mark.sqlite_only  # pages and words, not SQL
def test_removing_the_application_needs_the_password_or_a_code(app, client, users, clock):
    login(client, users["contributor"].email)
    enrol(client, clock)
    page = client.get("/account/second-factor").get_data(as_text=True)
    response = client.post("/account/second-factor/totp/remove", data={"proof": "not the password",
                                                                        "csrf_token": page_token(page)})
    assert "mot de passe ou code incorrect" in response.get_data(as_text=True)
    assert count(app, TotpFactor) == 1
    response = client.post("/account/second-factor/totp/remove", data={"proof": PASSWORD,
                                                                        "csrf_token": page_token(page)})
    assert response.status_code == 302
    assert count(app, TotpFactor) == 0 and count(app, RecoveryCode) == 0  # the codes stood in for it: gone too
    assert audited(app, "user.totp_removed")[0].details == {"recovery_codes": 10}
    logout(client)
    assert login(client, users["contributor"].email).headers["Location"] == "/"  # the password alone again


# --- the policy -----------------------------------------------------------------------------------------------

PAGES = ["/", "/requirements/", "/perimeters/", "/controls/", "/evidence/", "/dossiers/", "/inbox/", "/account",
         "/account/password", "/admin/audit"]


def test_a_manager_without_a_factor_can_open_nothing_before_enrolling(policy, client, users, clock):
    app = policy
    response = login(client, users["manager"].email)
    assert response.status_code == 302
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/account/second-factor", path
    enrolment = client.get("/account/second-factor").get_data(as_text=True)
    assert 'href="/evidence/"' not in enrolment and 'href="/dossiers/"' not in enrolment  # no area offered
    assert "/logout" in enrolment  # the way out stays
    # A form post (the account's digest) and a JSON search: neither runs.
    token = csrf_token(client, "/account/second-factor")
    assert client.post("/account", data={"csrf_token": token}).headers["Location"] == "/account/second-factor"
    assert client.get("/pickers/owners?q=a").status_code == 302
    with app.app_context(), db.session_scope(app) as session:
        assert session.get(User, users["manager"].id).digest is True
    before = count(app, Evidence)
    assert client.post("/evidence/new", data={"csrf_token": token, "title": "x", "kind": "report"}).status_code == 302
    assert count(app, Evidence) == before

    enrol(client, clock)
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert 'href="/evidence/"' in client.get("/account/second-factor").get_data(as_text=True)


@pytest.mark.sqlite_only  # pages and words, not SQL
def test_a_contributor_is_not_obliged(policy, client, users):
    login(client, users["contributor"].email)
    assert client.get("/evidence/").status_code == 200


def test_a_session_opened_before_another_enrolment_logs_in_again(policy, users, clock):
    app = policy
    early, late = app.test_client(), app.test_client()
    login(early, users["admin"].email)
    login(late, users["admin"].email)
    secret, _codes = enrol(late, clock)
    assert late.get("/").status_code == 200
    response = early.get("/")  # the enrolment ended the account's other sessions
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    login(early, users["admin"].email)
    clock.advance(30)
    assert second_step(early, pyotp.TOTP(secret).at(clock.now)).status_code == 302
    assert early.get("/").status_code == 200


def test_a_factor_added_without_ending_sessions_still_asks_for_it(policy, client, users):
    """A factor the session was not logged in with (one added by a way that keeps the sessions open, such as a
    security key registered elsewhere): the session logs in again and gives it."""
    app = policy
    login(client, users["manager"].email)
    with app.app_context(), db.session_scope(app) as session:
        user = session.get(User, users["manager"].id)
        session.add(TotpFactor(user_id=user.id, secret=second_factors.seal_secret(pyotp.random_base32(), user,
                                                                                  TEST_SECRET_KEY)))
        session.commit()
    response = client.get("/evidence/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/account/second-factor").status_code == 302  # logged out: the login page again
    with client.session_transaction() as browser:
        assert "_user_id" not in browser


# --- the reset ------------------------------------------------------------------------------------------------


def test_an_admin_resets_a_users_factors_and_ends_his_sessions(app, users, clock):
    manager, admin = app.test_client(), app.test_client()
    login(manager, users["manager"].email)
    enrol(manager, clock)
    login(admin, users["admin"].email)
    page = admin.get("/admin/users").get_data(as_text=True)
    assert f'action="/admin/users/{users["manager"].id}/second-factors/reset"' in page
    url = f"/admin/users/{users['manager'].id}/second-factors/reset"
    asked = admin.post(url, data={"csrf_token": page_token(page)})
    assert asked.status_code == 200 and "Réinitialiser les seconds facteurs de Manager" in asked.get_data(as_text=True)
    assert count(app, TotpFactor) == 1  # nothing done before the confirmation
    assert admin.post(url, data={"csrf_token": page_token(page), "confirmed": "1"}).status_code == 302
    assert count(app, TotpFactor) == 0 and count(app, RecoveryCode) == 0
    assert manager.get("/").status_code == 302  # his session has ended
    reset = audited(app, "user.mfa_reset")
    assert [(e.actor, e.object_id) for e in reset] == [("admin@example.org", "manager@example.org")]
    assert reset[0].details == {"totp": 1, "security_keys": 0, "recovery_codes": 10}
    assert login(manager, users["manager"].email).headers["Location"] == "/"  # the password alone, now


@pytest.mark.sqlite_only  # pages and words, not SQL
def test_an_admin_cannot_reset_his_own_factors(app, client, users, clock):
    login(client, users["admin"].email)
    enrol(client, clock)
    page = client.get("/admin/users").get_data(as_text=True)
    client.post(f"/admin/users/{users['admin'].id}/second-factors/reset",
                data={"csrf_token": page_token(page), "confirmed": "1"})
    assert count(app, TotpFactor) == 1


def test_the_command_line_resets_factors(app, users, runner, clock):
    client = app.test_client()
    secret, _codes = enrolled(app, client, users, clock, role="manager")
    login(client, users["manager"].email)
    clock.advance(30)
    second_step(client, pyotp.TOTP(secret).at(clock.now))
    assert client.get("/").status_code == 200
    result = runner.invoke(args=["users", "mfa-reset", "Manager@example.org"])
    assert result.exit_code == 0, result.output
    assert "Second factors reset for manager@example.org" in result.output
    assert client.get("/").status_code == 302
    assert count(app, TotpFactor) == 0
    event = audited(app, "user.mfa_reset")[0]
    assert event.actor.startswith("cli") and event.details["totp"] == 1
    assert runner.invoke(args=["users", "mfa-reset", "nobody@example.org"]).exit_code != 0


# --- nothing secret -------------------------------------------------------------------------------------------


def test_nothing_secret_is_kept_in_clear_or_audited(app, client, users, clock):
    secret, codes = enrolled(app, client, users, clock)
    login(client, users["contributor"].email)
    second_step(client, "000000")
    second_step(client, codes[0])
    with app.app_context(), db.session_scope(app) as session:
        factor = session.exec(select(TotpFactor)).one()
        assert secret not in factor.secret
        user = session.get(User, factor.user_id)
        assert second_factors.open_secret(factor.secret, user, TEST_SECRET_KEY) == secret
        assert second_factors.open_secret(factor.secret, user, "another key") is None  # a dump alone gives nothing
        other = session.get(User, users["manager"].id)
        assert second_factors.open_secret(factor.secret, other, TEST_SECRET_KEY) is None  # bound to its account
        stored = [row[0] for row in session.execute(text("SELECT code_hash FROM recovery_code"))]
        trail = json.dumps([[e.action, e.details] for e in session.exec(select(AuditEvent))])
    assert not {code.replace("-", "") for code in codes} & set(stored)
    for needle in (secret, *codes, *(c.replace("-", "") for c in codes), pyotp.TOTP(secret).at(clock.now)):
        assert needle not in trail
    if app.config["DATABASE_URL"].startswith("sqlite:///"):  # the database file itself
        raw = open(app.config["DATABASE_URL"].removeprefix("sqlite:///"), "rb").read()
        assert secret.encode() not in raw
