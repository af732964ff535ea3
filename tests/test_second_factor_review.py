"""Second factors, after review (issue 18's follow-up): the rules written once (which proof a change to the factors
asks, the recovery codes that go with the last factor, the second step's throttling), renewing recovery codes
with security keys only, a code spent once even by racing requests, what a pending login carries into the session
it opens, and the login's second step that offers the key first."""
from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func
from sqlmodel import select

from evidence.core.rules import second_factor as rule
from evidence.data import database as db
from evidence.data.models import AuditEvent, LoginFailure, RecoveryCode, User
from evidence.services import second_factors
from evidence.services import users as auth
from evidence.web import second_factor as flow

from .conftest import PASSWORD, TEST_SECRET_KEY, csrf_token, login
from .test_second_factor import clock, enrol, page_token  # noqa: F401  (clock: a fixture)
from .test_security_keys_web import register
from .test_security_keys_web import second_step as key_step

ADDRESS = "192.0.2.20"
LIMITS = auth.ThrottleLimits(per_pair=3, per_address=20, per_account=100, window=timedelta(minutes=15),
                             secret=TEST_SECRET_KEY)


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context(), db.session_scope(app) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def count(app, model, *where) -> int:
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def with_totp(session, user, clock) -> tuple[str, list[str]]:
    secret = second_factors.new_totp_secret()
    codes = second_factors.confirm_totp(session, user, second_factors.seal_secret(secret, user, TEST_SECRET_KEY),
                                        pyotp.TOTP(secret).at(clock.now), secret_key=TEST_SECRET_KEY, now=clock.now)
    return secret, codes


# --- the rules ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("has_totp, renewing_codes, proofs", [
    (True, False, {"totp", "password"}),  # removing a factor: either
    (True, True, {"totp"}),  # the way back in: the application's code, not the password an open session may know
    (False, False, {"password"}),  # security keys only
    (False, True, {"password"}),  # security keys only: their codes are renewed with the password
])
def test_identity_proofs(has_totp, renewing_codes, proofs):
    assert rule.identity_proofs(has_totp, renewing_codes=renewing_codes) == proofs


def test_recovery_codes_go_with_the_last_factor_only(app, users, clock):
    with app.app_context(), db.session_scope(app) as session:
        user = session.get(User, users["manager"].id)
        with_totp(session, user, clock)
        assert second_factors.recovery_codes_after_removal(session, user) == {}  # a factor remains: kept
        assert count(app, RecoveryCode) == 10
        session.delete(second_factors.totp_of(session, user))
        session.flush()
        assert second_factors.recovery_codes_after_removal(session, user) == {"recovery_codes": 10}
        session.commit()
        assert second_factors.delete_recovery_codes(session, user) == 0
    assert count(app, RecoveryCode) == 0


# --- a code is spent once, even by requests that race ----------------------------------------------------------


def test_a_code_given_twice_at_once_is_accepted_once(app, users, clock):
    """Two requests with the same code, each having read the factor before the other spent it: one wins (the step
    is spent by a conditional update, not from what each request read). A recovery code likewise."""
    with app.app_context(), db.session_scope(app) as setup:
        secret, codes = with_totp(setup, setup.get(User, users["manager"].id), clock)
    clock.advance(30)
    code = pyotp.TOTP(secret).at(clock.now)
    with app.app_context(), db.session_scope(app) as first, db.session_scope(app) as second:
        early, late = first.get(User, users["manager"].id), second.get(User, users["manager"].id)
        # Both read the factor (and its last step) before either spends the code; held, as a request holds them.
        read = second_factors.totp_of(first, early), second_factors.totp_of(second, late)
        assert read[0].last_used_step == read[1].last_used_step
        assert second_factors.verify_login_code(first, early, code, ADDRESS, LIMITS, secret_key=TEST_SECRET_KEY,
                                                now=clock.now).ok
        again = second_factors.verify_login_code(second, late, code, ADDRESS, LIMITS, secret_key=TEST_SECRET_KEY,
                                                 now=clock.now)
        assert not again.ok and again.method is None
    with app.app_context(), db.session_scope(app) as first, db.session_scope(app) as second:
        early, late = first.get(User, users["manager"].id), second.get(User, users["manager"].id)
        assert second_factors.verify_login_code(first, early, codes[0], ADDRESS, LIMITS, secret_key=TEST_SECRET_KEY,
                                                now=clock.now).method == "recovery"
        assert not second_factors.verify_login_code(second, late, codes[0], ADDRESS, LIMITS,
                                                    secret_key=TEST_SECRET_KEY, now=clock.now).ok
    assert count(app, RecoveryCode, RecoveryCode.used_at.is_not(None)) == 1
    assert [e.details["method"] for e in events(app, "auth.second_factor_failed")] == ["totp", "recovery"]


# --- renewing recovery codes with security keys only ---------------------------------------------------------


