"""Single sign-on in the browser (OpenID Connect, authorisation code flow with PKCE, through Authlib):
/login/sso sends the browser to the provider, /login/sso/callback takes its answer back; the logout's redirect
to the provider's end-session endpoint. Registered only when OIDC_ISSUER and OIDC_CLIENT_ID are set: otherwise
these addresses do not exist.

What Authlib checks: the `state` (kept in this session, used once: a replayed or unknown state is refused), the
PKCE verifier sent with the code (S256), the ID token's signature (the provider's published keys), its issuer (the
configured one, also required of the discovery document: no other server's tokens), its audience (this client),
its nonce (kept in the session with the state), its expiry. The issuer is a setting, never taken from a request:
the application fetches no address a user supplies.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, flash, redirect, request, session, url_for
from flask_login import current_user
from joserfc.errors import JoseError

from evidence import context as db
from evidence.core.access import public
from evidence.services import single_sign_on as sso
from evidence.settings import SettingError
from evidence.web import CSP, render_error, say

log = logging.getLogger(__name__)

bp = Blueprint("sso", __name__)  # endpoints sso.login, sso.callback

EXTENSION = "evidence.single_sign_on"
ID_TOKEN = "sso_id_token"  # the ID token, kept for the logout's `id_token_hint` only (when the provider ends sessions)
NEXT = "sso_next"  # where the login leads, kept while the browser is at the provider
TIMEOUT_SECONDS = 10  # discovery, keys, token: a provider that does not answer fails the login, not the worker


class ProviderError(Exception):
    """The provider cannot be used as configured (its discovery document names another issuer)."""


@dataclass(frozen=True)
class SingleSignOn:
    provider: sso.Provider
    client: object  # Authlib's FlaskOAuth2App
    client_id: str
    label: str  # the provider's name on the login button


def init_app(app: Flask) -> None:
    """Set single sign-on up when the settings ask for it; refuse a half-done configuration at start-up."""
    config = app.config
    if bool(config.get("OIDC_ISSUER")) != bool(config.get("OIDC_CLIENT_ID")):
        missing = "OIDC_CLIENT_ID" if config.get("OIDC_ISSUER") else "OIDC_ISSUER"
        raise SettingError(f"EVIDENCE_{missing} must be set too: single sign-on needs both EVIDENCE_OIDC_ISSUER and "
                           "EVIDENCE_OIDC_CLIENT_ID")
    provider = sso.provider_from_config(config)
    if provider is None:
        return
    if config["OIDC_CREATE_USERS"] and not config["OIDC_ROLE_MAP"]:
        raise SettingError("EVIDENCE_OIDC_CREATE_USERS needs EVIDENCE_OIDC_ROLE_MAP: an account created at its first "
                           "login takes its role from the provider's groups")
    secret = config.get("OIDC_CLIENT_SECRET")
    client = OAuth(app).register(
        "oidc", client_id=config["OIDC_CLIENT_ID"], client_secret=secret,
        server_metadata_url=f"{provider.issuer.rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={"scope": " ".join(config["OIDC_SCOPES"]), "code_challenge_method": "S256",
                       "default_timeout": TIMEOUT_SECONDS,
                       # A public client (no secret) proves itself by PKCE alone.
                       "token_endpoint_auth_method": "client_secret_basic" if secret else "none"},
    )
    label = config.get("OIDC_PROVIDER_NAME") or urlsplit(provider.issuer).hostname or provider.issuer
    app.extensions[EXTENSION] = SingleSignOn(provider, client, config["OIDC_CLIENT_ID"], label)
    app.register_blueprint(bp)
    # The logout form's answer sends the browser on to the provider: the pages' `form-action` must allow its origin.
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(provider.issuer))
    app.extensions["evidence.csp"] = CSP.replace("form-action 'self'", f"form-action 'self' {origin}")
    app.context_processor(lambda: {"sso_label": app.extensions[EXTENSION].label})


def configured() -> SingleSignOn | None:
    return current_app.extensions.get(EXTENSION)


def password_login_closed() -> bool:
    """Whether accounts bound to the provider are refused a password login (OIDC_PASSWORD_LOGIN off)."""
    return configured() is not None and not current_app.config["OIDC_PASSWORD_LOGIN"]


def metadata(state: SingleSignOn) -> dict:
    """The provider's discovery document (fetched once per process, then kept by Authlib), checked: it must be
    the configured issuer's own (OpenID Connect Discovery 4.3), or its tokens would be taken for that issuer's."""
    document = state.client.load_server_metadata()
    if document.get("issuer") != state.provider.issuer:
        log.error("the discovery document of %s names the issuer %r", state.provider.issuer, document.get("issuer"))
        raise ProviderError("issuer mismatch")
    return document


def error_code(value) -> str:
    """An OAuth error code as the message shows it: the callback's `error` parameter is anybody's to write, so
    only a code's characters (RFC 6749's are a subset) and a code's length are kept, never a sentence."""
    return re.sub(r"[^A-Za-z0-9_.-]", "", str(value or ""))[:40] or "?"


