"""Single sign-on, issue 18's follow-up: the ID token carried through the local second factor (so that the logout
still ends the provider's session), and an account unbound from its identity at the provider by an administrator or
the command line (audited, sessions ended, password login only through a new one-time link)."""
from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp
import pytest

from evidence.data import database as db
from evidence.data.models import User
from evidence.services import second_factors
from evidence.services import single_sign_on as sso
from evidence.services import users as auth

from . import oidc_provider
from .conftest import TEST_SECRET_KEY, login
from .test_single_sign_on import (  # noqa: F401  (provider, idp, make_sso_app, sso_app: fixtures)
    CLIENT_ID,
    MFA_POLICY,
    add_user,
    csrf_of,
    events,
    idp,
    logged_in,
    make_sso_app,
    provider,
    sso_app,
    sso_login,
    user_of,
)

NEW_PASSWORD = "un tout autre mot de passe, assez long"


def bind(app, email="alice@example.org", issuer=None, subject="alice"):
    with app.app_context(), db.session_scope(app) as session:
        user = auth.find_user(session, email)
        user.oidc_issuer, user.oidc_subject, user.password_login = issuer, subject, False
        session.add(user)
        session.commit()


# --- the ID token through the local second factor -------------------------------------------------------------


def test_after_the_provider_and_a_local_code_the_logout_ends_the_providers_session(make_sso_app, idp):
    app = make_sso_app(MFA_REQUIRED_ROLES=MFA_POLICY)
    user_id = add_user(app, role="manager")
    with app.app_context(), db.session_scope(app) as session:
        user = session.get(User, user_id)
        secret = second_factors.new_totp_secret()
        second_factors.confirm_totp(session, user, second_factors.seal_secret(secret, user, TEST_SECRET_KEY),
                                    pyotp.TOTP(secret).now(), secret_key=TEST_SECRET_KEY)
    client = app.test_client()
    assert sso_login(client, idp).headers["Location"] == "/login/second-factor"  # amr ["pwd"]: the code is asked
    with client.session_transaction() as browser:
        assert "sso_id_token" not in browser  # nobody is logged in: it waits in the pending login
        carried = browser["pending_login"]["carry"]["sso_id_token"]
    step = client.get("/login/second-factor")
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the next step's: the enrolment spent the current one
    assert client.post("/login/second-factor", data={"code": code, "csrf_token": csrf_of(step)}).status_code == 302
    assert logged_in(client)
    with client.session_transaction() as browser:
        assert browser["sso_id_token"] == carried and browser["second_factor"] == "totp"
    response = client.post("/logout", data={"csrf_token": csrf_of(client.get("/"))})
    location = response.headers["Location"]
    assert location.startswith(f"{idp.issuer}/oauth2/end_session?")
    assert oidc_provider.query(location)["id_token_hint"] == carried
    assert oidc_provider.query(location)["client_id"] == CLIENT_ID
    assert not logged_in(client)


# --- unbinding ------------------------------------------------------------------------------------------------


def link_path(page: str) -> str:
    url = re.search(r'id="password-link-url" value="([^"]+)"', page).group(1)
    return urlsplit(url).path


