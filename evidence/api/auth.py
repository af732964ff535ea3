"""Bearer authentication for /api/: the token names the account the call acts as and the perimeters it reaches.

Runs after the web's hooks (which leave /api/ alone: no session is opened there, see web.TlsAwareSessionInterface,
and enforce_access defers to this hook), before the view: the view's declared rule is judged against the token's
role (a view that declares none is refused, as on the web). The audit trail names the token in every event the
call records (audit.acting_through), and Flask-Login's current_user is the token's account for the call.
"""
from __future__ import annotations

from flask import Flask, current_app, g, request

from evidence import context as db
from evidence.api.errors import UNAUTHENTICATED, Problem, is_api_request
from evidence.core.access import PUBLIC
from evidence.data import audit
from evidence.services import api_tokens
from evidence.web.clock import request_today

CHALLENGE = 'Bearer realm="evidence"'


def init_app(app: Flask) -> None:
    app.before_request(authenticate)
    app.before_request(refuse_nul_in_json)
    app.teardown_request(forget)


def refuse_nul_in_json():
    """The web refuses a NUL byte in an address or a form at the door (web.refuse_nul_bytes); a JSON body is the
    API's form: PostgreSQL rejects NUL in text, so it is refused here, before any service reads it."""
    if not is_api_request() or request.mimetype != "application/json":
        return None
    body = request.get_json(silent=True)
    if _holds_nul(body):
        raise Problem(400)
    return None


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def authenticate():
    if not is_api_request() or request.endpoint is None:
        return None  # the web's own paths; or no such route (404/405 answer as problems)
    rule = getattr(current_app.view_functions[request.endpoint], "access_rule", None)
    if rule == PUBLIC:
        return None
    if rule is None:
        current_app.logger.error("API route %s declares no access rule: refused", request.endpoint)
        raise Problem(403)
    session = db.get_session()
    try:
        use = api_tokens.authenticate(session, bearer_secret(), today=request_today())
    except api_tokens.TokenRefused as refused:
        session.rollback()
        challenge = CHALLENGE if bearer_secret() is None else CHALLENGE + ', error="invalid_token"'
        raise Problem(401, refused.message, type=UNAUTHENTICATED, headers={"WWW-Authenticate": challenge}) from None
    g.api_token = use
    g._login_user = use.user  # Flask-Login's current_user, for this call only (no session, no cookie)
    g.api_audit_context = audit.set_acting_through(use.token.name)
    if not rule.allows(use.user.role, request.method):
        raise Problem(403)
    return None


def forget(_exc=None) -> None:
    reset = g.pop("api_audit_context", None)
    if reset is not None:
        try:
            audit.reset_acting_through(reset)
        except ValueError:  # set in another context (a copied one): nothing of this call's is left to undo there
            audit.set_acting_through(None)
