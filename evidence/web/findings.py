"""Evaluator findings and the action plan of a perimeter."""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlmodel import select
from wtforms import DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from evidence import context as db
from evidence.core.access import access
from evidence.core.errors import EvidenceError
from evidence.core.rules import evaluation
from evidence.core.vocabulary import (
    ALL_ROLES,
    COMPLIANCE_ROLES,
    EVALUATOR,
    MAX_DESCRIPTION,
    MAX_TITLE,
    OPEN_ACTION_STATUSES,
    OPEN_FINDING_STATUSES,
    WRITER_ROLES,
)
from evidence.data.models import (
    Action,
    ActionControl,
    ActionFinding,
    ActionRequirement,
    Control,
    Evidence,
    Finding,
    Requirement,
    User,
)
from evidence.presentation import labels
from evidence.services import findings as finding_service
from evidence.services import gaps
from evidence.services.findings import (
    ActionData,
    FindingData,
    action_overdue,
    can_update_action,
    create_finding,
    finding_overdue,
    plan_links,
    save_action,
    update_finding,
)
from evidence.services.perimeters import get_item
from evidence.services.users import possible_owners
from evidence.web import perimeter_or_404, reported_errors, say, select_locale
from evidence.web.clock import request_today
from evidence.web.forms import CheckboxesField, EmptyForm, OwnerField, choices
from evidence.web.listing import id_arg

bp = Blueprint("findings", __name__, url_prefix="/perimeters/<code>")

# The risk that remains while the action is not done, as the team rates it (the dossier's words too).
RESIDUAL_RISK_LABELS = labels.RESIDUAL_RISK


def _requirement_id(session, perimeter, ref: str, field: str):
    ref = (ref or "").strip()
    if not ref:
        return None
    try:
        return get_item(session, perimeter, ref).id
    except EvidenceError as error:
        raise EvidenceError(error.message, field=field) from None  # shown beside the field it was typed in


class FindingForm(EmptyForm):
    severity = SelectField(_l("Gravité"), choices=choices(labels.SEVERITY.items()))
    requirement = StringField(_l("Point du référentiel"), validators=[Length(max=50)], description=_l("ex. 12.4.a"))
    text = TextAreaField(_l("Constat"), validators=[DataRequired(), Length(max=MAX_DESCRIPTION)])
    raised_on = DateField(_l("Relevé le"), validators=[Optional()])
    due_date = DateField(_l("Échéance"), validators=[Optional()])
    response = TextAreaField(_l("Réponse du prestataire"), validators=[Length(max=MAX_DESCRIPTION)])
    status = SelectField(_l("État"), choices=choices(labels.FINDING_STATUS.items()))

    def data_object(self, session, perimeter) -> FindingData:
        return FindingData(
            severity=self.severity.data, text=self.text.data, requirement_id=_requirement_id(session, perimeter, self.requirement.data, "requirement"),
            raised_on=self.raised_on.data, due_date=self.due_date.data, response=self.response.data, status=self.status.data,
        )