def _address() -> str:
    return request.remote_addr or ""


def _refused(refusal: sso.SsoRefused):
    flash(say(refusal), "error")
    return redirect(url_for("auth.login"))


@bp.route("/login/sso")
@public
def login():
    """Send the browser to the provider, with a new state, nonce and PKCE challenge kept in this session."""
    from evidence.web.account import safe_next, throttle_limits

    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    state = configured()
    if sso.is_throttled(db.get_session(), _address(), throttle_limits()):
        return render_error(429)
    session[NEXT] = safe_next(request.args.get("next"))
    try:
        try:
            metadata(state)
            return state.client.authorize_redirect(url_for("sso.callback", _external=True))
        except (requests.RequestException, ValueError, ProviderError, AuthlibBaseError) as error:
            log.warning("single sign-on cannot start: %r", error)  # ValueError: a document that is not JSON
            sso.refuse(db.get_session(), state.provider, "unavailable", _address(), throttle_limits())
    except sso.SsoRefused as refusal:
        return _refused(refusal)


@bp.route("/login/sso/callback")
@public
def callback():
    """The provider's answer: the code exchanged for the tokens, the ID token verified, the account found."""
    from evidence.web import second_factor  # it builds on this module (CARRIED)
    from evidence.web.account import throttle_limits

    state, session_db, limits = configured(), db.get_session(), throttle_limits()
    if sso.is_throttled(session_db, _address(), limits):
        return render_error(429)

    def no(reason: str, **params):
        sso.refuse(session_db, state.provider, reason, _address(), limits, **params)

    try:
        try:
            metadata(state)
            issuer = {"essential": True, "value": state.provider.issuer}
            audience = {"essential": True, "value": state.client_id}
            token = state.client.authorize_access_token(claims_options={"iss": issuer, "aud": audience})
        except MismatchingStateError:
            no("state")
        except AuthlibBaseError as error:  # the provider's refusal (on the way back, at the token endpoint), or
            # e.g. an http issuer without AUTHLIB_INSECURE_TRANSPORT
            log.warning("single sign-on failed: %r", error)
            code = error_code(getattr(error, "error", ""))
            no("provider_error", details={"error": code}, error=code)
        except JoseError as error:  # a bad signature, another audience or issuer, an expired token, a wrong nonce
            log.warning("ID token refused: %s", error)
            no("invalid_token", details={"error": type(error).__name__})
        except (requests.RequestException, ValueError, ProviderError):
            no("unavailable")
        claims = token.get("userinfo")
        if not claims:  # no ID token at all: an OAuth answer, not an OpenID Connect login
            no("invalid_token", details={"error": "no_id_token"})
        next_url = session.get(NEXT)
        signed_in = sso.sign_in(session_db, dict(claims), state.provider, _address(), limits)
    except sso.SsoRefused as refusal:
        return _refused(refusal)
    id_token = token.get("id_token") if metadata(state).get("end_session_endpoint") else None
    # Kept for the logout at the provider, through the local second step too when one is asked.
    carry = {ID_TOKEN: id_token} if isinstance(id_token, str) else None
    if signed_in.second_factor_due:
        return second_factor.begin_second_step(signed_in.user, next_url, carry)
    return second_factor.complete_login(signed_in.user, "sso" if signed_in.second_factor else None, next_url, carry)


def end_session_url(id_token: str | None) -> str | None:
    """Where the logout sends the browser: the provider's end-session endpoint (RP-initiated logout) with the ID
    token as hint and the login page to come back to, when this session came through the provider and the
    provider offers one; None otherwise (or when the provider cannot be reached: the local logout stands)."""
    state = configured()
    if state is None or not id_token:
        return None
    try:
        if not metadata(state).get("end_session_endpoint"):
            return None
        return state.client.create_logout_url(post_logout_redirect_uri=url_for("auth.login", _external=True),
                                              id_token_hint=id_token, client_id=state.client_id)["url"]
    except (requests.RequestException, ValueError, ProviderError):
        return None
