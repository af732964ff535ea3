"""Administration: REST API tokens (admins): the list, a new token (its secret shown on the result page, this once),
revocation. The service (services.api_tokens) holds every rule; the command line calls it too."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from evidence import context as db
from evidence.core.access import access
from evidence.core.rules.api_tokens import ACTIVE, EXPIRED, REVOKED, SUSPENDED
from evidence.core.vocabulary import API_TOKEN_ROLES
from evidence.data.models import ApiToken
from evidence.presentation import labels
from evidence.services import api_tokens
from evidence.services.perimeters import list_perimeters
from evidence.web import confirm, reported_errors
from evidence.web.forms import CheckboxesField, EmptyForm, choices

bp = Blueprint("admin_tokens", __name__, url_prefix="/admin/tokens")

STATUS_LABELS = {ACTIVE: _l("Actif"), REVOKED: _l("Révoqué"), EXPIRED: _l("Expiré"),
                 SUSPENDED: _l("Suspendu (compte désactivé ou rôle changé)")}


class NewTokenForm(FlaskForm):
    name = StringField(_l("Nom du jeton"), validators=[DataRequired(), Length(max=80)],
                       description=_l("Minuscules, chiffres, points, tirets (p. ex. ci-preuves) : il nomme le jeton "
                                      "dans le journal d'audit."))
    role = SelectField(_l("Rôle"), choices=choices((r, labels.ROLE[r]) for r in API_TOKEN_ROLES),
                       default="contributor")
    user = StringField(_l("Au nom de (adresse e-mail, facultatif)"), validators=[Optional(), Length(max=254)],
                       description=_l("Vide : un compte de service propre au jeton. Sinon, le jeton agit au nom de "
                                      "cette personne, avec exactement son rôle : choisissez-le ci-dessus."))
    perimeters = CheckboxesField(_l("Limité aux périmètres"), validate_choice=False,
                                 description=_l("Rien de coché : tous les périmètres. Le jeton d’un auditeur ou "
                                                "d’un évaluateur ne lit en plus que les périmètres qui lui sont "
                                                "accordés, et plus rien après leur fin."))
    expires_days = IntegerField(_l("Valable (jours)"), validators=[Optional(), NumberRange(min=1, max=3660)])


def tokens_page(form: NewTokenForm, issued: api_tokens.IssuedToken | None = None):
    session = db.get_session()
    return render_template("web/admin/tokens.html", rows=api_tokens.list_tokens(session), form=form,
                           issued=issued, status_labels=STATUS_LABELS, role_labels=labels.ROLE,
                           default_days=current_app.config["API_TOKEN_DAYS"])


def _form() -> NewTokenForm:
    form = NewTokenForm()
    form.perimeters.choices = choices((p.code, f"{p.code} · {p.name}") for p in list_perimeters(db.get_session()))
    return form


@bp.route("/", methods=["GET", "POST"])
@access("admin")
def index():
    form = _form()
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            issued = api_tokens.create_token(
                db.get_session(), current_user, form.name.data, form.role.data,
                user_email=form.user.data or None, perimeters=form.perimeters.data or (),
                expires_days=form.expires_days.data, default_days=current_app.config["API_TOKEN_DAYS"])
        if outcome.ok:
            # Shown in this page, never put in a redirect's flash: the session cookie would carry it.
            return tokens_page(_form_blank(), issued)
    return tokens_page(form)


def _form_blank() -> NewTokenForm:
    form = NewTokenForm(formdata=None)
    form.perimeters.choices = _form().perimeters.choices
    return form


@bp.route("/<int:token_id>/revoke", methods=["POST"])
@access("admin")
def revoke(token_id: int):
    if EmptyForm().validate_on_submit():
        token = db.get_session().get(ApiToken, token_id) or abort(404)
        if (confirmation := confirm.ask(
                _("Révoquer le jeton d’API « %(name)s » ?", name=token.name),
                consequence=_("Tout appel fait avec lui est refusé dès maintenant ; ce qu’il a fait reste au journal "
                              "d'audit."), action=_("Révoquer"), back=url_for("admin_tokens.index"))):
            return confirmation
        with reported_errors() as outcome:
            api_tokens.revoke_token(db.get_session(), current_user, token.name)
        if outcome.ok:
            flash(_("Jeton « %(name)s » révoqué.", name=token.name), "info")
    return redirect(url_for("admin_tokens.index"))
