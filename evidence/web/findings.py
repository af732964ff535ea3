"""Evaluator findings and the action plan of a perimeter."""
from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select
from wtforms import DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from evidence import context as db
from evidence.core.access import access
from evidence.core.vocabulary import ALL_ROLES, COMPLIANCE_ROLES, WRITER_ROLES
from evidence.data.models import (
    Action,
    ActionControl,
    ActionFinding,
    ActionRequirement,
    Control,
    Finding,
    Requirement,
    User,
)
from evidence.presentation import labels
from evidence.services.findings import (
    ActionData,
    FindingData,
    action_overdue,
    can_update_action,
    create_finding,
    finding_overdue,
    save_action,
    update_finding,
)
from evidence.services.perimeters import get_item
from evidence.web import perimeter_or_404, reported_errors
from evidence.web.clock import request_today
from evidence.web.forms import EmptyForm, OwnerField, choices

bp = Blueprint("findings", __name__, url_prefix="/perimeters/<code>")

# The risk that remains while the action is not done, as the team rates it (the dossier's words too).
RESIDUAL_RISK_LABELS = labels.RESIDUAL_RISK


def _requirement_id(session, perimeter, ref: str):
    ref = (ref or "").strip()
    if not ref:
        return None
    return get_item(session, perimeter, ref).id


class FindingForm(EmptyForm):
    severity = SelectField(_l("Gravité"), choices=choices(labels.SEVERITY.items()))
    requirement = StringField(_l("Point du référentiel"), validators=[Length(max=50)], description=_l("ex. 12.4.a"))
    text = TextAreaField(_l("Constat"), validators=[DataRequired(), Length(max=20000)])
    raised_on = DateField(_l("Relevé le"), validators=[Optional()])
    due_date = DateField(_l("Échéance"), validators=[Optional()])
    response = TextAreaField(_l("Réponse du prestataire"), validators=[Length(max=20000)])
    status = SelectField(_l("État"), choices=choices(labels.FINDING_STATUS.items()))

    def data_object(self, session, perimeter) -> FindingData:
        return FindingData(
            severity=self.severity.data, text=self.text.data, requirement_id=_requirement_id(session, perimeter, self.requirement.data),
            raised_on=self.raised_on.data, due_date=self.due_date.data, response=self.response.data, status=self.status.data,
        )


class ActionForm(EmptyForm):
    title = StringField(_l("Action"), validators=[DataRequired(), Length(max=300)])
    description = TextAreaField(_l("Description"), validators=[Length(max=20000)])
    owner = OwnerField(_l("Responsable"))
    due_date = DateField(_l("Échéance"), validators=[Optional()])
    status = SelectField(_l("État"), choices=choices(labels.ACTION_STATUS.items()))
    residual_risk = SelectField(_l("Risque résiduel"), choices=choices(RESIDUAL_RISK_LABELS.items()), validate_choice=False,
                                description=_l("Le risque qui demeure tant que l'action n'est pas faite."))
    requirements = StringField(_l("Points du référentiel"), validators=[Length(max=2000)], description=_l("ex. 12.4.a; 9.2.c"))
    controls = SelectMultipleField(_l("Mesures"), coerce=int)
    findings = SelectMultipleField(_l("Constats"), coerce=int)

    def fill_choices(self, session, perimeter):
        self.owner.choices = choices([("", _("— personne —"))] + [
            (u.id, f"{u.name} <{u.email}>") for u in session.exec(select(User).where(User.active).order_by(User.name))
        ])
        self.controls.choices = choices((c.id, f"{c.ref} · {c.title}") for c in session.exec(select(Control).order_by(Control.ref)))
        self.findings.choices = choices(
            (f.id, f"#{f.id} {f.text[:60]}") for f in session.exec(select(Finding).where(Finding.perimeter_id == perimeter.id))
        )

    def data_object(self, session, perimeter) -> ActionData:
        refs = [r.strip() for r in (self.requirements.data or "").replace(",", ";").split(";") if r.strip()]
        return ActionData(
            title=self.title.data, description=self.description.data, owner_id=self.owner.data, due_date=self.due_date.data,
            status=self.status.data, requirement_ids=[_requirement_id(session, perimeter, r) for r in refs],
            control_ids=list(self.controls.data or []), finding_ids=list(self.findings.data or []),
            residual_risk=self.residual_risk.data or "",
        )


class ActionStatusForm(EmptyForm):
    status = SelectField(_l("État"), choices=choices(labels.ACTION_STATUS.items()))


