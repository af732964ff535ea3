"""Security keys in the browser: the JSON endpoints static/js/webauthn.js calls (registration from the account's
factors page, authentication at the login's second step) and the forms that rename and remove a key.

The endpoints are posted to with the page's CSRF token in an `X-CSRFToken` header (Flask-WTF checks it as it
checks a form's field). A ceremony's challenge waits in the signed session between its two requests and is
taken out by the second, whatever the outcome: each challenge is answered once.

The relying party (its id and the origin a browser must report) comes from WEBAUTHN_RP_ID / WEBAUTHN_ORIGIN.
Without them it is taken from the request, and only on localhost: a Host header is the client's to choose, and an
origin believed from it would let a look-alike site relay its users' keys (core.rules.security_keys). Elsewhere,
without the settings, the pages say keys are not configured and the endpoints refuse.
"""
from __future__ import annotations

import time

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from evidence import context as db
from evidence.core.access import access, public
from evidence.core.errors import N_, EvidenceError
from evidence.core.rules.security_keys import CHALLENGE_SECONDS, RelyingParty, relying_party
from evidence.core.vocabulary import ALL_ROLES
from evidence.services import second_factors
from evidence.services import security_keys as keys
from evidence.web import WHILE_ENROLLING, reported_errors, say
from evidence.web import second_factor as flow
from evidence.web.account import throttle_limits

bp = Blueprint("security_keys", __name__)

REGISTRATION = "webauthn_registration"  # session keys of the challenges waiting for their answer
AUTHENTICATION = "webauthn_authentication"
CODES_DUE = "webauthn_recovery_codes_due"  # when the first factor of the account, a key, was registered
LAPSED = N_("connexion expirée : saisissez de nouveau votre adresse e-mail et votre mot de passe")
NOT_CONFIGURED = N_("les clés de sécurité ne sont pas configurées pour cette adresse : un administrateur doit "
                    "définir EVIDENCE_WEBAUTHN_ORIGIN (et, au besoin, EVIDENCE_WEBAUTHN_RP_ID)")

# A role that must have a second factor and has none may register a key: it is one way to enrol.
WHILE_ENROLLING.update({"security_keys.registration_options", "security_keys.registration_verify"})


def current_relying_party() -> RelyingParty | None:
    config = current_app.config
    return relying_party(config["WEBAUTHN_RP_ID"], config["WEBAUTHN_ORIGIN"], config["WEBAUTHN_RP_NAME"],
                         request.scheme, request.host)


def refusal(message, status: int = 400):
    """A refusal as JSON, in the reader's language: webauthn.js shows `error` beside the button."""
    return jsonify({"error": say(message)}), status


def options_response(options_json: str) -> Response:
    return Response(options_json, mimetype="application/json")


def payload() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.app_context_processor
def security_key_globals() -> dict:
    """What the templates' security-key parts read: the user's keys, and whether keys work at this address."""
    return {
        "security_keys_of": lambda user: keys.list_keys(db.get_session(), user),
        "security_keys_offered": lambda: current_relying_party() is not None,
    }


# --- registration (the account's factors page) -----------------------------------------------------------


@bp.route("/account/security-keys/registration/options", methods=["POST"])
@access(*ALL_ROLES)
def registration_options():
    """The options for navigator.credentials.create(); the name is checked first, before the key is touched."""
    rp = current_relying_party()
    if rp is None:
        return refusal(EvidenceError(NOT_CONFIGURED), 409)
    user = current_user._get_current_object()
    try:
        keys.check_key_name(db.get_session(), user, str(payload().get("name") or ""))
    except EvidenceError as error:
        return refusal(error)
    options, state = keys.registration_options(db.get_session(), user, rp, current_app.config["SECRET_KEY"])
    session[REGISTRATION] = state
    return options_response(options)


