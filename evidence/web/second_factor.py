"""The second factor in the browser: the login's second step (/login/second-factor) and the account's page of
factors (/account/second-factor: the authenticator application's enrolment with a QR code drawn here, recovery
codes shown once, their renewal, the application's removal).

The login flow other ways of logging in plug into (security keys, single sign-on):
- `after_password(user, next)`: the password was right; a second step when the account has a factor, else logged in;
- `begin_second_step(user, next, carry)`: the login waits in session["pending_login"] (five minutes) for the second
  step, with what the session must keep once logged in (`carry`: the single sign-on's ID token, see CARRIED);
- `pending_user()`: the account a pending login is for (None when there is none, or it lapsed or was revoked);
- `finish_pending(user, method)`: the pending login's factor was given: `complete_login` with its next and carry;
- `complete_login(user, method, next, carry)`: a fresh session, logged in, with session["second_factor"] = method;
- `continue_enrolled(user, method)`, `factor_removed(user)`: the current session has just been given a factor (an
  enrolment: other sessions ended, this one goes on), or has lost one (the policy judges it again).
"""
from __future__ import annotations

import secrets
import time

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from evidence import context as db
from evidence.core.access import access, public
from evidence.core.rules import second_factor as rule
from evidence.core.vocabulary import ALL_ROLES
from evidence.data.models import User
from evidence.services import second_factors
from evidence.services import users as auth
from evidence.web import LOCALES, browser_fingerprint, render_error, reported_errors, start_session
from evidence.web.account import fresh_session, safe_next, throttle_limits
from evidence.web.single_sign_on import ID_TOKEN

bp = Blueprint("second_factor", __name__)

PENDING = "pending_login"  # {"user": id, "token": session token, "at": epoch seconds, "next": path, "browser": …}
ENROLMENT = "totp_enrolment"  # the secret being enrolled, sealed (the cookie never carries it in clear)
SECOND_FACTOR = "second_factor"  # what the session was logged in with (rule.METHODS), read by web.enforce_access
# What a pending login may carry over into the session it opens: the fresh session drops everything else (fixation),
# and nothing that says who is logged in or how (_user_id, second_factor) may ride along.
CARRIED = frozenset({ID_TOKEN})  # single sign-on's ID token, the logout's id_token_hint at the provider


# --- The login flow ------------------------------------------------------------------------------------------


def after_password(user: User, next_url: str | None, second_factor_due: bool):
    """Where a right password leads: the second step when the account has a factor, else straight in."""
    if second_factor_due:
        return begin_second_step(user, next_url)
    return complete_login(user, None, next_url)


def begin_second_step(user: User, next_url: str | None, carry: dict | None = None):
    """Nobody is logged in yet: the login waits for the second factor, in a fresh session bound to this browser;
    `carry` (keys of CARRIED only) is restored in the session the second step opens."""
    if set(carry or ()) - CARRIED:
        raise ValueError(f"a pending login carries only {sorted(CARRIED)}")
    fresh_session()
    session[PENDING] = {"user": user.id, "token": user.session_token, "at": int(time.time()),
                        "next": safe_next(next_url), "browser": browser_fingerprint()}
    if carry:
        session[PENDING]["carry"] = dict(carry)
    return redirect(url_for("second_factor.login_step"))


