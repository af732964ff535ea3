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
from evidence.core.vocabulary import COMPLIANCE_ROLES
from evidence.data import audit
from evidence.data.models import ROLES, AuditEvent, User
from evidence.services import users as auth
from evidence.web.forms import EmptyForm, choices
from evidence.web.listing import page_number

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {
    "admin": _l("Administrateur"),
    "manager": _l("Responsable conformité"),
    "contributor": _l("Contributeur"),
    "auditor": _l("Auditeur"),
}
PAGE_SIZE = 50


def role_choices() -> list[SelectChoice]:
    return choices((role, ROLE_LABELS[role]) for role in ROLES)


class NewUserForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Rôle"), choices=role_choices())


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
    session = db.get_session()
    form = NewUserForm()
    if form.validate_on_submit():
        password = auth.generate_password()
        try:
            user = auth.create_user(session, current_user, form.email.data, form.name.data, form.role.data, password)
        except auth.UserError as error:
            session.rollback()
            flash(str(error), "error")
        else:
            # Shown once, to the admin who hands it over; only its hash is kept.
            flash(_("Compte %(email)s créé. Mot de passe initial : %(password)s", email=user.email, password=password), "secret")
            return redirect(url_for("admin.users"))
    return render_template(
        "web/admin/users.html", users=auth.list_users(session), form=form,
        role_form=RoleForm, active_form=EmptyForm(), role_labels=ROLE_LABELS,
    )


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@access("admin")
def set_role(user_id: int):
    form = RoleForm()
    if form.validate_on_submit():
        session = db.get_session()
        try:
            auth.set_role(session, current_user, _user_or_404(user_id), form.role.data)
        except auth.UserError as error:
            session.rollback()
            flash(str(error), "error")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@access("admin")
def set_active(user_id: int):
    if EmptyForm().validate_on_submit():
        session = db.get_session()
        user = _user_or_404(user_id)
        try:
            auth.set_active(session, current_user, user, not user.active)
        except auth.UserError as error:
            session.rollback()
            flash(str(error), "error")
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
            flash(_("Chaîne d'audit rompue : %(problem)s", problem=str(problem)), "error")
    return redirect(url_for("admin.audit_log"))
