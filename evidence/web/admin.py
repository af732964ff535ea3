"""Administration: users (admins) and the audit log (admins and managers)."""
from __future__ import annotations

from datetime import datetime, time, timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func
from sqlmodel import select
from wtforms import DateField, EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from evidence import context as db
from evidence.core.access import access
from evidence.core.rules.token_scope import grant_running
from evidence.core.vocabulary import COMPLIANCE_ROLES, EVALUATOR, MAX_NAME, SCOPED_ROLES
from evidence.data import audit
from evidence.data.models import ROLES, AuditEvent, User
from evidence.ops.verify import chain_words
from evidence.presentation import labels
from evidence.services import grants, passwords, second_factors, single_sign_on
from evidence.services import users as auth
from evidence.services.perimeters import list_perimeters
from evidence.web import confirm, reported_errors, say
from evidence.web.clock import request_today
from evidence.web.forms import CheckboxesField, EmptyForm, choices
from evidence.web.listing import page_number

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = labels.ROLE
PAGE_SIZE = 50


def role_choices() -> list[SelectChoice]:
    return choices((role, ROLE_LABELS[role]) for role in ROLES)


class NewUserForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=MAX_NAME)])
    # The role most new accounts get; making an admin is a choice, never a default.
    role = SelectField(_l("Rôle"), choices=role_choices(), default="contributor")
    perimeters = CheckboxesField(_l("Périmètres lus"), validate_choice=False, description=_l(
        "Pour un auditeur ou un évaluateur : un évaluateur ne lit que ceux cochés (un au moins) ; un auditeur sans "
        "périmètre coché les lit tous."))
    until = DateField(_l("Jusqu’au"), validators=[Optional()],
                      description=_l("Dernier jour où il les lit ; vide : sans fin."))


class GrantsForm(FlaskForm):
    """A user's row: the perimeters an auditor or an evaluator reads, replacing those he had."""

    perimeters = CheckboxesField(_l("Périmètres lus"), validate_choice=False)
    until = DateField(_l("Jusqu’au"), validators=[Optional()])


class RoleForm(FlaskForm):
    role = SelectField(_l("Rôle"), choices=role_choices())


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    actor = StringField(_l("Acteur"), validators=[Optional(), Length(max=254)])
    object = StringField(_l("Objet"), validators=[Optional(), Length(max=64)])
    date_from = DateField(_l("Du"), validators=[Optional()])
    date_to = DateField(_l("Au"), validators=[Optional()])


def _user_or_404(user_id: int) -> User:
    user = db.get_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users", methods=["GET", "POST"])
@access("admin")
def users():
    form = NewUserForm()
    if form.validate_on_submit():
        session, codes, today = db.get_session(), form.perimeters.data or [], request_today()
        with reported_errors(form=form) as outcome:
            # Checked before the account exists: a refused perimeter leaves no half-made evaluator behind.
            grants.check_new(session, form.role.data, form.email.data, codes, form.until.data, today=today)
            link = passwords.invite_user(session, current_user, form.email.data, form.name.data,
                                         form.role.data, db.password_policy())
            if codes:
                grants.set_grants(session, current_user, link.user, codes, form.until.data, today=today)
        if outcome.ok:
            return users_page(NewUserForm(formdata=None), link=link, created=True)
    return users_page(form)


@bp.route("/users/<int:user_id>/grants", methods=["POST"])
@access("admin")
def set_grants(user_id: int):
    """The perimeters an auditor or an evaluator reads, and until when (services.grants)."""
    form = GrantsForm()
    if form.validate_on_submit():
        user = _user_or_404(user_id)
        with reported_errors() as outcome:
            grants.set_grants(db.get_session(), current_user, user, form.perimeters.data or [], form.until.data,
                              today=request_today())
        if outcome.ok:
            flash(_("Périmètres de %(name)s enregistrés.", name=user.name), "info")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
    return redirect(url_for("admin.users"))


