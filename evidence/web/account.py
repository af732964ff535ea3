"""Login, logout, the language switch and the account page (the e-mail digest's opt-out)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from evidence import context as db
from evidence.core.access import access, public
from evidence.core.vocabulary import ALL_ROLES
from evidence.services import notifications
from evidence.services import users as auth
from evidence.web import LOCALES, browser_fingerprint, render_error
from evidence.web.forms import EmptyForm

bp = Blueprint("auth", __name__)  # endpoints auth.login, auth.logout, auth.account


class LoginForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


def throttle_limits() -> auth.ThrottleLimits:
    config = current_app.config
    return auth.ThrottleLimits(
        per_account=config["LOGIN_MAX_FAILURES"],
        per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        window=timedelta(seconds=config["LOGIN_WINDOW_SECONDS"]),
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL or a scheme-relative one (open redirect)."""
    if target and target.startswith("/") and "\\" not in target:  # browsers read "/\\host" as "//host"
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and not target.startswith("//"):
            return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        outcome = auth.attempt_login(
            db.get_session(), form.email.data, form.password.data, request.remote_addr or "", throttle_limits()
        )
        if outcome.throttled:
            return render_error(429)
        if outcome.user is not None:
            chosen = session.get("locale")  # picked on the login page, before anyone was known
            session.clear()  # a fresh session at login: nothing from before carries over (fixation)
            if chosen in LOCALES:
                auth.set_locale(db.get_session(), outcome.user, chosen)  # the latest choice is the account's
            if outcome.user.locale in LOCALES:
                session["locale"] = outcome.user.locale  # the account's language, wherever it was chosen
            session.permanent = True
            session["browser"] = browser_fingerprint()
            login_user(outcome.user)
            return redirect(safe_next(form.next.data))
        flash(_("Adresse e-mail ou mot de passe incorrect."), "error")
    return render_template("web/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@access(*ALL_ROLES)
def logout():
    if EmptyForm().validate_on_submit():
        auth.logout(db.get_session(), current_user._get_current_object())
        logout_user()
        session.clear()
        flash(_("Vous êtes déconnecté."), "info")
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
