"""Evidence requests ("demandes de pièces") of a perimeter: the list (filters, overdue marked, XLSX working sheet),
raising one, its page with its answers, and the forms that answer, accept or reopen it (services.requests)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from evidence import context as db
from evidence.core.access import access
from evidence.core.errors import EvidenceError
from evidence.core.rules import evaluation
from evidence.core.text import plain_id
from evidence.core.vocabulary import (
    ALL_ROLES,
    COMPLIANCE_ROLES,
    EVALUATOR,
    MAX_JUSTIFICATION,
    REQUEST_STATUSES,
    TEAM_ROLES,
)
from evidence.data.models import Control, ControlPerimeter, EvidenceRequest
from evidence.exports import requests as sheet
from evidence.presentation import labels
from evidence.services import campaigns as campaign_service
from evidence.services import requests as service
from evidence.services.perimeters import get_item
from evidence.web import current_role, current_scope, perimeter_or_404, reported_errors, select_locale
from evidence.web.clock import request_today
from evidence.web.forms import VersionedForm, choices
from evidence.web.listing import id_arg

bp = Blueprint("requests", __name__, url_prefix="/perimeters/<code>")

RAISERS = (EVALUATOR, *COMPLIANCE_ROLES)  # rules.evaluation.may_raise; the judging side is among them too


class RequestForm(VersionedForm):
    requirement = StringField(_l("Point du référentiel"), validators=[Length(max=50)], description=_l("ex. 12.4.a"))
    control = SelectField(_l("Mesure"), validate_choice=False)
    text = TextAreaField(_l("Pièce demandée"), validators=[DataRequired(), Length(max=MAX_JUSTIFICATION)])
    due_date = DateField(_l("Échéance"), validators=[Optional()])


class AnswerForm(VersionedForm):
    evidence = StringField(_l("Preuves qui répondent"), validators=[DataRequired(), Length(max=2000)],
                           description=_l("Leurs références, séparées par « ; », ex. EV-0012; EV-0040"))


class ReopenForm(VersionedForm):
    reason = TextAreaField(_l("Motif de la réouverture"), validators=[DataRequired(), Length(max=MAX_JUSTIFICATION)])


def request_or_404(perimeter, request_id: int) -> EvidenceRequest:
    """The request in the address, of this perimeter (which perimeter_or_404 checked the reader reaches)."""
    try:
        return service.get_request(db.get_session(), perimeter, request_id)
    except EvidenceError:
        abort(404)


def answered_request(session):
    """The evidence request that the new-evidence page's ?request=ID names (« Répondre avec une nouvelle preuve »):
    404 beyond the reader's perimeters; refused (said, and not answered) when it cannot be answered now."""
    if "request" not in request.args:
        return None
    asked = session.get(EvidenceRequest, plain_id(request.args.get("request", "")) or -1)
    if asked is None or not current_scope().reaches([asked.perimeter_id]):
        abort(404)
    with reported_errors() as outcome:
        service.check_answerable(session, current_user, asked)
    return asked if outcome.ok else None


def _deployed_controls(session, perimeter) -> list[Control]:
    return list(session.exec(select(Control).join(ControlPerimeter, ControlPerimeter.control_id == Control.id)
                             .where(ControlPerimeter.perimeter_id == perimeter.id, Control.status != "retired")
                             .order_by(Control.ref)))


@bp.app_context_processor
def request_globals() -> dict:
    """`requests_on(perimeter, requirement=…, control=…)`: the requests not yet accepted on an item or a control,
    for the item's and the control's pages (templates/web/requests/_on_subject.html)."""

    def requests_on(perimeter, requirement=None, control=None):
        return service.rows(db.get_session(), perimeter, current_role(), open_only=True,
                            requirement_id=requirement.id if requirement is not None else None,
                            control_id=control.id if control is not None else None)

    return {"requests_on": requests_on, "may_raise_requests": lambda: evaluation.may_raise(current_role() or ""),
            "request_statuses": labels.REQUEST_STATUS}