def perimeters_words(user: User, lines: list[grants.GrantLine], today) -> str:
    """« iaas-fr1 jusqu’au 30 juin 2026, paas-fr2 », « tous » (an auditor granted none) or « aucun » (an evaluator
    granted none); an ended grant says so. Empty for the team, which reads every perimeter by its role."""
    from evidence.presentation.typography import long_date

    if user.role not in SCOPED_ROLES:
        return ""
    if not lines:
        return _("aucun") if user.role == EVALUATOR else _("tous")
    words = []
    for line in lines:
        text = _("%(code)s jusqu’au %(date)s", code=line.code, date=long_date(line.until)) if line.until else line.code
        words.append(text if grant_running(line.until, today) else _("%(grant)s (terminé)", grant=text))
    return ", ".join(words)


def users_page(form: NewUserForm, link: passwords.PasswordLink | None = None, created: bool = False):
    """The users page; after a creation or a new link, with the link shown this once (not put in a redirect's
    flash: the session cookie would carry it). Nobody reads a password: the account's owner chooses his own."""
    from evidence.web.single_sign_on import configured as sso_configured

    session = db.get_session()
    people = auth.list_users(session)
    perimeters = list_perimeters(session)
    form.perimeters.choices = choices((p.code, f"{p.code} · {p.name}") for p in perimeters)
    granted, today = grants.lines_by_user(session), request_today()
    return render_template(
        "web/admin/users.html", users=people, form=form, perimeters=perimeters, granted=granted,
        scoped_roles=SCOPED_ROLES, perimeters_words=lambda user: perimeters_words(user, granted.get(user.id, []), today),
        # Whom the identity provider logs in; shown while single sign-on is on, or an account is still bound to it.
        sso_column=sso_configured() is not None or any(user.oidc_subject for user in people),
        role_form=RoleForm, active_form=EmptyForm(), role_labels=ROLE_LABELS, is_oneself=auth.is_oneself,
        with_second_factor=second_factors.users_with_second_factor(db.get_session()),
        link=link, link_url=link and url_for("auth.set_password", token=link.token, _external=True), created=created,
    )


@bp.route("/users/<int:user_id>/password-link", methods=["POST"])
@access("admin")
def password_link(user_id: int):
    """A new one-time link for an account (forgotten password, expired link); earlier unused links stop working,
    the current password keeps working until the link is used."""
    if EmptyForm().validate_on_submit():
        user = _user_or_404(user_id)
        with reported_errors() as outcome:
            link = passwords.issue_password_link(db.get_session(), current_user, user,
                                                 db.password_policy())
        if outcome.ok:
            return users_page(NewUserForm(formdata=None), link=link)
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@access("admin")
def set_role(user_id: int):
    form = RoleForm()
    if form.validate_on_submit():
        session = db.get_session()
        user = _user_or_404(user_id)
        if user.role != form.role.data and not auth.is_oneself(current_user, user) and (confirmation := confirm.ask(
                _("Changer le rôle de %(name)s : %(before)s → %(after)s ?", name=user.name,
                  before=ROLE_LABELS[user.role], after=ROLE_LABELS[form.role.data]),
                consequence=_("Ses sessions sont fermées : %(name)s se reconnecte avec les droits de son nouveau rôle.",
                              name=user.name), action=_("Changer le rôle"), back=url_for("admin.users"))):
            return confirmation
        with reported_errors():
            auth.set_role(session, current_user, user, form.role.data)
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@access("admin")
def set_active(user_id: int):
    if EmptyForm().validate_on_submit():
        session = db.get_session()
        user = _user_or_404(user_id)
        if user.active and not auth.is_oneself(current_user, user) and (confirmation := confirm.ask(
                _("Désactiver le compte de %(name)s (%(email)s) ?", name=user.name, email=user.email),
                consequence=_("Ses sessions sont fermées et il ne peut plus se connecter tant qu’un administrateur ne "
                              "l’a pas réactivé ; ce qu’il possède garde son responsable."),
                action=_("Désactiver"), back=url_for("admin.users"))):
            return confirmation
        with reported_errors():
            auth.set_active(session, current_user, user, not user.active)
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/second-factors/reset", methods=["POST"])
@access("admin")
def reset_second_factors(user_id: int):
    """A lost phone or key: the account's second factors and recovery codes go, and its sessions end."""
    if EmptyForm().validate_on_submit():
        user = _user_or_404(user_id)
        if not auth.is_oneself(current_user, user) and (confirmation := confirm.ask(
                _("Réinitialiser les seconds facteurs de %(name)s (%(email)s) ?", name=user.name, email=user.email),
                consequence=_("Son application d’authentification, ses clés de sécurité et ses codes de récupération "
                              "sont supprimés et ses sessions fermées ; si son rôle demande un second facteur, il en "
                              "enregistre un nouveau à sa prochaine connexion."),
                action=_("Réinitialiser"), back=url_for("admin.users"))):
            return confirmation
        with reported_errors() as outcome:
            second_factors.reset_second_factors(db.get_session(), current_user, user)
        if outcome.ok:
            flash(_("Seconds facteurs de %(name)s réinitialisés ; ses sessions sont fermées.", name=user.name), "info")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/sso/unbind", methods=["POST"])