@pytest.mark.sqlite_only
def test_an_account_with_keys_only_renews_its_codes_with_its_password(app, client, users):
    login(client, "manager@example.org")
    verify, _authenticator, token = register(client)
    first = re.findall(r"<code data-recovery-code>([a-z0-9-]+)</code>",
                       client.post(verify.json["redirect"], data={"csrf_token": token}).get_data(as_text=True))
    assert len(first) == 10
    page = client.get("/account/second-factor").get_data(as_text=True)
    assert 'action="/account/second-factor/recovery-codes"' in page  # offered without an application too
    assert re.search(r'<input[^>]*autocomplete="current-password"[^>]*name="proof"|name="proof"[^>]*'
                     r'autocomplete="current-password"', page.split("recovery-codes")[-1])
    wrong = client.post("/account/second-factor/recovery-codes", data={"proof": "not it", "csrf_token": token})
    assert "le mot de passe actuel est incorrect" in wrong.get_data(as_text=True)
    [failure] = events(app, "auth.second_factor_failed")
    assert failure.details == {"address": "127.0.0.1", "step": "confirm", "method": "password"}
    assert count(app, LoginFailure) == 1  # counted in the login throttling
    renewed = client.post("/account/second-factor/recovery-codes", data={"proof": PASSWORD, "csrf_token": token})
    new = re.findall(r"<code data-recovery-code>([a-z0-9-]+)</code>", renewed.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(first)
    assert [e.details for e in events(app, "user.recovery_codes_generated")] == [{"count": 10}, {"count": 10}]


def test_with_an_application_the_password_does_not_renew_the_codes(app, users, clock):
    with app.app_context(), db.session_scope(app) as session:
        user = session.get(User, users["manager"].id)
        with_totp(session, user, clock)
        with pytest.raises(auth.UserError, match="code incorrect"):
            second_factors.regenerate_recovery_codes(session, user, PASSWORD, ADDRESS, LIMITS,
                                                     secret_key=TEST_SECRET_KEY, now=clock.now)
        # Removing the application takes the password (one rule, one place: rule.identity_proofs).
        second_factors.remove_totp(session, user, PASSWORD, ADDRESS, LIMITS, secret_key=TEST_SECRET_KEY,
                                   now=clock.now)
    assert count(app, RecoveryCode) == 0


def test_the_proof_before_a_change_is_throttled(app, users, clock):
    with app.app_context(), db.session_scope(app) as session:
        user = session.get(User, users["manager"].id)
        with_totp(session, user, clock)
        for _ in range(LIMITS.per_pair):
            with pytest.raises(auth.UserError, match="mot de passe ou code incorrect"):
                second_factors.confirm_identity(session, user, "wrong", ADDRESS, LIMITS, secret_key=TEST_SECRET_KEY)
        with pytest.raises(auth.UserError, match="trop d’essais erronés"):
            second_factors.confirm_identity(session, user, PASSWORD, ADDRESS, LIMITS, secret_key=TEST_SECRET_KEY)


# --- what a pending login carries ----------------------------------------------------------------------------


def test_a_pending_login_carries_only_what_it_may(app, users):
    with app.test_request_context("/login"), db.session_scope(app) as session:
        user = session.get(User, users["manager"].id)
        with pytest.raises(ValueError, match="carries only"):
            flow.begin_second_step(user, "/", {"_user_id": "1"})
        flow.complete_login(user, None, "/", {"sso_id_token": "token", "second_factor": "totp", "_fresh": False})
        from flask import session as browser

        assert browser["sso_id_token"] == "token" and "second_factor" not in browser


@pytest.mark.sqlite_only
def test_the_key_step_restores_what_the_pending_login_carried(app, client, users):
    login(client, "manager@example.org")
    _verify, authenticator, _token = register(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert login(client, "manager@example.org").headers["Location"] == "/login/second-factor"
    with client.session_transaction() as browser:  # as web.single_sign_on's callback leaves it
        browser["pending_login"] = {**browser["pending_login"], "carry": {"sso_id_token": "id-token"}}
    done = key_step(client, authenticator)
    assert done.status_code == 200 and done.json == {"redirect": "/"}
    with client.session_transaction() as browser:
        assert browser["sso_id_token"] == "id-token" and browser["second_factor"] == "webauthn"
        assert "pending_login" not in browser


@pytest.mark.sqlite_only
def test_the_key_step_wants_the_csrf_header_and_counts_nothing_without_it(app, client, users):
    login(client, "manager@example.org")
    _verify, authenticator, _token = register(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "manager@example.org")
    for url in ("/login/second-factor/security-key/options", "/login/second-factor/security-key/verify"):
        assert client.post(url, json={"credential": {"id": authenticator.id}}).status_code == 400
    assert count(app, LoginFailure) == 0 and events(app, "auth.second_factor_failed") == []


# --- the login's second step: the key first -------------------------------------------------------------------


def autofocused(page: str) -> list[str]:
    """The inputs and buttons of the step's card that ask for the focus (base.html's dialogs have their own)."""
    card = page.split('<section class="card narrow">', 1)[1].split("</section>", 1)[0]
    return [tag for tag in re.findall(r"<(?:input|button)[^>]*>", card) if re.search(r"\bautofocus\b", tag)]


@pytest.mark.sqlite_only
def test_with_a_key_the_key_is_the_first_thing_offered(app, client, users, clock):
    login(client, "manager@example.org")
    secret, _codes = enrol(client, clock)
    register(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "manager@example.org")
    page = client.get("/login/second-factor").get_data(as_text=True)
    [focused] = autofocused(page)
    assert "data-webauthn-button" in focused and 'class="button primary"' in focused
    assert page.index("Utiliser ma clé de sécurité") < page.index('name="code"')  # the code field remains, after
    assert re.search(r'<button type="submit" class="button">Vérifier</button>', page)  # no longer the primary
    # After a wrong code, the code field has the focus: the user was typing one.
    wrong = f"{(int(pyotp.TOTP(secret).at(clock.now)) + 1) % 1_000_000:06d}"
    again = client.post("/login/second-factor", data={"code": wrong, "csrf_token": page_token(page)})
    [focused] = autofocused(again.get_data(as_text=True))
    assert 'name="code"' in focused


@pytest.mark.sqlite_only
def test_without_a_key_the_code_field_has_the_focus(app, client, users, clock):
    login(client, "manager@example.org")
    enrol(client, clock)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "manager@example.org")
    page = client.get("/login/second-factor").get_data(as_text=True)
    [focused] = autofocused(page)
    assert 'name="code"' in focused and "data-webauthn-login" not in page
    assert 'class="button primary">Vérifier' in page
