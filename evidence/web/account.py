"""Login, logout, the language switch, the account page (the e-mail digest's opt-out, the password change) and
the page a one-time link opens to choose a password."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from evidence import context as db
from evidence.core.access import access, public
from evidence.core.passwords import MAX_LENGTH
from evidence.core.vocabulary import ALL_ROLES
from evidence.services import notifications, passwords
from evidence.services import users as auth
from evidence.web import LOCALES, render_error, reported_errors, say
from evidence.web.forms import EmptyForm

bp = Blueprint("auth", __name__)  # endpoints auth.login, auth.logout, auth.account


class LoginForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


def throttle_limits() -> auth.ThrottleLimits:
    config = current_app.config
    return auth.ThrottleLimits(
        per_pair=config["LOGIN_MAX_FAILURES"],
        per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        per_account=config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        window=timedelta(seconds=config["LOGIN_WINDOW_SECONDS"]),
        secret=config["SECRET_KEY"],
    )


def safe_next(target: str | None, default: str | None = None) -> str:
    """Only a path on this site: never an absolute URL or a scheme-relative one (open redirect), nor one with a
    control character (a CR/LF would split the Location header: the server refuses to send it, a 500). Anything
    else leads to `default`, or the dashboard. Every redirect to a place the request names goes through here."""
    if target and any(ord(c) < 32 or ord(c) == 127 for c in target):
        target = None
    if target and target.startswith("/") and "\\" not in target:  # browsers read "/\\host" as "//host"
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and not target.startswith("//"):
            return target
    return default or url_for("dashboard.index")


def fresh_session() -> str | None:
    """Empty the browser's session but for the language picked in it (on the login or set-password page,
    before anyone was known); returns that language."""
    chosen = session.get("locale")
    session.clear()
    if chosen in LOCALES:
        session["locale"] = chosen
    return chosen


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        from evidence.web import single_sign_on

        outcome = auth.attempt_login(
            db.get_session(), form.email.data, form.password.data, request.remote_addr or "", throttle_limits(),
            sso_only=single_sign_on.password_login_closed(),
        )
        if outcome.throttled:
            return render_error(429)
        if outcome.user is not None:
            from evidence.web import second_factor  # it builds on this module's helpers

            # A fresh session either way (fixation); with a second factor, nobody is logged in before it is given.
            return second_factor.after_password(outcome.user, form.next.data, outcome.second_factor_due)
        flash(say(outcome.refusal) if outcome.refusal else _("Adresse e-mail ou mot de passe incorrect."), "error")
    return render_template("web/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@access(*ALL_ROLES)
def logout():
    if EmptyForm().validate_on_submit():
        from evidence.web import single_sign_on

        id_token = session.get(single_sign_on.ID_TOKEN)  # a session opened through the provider ends there too
        auth.logout(db.get_session(), current_user._get_current_object())
        logout_user()
        session.clear()
        flash(_("Vous êtes déconnecté."), "info")
        provider_logout = single_sign_on.end_session_url(id_token)
        if provider_logout:
            return redirect(provider_logout)
    return redirect(url_for("auth.login"))


@bp.route("/locale/<code>", methods=["POST"])
@public
def set_locale(code: str):
    """The language switch: for this session, and kept on the account when someone is logged in (it follows
    him to the next login, in any browser)."""
    if EmptyForm().validate_on_submit() and code in LOCALES:
        session["locale"] = code
        if current_user.is_authenticated:
            auth.set_locale(db.get_session(), current_user._get_current_object(), code)
    return redirect(safe_next(request.form.get("next")))


class AccountForm(FlaskForm):
    digest = BooleanField(_l("Recevoir le récapitulatif par e-mail"),
                          description=_l("Un message avec ce qui est nouveau ou à faire depuis le précédent : revues "
                                         "demandées, preuves approuvées ou rejetées, écarts, échéances."))


@bp.route("/account", methods=["GET", "POST"])
@access(*ALL_ROLES)
def account():
    user = current_user._get_current_object()
    form = AccountForm(digest=user.digest) if request.method == "GET" else AccountForm()
    if form.validate_on_submit():
        notifications.set_digest(db.get_session(), user, form.digest.data)
        flash(_("Vous recevrez le récapitulatif par e-mail.") if form.digest.data
              else _("Vous ne recevrez plus le récapitulatif par e-mail."), "info")
        return redirect(url_for("auth.account"))
    return render_template("web/account.html", form=form, mail_configured=bool(current_app.config.get("SMTP_HOST")),
                           cadence=current_app.config["DIGEST_CADENCE"], hour=current_app.config["DIGEST_HOUR"])


class NewPasswordFields:
    password = PasswordField(_l("Nouveau mot de passe"), validators=[DataRequired(), Length(max=MAX_LENGTH)])
    confirm = PasswordField(_l("Nouveau mot de passe, encore"), validators=[
        DataRequired(), EqualTo("password", message=_l("Les deux mots de passe ne sont pas identiques."))])


class ChangePasswordForm(FlaskForm, NewPasswordFields):
    current = PasswordField(_l("Mot de passe actuel"), validators=[DataRequired(), Length(max=MAX_LENGTH)])


class SetPasswordForm(FlaskForm, NewPasswordFields):
    pass


@bp.route("/account/password", methods=["GET", "POST"])
@access(*ALL_ROLES)
def change_password():
    """The account's own password change; also the one page open to someone whose password was set by another
    (web.enforce_access sends him here)."""
    user = current_user._get_current_object()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        # A wrong current password counts as a failed login; too many, and the refusal says to wait.
        with reported_errors(form=form) as outcome:
            passwords.change_own_password(db.get_session(), user, form.current.data, form.password.data,
                                          request.remote_addr or "", throttle_limits(), db.password_policy())
        if outcome.ok:
            login_user(user)  # this session goes on under the new session token; every other one has ended
            flash(_("Votre mot de passe est changé. Vos autres sessions sont fermées."), "info")
            return redirect(url_for("auth.account"))
    return render_template("web/password_change.html", form=form, min_length=db.password_policy().min_length,
                           forced=user.must_change_password)


@bp.route("/password/set/<token>", methods=["GET", "POST"])
@public
def set_password(token: str):
    """The page a one-time link opens: whoever holds the link chooses the account's password, once."""
    session_db = db.get_session()
    user = passwords.password_link_user(session_db, token)
    if user is None:  # unknown, used or expired: one answer, so that links cannot be probed
        return render_error(404, _("Ce lien n’est pas (ou plus) valable : il a déjà servi, il a expiré ou il est "
                                   "incomplet. Demandez-en un nouveau à un administrateur."))
    form = SetPasswordForm()
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            done = passwords.set_password_with_link(session_db, token, form.password.data, db.password_policy())
        if outcome.ok and done is not None:
            logout_user()  # whoever was logged in in this browser: the new password is to be used at once
            fresh_session()
            flash(_("Mot de passe enregistré : connectez-vous avec votre adresse e-mail et ce mot de passe."), "info")
            return redirect(url_for("auth.login"))
    return render_template("web/password_set.html", form=form, account=user, min_length=db.password_policy().min_length)
