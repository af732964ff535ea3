"""Security keys through the web's JSON endpoints (what static/js/webauthn.js calls), with the software
authenticator: register from the factors page, log in with password then key, the policy met by a key, the
relying party refused off localhost without settings, CSRF, rename and removal."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import AuditEvent, SecurityKey

from .conftest import PASSWORD, csrf_token, login
from .soft_authenticator import SoftAuthenticator

pytestmark = pytest.mark.sqlite_only  # the endpoints' answers and pages; the service tests cover both databases

LOCAL = "http://localhost"  # the test client's host: keys work there without settings


def post_json(client, url: str, body: dict, token: str | None, **kwargs):
    headers = {"X-CSRFToken": token} if token else {}
    return client.post(url, json=body, headers=headers, **kwargs)


def register(client, name="YubiKey bureau", authenticator=None, origin=LOCAL, rp_id="localhost", **kwargs):
    authenticator = authenticator or SoftAuthenticator(origin, rp_id)
    token = csrf_token(client, "/account/second-factor")
    options = post_json(client, "/account/security-keys/registration/options", {"name": name}, token, **kwargs)
    assert options.status_code == 200, options.get_data(as_text=True)
    verify = post_json(client, "/account/security-keys/registration/verify",
                       {"name": name, "credential": authenticator.register(options.get_data(as_text=True))}, token,
                       **kwargs)
    return verify, authenticator, token


def second_step(client, authenticator, **answer):
    token = csrf_token(client, "/login/second-factor")
    options = post_json(client, "/login/second-factor/security-key/options", {}, token)
    assert options.status_code == 200, options.get_data(as_text=True)
    return post_json(client, "/login/second-factor/security-key/verify",
                     {"credential": authenticator.sign(options.get_data(as_text=True), **answer)}, token)


def keys_of(app, email="manager@example.org"):
    with app.app_context(), db.session_scope(app) as session:
        return [k.name for k in session.exec(select(SecurityKey).order_by(SecurityKey.id))]


def test_register_a_key_then_log_in_with_password_and_key(app, client, users):
    assert login(client, "manager@example.org").headers["Location"] == "/"  # no factor yet: straight in
    page = client.get("/account/second-factor").get_data(as_text=True)
    assert "data-webauthn-register" in page and "/static/js/webauthn.js" in page
    assert 'data-msg-cancelled="La clé n’a pas répondu' in page and "<script>" not in page  # CSP: no inline script

    verify, authenticator, token = register(client)
    assert verify.status_code == 200 and verify.json == {"redirect": "/account/security-keys/recovery-codes",
                                                         "post": True}
    codes = client.post("/account/security-keys/recovery-codes", data={"csrf_token": token})
    assert codes.status_code == 200
    assert len(re.findall(r"data-recovery-code>", codes.get_data(as_text=True))) == 10
    again = client.post("/account/security-keys/recovery-codes", data={"csrf_token": token})
    assert again.status_code == 302  # shown once: the first key's codes are not drawn again
    page = client.get("/account/second-factor").get_data(as_text=True)
    assert 'data-security-key="YubiKey bureau"' in page and 'data-second-factor="on"' in page

    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    response = login(client, "manager@example.org")
    assert response.headers["Location"] == "/login/second-factor"
    assert client.get("/").status_code == 302  # not logged in yet
    step = client.get("/login/second-factor").get_data(as_text=True)
    assert "Utiliser ma clé de sécurité" in step and "data-webauthn-login" in step

    done = second_step(client, authenticator)
    assert done.status_code == 200 and done.json == {"redirect": "/"}
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        assert session["second_factor"] == "webauthn"
    with app.app_context(), db.session_scope(app) as session:
        login_event = session.exec(select(AuditEvent).where(AuditEvent.action == "login")
                                   .order_by(AuditEvent.seq.desc())).first()
        assert login_event.details["second_factor"] == "webauthn"


def test_a_manager_under_the_default_policy_enrols_a_key_and_may_then_work(app, client, users):
    app.config["MFA_REQUIRED_ROLES"] = ("admin", "manager")
    login(client, "manager@example.org")
    assert client.get("/controls/").headers["Location"] == "/account/second-factor"  # enrolment, nothing else
    verify, _, _ = register(client)
    assert verify.status_code == 200
    assert client.get("/controls/").status_code == 200


def test_each_challenge_is_answered_once(app, client, users):
    login(client, "manager@example.org")
    authenticator = SoftAuthenticator(LOCAL, "localhost")
    token = csrf_token(client, "/account/second-factor")
    options = post_json(client, "/account/security-keys/registration/options", {"name": "Clé"}, token)
    answer = {"name": "Clé", "credential": authenticator.register(options.get_data(as_text=True))}
    other = {"name": "Copie", "credential": SoftAuthenticator(LOCAL, "localhost").register(options.get_data(as_text=True))}
    assert post_json(client, "/account/security-keys/registration/verify", answer, token).status_code == 200
    refused = post_json(client, "/account/security-keys/registration/verify", other, token)
    assert refused.status_code == 400 and "a expiré" in refused.json["error"]
    assert keys_of(app) == ["Clé"]


def test_the_endpoints_want_the_csrf_header(app, client, users):
    login(client, "manager@example.org")
    for url in ("/account/security-keys/registration/options", "/account/security-keys/registration/verify"):
        assert post_json(client, url, {"name": "Clé"}, None).status_code == 400
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert post_json(client, "/login/second-factor/security-key/options", {}, None).status_code == 400


def test_the_login_step_needs_a_pending_login(app, client, users):
    token = csrf_token(client, "/login")
    response = post_json(client, "/login/second-factor/security-key/options", {}, token)
    assert response.status_code == 401 and "saisissez de nouveau" in response.json["error"]


def test_a_cloned_key_is_refused_at_login_with_words(app, client, users):
    login(client, "manager@example.org")
    _, authenticator, _ = register(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "manager@example.org")
    assert second_step(client, authenticator, counter=5).status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "manager@example.org")
    refused = second_step(client, authenticator, counter=2)
    assert refused.status_code == 400 and "compteur de signatures qui recule" in refused.json["error"]
    assert client.get("/").status_code == 302


def test_a_wrong_key_answer_is_refused_and_counts_in_the_throttling(app, client, users):
    app.config["LOGIN_MAX_FAILURES"] = 2
    login(client, "manager@example.org")
    _, authenticator, _ = register(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "manager@example.org")
    for _ in range(2):
        refused = second_step(client, authenticator, origin="http://localhost.phishing.example")
        assert refused.status_code == 400 and "n’a pas pu être vérifiée" in refused.json["error"]
    assert second_step(client, authenticator).status_code == 429


def token_at(client, path: str, base: str) -> str:
    page = client.get(path, base_url=base).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_off_localhost_keys_need_the_settings(app, users):
    client = app.test_client()
    base = "http://evidence.example.org"
    client.post("/login", base_url=base, data={"email": "manager@example.org", "password": PASSWORD,
                                               "csrf_token": token_at(client, "/login", base)})
    page = client.get("/account/second-factor", base_url=base).get_data(as_text=True)
    assert "data-security-keys-unavailable" in page and "EVIDENCE_WEBAUTHN_ORIGIN" in page
    assert "data-webauthn-register" not in page
    token = token_at(client, "/account/second-factor", base)
    refused = post_json(client, "/account/security-keys/registration/options", {"name": "Clé"}, token, base_url=base)
    assert refused.status_code == 409 and "EVIDENCE_WEBAUTHN_ORIGIN" in refused.json["error"]

    app.config["WEBAUTHN_ORIGIN"] = "https://evidence.example.org"
    assert "data-webauthn-register" in client.get("/account/second-factor", base_url=base).get_data(as_text=True)
    # A key's answer made on a look-alike site (the browser reports the origin it was really on) is refused...
    options = post_json(client, "/account/security-keys/registration/options", {"name": "Clé"}, token, base_url=base)
    assert options.json["rp"]["id"] == "evidence.example.org"
    phished = SoftAuthenticator("https://evidence-example.org", "evidence.example.org").register(options.get_data(as_text=True))
    refused = post_json(client, "/account/security-keys/registration/verify", {"name": "Clé", "credential": phished},
                        token, base_url=base)
    assert refused.status_code == 400 and keys_of(app) == []
    # ... and the genuine one accepted.
    options = post_json(client, "/account/security-keys/registration/options", {"name": "Clé"}, token, base_url=base)
    genuine = SoftAuthenticator("https://evidence.example.org", "evidence.example.org").register(options.get_data(as_text=True))
    verify = post_json(client, "/account/security-keys/registration/verify", {"name": "Clé", "credential": genuine},
                       token, base_url=base)
    assert verify.status_code == 200 and keys_of(app) == ["Clé"]


def test_rename_and_remove_from_the_factors_page(app, client, users):
    login(client, "manager@example.org")
    register(client)
    register(client, name="Téléphone")
    with app.app_context(), db.session_scope(app) as session:
        first = session.exec(select(SecurityKey).where(SecurityKey.name == "YubiKey bureau")).one().id
    token = csrf_token(client, "/account/second-factor")
    client.post(f"/account/security-keys/{first}/rename", data={"csrf_token": token, "name": "Clé du coffre"})
    assert keys_of(app) == ["Clé du coffre", "Téléphone"]
    renamed = client.post(f"/account/security-keys/{first}/rename", data={"csrf_token": token, "name": "Téléphone"},
                          follow_redirects=True)
    assert "déjà une clé nommée" in renamed.get_data(as_text=True)

    wrong = client.post(f"/account/security-keys/{first}/remove", data={"csrf_token": token, "proof": "nope"},
                        follow_redirects=True)
    assert "incorrect" in wrong.get_data(as_text=True) and keys_of(app) == ["Clé du coffre", "Téléphone"]
    removed = client.post(f"/account/security-keys/{first}/remove", data={"csrf_token": token, "proof": PASSWORD},
                          follow_redirects=True)
    assert "Clé de sécurité « Clé du coffre » retirée." in removed.get_data(as_text=True)
    assert keys_of(app) == ["Téléphone"]


def test_nobody_renames_or_removes_another_users_key(app, client, users):
    login(client, "manager@example.org")
    register(client)
    with app.app_context(), db.session_scope(app) as session:
        key_id = session.exec(select(SecurityKey)).one().id
    other = app.test_client()
    login(other, "admin@example.org")
    token = csrf_token(other, "/account/second-factor")
    other.post(f"/account/security-keys/{key_id}/rename", data={"csrf_token": token, "name": "À moi"})
    other.post(f"/account/security-keys/{key_id}/remove", data={"csrf_token": token, "proof": PASSWORD})
    assert keys_of(app) == ["YubiKey bureau"]


def test_refusals_speak_the_readers_language(app, client, users):
    login(client, "manager@example.org")
    token = csrf_token(client, "/account/second-factor")
    client.post("/locale/en", data={"csrf_token": token})
    refused = post_json(client, "/account/security-keys/registration/options", {"name": ""}, token)
    assert refused.status_code == 400 and refused.json["error"].startswith("give the key a name")


def test_registering_a_key_ends_the_accounts_other_sessions(app, client, users):
    elsewhere = app.test_client()
    login(elsewhere, "manager@example.org")
    login(client, "manager@example.org")
    register(client)
    assert client.get("/controls/").status_code == 200  # this session goes on
    assert elsewhere.get("/controls/").status_code == 302  # the other one is over