@pytest.mark.sqlite_only
def test_an_admin_unbinds_an_account_which_then_logs_in_by_a_new_password_only(sso_app, idp):
    add_user(sso_app)
    add_user(sso_app, email="root@example.org", role="admin")
    alice = sso_app.test_client()
    sso_login(alice, idp)  # bound at this first login
    assert user_of(sso_app).oidc_subject == "alice" and logged_in(alice)

    admin = sso_app.test_client()
    assert login(admin, "root@example.org").headers["Location"] == "/"  # never bound: its password works
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "Authentification unique" in page and f'data-sso-issuer="{idp.issuer}"' in page
    alice_id = user_of(sso_app).id
    url = f"/admin/users/{alice_id}/sso/unbind"
    assert f'action="{url}"' in page
    root_id = user_of(sso_app, "root@example.org").id
    assert f'action="/admin/users/{root_id}/sso/unbind"' not in page  # not bound: nothing to unbind

    asked = admin.post(url, data={"csrf_token": csrf_of(admin.get("/admin/users"))})
    assert asked.status_code == 200 and "Délier le compte de Alice" in asked.get_data(as_text=True)
    assert user_of(sso_app).oidc_subject == "alice"  # nothing done before the confirmation
    assert admin.post(url, data={"confirmed": "1"}).status_code == 400  # CSRF, as every form

    done = admin.post(url, data={"csrf_token": csrf_of(admin.get("/admin/users")), "confirmed": "1"})
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert "délié de l’authentification unique" in text
    path = link_path(text)
    user = user_of(sso_app)
    assert (user.oidc_issuer, user.oidc_subject, user.password_login) == (None, None, True)
    assert events(sso_app, "user.sso_unbind") == [("root@example.org", "alice@example.org",
                                                    {"issuer": idp.issuer, "subject": "alice"})]
    assert [e[1] for e in events(sso_app, "user.password_link")] == ["alice@example.org"]
    assert not logged_in(alice)  # her sessions ended

    # The password she had does not come back; the link's does.
    assert "Adresse e-mail ou mot de passe incorrect" in login(alice, "alice@example.org").get_data(as_text=True)
    page = alice.get(path)
    assert page.status_code == 200
    chosen = alice.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": csrf_of(page)})
    assert chosen.headers["Location"] == "/login"
    assert login(alice, "alice@example.org", NEW_PASSWORD).headers["Location"] == "/"

    # Her next single sign-on login binds the account again, by its verified e-mail.
    alice.post("/logout", data={"csrf_token": csrf_of(alice.get("/"))})
    sso_login(alice, idp)
    assert user_of(sso_app).oidc_subject == "alice" and len(events(sso_app, "user.sso_bind")) == 2


def test_nobody_unbinds_himself_nor_an_account_never_bound(app, users):
    with app.app_context(), db.session_scope(app) as session:
        admin = session.get(User, users["admin"].id)
        admin.oidc_issuer, admin.oidc_subject = "https://sso.example.org", "root"
        session.add(admin)
        session.commit()
        with pytest.raises(auth.UserError, match="votre propre compte"):
            sso.unbind(session, admin, admin)
        with pytest.raises(auth.UserError, match="n’est lié à aucune identité"):
            sso.unbind(session, admin, session.get(User, users["manager"].id))
    assert events(app, "user.sso_unbind") == []


def test_the_command_line_unbinds(app, users, runner):
    bind(app, users["manager"].email, "https://sso.example.org", "m-1")
    client = app.test_client()
    assert login(client, users["manager"].email).status_code == 302 and logged_in(client)
    result = runner.invoke(args=["users", "sso-unbind", "Manager@example.org"])
    assert result.exit_code == 0, result.output
    assert "manager@example.org is no longer bound to https://sso.example.org" in result.output
    assert "/password/set/" in result.output
    assert not logged_in(client)
    assert login(client, users["manager"].email).status_code == 200  # the old password is void
    [(actor, who, details)] = events(app, "user.sso_unbind")
    assert actor.startswith("cli") and who == "manager@example.org" and details["subject"] == "m-1"

    again = runner.invoke(args=["users", "sso-unbind", "manager@example.org"])
    assert again.exit_code != 0 and "bound to no identity" in again.output

    # A disabled account is unbound without a link: it comes once the account is enabled again.
    bind(app, users["auditor"].email, "https://sso.example.org", "a-1")
    runner.invoke(args=["users", "disable", users["auditor"].email])
    result = runner.invoke(args=["users", "sso-unbind", users["auditor"].email])
    assert result.exit_code == 0 and "/password/set/" not in result.output and "reset-password" in result.output