def pending_user() -> User | None:
    """The account the pending login is for; None (and the pending login dropped) when it lapsed, comes from
    another browser, or the account's sessions were ended since (disabled, reset, logged out elsewhere)."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    at, user_id, token = pending.get("at"), pending.get("user"), pending.get("token")
    user = None
    if isinstance(at, int) and isinstance(user_id, int) and isinstance(token, str) \
            and not rule.pending_login_expired(at, int(time.time())) \
            and pending.get("browser") == browser_fingerprint():
        user = db.get_session().get(User, user_id)
    if user is None or not user.active or not secrets.compare_digest(user.session_token, token):
        session.pop(PENDING, None)
        return None
    return user


def finish_pending(user: User, method: str):
    """The pending login's second factor was given (`method`): logged in, led where the login was going, with
    what it carried. `user` is pending_user()'s, judged by the caller's service."""
    pending = session.get(PENDING)
    pending = pending if isinstance(pending, dict) else {}
    return complete_login(user, method, pending.get("next"), pending.get("carry"))


def complete_login(user: User, method: str | None, next_url: str | None = None, carry: dict | None = None):
    """Log `user` in on a fresh session (nothing but the language, and `carry`'s keys of CARRIED, carries over:
    fixation), with the second factor given (`method`, one of rule.METHODS, or None: the password alone), and lead
    him on."""
    chosen = fresh_session()
    if chosen in LOCALES:
        auth.set_locale(db.get_session(), user, chosen)  # the latest choice is the account's
    if user.locale in LOCALES:
        session["locale"] = user.locale  # the account's language, wherever it was chosen
    start_session(user)
    carried = carry if isinstance(carry, dict) else {}
    for key in CARRIED & carried.keys():
        if isinstance(carried[key], str):
            session[key] = carried[key]
    if method is not None:
        mark_satisfied(method)
    if user.must_change_password:  # a password someone else set: replaced before anything else
        return redirect(url_for("auth.change_password"))
    return redirect(safe_next(next_url))


def mark_satisfied(method: str) -> None:
    if method not in rule.METHODS:
        raise ValueError(f"unknown second factor {method!r}")
    session[SECOND_FACTOR] = method


def continue_enrolled(user: User, method: str) -> None:
    """A factor was just enrolled from this session, which ended the account's other sessions (a new session
    token): this one goes on under the new token and, unless it was logged in with a factor already, counts as
    logged in with this one (it just proved itself)."""
    login_user(user)
    if session.get(SECOND_FACTOR) not in rule.METHODS:
        mark_satisfied(method)


def factor_removed(user: User) -> None:
    """One of the account's factors was removed from this session: without a factor left, what the session was
    logged in with no longer stands, and the policy (web.enforce_access) judges the session again."""
    if not second_factors.has_second_factor(db.get_session(), user):
        session.pop(SECOND_FACTOR, None)


def _now():
    return second_factors.current_time()


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=64)],
                       description=_l("Les six chiffres de votre application d’authentification, ou l’un de vos codes "
                                      "de récupération."))


@bp.route("/login/second-factor", methods=["GET", "POST"])
@public
def login_step():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    user = pending_user()
    if user is None:
        flash(_("Connexion expirée : saisissez de nouveau votre adresse e-mail et votre mot de passe."), "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        outcome = second_factors.verify_login_code(
            db.get_session(), user, form.code.data, request.remote_addr or "", throttle_limits(),
            secret_key=current_app.config["SECRET_KEY"], now=_now())
        if outcome.throttled:
            return render_error(429)
        if outcome.ok:
            response = finish_pending(user, outcome.method)
            if outcome.method == "recovery":  # after the fresh session, which empties the messages too
                flash(_("Code de récupération utilisé : il ne servira plus. Il vous en reste %(n)d.",
                        n=second_factors.recovery_codes_left(db.get_session(), user)), "info")
            return response
        form.code.errors = [_("Code incorrect ou déjà utilisé.")]
    factors = second_factors.available_factors(db.get_session(), user)
    return render_template("web/second_factor/login.html", form=form, factors=factors, pending=user,
                           place="login")


# --- The account's factors -----------------------------------------------------------------------------------


class ConfirmTotpForm(FlaskForm):
    code = StringField(_l("Code affiché par l’application"), validators=[DataRequired(), Length(max=16)])


class ProofForm(FlaskForm):
    proof = PasswordField(_l("Mot de passe ou code de l’application"), validators=[DataRequired(), Length(max=1024)])


class CurrentCodeForm(FlaskForm):
    proof = StringField(_l("Code de l’application"), validators=[DataRequired(), Length(max=16)])


class CurrentPasswordForm(FlaskForm):
    proof = PasswordField(_l("Mot de passe actuel"), validators=[DataRequired(), Length(max=1024)])


def codes_form_class(has_totp: bool) -> type[FlaskForm]:
    """The proof new recovery codes ask (rule.identity_proofs): the application's code, or, for an account whose
    factors are security keys only, the password."""
    return CurrentCodeForm if has_totp else CurrentPasswordForm


def _account_page(**forms):
    user = current_user._get_current_object()
    session_db = db.get_session()
    factor = second_factors.totp_of(session_db, user)
    factors = second_factors.available_factors(session_db, user)
    return render_template(
        "web/second_factor/index.html", totp=factor, factors=factors, has_factor=bool(factors - {"recovery"}),
        codes_left=second_factors.recovery_codes_left(session_db, user),
        required=rule.required(user.role, current_app.config["MFA_REQUIRED_ROLES"]),
        remove_form=forms.get("remove_form") or ProofForm(formdata=None),
        codes_form=forms.get("codes_form") or codes_form_class(factor is not None)(formdata=None), place="account")


@bp.route("/account/second-factor")
@access(*ALL_ROLES)
def index():
    return _account_page()


def _enrolment_secret(user: User) -> str:
    """The secret being enrolled in this session (the same on a reload: the application may have read it already),
    or a new one."""
    key = current_app.config["SECRET_KEY"]
    sealed = session.get(ENROLMENT)
    secret = second_factors.open_secret(sealed, user, key) if sealed else None
    if secret is None:
        secret = second_factors.new_totp_secret()
        session[ENROLMENT] = second_factors.seal_secret(secret, user, key)
    return secret


@bp.route("/account/second-factor/totp", methods=["GET", "POST"])
@access(*ALL_ROLES)
def enrol_totp():
    user = current_user._get_current_object()
    session_db = db.get_session()
    if second_factors.totp_of(session_db, user) is not None:
        flash(_("Une application d’authentification est déjà enregistrée : retirez-la d’abord pour en enregistrer "
                "une autre."), "info")
        return redirect(url_for("second_factor.index"))
    secret = _enrolment_secret(user)
    form = ConfirmTotpForm()
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            codes = second_factors.confirm_totp(session_db, user, session[ENROLMENT], form.code.data,
                                                secret_key=current_app.config["SECRET_KEY"], now=_now())
        if outcome.ok:
            session.pop(ENROLMENT, None)
            continue_enrolled(user, "totp")  # every other session of the account has ended
            return _show_codes(codes, enrolled=True)
    uri = second_factors.provisioning_uri(secret, user)
    # An image from a data: address (the CSP allows those): no inline style, no script, nothing fetched elsewhere.
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    return render_template("web/second_factor/enrol.html", form=form, secret=secret, qr=qr,
                           grouped=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)))


def _show_codes(codes: list[str], enrolled: bool = False):
    """The recovery codes, this once, in the response itself (never in a redirect's flash: the session cookie
    would carry them)."""
    return render_template("web/second_factor/recovery_codes.html", codes=codes, enrolled=enrolled)


@bp.route("/account/second-factor/recovery-codes", methods=["POST"])
@access(*ALL_ROLES)
def regenerate_codes():
    user = current_user._get_current_object()
    form = codes_form_class(second_factors.totp_of(db.get_session(), user) is not None)()
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            codes = second_factors.regenerate_recovery_codes(
                db.get_session(), user, form.proof.data, request.remote_addr or "",
                throttle_limits(), secret_key=current_app.config["SECRET_KEY"], now=_now())
        if outcome.ok:
            return _show_codes(codes)
    return _account_page(codes_form=form)


@bp.route("/account/second-factor/totp/remove", methods=["POST"])
@access(*ALL_ROLES)
def remove_totp():
    form = ProofForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        with reported_errors(form=form) as outcome:
            second_factors.remove_totp(db.get_session(), user, form.proof.data, request.remote_addr or "",
                                       throttle_limits(), secret_key=current_app.config["SECRET_KEY"], now=_now())
        if outcome.ok:
            factor_removed(user)
            flash(_("Application d’authentification retirée."), "info")
            return redirect(url_for("second_factor.index"))
    return _account_page(remove_form=form)
