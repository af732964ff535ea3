"""Single sign-on (issue 18, OpenID Connect) against a local provider on 127.0.0.1 (tests/oidc_provider.py): the
whole flow with the mapped role, PKCE, every tampering case refused (signature, audience, issuer, expiry, nonce,
replayed state), unknown and disabled users, just-in-time creation, the MFA policy from amr/acr, the logout at
the provider, the password login of SSO users, the settings."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlmodel import select

from evidence.core import access
from evidence.data import database as db
from evidence.data.models import AuditEvent, User
from evidence.services import second_factors
from evidence.services import users as auth
from evidence.settings import BY_NAME, SettingError

from . import oidc_provider
from .conftest import PASSWORD, TEST_SECRET_KEY, login, make_app

# SQLite alone: the OpenID flow; its SQL (binding an account, the role) is plain and runs on PostgreSQL in test_single_sign_on_follow_up.
pytestmark = pytest.mark.sqlite_only

CLIENT_ID = "evidence-grc"
ROLE_MAP = "grc-admins=admin, grc-managers=manager, grc-team=contributor"


@pytest.fixture(scope="module")
def provider():
    provider, stop = oidc_provider.serve()
    yield provider
    stop()


@pytest.fixture
def idp(provider, monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the local provider speaks http
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    provider.reset()
    provider.set_user("alice", email="alice@example.org", email_verified=True, name="Alice Martin",
                      groups=["staff", "grc-managers"], amr=["pwd"])
    yield provider
    provider.reset()


@pytest.fixture
def make_sso_app(tmp_path, database_url, idp):
    apps = []

    def build(**config):
        settings = {"OIDC_ISSUER": idp.issuer, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": "s3cret",
                    "OIDC_ROLE_MAP": ROLE_MAP, **config}
        app = make_app(tmp_path / "instance", database_url, **settings)
        apps.append(app)
        return app

    yield build
    for app in apps:
        db.get_engine(app).dispose()


@pytest.fixture
def sso_app(make_sso_app):
    return make_sso_app()


def add_user(app, email="alice@example.org", role="contributor", **fields):
    with app.app_context(), db.session_scope(app) as session:
        user = auth.create_user(session, None, email, email.split("@")[0].title(), role, PASSWORD)
        for name, value in fields.items():
            setattr(user, name, value)
        session.add(user)
        session.commit()
        return user.id


def user_of(app, email="alice@example.org") -> User | None:
    with app.app_context(), db.session_scope(app) as session:
        user = auth.find_user(session, email)
        if user is not None:
            session.expunge(user)
        return user


def events(app, action):
    with app.app_context(), db.session_scope(app) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)).all()
        return [(row.actor, row.object_id, dict(row.details)) for row in rows]


def start(client, next_url=None):
    response = client.get("/login/sso", query_string={"next": next_url} if next_url else None)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def sso_login(client, idp, sub="alice", next_url=None):
    """The whole round trip; the application's answer to the provider's redirect."""
    back = urlsplit(idp.authorize(start(client, next_url), sub))
    assert back.path == "/login/sso/callback"
    return client.get(f"{back.path}?{back.query}")


def logged_in(client) -> bool:
    return client.get("/").status_code == 200


def flashed(client) -> str:
    return client.get("/login").get_data(as_text=True)


def test_the_whole_flow_logs_in_with_the_mapped_role(sso_app, idp):
    add_user(sso_app, role="contributor")
    client = sso_app.test_client()
    assert "Se connecter avec 127.0.0.1" in client.get("/login").get_data(as_text=True)  # the issuer's host name
    response = sso_login(client, idp, next_url="/evidence")
    assert response.status_code == 302 and response.headers["Location"] == "/evidence"
    assert logged_in(client)
    user = user_of(sso_app)
    assert user.role == "manager"  # grc-managers, the first mapped group the token names
    assert (user.oidc_issuer, user.oidc_subject, user.password_login) == (idp.issuer, "alice", False)
    assert user.last_login_at is not None
    actor = f"sso:{idp.issuer}"
    assert events(sso_app, "user.role_change") == [(actor, "alice@example.org", {"from": "contributor",
                                                                                  "to": "manager"})]
    assert events(sso_app, "user.sso_bind") == [(actor, "alice@example.org", {"issuer": idp.issuer,
                                                                               "subject": "alice"})]
    [(who, _, details)] = events(sso_app, "auth.sso_login")
    assert who == "alice@example.org"
    assert details == {"issuer": idp.issuer, "subject": "alice", "amr": ["pwd"], "mfa": False, "address": "127.0.0.1"}
    with client.session_transaction() as session:
        id_token = session["sso_id_token"]  # kept for the logout's hint, the only token kept
        assert not any(key.startswith("_state_") for key in session)  # the state is used up
        assert "second_factor" not in session  # the provider said nothing of a second factor
    every_detail = json.dumps([e[2] for a in ("auth.sso_login", "user.sso_bind") for e in events(sso_app, a)])
    assert id_token not in every_detail and "eyJ" not in every_detail  # no token in the trail

    # Next login: the provider's identity finds the account; a role withdrawn there is withdrawn here.
    idp.set_user("alice", email="alice@example.org", email_verified=True, groups=["grc-team"], amr=["pwd"])
    client = sso_app.test_client()
    sso_login(client, idp)
    assert user_of(sso_app).role == "contributor" and logged_in(client)
    assert [e[2] for e in events(sso_app, "user.role_change")][-1] == {"from": "manager", "to": "contributor"}
    assert len(events(sso_app, "user.sso_bind")) == 1


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
def test_pkce_state_and_nonce_are_sent(sso_app, idp):
    add_user(sso_app)
    client = sso_app.test_client()
    url = start(client)
    sent = oidc_provider.query(url)
    assert urlsplit(url).path == "/oauth2/authorize"
    assert sent["client_id"] == CLIENT_ID and sent["response_type"] == "code"
    assert sent["redirect_uri"] == "http://localhost/login/sso/callback"
    assert set(sent["scope"].split()) == {"openid", "email", "profile"}
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert len(sent["state"]) >= 20 and len(sent["nonce"]) >= 20
    back = urlsplit(idp.authorize(url, "alice"))
    assert client.get(f"{back.path}?{back.query}").status_code == 302 and logged_in(client)
    [token_request] = idp.recorder.find("/oauth2/token", "POST")
    verifier = token_request.form["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == sent["code_challenge"]  # the verifier of this login's challenge, S256
    assert token_request.form["grant_type"] == ["authorization_code"]
    assert token_request.headers["Authorization"].startswith("Basic ")  # the confidential client's secret
    with client.session_transaction() as session:
        _, claims, _ = oidc_provider.token_parts(session["sso_id_token"])
    assert claims["nonce"] == sent["nonce"] and claims["aud"] == [CLIENT_ID]


def flip(signature: str) -> str:
    middle = len(signature) // 2  # not the last character: its low bits may be padding, and decode the same
    return signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]


TAMPERINGS = {
    "signature": lambda idp, token: ".".join([*token.split(".")[:2], flip(token.split(".")[2])]),
    # A role claimed by rewriting the payload, the provider's signature kept.
    "payload": lambda idp, token: ".".join([
        token.split(".")[0],
        base64.urlsafe_b64encode(json.dumps({**oidc_provider.token_parts(token)[1], "groups": ["grc-admins"]})
                                 .encode()).rstrip(b"=").decode(),
        token.split(".")[2]]),
    "unsigned": lambda idp, token: ".".join([
        base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode(), token.split(".")[1], ""]),
    # Validly signed by the provider, but not for this client, or not by this issuer, or stale, or another login's.
    "audience": lambda idp, token: idp.resign(token, aud="another-client"),
    "audience_with_azp": lambda idp, token: idp.resign(token, aud=["another-client"], azp=CLIENT_ID),
    "issuer": lambda idp, token: idp.resign(token, iss="http://127.0.0.1:1"),
    "expired": lambda idp, token: idp.resign(token, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "nonce": lambda idp, token: idp.resign(token, nonce="another-login"),
    "no_nonce": lambda idp, token: idp.resign(token, nonce=None),
}


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
@pytest.mark.parametrize("case", sorted(TAMPERINGS))
def test_a_tampered_id_token_is_refused(sso_app, idp, case):
    add_user(sso_app)
    idp.recorder.tampering.id_token = lambda token: TAMPERINGS[case](idp, token)
    client = sso_app.test_client()
    response = sso_login(client, idp)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "n’a pas pu être vérifiée" in flashed(client)
    assert not logged_in(client)
    user = user_of(sso_app)
    assert user.oidc_subject is None and user.role == "contributor"  # nothing bound, nothing changed
    assert events(sso_app, "auth.sso_login") == []
    [(_, _, details)] = events(sso_app, "auth.sso_refused")
    assert details["reason"] == "invalid_token" and details["issuer"] == idp.issuer


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
def test_a_replayed_state_is_refused(sso_app, idp):
    add_user(sso_app)
    client = sso_app.test_client()
    back = urlsplit(idp.authorize(start(client), "alice"))
    callback = f"{back.path}?{back.query}"
    before = client.get_cookie("evidence_session").value  # the cookie that holds this login's state
    assert client.get(callback).status_code == 302 and logged_in(client)

    # The same answer again, in the same browser or another: its state was used up.
    assert client.get(callback).headers["Location"] == "/login"
    assert "ne correspond à aucune connexion en cours" in client.get("/").get_data(as_text=True)  # still logged in
    other = sso_app.test_client()
    assert other.get(callback).headers["Location"] == "/login"
    assert "ne correspond à aucune connexion en cours" in flashed(other) and not logged_in(other)

    # With the cookie copied from before the first use: the state is there, the code was used up at the provider.
    copy = sso_app.test_client()
    copy.set_cookie("evidence_session", before, domain="localhost")
    assert copy.get(callback).headers["Location"] == "/login"
    assert "a refusé ou interrompu la connexion (invalid_grant)" in flashed(copy) and not logged_in(copy)
    reasons = [details["reason"] for _, _, details in events(sso_app, "auth.sso_refused")]
    assert reasons == ["state", "state", "provider_error"]
    assert len(events(sso_app, "auth.sso_login")) == 1


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
def test_a_state_from_another_browser_is_refused(sso_app, idp):
    add_user(sso_app)
    victim, attacker = sso_app.test_client(), sso_app.test_client()
    back = urlsplit(idp.authorize(start(attacker), "alice"))  # the attacker's login, answered to the victim
    assert victim.get(f"{back.path}?{back.query}").headers["Location"] == "/login"
    assert not logged_in(victim)


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
def test_the_provider_refusing_is_reported(sso_app, idp):
    client = sso_app.test_client()
    back = urlsplit(idp.authorize(start(client), "alice", deny=True))
    assert client.get(f"{back.path}?{back.query}").headers["Location"] == "/login"
    assert "(access_denied)" in flashed(client)
    assert [d["reason"] for _, _, d in events(sso_app, "auth.sso_refused")] == ["provider_error"]


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
def test_a_forged_error_answer_shows_no_sentence(sso_app, idp):
    client = sso_app.test_client()
    start(client)
    response = client.get("/login/sso/callback", query_string={
        "error": "Votre compte est bloqué : appelez le 01 23 45 67 89", "state": "x"})
    assert response.headers["Location"] == "/login"
    page = flashed(client)
    assert "(Votrecompteestbloquappelezle0123456789)" in page and "appelez le 01" not in page


def test_an_unknown_user_is_refused_without_just_in_time_creation(sso_app, idp):
    client = sso_app.test_client()
    assert sso_login(client, idp).headers["Location"] == "/login"
    page = flashed(client)
    assert "Aucun compte n’est ouvert ici pour alice@example.org" in page and not logged_in(client)
    assert user_of(sso_app) is None
    [(actor, object_id, details)] = events(sso_app, "auth.sso_refused")
    assert (actor, object_id) == ("system", None)
    assert details == {"issuer": idp.issuer, "reason": "unknown_user", "address": "127.0.0.1", "subject": "alice",
                       "email": "alice@example.org"}


def test_just_in_time_creation_takes_the_mapped_role(make_sso_app, idp):
    app = make_sso_app(OIDC_CREATE_USERS=True)
    client = app.test_client()
    assert sso_login(client, idp).headers["Location"] == "/"
    assert logged_in(client)
    user = user_of(app)
    assert (user.name, user.role, user.oidc_subject, user.password_login) == ("Alice Martin", "manager", "alice", False)
    [(actor, _, details)] = events(app, "user.create")
    assert actor == f"sso:{idp.issuer}" and details == {"role": "manager", "name": "Alice Martin"}
    # Its password is nobody's: the login form does not open it.
    assert login(client.application.test_client(), "alice@example.org").status_code == 200


def test_just_in_time_creation_needs_a_mapped_group_and_a_verified_email(make_sso_app, idp):
    app = make_sso_app(OIDC_CREATE_USERS=True)
    idp.set_user("alice", email="alice@example.org", email_verified=True, groups=["staff"])
    client = app.test_client()
    sso_login(client, idp)
    assert "n’appartient à aucun des groupes" in flashed(client) and user_of(app) is None
    idp.set_user("alice", email="alice@example.org", email_verified=False, groups=["grc-team"])
    sso_login(client, idp)
    assert "n’a pas vérifié votre adresse e-mail" in flashed(client) and user_of(app) is None
    assert [d["reason"] for _, _, d in events(app, "auth.sso_refused")] == ["no_role", "email_unverified"]


def test_an_unverified_email_binds_no_account(sso_app, idp):
    add_user(sso_app)
    idp.set_user("mallory", email="alice@example.org", groups=["grc-admins"])  # no email_verified
    client = sso_app.test_client()
    sso_login(client, idp, sub="mallory")
    assert not logged_in(client) and user_of(sso_app).oidc_subject is None


def test_an_account_bound_to_another_identity_is_not_rebound(sso_app, idp):
    add_user(sso_app, oidc_issuer="http://127.0.0.1:1", oidc_subject="alice-elsewhere", password_login=False)
    client = sso_app.test_client()
    sso_login(client, idp)
    assert "déjà lié à une autre identité" in flashed(client) and not logged_in(client)
    assert user_of(sso_app).oidc_subject == "alice-elsewhere"


def test_a_disabled_user_is_refused(sso_app, idp):
    add_user(sso_app, active=False)
    client = sso_app.test_client()
    sso_login(client, idp)
    assert "Le compte alice@example.org est désactivé" in flashed(client) and not logged_in(client)
    [(_, object_id, details)] = events(sso_app, "auth.sso_refused")
    assert object_id == "alice@example.org" and details["reason"] == "disabled"


def test_a_user_in_no_mapped_group_is_refused_and_keeps_nothing(sso_app, idp):
    add_user(sso_app, role="manager")
    idp.set_user("alice", email="alice@example.org", email_verified=True, groups=["staff"])
    client = sso_app.test_client()
    sso_login(client, idp)
    assert "n’appartient à aucun des groupes" in flashed(client) and not logged_in(client)
    assert user_of(sso_app).role == "manager" and user_of(sso_app).oidc_subject is None


def test_without_a_role_map_roles_stay_local(make_sso_app, idp):
    app = make_sso_app(OIDC_ROLE_MAP="")
    add_user(app, role="auditor")
    client = app.test_client()
    sso_login(client, idp)
    assert logged_in(client) and user_of(app).role == "auditor"
    assert events(app, "user.role_change") == []


def test_the_last_admin_is_not_demoted_by_the_provider(sso_app, idp):
    add_user(sso_app, role="admin")
    client = sso_app.test_client()
    sso_login(client, idp)
    assert "dernier administrateur actif" in flashed(client) and not logged_in(client)
    assert user_of(sso_app).role == "admin"


MFA_POLICY = BY_NAME["MFA_REQUIRED_ROLES"].default  # the product's default policy: admin, manager, evaluator


def test_amr_with_mfa_satisfies_the_policy(make_sso_app, idp):
    assert MFA_POLICY == ("admin", "manager", "evaluator")
    app = make_sso_app(MFA_REQUIRED_ROLES=MFA_POLICY)
    add_user(app, role="manager")
    idp.set_user("alice", email="alice@example.org", email_verified=True, groups=["grc-managers"], amr=["pwd", "otp"])
    client = app.test_client()
    assert sso_login(client, idp).headers["Location"] == "/"
    assert client.get("/").status_code == 200  # no enrolment asked: the provider's login was multi-factor
    with client.session_transaction() as session:
        assert session["second_factor"] == "sso"
    [(_, _, details)] = events(app, "auth.sso_login")
    assert details["mfa"] is True and details["amr"] == ["pwd", "otp"]


def test_an_accepted_acr_satisfies_the_policy(make_sso_app, idp):
    app = make_sso_app(MFA_REQUIRED_ROLES=MFA_POLICY, OIDC_MFA_ACR="gold")
    add_user(app, role="manager")
    idp.set_user("alice", email="alice@example.org", email_verified=True, groups=["grc-managers"], acr="gold")
    client = app.test_client()
    sso_login(client, idp)
    assert client.get("/").status_code == 200


def test_without_mfa_at_the_provider_a_manager_is_sent_to_enrolment(make_sso_app, idp):
    app = make_sso_app(MFA_REQUIRED_ROLES=MFA_POLICY)
    add_user(app, role="manager")
    client = app.test_client()
    sso_login(client, idp)  # amr ["pwd"]: the provider asked for a password only
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/account/second-factor"


def test_without_mfa_at_the_provider_a_local_factor_is_asked(make_sso_app, idp):
    app = make_sso_app(MFA_REQUIRED_ROLES=MFA_POLICY)
    user_id = add_user(app, role="manager")
    with app.app_context(), db.session_scope(app) as session:
        user = session.get(User, user_id)
        secret = second_factors.new_totp_secret()
        second_factors.confirm_totp(session, user, second_factors.seal_secret(secret, user, TEST_SECRET_KEY),
                                    pyotp.TOTP(secret).now(), secret_key=TEST_SECRET_KEY)
    client = app.test_client()
    response = sso_login(client, idp)
    assert response.headers["Location"] == "/login/second-factor"
    assert not logged_in(client)  # nobody is logged in before the code
    [(_, _, details)] = events(app, "auth.sso_login")
    assert details["second_factor_due"] is True and details["mfa"] is False


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
def test_logout_ends_the_session_at_the_provider(sso_app, idp):
    add_user(sso_app)
    client = sso_app.test_client()
    sso_login(client, idp)
    with client.session_transaction() as session:
        id_token = session["sso_id_token"]
    page = client.get("/")
    assert f"form-action 'self' {idp.issuer}" in page.headers["Content-Security-Policy"]  # the logout leads there
    response = client.post("/logout", data={"csrf_token": csrf_of(page)})
    location = response.headers["Location"]
    assert location.startswith(f"{idp.issuer}/oauth2/end_session?")
    sent = oidc_provider.query(location)
    assert sent["id_token_hint"] == id_token and sent["client_id"] == CLIENT_ID
    assert sent["post_logout_redirect_uri"] == "http://localhost/login"
    assert not logged_in(client)  # the local session ended first
    # The provider's end-session page answers (and would send the browser back to the login page).
    assert idp.http.get(location, timeout=10).status_code == 200
    assert idp.recorder.find("/oauth2/end_session")


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
def test_logout_stays_local_when_the_provider_offers_no_end_session(sso_app, idp):
    idp.recorder.tampering.discovery = lambda document: {k: v for k, v in document.items()
                                                          if k != "end_session_endpoint"}
    add_user(sso_app)
    client = sso_app.test_client()
    sso_login(client, idp)
    with client.session_transaction() as session:
        assert "sso_id_token" not in session  # nothing to keep it for
    response = client.post("/logout", data={"csrf_token": csrf_of(client.get("/"))})
    assert response.headers["Location"] == "/login" and not logged_in(client)


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
def test_a_password_session_logs_out_locally(make_sso_app, idp):
    app = make_sso_app(OIDC_PASSWORD_LOGIN=True)
    add_user(app)
    client = app.test_client()
    assert login(client, "alice@example.org").status_code == 302
    response = client.post("/logout", data={"csrf_token": csrf_of(client.get("/"))})
    assert response.headers["Location"] == "/login"


def test_sso_users_log_in_by_password_only_when_allowed(make_sso_app, idp):
    closed = make_sso_app()
    add_user(closed, oidc_issuer=idp.issuer, oidc_subject="alice", password_login=False)
    add_user(closed, email="bob@example.org")
    client = closed.test_client()
    response = login(client, "alice@example.org")
    assert response.status_code == 200
    assert "utilisez le bouton « Se connecter avec … »" in response.get_data(as_text=True)
    assert not logged_in(client)
    [(_, _, details)] = events(closed, "login.failed")
    assert details["reason"] == "sso_only"
    # A wrong password gets the usual answer: the SSO hint is given only to who knows the password.
    response = login(client, "alice@example.org", "wrong password")
    assert "Adresse e-mail ou mot de passe incorrect" in response.get_data(as_text=True)
    assert login(client, "bob@example.org").status_code == 302  # an account of this product alone logs in

    opened = make_sso_app(OIDC_PASSWORD_LOGIN=True)
    assert login(opened.test_client(), "alice@example.org").status_code == 302


def test_throttling_stops_repeated_failures(make_sso_app, idp):
    app = make_sso_app(LOGIN_MAX_FAILURES=2)
    client = app.test_client()
    for _ in range(2):
        assert client.get("/login/sso/callback?code=x&state=forged").headers["Location"] == "/login"
    assert client.get("/login/sso/callback?code=x&state=forged").status_code == 429
    assert client.get("/login/sso").status_code == 429
    assert len(events(app, "auth.sso_refused")) == 2  # the trail stops growing once throttled


@pytest.mark.sqlite_only  # the protocol's checks, not SQL
def test_a_discovery_document_of_another_issuer_is_refused(sso_app, idp):
    idp.recorder.tampering.discovery = lambda document: {**document, "issuer": "http://127.0.0.1:1"}
    client = sso_app.test_client()
    assert client.get("/login/sso").headers["Location"] == "/login"
    assert "ne répond pas" in flashed(client)
    assert not idp.recorder.find("/oauth2/authorize")


def csrf_of(page) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)


# --- configuration ---------------------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_nothing_of_it_exists_unless_configured(app, client, make_sso_app):
    assert not any(rule.endpoint.startswith("sso.") for rule in app.url_map.iter_rules())
    assert client.get("/login/sso").status_code == 404
    page = client.get("/login")
    assert "data-sso-login" not in page.get_data(as_text=True)
    assert "form-action 'self';" in page.headers["Content-Security-Policy"]
    configured = make_sso_app()
    added = {r.endpoint for r in configured.url_map.iter_rules()} - {r.endpoint for r in app.url_map.iter_rules()}
    assert added == {"sso.login", "sso.callback"}
    # Both are reached before anyone is logged in (the callback by the provider's redirect): public, GET only.
    for endpoint in added:
        assert configured.view_functions[endpoint].access_rule == access.PUBLIC
    assert {m for r in configured.url_map.iter_rules() if r.endpoint in added for m in r.methods} <= {
        "GET", "HEAD", "OPTIONS"}


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("config", "named"), [
    ({"OIDC_CLIENT_ID": None}, "EVIDENCE_OIDC_CLIENT_ID must be set too"),
    ({"OIDC_CREATE_USERS": True, "OIDC_ROLE_MAP": ""}, "EVIDENCE_OIDC_CREATE_USERS needs EVIDENCE_OIDC_ROLE_MAP"),
    ({"OIDC_ROLE_MAP": "grc=root"}, "OIDC_ROLE_MAP must be group=role pairs whose roles are among"),
    ({"OIDC_SCOPES": "email profile"}, "OIDC_SCOPES must be words separated by commas including openid"),
])
def test_a_bad_configuration_is_refused_at_start_up(make_sso_app, config, named):
    with pytest.raises(SettingError, match=named):
        make_sso_app(**config)