@access("admin")
def unbind_sso(user_id: int):
    """Free an account from the provider's identity it is bound to; its password comes back only through the
    one-time link shown here, once (services.single_sign_on.unbind)."""
    if EmptyForm().validate_on_submit():
        user = _user_or_404(user_id)
        if user.oidc_subject and not auth.is_oneself(current_user, user) and (confirmation := confirm.ask(
                _("Délier le compte de %(name)s (%(email)s) de son identité chez %(issuer)s ?", name=user.name,
                  email=user.email, issuer=user.oidc_issuer),
                consequence=_("Ses sessions sont fermées et son mot de passe ne sert plus : il en choisit un nouveau "
                              "avec le lien à usage unique affiché ensuite. Sa prochaine connexion par "
                              "l’authentification unique le lie de nouveau, par son adresse e-mail vérifiée."),
                action=_("Délier"), back=url_for("admin.users"))):
            return confirmation
        with reported_errors() as outcome:
            link = single_sign_on.unbind(db.get_session(), current_user, user, db.password_policy())
        if outcome.ok:
            flash(_("Compte de %(name)s délié de l’authentification unique ; ses sessions sont fermées.",
                    name=user.name), "info")
            if link is not None:
                return users_page(NewUserForm(formdata=None), link=link)
    return redirect(url_for("admin.users"))


@bp.route("/audit")
@access(*COMPLIANCE_ROLES)
def audit_log():
    session = db.get_session()
    form = AuditFilterForm(request.args)
    query = select(AuditEvent)
    if form.validate():
        if form.actor.data:
            query = query.where(AuditEvent.actor.contains(form.actor.data.strip().lower(), autoescape=True))
        if form.object.data:
            term = form.object.data.strip()
            query = query.where(
                AuditEvent.object_id.contains(term, autoescape=True) | (AuditEvent.object_type == term)
            )
        if form.date_from.data:
            query = query.where(AuditEvent.at >= datetime.combine(form.date_from.data, time.min, timezone.utc))
        if form.date_to.data:
            query = query.where(AuditEvent.at <= datetime.combine(form.date_to.data, time.max, timezone.utc))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = page_number()
    events = session.exec(query.order_by(AuditEvent.seq.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "web/admin/audit.html", form=form, events=events, total=total, page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), args=args,
    )


@bp.route("/audit/verify", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def verify_audit():
    if EmptyForm().validate_on_submit():
        count, problem = audit.verify(db.get_session())
        if problem is None:
            flash(_("Chaîne d'audit intègre : %(count)d événements vérifiés.", count=count), "info")
        else:
            flash(_("Chaîne d'audit rompue : %(problem)s", problem=say(chain_words(problem))), "error")
    return redirect(url_for("admin.audit_log"))