class ActionForm(EmptyForm):
    title = StringField(_l("Action"), validators=[DataRequired(), Length(max=MAX_TITLE)])
    description = TextAreaField(_l("Description"), validators=[Length(max=MAX_DESCRIPTION)])
    owner = OwnerField(_l("Responsable"))
    due_date = DateField(_l("Échéance"), validators=[Optional()])
    status = SelectField(_l("État"), choices=choices(labels.ACTION_STATUS.items()))
    residual_risk = SelectField(_l("Risque résiduel"), choices=choices(RESIDUAL_RISK_LABELS.items()), validate_choice=False,
                                description=_l("Le risque qui demeure tant que l'action n'est pas faite."))
    requirements = StringField(_l("Points du référentiel"), validators=[Length(max=2000)], description=_l("ex. 12.4.a; 9.2.c"))
    controls = SelectMultipleField(_l("Mesures"), coerce=int)
    findings = SelectMultipleField(_l("Constats"), coerce=int)

    def fill_choices(self, session, perimeter, owner_id: int | None = None):
        """`owner_id`: the action's owner, offered whatever he has become (kept unless changed)."""
        self.owner.choices = choices([("", _("— personne —"))] + [
            (u.id, f"{u.name} <{u.email}>") for u in possible_owners(session, owner_id)
        ])
        self.controls.choices = choices((c.id, f"{c.ref} · {c.title}") for c in session.exec(select(Control).order_by(Control.ref)))
        self.findings.choices = choices(
            (f.id, f"#{f.id} {f.text[:60]}") for f in session.exec(select(Finding).where(Finding.perimeter_id == perimeter.id))
        )

    def data_object(self, session, perimeter) -> ActionData:
        refs = [r.strip() for r in (self.requirements.data or "").replace(",", ";").split(";") if r.strip()]
        return ActionData(
            title=self.title.data, description=self.description.data, owner_id=self.owner.data, due_date=self.due_date.data,
            status=self.status.data, requirement_ids=[_requirement_id(session, perimeter, r, "requirements") for r in refs],
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
        with reported_errors(form=form) as outcome:
            create_finding(session, current_user, perimeter, form.data_object(session, perimeter))
        if outcome.ok:
            flash(_("Constat enregistré."), "info")
            return redirect(url_for("findings.findings", code=perimeter.code))
    query = (select(Finding, Requirement).outerjoin(Requirement, Requirement.id == Finding.requirement_id)
             .where(Finding.perimeter_id == perimeter.id))
    # The dashboard's counts open these lists: ?severity=major&open=1.
    if request.args.get("severity") in labels.SEVERITY:
        query = query.where(Finding.severity == request.args["severity"])
    if request.args.get("open"):
        query = query.where(Finding.status.in_(OPEN_FINDING_STATUSES))
    if id_arg("campaign") is not None:  # a campaign's page links to its findings
        query = query.where(Finding.campaign_id == id_arg("campaign"))
    rows = session.exec(query.order_by(Finding.status, Finding.severity, Finding.id)).all()
    return render_template("web/findings/findings.html", perimeter=perimeter, rows=rows, form=form, today=request_today(),
                           overdue=finding_overdue, severity=labels.SEVERITY, statuses=labels.FINDING_STATUS,
                           can_edit=current_user.role in COMPLIANCE_ROLES, links=plan_links(session, perimeter),
                           linked=_linker(session, perimeter, [t for f, _r in rows for t in (f.text, f.response)]),
                           action_statuses=labels.ACTION_STATUS, facts=_facts(session, [f for f, _r in rows]),
                           can_raise=evaluation.may_raise(current_user.role))


RAISERS = (*COMPLIANCE_ROLES, EVALUATOR)  # rules.evaluation.may_raise: who raises and judges findings


@bp.app_context_processor
def finding_globals() -> dict:
    """The item page offers « Relever un constat » to those who may raise one."""
    return {"may_raise_findings": lambda: evaluation.may_raise(getattr(current_user, "role", ""))}


class ResponseForm(EmptyForm):
    response = TextAreaField(_l("Réponse du prestataire"), validators=[Length(max=MAX_DESCRIPTION)])


class JudgedForm(EmptyForm):
    """What an evaluator writes of his finding (the response is the provider's)."""

    severity = SelectField(_l("Gravité"), choices=choices(labels.SEVERITY.items()))
    text = TextAreaField(_l("Constat"), validators=[DataRequired(), Length(max=MAX_DESCRIPTION)])
    due_date = DateField(_l("Échéance"), validators=[Optional()])


def _finding_form(item: Finding):
    """The form the user may fill on this finding (rules.evaluation.finding_fields), or None."""
    allowed = evaluation.finding_fields(current_user.role, finding_service.raised_by_role(item))
    if item.status == "closed" and finding_service.raised_by_role(item) == EVALUATOR:
        return None  # closed by the judging side: it stays as it was closed
    if "status" in allowed:
        return FindingForm
    if "text" in allowed:
        return JudgedForm
    return ResponseForm if "response" in allowed else None


def _data_from(form, item: Finding, session, perimeter) -> FindingData:
    if isinstance(form, FindingForm):
        return form.data_object(session, perimeter)
    kept = FindingData(severity=item.severity, text=item.text, requirement_id=item.requirement_id,
                       raised_on=item.raised_on, due_date=item.due_date, response=item.response, status=item.status)
    for name in ("severity", "text", "due_date", "response"):
        if name in form:
            setattr(kept, name, form[name].data)
    return kept


@bp.route("/findings/<int:finding_id>", methods=["GET", "POST"])
@access(*ALL_ROLES, write=RAISERS)
def finding(code: str, finding_id: int):
    """A finding: who raised it, in which campaign, the evidence versions looked at, the provider's response and
    actions; the form of what the user may change, and the judging side's « Clore »."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = session.get(Finding, finding_id)
    if item is None or item.perimeter_id != perimeter.id:
        abort(404)
    form_class = _finding_form(item)
    if request.method == "POST" and form_class is None:
        abort(403)
    form = None
    if form_class is not None:
        form = form_class(obj=item) if request.method == "GET" else form_class()
        if request.method == "GET" and item.requirement_id and "requirement" in form:
            form.requirement.data = session.get(Requirement, item.requirement_id).ref
    if form is not None and form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            update_finding(session, current_user, item, _data_from(form, item, session, perimeter))
        if outcome.ok:
            flash(_("Constat enregistré."), "info")
            return redirect(url_for("findings.finding", code=perimeter.code, finding_id=item.id))
    links = plan_links(session, perimeter)
    return render_template("web/findings/finding.html", perimeter=perimeter, item=item, form=form, links=links,
                           item_ref=links.finding_item.get(item.id), action_statuses=labels.ACTION_STATUS,
                           today=request_today(), overdue=action_overdue, severity=labels.SEVERITY,
                           statuses=labels.FINDING_STATUS, facts=_facts(session, [item])[item.id],
                           can_plan=current_user.role in COMPLIANCE_ROLES, close_form=EmptyForm(),
                           can_close=item.status != "closed" and evaluation.may_close_finding(
                               current_user.role, finding_service.raised_by_role(item)))


def _facts(session, findings: list[Finding]) -> dict:
    """finding id -> who raised and closed it, its campaign, the versions pinned (what the evaluator sees, by
    reach: an approved version only)."""
    from evidence.data.models import Campaign

    people = {u.id: u for u in session.exec(select(User).where(User.id.in_(
        {i for f in findings for i in (f.raised_by_id, f.closed_by_id) if i} or {-1})))}
    its_campaigns = {c.id: c for c in session.exec(select(Campaign).where(Campaign.id.in_(
        {f.campaign_id for f in findings if f.campaign_id} or {-1})))}
    pinned = finding_service.pinned_versions(session, [f.id for f in findings])
    return {f.id: {"raised_by": people.get(f.raised_by_id), "closed_by": people.get(f.closed_by_id),
                   "campaign": its_campaigns.get(f.campaign_id), "versions": pinned.get(f.id, [])} for f in findings}


class RaiseForm(EmptyForm):
    severity = SelectField(_l("Gravité"), choices=choices(labels.SEVERITY.items()))
    text = TextAreaField(_l("Constat"), validators=[DataRequired(), Length(max=MAX_DESCRIPTION)])
    due_date = DateField(_l("Échéance"), validators=[Optional()])
    versions = CheckboxesField(_l("Versions de preuves examinées"), coerce=int, validate_choice=False)


@bp.route("/findings/raise", methods=["GET", "POST"])
@access(*RAISERS)
def raise_finding(code: str):
    """Raise a finding on an item (?ref=12.4.a): its severity, text, and the approved evidence versions looked
    at; without a ref, the item is asked for first."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    ref = (request.args.get("ref") or "").strip()[:50]
    if not ref:
        return render_template("web/findings/raise.html", perimeter=perimeter, requirement=None, form=None)
    try:
        requirement = get_item(session, perimeter, ref)
    except EvidenceError as error:
        flash(say(error), "error")
        return render_template("web/findings/raise.html", perimeter=perimeter, requirement=None, form=None), 404
    form = RaiseForm()
    offered = finding_service.item_versions(session, perimeter, requirement, reader=current_user)
    form.versions.choices = choices((v.id, f"{e.ref} v{v.number} · {e.title}") for e, v in offered)
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            raised = finding_service.raise_finding(session, current_user, perimeter, requirement,
                                                   finding_service.RaisedFinding(
                                                       severity=form.severity.data, text=form.text.data,
                                                       version_ids=list(form.versions.data or []),
                                                       due_date=form.due_date.data), request_today())
        if outcome.ok:
            flash(_("Constat relevé."), "info")
            return redirect(url_for("findings.finding", code=perimeter.code, finding_id=raised.id))
    return render_template("web/findings/raise.html", perimeter=perimeter, requirement=requirement, form=form,
                           offered={v.id: (e, v) for e, v in offered})


@bp.route("/findings/<int:finding_id>/close", methods=["POST"])
@access(*RAISERS)
def close_finding(code: str, finding_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    item = session.get(Finding, finding_id)
    if item is None or item.perimeter_id != perimeter.id:
        abort(404)
    if EmptyForm().validate_on_submit():
        with reported_errors() as outcome:
            finding_service.close_finding(session, current_user, item)
        if outcome.ok:
            flash(_("Constat clos."), "info")
    return redirect(url_for("findings.finding", code=perimeter.code, finding_id=item.id))


@bp.route("/actions", methods=["GET", "POST"])
@access(*ALL_ROLES, write=COMPLIANCE_ROLES)
def actions(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = ActionForm()
    form.fill_choices(session, perimeter)
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            save_action(session, current_user, perimeter, form.data_object(session, perimeter))
        if outcome.ok:
            flash(_("Action ajoutée au plan."), "info")
            return redirect(url_for("findings.actions", code=perimeter.code))
    query = select(Action, User).outerjoin(User, User.id == Action.owner_id).where(Action.perimeter_id == perimeter.id)
    if request.args.get("status") == "open":  # still to do (the dashboard's counts open it so)
        query = query.where(Action.status.in_(OPEN_ACTION_STATUSES))
    rows = session.exec(query.order_by(Action.status, Action.due_date, Action.id)).all()
    today = request_today()
    if request.args.get("overdue"):
        rows = [(a, owner) for a, owner in rows if action_overdue(a, today)]
    return render_template("web/findings/actions.html", perimeter=perimeter, rows=rows, form=form,
                           links=plan_links(session, perimeter), today=today, overdue=action_overdue,
                           statuses=labels.ACTION_STATUS, risks=RESIDUAL_RISK_LABELS,
                           can_plan=current_user.role in COMPLIANCE_ROLES, can_update=can_update_action)


@bp.route("/actions/new", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def new_action(code: str):
    """A new action on its own page; from a gap (?requirement=ref) or a finding (?finding=id), prefilled."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = ActionForm()
    form.fill_choices(session, perimeter)
    if request.method == "GET":
        _prefill(session, perimeter, form)
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            action = save_action(session, current_user, perimeter, form.data_object(session, perimeter))
        if outcome.ok:
            flash(_("Action ajoutée au plan."), "info")
            return redirect(url_for("findings.actions", code=perimeter.code) + f"#action-{action.id}")
    return render_template("web/findings/action.html", perimeter=perimeter, item=None, form=form, full=True)


def _prefill(session, perimeter, form: ActionForm) -> None:
    """The item, its controls and open findings, and what is missing in words (the gap list's sentences); or the
    finding the action answers. Anything unknown in the address is ignored: the form stays open to edit."""
    locale = select_locale()
    finding = session.get(Finding, id_arg("finding")) if id_arg("finding") is not None else None
    if finding is not None and finding.perimeter_id != perimeter.id:
        finding = None
    ref = request.args.get("requirement", "").strip()[:50]
    if not ref and finding is not None and finding.requirement_id:
        ref = session.get(Requirement, finding.requirement_id).ref
    lines, finding_ids = [], []
    requirement = session.exec(select(Requirement).where(
        Requirement.framework_id == perimeter.framework_id, Requirement.ref == ref)).first() if ref else None
    if requirement is not None:
        row = next(r for r in gaps.compute_items(session, perimeter, {requirement.id}, request_today()).rows if r.requirement.id == requirement.id)
        form.requirements.data = requirement.ref
        form.title.data = _("Combler l’écart %(ref)s : %(title)s", ref=requirement.ref,
                            title=labels.localised(requirement, "title", locale))[:300]
        sentences = labels.gap_sentences(row.status, requirement, locale)
        if sentences:
            lines.append(_("Écart sur %(ref)s (%(status)s) :", ref=requirement.ref,
                           status=labels.STATUS[row.status.status]))
            lines += [f"- {sentence}" for sentence in sentences]
        refs = [c.ref for c in row.controls]
        form.controls.data = list(session.exec(select(Control.id).where(Control.ref.in_(refs or [""]))))
        finding_ids = [f.id for f in row.findings]
    if finding is not None:
        if requirement is None:
            form.title.data = _("Répondre au constat #%(id)s", id=finding.id)
        lines.append(_("Constat #%(id)s : %(text)s", id=finding.id, text=finding.text))
        finding_ids.append(finding.id)
    form.findings.data = sorted(set(finding_ids))
    form.description.data = "\n".join(lines)


REF_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")


def _linker(session, perimeter, texts):
    """A function that returns a text with each ref it names (an item, a control, evidence) as a link."""
    tokens = {m.group() for text in texts for m in REF_TOKEN.finditer(text or "") if "." in m.group() or "-" in m.group()}
    tokens = sorted(tokens)[:500]
    known = {}
    if tokens:
        for ref in session.exec(select(Requirement.ref).where(Requirement.framework_id == perimeter.framework_id,
                                                              Requirement.ref.in_(tokens))):
            known[ref] = url_for("readiness.verdict", code=perimeter.code, ref=ref)
        for model, endpoint in ((Control, "controls.show"), (Evidence, "evidence.show")):
            for ref in session.exec(select(model.ref).where(model.ref.in_(tokens))):
                known[ref] = url_for(endpoint, ref=ref)

    def linked(text: str) -> Markup:
        text, parts, last = text or "", [], 0
        for match in REF_TOKEN.finditer(text):
            url = known.get(match.group())
            if url:
                parts += [escape(text[last:match.start()]),
                          Markup('<a href="%s"><span class="ref">%s</span></a>') % (url, match.group())]
                last = match.end()
        parts.append(escape(text[last:]))
        return Markup("").join(parts)

    return linked


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
    form.fill_choices(session, perimeter, item.owner_id)
    if request.method == "GET":
        form.owner.data = item.owner_id
        form.requirements.data = "; ".join(session.exec(select(Requirement.ref).join(
            ActionRequirement, ActionRequirement.requirement_id == Requirement.id).where(ActionRequirement.action_id == item.id)))
        form.controls.data = list(session.exec(select(ActionControl.control_id).where(ActionControl.action_id == item.id)))
        form.findings.data = list(session.exec(select(ActionFinding.finding_id).where(ActionFinding.action_id == item.id)))
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            save_action(session, current_user, perimeter, form.data_object(session, perimeter), item)
        if outcome.ok:
            flash(_("Action enregistrée."), "info")
            return redirect(url_for("findings.actions", code=perimeter.code))
    return render_template("web/findings/action.html", perimeter=perimeter, item=item, form=form, full=True)