@bp.route("/requests")
@access(*ALL_ROLES)
def index(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    status = request.args.get("status") if request.args.get("status") in REQUEST_STATUSES else None
    campaigns = campaign_service.list_for(session, perimeter)
    campaign_id = id_arg("campaign")
    campaign_id = campaign_id if campaign_id in {c.id for c in campaigns} else None
    rows = service.rows(session, perimeter, current_role(), status=status, campaign_id=campaign_id)
    return render_template("web/requests/index.html", perimeter=perimeter, rows=rows, today=request_today(),
                           overdue=service.overdue, statuses=labels.REQUEST_STATUS, campaigns=campaigns,
                           campaign_kinds=labels.CAMPAIGN_KIND, status=status, campaign_id=campaign_id,
                           may_raise=evaluation.may_raise(current_user.role))


@bp.route("/requests.xlsx")
@access(*ALL_ROLES)
def export(code: str):
    """The working sheet: every request of the perimeter (the list's filters too), in the reader's language."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    status = request.args.get("status") if request.args.get("status") in REQUEST_STATUSES else None
    rows = service.rows(session, perimeter, current_role(), status=status, campaign_id=id_arg("campaign"))
    today = request_today()
    data = sheet.requests_xlsx(rows, perimeter, select_locale(), today)
    response = current_app.response_class(
        data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f'attachment; filename="demandes-{perimeter.code}-{today.isoformat()}.xlsx"'
    return response


@bp.route("/requests/new", methods=["GET", "POST"])
@access(*RAISERS)
def new(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = RequestForm()
    controls = _deployed_controls(session, perimeter)
    form.control.choices = choices([("", _("— aucune —"))] + [(str(c.id), f"{c.ref} · {c.title}") for c in controls])
    if request.method == "GET":
        form.requirement.data = (request.args.get("requirement") or "")[:50]
        asked = (request.args.get("control") or "")[:60]
        form.control.data = next((str(c.id) for c in controls if asked in (c.ref, str(c.id))), "")
    if form.validate_on_submit():
        today = request_today()
        with reported_errors(form=form) as outcome:
            ref = (form.requirement.data or "").strip()
            try:
                requirement_id = get_item(session, perimeter, ref).id if ref else None
            except EvidenceError as error:
                raise EvidenceError(error.message, field="requirement") from None
            control_id = plain_id(form.control.data or "")
            raised = service.raise_request(session, current_user, perimeter, service.RequestData(
                text=form.text.data, requirement_id=requirement_id, control_id=control_id, due_date=form.due_date.data),
                today)
        if outcome.ok:
            flash(_("Demande n° %(id)s envoyée.", id=raised.id), "info")
            return redirect(url_for("requests.show", code=perimeter.code, request_id=raised.id))
    return render_template("web/requests/new.html", perimeter=perimeter, form=form)


@bp.route("/requests/<int:request_id>")
@access(*ALL_ROLES)
def show(code: str, request_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = request_or_404(perimeter, request_id)
    row = service.row(session, perimeter, item, current_role())
    raiser_role = service.raised_by_role(session, item)
    role = current_user.role
    forms = {}
    for action, form_class in (("answer", AnswerForm), ("accept", VersionedForm), ("reopen", ReopenForm)):
        if evaluation.request_move(item.status, action, role, raiser_role) is not None:
            forms[action] = form_class(formdata=None, version=str(item.version))
    new_evidence = None
    if "answer" in forms:
        new_evidence = url_for("evidence.new", request=item.id, requirement=row.requirement.ref if row.requirement else None,
                               control=row.control.ref if row.control else None)
    return render_template("web/requests/show.html", perimeter=perimeter, row=row, item=item, forms=forms,
                           today=request_today(), overdue=service.overdue, statuses=labels.REQUEST_STATUS,
                           campaign_kinds=labels.CAMPAIGN_KIND, new_evidence=new_evidence)


def _back(perimeter, item):
    return redirect(url_for("requests.show", code=perimeter.code, request_id=item.id))


def _refused_form(form) -> None:
    for name, errors in form.errors.items():
        if name != "version":
            flash(f"{form[name].label.text} : {' '.join(map(str, errors))}", "error")
    if "csrf_token" in form.errors or "version" in form.errors:
        abort(400)


@bp.route("/requests/<int:request_id>/answer", methods=["POST"])
@access(*TEAM_ROLES)
def answer(code: str, request_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = request_or_404(perimeter, request_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        _refused_form(form)
        return _back(perimeter, item)
    refs = [r for r in (form.evidence.data or "").replace(",", ";").split(";") if r.strip()]
    with reported_errors() as outcome:
        service.answer(session, current_user, item, refs, expected_version=form.expected_version(), scope=current_scope())
    if outcome.ok:
        flash(_("Réponse enregistrée : le demandeur est prévenu."), "info")
    return _back(perimeter, item)


@bp.route("/requests/<int:request_id>/accept", methods=["POST"])
@access(*RAISERS)
def accept(code: str, request_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = request_or_404(perimeter, request_id)
    form = VersionedForm()
    if not form.validate_on_submit():
        abort(400)
    with reported_errors() as outcome:
        service.accept(session, current_user, item, expected_version=form.expected_version())
    if outcome.ok:
        flash(_("Demande n° %(id)s acceptée.", id=item.id), "info")
    return _back(perimeter, item)


@bp.route("/requests/<int:request_id>/reopen", methods=["POST"])
@access(*RAISERS)
def reopen(code: str, request_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = request_or_404(perimeter, request_id)
    form = ReopenForm()
    if not form.validate_on_submit():
        _refused_form(form)
        return _back(perimeter, item)
    with reported_errors() as outcome:
        service.reopen(session, current_user, item, form.reason.data, request_today(),
                       expected_version=form.expected_version())
    if outcome.ok:
        flash(_("Demande n° %(id)s rouverte : la personne qui y répond est prévenue.", id=item.id), "info")
    return _back(perimeter, item)