@bp.route("/account/security-keys/registration/verify", methods=["POST"])
@access(*ALL_ROLES)
def registration_verify():
    rp = current_relying_party()
    state = session.pop(REGISTRATION, None)
    if rp is None:
        return refusal(EvidenceError(NOT_CONFIGURED), 409)
    user = current_user._get_current_object()
    session_db = db.get_session()
    body = payload()
    first = not second_factors.has_second_factor(session_db, user)
    try:
        key = keys.register_key(session_db, user, rp, state, body.get("credential"), str(body.get("name") or ""))
    except EvidenceError as error:
        session_db.rollback()
        return refusal(error)
    flow.continue_enrolled(user, "webauthn")  # the account's other sessions ended; the key just proved itself
    flash(_("Clé de sécurité « %(name)s » enregistrée : elle vous sera demandée à chaque connexion. Vos autres "
            "sessions sont fermées.", name=key.name), "info")
    if first and not second_factors.recovery_codes_left(session_db, user):
        # The account's first factor: its recovery codes, shown once in the answer to a POST (webauthn.js sends
        # it), never in a redirect's flash, which the session cookie would carry.
        session[CODES_DUE] = int(time.time())
        return jsonify({"redirect": url_for("security_keys.recovery_codes"), "post": True})
    return jsonify({"redirect": url_for("second_factor.index")})


@bp.route("/account/security-keys/recovery-codes", methods=["POST"])
@access(*ALL_ROLES)
def recovery_codes():
    """The recovery codes of an account whose first factor is the key just registered in this session."""
    due = session.pop(CODES_DUE, None)
    user = current_user._get_current_object()
    session_db = db.get_session()
    if isinstance(due, int) and 0 <= time.time() - due <= CHALLENGE_SECONDS \
            and not second_factors.recovery_codes_left(session_db, user):
        with reported_errors() as outcome:
            codes = second_factors.issue_recovery_codes(session_db, user)
        if outcome.ok:
            return render_template("web/second_factor/recovery_codes.html", codes=codes, enrolled=False)
    return redirect(url_for("second_factor.index"))


# --- rename, remove ---------------------------------------------------------------------------------------


@bp.route("/account/security-keys/<int:key_id>/rename", methods=["POST"])
@access(*ALL_ROLES)
def rename(key_id: int):
    with reported_errors() as outcome:
        key = keys.rename_key(db.get_session(), current_user._get_current_object(), key_id,
                              request.form.get("name", ""))
    if outcome.ok:
        flash(_("Clé renommée « %(name)s ».", name=key.name), "info")
    return redirect(url_for("second_factor.index"))


@bp.route("/account/security-keys/<int:key_id>/remove", methods=["POST"])
@access(*ALL_ROLES)
def remove(key_id: int):
    """Removing a key asks the password or a current code (services.second_factors.confirm_identity)."""
    user = current_user._get_current_object()
    with reported_errors() as outcome:
        name = keys.remove_key(db.get_session(), user, key_id, request.form.get("proof", ""),
                               request.remote_addr or "", throttle_limits(),
                               secret_key=current_app.config["SECRET_KEY"], now=second_factors.current_time())
    if outcome.ok:
        flow.factor_removed(user)
        flash(_("Clé de sécurité « %(name)s » retirée.", name=name), "info")
    return redirect(url_for("second_factor.index"))


# --- authentication (the login's second step) -------------------------------------------------------------
# Public: nobody is logged in yet. What stands in for the login is the pending login the right password opened
# (web.second_factor.pending_user: this browser, five minutes, the account's sessions not ended since).


@bp.route("/login/second-factor/security-key/options", methods=["POST"])
@public
def authentication_options():
    user = flow.pending_user()
    if user is None:
        return refusal(EvidenceError(LAPSED), 401)
    rp = current_relying_party()
    if rp is None:
        return refusal(EvidenceError(NOT_CONFIGURED), 409)
    try:
        options, state = keys.authentication_options(db.get_session(), user, rp)
    except EvidenceError as error:
        return refusal(error)
    session[AUTHENTICATION] = state
    return options_response(options)


@bp.route("/login/second-factor/security-key/verify", methods=["POST"])
@public
def authentication_verify():
    state = session.pop(AUTHENTICATION, None)
    user = flow.pending_user()
    if user is None:
        return refusal(EvidenceError(LAPSED), 401)
    rp = current_relying_party()
    if rp is None:
        return refusal(EvidenceError(NOT_CONFIGURED), 409)
    try:
        outcome = keys.authenticate(db.get_session(), user, rp, state, payload().get("credential"),
                                    request.remote_addr or "", throttle_limits())
    except EvidenceError as error:
        db.get_session().rollback()
        return refusal(error)
    if outcome.throttled:
        return refusal(EvidenceError(second_factors.THROTTLED), 429)
    if not outcome.ok:
        return refusal(EvidenceError(keys.CLONED if outcome.cloned else keys.NOT_VERIFIED))
    done = flow.finish_pending(user, "webauthn")
    return jsonify({"redirect": done.location})