@bp.route("/findings", methods=["GET", "POST"])
@access(*ALL_ROLES, write=COMPLIANCE_ROLES)
def findings(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = FindingForm()
    if form.validate_on_submit():
        with reported_errors() as outcome:
            create_finding(session, current_user, perimeter, form.data_object(session, perimeter))
        if outcome.ok:
            flash(_("Constat enregistré."), "info")
            return redirect(url_for("findings.findings", code=perimeter.code))
    rows = session.exec(
        select(Finding, Requirement).outerjoin(Requirement, Requirement.id == Finding.requirement_id)
        .where(Finding.perimeter_id == perimeter.id).order_by(Finding.status, Finding.severity, Finding.id)
    ).all()
    return render_template("web/findings/findings.html", perimeter=perimeter, rows=rows, form=form, today=request_today(),
                           overdue=finding_overdue, severity=labels.SEVERITY, statuses=labels.FINDING_STATUS, can_edit=current_user.role in COMPLIANCE_ROLES)


@bp.route("/findings/<int:finding_id>", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def finding(code: str, finding_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = session.get(Finding, finding_id)
    if item is None or item.perimeter_id != perimeter.id:
        abort(404)
    form = FindingForm(obj=item) if request.method == "GET" else FindingForm()
    if request.method == "GET" and item.requirement_id:
        form.requirement.data = session.get(Requirement, item.requirement_id).ref
    if form.validate_on_submit():
        with reported_errors() as outcome:
            update_finding(session, current_user, item, form.data_object(session, perimeter))
        if outcome.ok:
            flash(_("Constat enregistré."), "info")
            return redirect(url_for("findings.findings", code=perimeter.code))
    return render_template("web/findings/finding.html", perimeter=perimeter, item=item, form=form)


@bp.route("/actions", methods=["GET", "POST"])
@access(*ALL_ROLES, write=COMPLIANCE_ROLES)
def actions(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = ActionForm()
    form.fill_choices(session, perimeter)
    if form.validate_on_submit():
        with reported_errors() as outcome:
            save_action(session, current_user, perimeter, form.data_object(session, perimeter))
        if outcome.ok:
            flash(_("Action ajoutée au plan."), "info")
            return redirect(url_for("findings.actions", code=perimeter.code))
    rows = session.exec(
        select(Action, User).outerjoin(User, User.id == Action.owner_id).where(Action.perimeter_id == perimeter.id)
        .order_by(Action.status, Action.due_date, Action.id)
    ).all()
    ids = [a.id for a, _u in rows] or [-1]
    links = defaultdict(list)
    for action_id, ref in session.exec(select(ActionRequirement.action_id, Requirement.ref).join(
            Requirement, Requirement.id == ActionRequirement.requirement_id).where(ActionRequirement.action_id.in_(ids))):
        links[action_id].append(ref)
    for action_id, ref in session.exec(select(ActionControl.action_id, Control.ref).join(
            Control, Control.id == ActionControl.control_id).where(ActionControl.action_id.in_(ids))):
        links[action_id].append(ref)
    for action_id, finding_id in session.exec(select(ActionFinding.action_id, ActionFinding.finding_id).where(ActionFinding.action_id.in_(ids))):
        links[action_id].append(f"#{finding_id}")
    return render_template("web/findings/actions.html", perimeter=perimeter, rows=rows, form=form, links=links,
                           today=request_today(), overdue=action_overdue, statuses=labels.ACTION_STATUS,
                           risks=RESIDUAL_RISK_LABELS, can_plan=current_user.role in COMPLIANCE_ROLES, can_update=can_update_action)


@bp.route("/actions/<int:action_id>", methods=["GET", "POST"])
@access(*WRITER_ROLES)
def action(code: str, action_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = session.get(Action, action_id)
    if item is None or item.perimeter_id != perimeter.id:
        abort(404)
    if not can_update_action(current_user, item):
        abort(403)
    if current_user.role not in COMPLIANCE_ROLES:  # an owner reports progress; planning stays with the managers
        form = ActionStatusForm(obj=item) if request.method == "GET" else ActionStatusForm()
        if form.validate_on_submit():
            data = ActionData(title=item.title, description=item.description, owner_id=item.owner_id,
                              due_date=item.due_date, status=form.status.data)
            save_action(session, current_user, perimeter, data, item)
            flash(_("Action enregistrée."), "info")
            return redirect(url_for("findings.actions", code=perimeter.code))
        return render_template("web/findings/action.html", perimeter=perimeter, item=item, form=form, full=False)
    form = ActionForm(obj=item) if request.method == "GET" else ActionForm()
    form.fill_choices(session, perimeter)
    if request.method == "GET":
        form.owner.data = item.owner_id
        form.requirements.data = "; ".join(session.exec(select(Requirement.ref).join(
            ActionRequirement, ActionRequirement.requirement_id == Requirement.id).where(ActionRequirement.action_id == item.id)))
        form.controls.data = list(session.exec(select(ActionControl.control_id).where(ActionControl.action_id == item.id)))
        form.findings.data = list(session.exec(select(ActionFinding.finding_id).where(ActionFinding.action_id == item.id)))
    if form.validate_on_submit():
        with reported_errors() as outcome:
            save_action(session, current_user, perimeter, form.data_object(session, perimeter), item)
        if outcome.ok:
            flash(_("Action enregistrée."), "info")
            return redirect(url_for("findings.actions", code=perimeter.code))
    return render_template("web/findings/action.html", perimeter=perimeter, item=item, form=form, full=True)
