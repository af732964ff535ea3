"""Sovereignty registers of a perimeter (chapter 19) and the verdict of each check."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from evidence import context as db
from evidence.core import rules
from evidence.core.access import access
from evidence.core.vocabulary import ALL_ROLES, COMPLIANCE_ROLES
from evidence.data.models import (
    DataLocation,
    OperationLocation,
    Perimeter,
    Shareholder,
    Site,
    Subcontractor,
    SubcontractorPerimeter,
)
from evidence.presentation import labels
from evidence.services import sovereignty
from evidence.web import perimeter_or_404, reported_errors
from evidence.web.clock import request_today
from evidence.web.forms import EmptyForm, choices

bp = Blueprint("sovereignty", __name__, url_prefix="/perimeters/<code>/sovereignty")


class SeatForm(EmptyForm):
    kind = SelectField(_l("Siège"), choices=choices(labels.SEAT.items()))
    address = StringField(_l("Adresse"), validators=[Length(max=300)])
    city = StringField(_l("Ville"), validators=[Length(max=100)])
    country = StringField(_l("Pays (ISO)"), validators=[DataRequired(), Length(max=2)], description=_l("ex. FR"))


class HolderForm(EmptyForm):
    name = StringField(_l("Détenteur"), validators=[DataRequired(), Length(max=200)])
    country = StringField(_l("Pays du siège (ISO)"), validators=[DataRequired(), Length(max=2)])
    kind = SelectField(_l("Nature"), choices=choices([("direct", _l("Détention directe")), ("ultimate", _l("Entité contrôlante ultime"))]))
    capital = StringField(_l("Capital (%)"), default="0", validators=[Length(max=10)])
    voting = StringField(_l("Droits de vote (%)"), default="0", validators=[Length(max=10)])
    veto = BooleanField(_l("Droit de veto"))
    board_majority = BooleanField(_l("Nomme la majorité du conseil"))
    notes = TextAreaField(_l("Notes"), validators=[Length(max=5000)])


class SubcontractorForm(EmptyForm):
    name = StringField(_l("Sous-traitant"), validators=[DataRequired(), Length(max=200)])
    country = StringField(_l("Pays du siège (ISO)"), validators=[DataRequired(), Length(max=2)])
    service = StringField(_l("Prestation"), validators=[Length(max=300)])
    data_access = BooleanField(_l("Peut techniquement accéder aux données des commanditaires"))
    access_justification = TextAreaField(_l("Pourquoi il ne le peut pas"), validators=[Length(max=5000)])
    qualified = BooleanField(_l("Qualifié SecNumCloud"))
    contract_ref = StringField(_l("Référence du contrat"), validators=[Length(max=100)])
    perimeters = SelectMultipleField(_l("Périmètres servis (aucun : tous)"), coerce=int)


class SiteForm(EmptyForm):
    kind = StringField(_l("Nature du site"), validators=[DataRequired(), Length(max=60)], description=_l("centre de données, site de sauvegarde, SOC…"))
    city = StringField(_l("Ville"), validators=[Length(max=100)])
    country = StringField(_l("Pays (ISO)"), validators=[DataRequired(), Length(max=2)])


class DataForm(EmptyForm):
    category = SelectField(_l("Données"), choices=choices(labels.DATA_CATEGORY.items()))
    activity = SelectField(_l("Activité"), choices=choices(labels.DATA_ACTIVITY.items()))
    country = StringField(_l("Pays (ISO)"), validators=[DataRequired(), Length(max=2)])


class OperationForm(EmptyForm):
    operation = SelectField(_l("Opération"), choices=choices(labels.OPERATION.items()))
    country = StringField(_l("Réalisée depuis (ISO)"), validators=[DataRequired(), Length(max=2)])
    allowed_operations = TextAreaField(_l("Opérations permises depuis ce pays"), validators=[Length(max=5000)],
                                       description=_l("Obligatoire pour un support hors UE (19.2.e)."))



def _subcontractor_form(session, obj=None) -> SubcontractorForm:
    form = SubcontractorForm(obj=obj) if obj is not None and request.method == "GET" else SubcontractorForm()
    form.perimeters.choices = choices((p.id, p.code) for p in session.exec(select(Perimeter).order_by(Perimeter.code)))
    return form


@bp.route("/")
@access(*ALL_ROLES)
def page(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    regs = sovereignty.registers(session, perimeter)
    return render_template(
        "web/sovereignty/page.html", perimeter=perimeter, regs=regs, checks=sovereignty.checks(regs),
        eu=sovereignty.eu_members(), labels=labels, percent=rules.percent, can_edit=current_user.role in COMPLIANCE_ROLES,
        seat_form=SeatForm(), holder_form=HolderForm(), subcontractor_form=_subcontractor_form(session),
        site_form=SiteForm(), data_form=DataForm(), operation_form=OperationForm(),
    )


def _form_errors(code: str, form):
    flash("; ".join(f"{form[name].label.text}: {' '.join(errors)}" for name, errors in form.errors.items()), "error")
    return redirect(url_for("sovereignty.page", code=code))


def _record(code: str, form, write, message):
    """The shape of every "add to a register" post: validate, write (a refusal becomes a message), go back."""
    perimeter = perimeter_or_404(code)
    if not form.validate_on_submit():
        return _form_errors(code, form)
    with reported_errors() as outcome:
        write(db.get_session(), perimeter, form)
    if outcome.ok:
        flash(message, "info")
    return redirect(url_for("sovereignty.page", code=code))


@bp.route("/seat", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def seat(code: str):
    return _record(code, SeatForm(), lambda session, _perimeter, f: sovereignty.set_seat(
        session, current_user, f.kind.data, f.country.data, f.city.data, f.address.data, today=request_today()),
        _("Siège enregistré."))


@bp.route("/holders", methods=["POST"], defaults={"holder_id": None})
@bp.route("/holders/<int:holder_id>", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def holder(code: str, holder_id):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = session.get(Shareholder, holder_id) if holder_id else None
    if holder_id and item is None:
        abort(404)
    form = HolderForm(obj=item) if item is not None and request.method == "GET" else HolderForm()
    if request.method == "GET":
        form.capital.data, form.voting.data = f"{item.capital_bp / 100:g}", f"{item.voting_bp / 100:g}"
        return render_template("web/sovereignty/edit.html", perimeter=perimeter, form=form, title=item.name)
    if not form.validate_on_submit():
        return _form_errors(code, form)
    with reported_errors() as outcome:
        sovereignty.save_holder(session, current_user, sovereignty.HolderData(
            name=form.name.data, country=form.country.data, capital=form.capital.data, voting=form.voting.data,
            kind=form.kind.data, veto=form.veto.data, board_majority=form.board_majority.data, notes=form.notes.data),
            item, today=request_today())
    if outcome.ok:
        flash(_("Actionnariat enregistré."), "info")
    return redirect(url_for("sovereignty.page", code=code))


@bp.route("/subcontractors", methods=["POST"], defaults={"subcontractor_id": None})
@bp.route("/subcontractors/<int:subcontractor_id>", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def subcontractor(code: str, subcontractor_id):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = session.get(Subcontractor, subcontractor_id) if subcontractor_id else None
    if subcontractor_id and item is None:
        abort(404)
    form = _subcontractor_form(session, item)
    if request.method == "GET":
        form.perimeters.data = list(session.exec(select(SubcontractorPerimeter.perimeter_id).where(
            SubcontractorPerimeter.subcontractor_id == item.id)))
        return render_template("web/sovereignty/edit.html", perimeter=perimeter, form=form, title=item.name)
    if not form.validate_on_submit():
        return _form_errors(code, form)
    with reported_errors() as outcome:
        sovereignty.save_subcontractor(session, current_user, sovereignty.SubcontractorData(
            name=form.name.data, country=form.country.data, service=form.service.data, data_access=form.data_access.data,
            access_justification=form.access_justification.data, qualified=form.qualified.data,
            contract_ref=form.contract_ref.data, perimeter_ids=tuple(form.perimeters.data or ())), item, today=request_today())
    if outcome.ok:
        flash(_("Sous-traitant enregistré."), "info")
    return redirect(url_for("sovereignty.page", code=code))


@bp.route("/sites", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def site(code: str):
    return _record(code, SiteForm(), lambda session, perimeter, f: sovereignty.add_site(
        session, current_user, perimeter, f.kind.data, f.city.data, f.country.data), _("Site ajouté."))


@bp.route("/data", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def data(code: str):
    return _record(code, DataForm(), lambda session, perimeter, f: sovereignty.add_data_location(
        session, current_user, perimeter, f.category.data, f.activity.data, f.country.data, today=request_today()),
        _("Localisation ajoutée."))


@bp.route("/operations", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def operation(code: str):
    return _record(code, OperationForm(), lambda session, perimeter, f: sovereignty.add_operation(
        session, current_user, perimeter, f.operation.data, f.country.data, f.allowed_operations.data, today=request_today()),
        _("Opération ajoutée."))


REMOVABLE = {"holder": Shareholder, "subcontractor": Subcontractor, "site": Site, "data": DataLocation,
             "operation": OperationLocation}


@bp.route("/<any(holder, subcontractor, site, data, operation):kind>/<int:row_id>/delete", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def delete(code: str, kind: str, row_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    row = session.get(REMOVABLE[kind], row_id) or abort(404)
    if getattr(row, "perimeter_id", perimeter.id) != perimeter.id:
        abort(404)
    if EmptyForm().validate_on_submit():
        sovereignty.delete_row(session, current_user, row, today=request_today())
        flash(_("Ligne supprimée."), "info")
    return redirect(url_for("sovereignty.page", code=code))
