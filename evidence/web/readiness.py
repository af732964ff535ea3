"""A perimeter's readiness: dashboard, gap list, verdicts, and the traceability matrix download."""
from __future__ import annotations

from collections import Counter

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlmodel import select
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.validators import Length

from evidence import context as db
from evidence.core import rules
from evidence.core.access import access
from evidence.core.rules import evaluation
from evidence.core.vocabulary import (
    ALL_ROLES,
    COMPLIANCE_ROLES,
    COVERAGE_STATES,
    MAX_JUSTIFICATION,
    OPEN_ACTION_STATUSES,
    OPEN_FINDING_STATUSES,
    RECOMMENDATION_STATES,
    WRITER_ROLES,
)
from evidence.data.models import Control, Evidence, Requirement, Section
from evidence.exports import matrix as exports
from evidence.presentation import charts, labels
from evidence.services import gaps, notifications
from evidence.services.findings import action_overdue, plan_links
from evidence.services.perimeters import set_verdict
from evidence.services.waivers import set_waiver
from evidence.web import confirm, current_scope, item_or_404, perimeter_or_404, reported_errors
from evidence.web.clock import request_today
from evidence.web.forms import EmptyForm, choices

bp = Blueprint("readiness", __name__, url_prefix="/perimeters/<code>")

def chapter_chart(session, result, title) -> Markup:
    titles = {s.ref: labels.localised(s, "title") for s in session.exec(  # the chart speaks the reader's language
        select(Section).where(Section.framework_id == result.framework.id, Section.parent_ref.is_(None))
    )}
    data = [(chapter, titles.get(chapter, ""), readiness) for chapter, readiness in result.chapters()]
    return Markup(charts.chapter_bars(data, title))


@bp.route("/dashboard")
@access(*ALL_ROLES)
def dashboard(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    result = gaps.compute(session, perimeter, request_today())
    gaps.record_snapshot(session, result)
    result = gaps.for_reader(result, current_user.role, current_scope())
    history = gaps.trend(session, perimeter)
    trend = Markup(charts.trend_line(
        [(s.taken_on, s.covered / s.applicable if s.applicable else 0) for s in history], _("Évolution de l'état de préparation")
    ))
    reasons = Counter(reason for row in result.gaps() for reason in row.status.reasons)
    plan = plan_links(session, perimeter)  # every open finding, also those on no item
    findings = Counter(f.severity for f in plan.findings.values() if f.status in OPEN_FINDING_STATUSES)
    actions = {"open": sum(1 for a in plan.actions.values() if a.status in OPEN_ACTION_STATUSES),
               "overdue": sum(1 for a in plan.actions.values() if action_overdue(a, result.today))}
    return render_template(
        "web/readiness/dashboard.html", perimeter=perimeter, result=result,
        chart=chapter_chart(session, result, _("Exigences couvertes par chapitre")), trend=trend,
        counts=result.counts(), freshness=result.freshness(), reasons=reasons, findings=findings,
        status_labels=labels.STATUS, reason_labels=labels.REASON, severity_labels=labels.SEVERITY, actions=actions,
    )


@bp.route("/gaps")
@access(*ALL_ROLES)
def gap_list(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    result = gaps.for_reader(gaps.compute(session, perimeter, request_today()), current_user.role, current_scope())
    args = request.args
    # Recommendations are never gaps: asked for, the list shows those not followed, apart.
    recommendations = args.get("kind") == "recommandation"
    rows = result.recommendations_not_followed() if recommendations else result.gaps()
    if args.get("status") in rules.GAP_STATES:
        rows = [r for r in rows if r.status.status == args["status"]]
    if args.get("chapter"):
        rows = [r for r in rows if r.chapter == args["chapter"]]
    if args.get("reason") in rules.REASONS:
        rows = [r for r in rows if args["reason"] in r.status.reasons]
    if args.get("owner") == "me":
        rows = [r for r in rows if any(c.owner_email == current_user.email for c in r.controls)]
    chapters = sorted({r.chapter for r in result.gaps()}, key=lambda c: int(c) if c.isdigit() else 0)
    return render_template(
        "web/readiness/gaps.html", perimeter=perimeter, result=result, rows=rows, chapters=chapters,
        recommendations=recommendations,
        status_labels=labels.STATUS, reason_labels=labels.REASON, can_verdict=current_user.role in COMPLIANCE_ROLES,
        **follow_up(session, perimeter),
        # What the team must renew is its work in progress: not an evaluator's.
        renewals=notifications.renewals(session, request_today(), perimeter_id=perimeter.id)
        if evaluation.sees_work_in_progress(current_user.role) else [],
    )


def follow_up(session, perimeter) -> dict:
    """What the gap list and the item page link to (open findings and actions), and the fixes the reader may make:
    an auditor is offered none; a contributor only what he may change (his controls, his evidence)."""
    mine = None
    if current_user.role not in COMPLIANCE_ROLES:
        mine = set(session.exec(select(Evidence.ref).where(Evidence.owner_id == current_user.id)))
        mine |= set(session.exec(select(Control.ref).where(Control.owner_id == current_user.id)))
    return {"links": plan_links(session, perimeter), "can_fix": current_user.role in WRITER_ROLES,
            "can_plan": current_user.role in COMPLIANCE_ROLES, "mine": mine,
            "action_statuses": labels.ACTION_STATUS, "severity_labels": labels.SEVERITY}


class VerdictForm(EmptyForm):
    status = SelectField(_l("Verdict du responsable"))
    justification = TextAreaField(_l("Justification"), validators=[Length(max=MAX_JUSTIFICATION)])

    def fill_choices(self, requirement: Requirement) -> None:
        states = RECOMMENDATION_STATES if requirement.kind == "recommandation" else COVERAGE_STATES
        self.status.choices = choices([("", _l("— aucun : couverture calculée —"))]
                                      + [(s, labels.STATUS[s]) for s in states])


@bp.route("/verdict/<path:ref>", methods=["GET", "POST"])
@access(*ALL_ROLES, write=COMPLIANCE_ROLES)
def verdict(code: str, ref: str):
    """One item in the perimeter: its checklist, proofs and waivers; the manager's verdict."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    requirement = item_or_404(perimeter, ref)
    result = gaps.for_reader(gaps.compute_items(session, perimeter, {requirement.id}, request_today()),
                             current_user.role, current_scope())
    row = next(r for r in result.rows if r.requirement.id == requirement.id)
    form = VerdictForm()
    form.fill_choices(requirement)
    if request.method == "GET" and row.verdict is not None:
        form.status.data, form.justification.data = row.verdict.status, row.verdict.justification
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            set_verdict(session, current_user, perimeter, requirement, form.status.data or None, form.justification.data)
        if outcome.ok:
            flash(_("Verdict enregistré pour %(ref)s.", ref=requirement.ref), "info")
            return redirect(url_for("readiness.gap_list", code=perimeter.code))
    return render_template("web/readiness/verdict.html", perimeter=perimeter, row=row, form=form,
                           status_labels=labels.STATUS, reason_labels=labels.REASON, entry_states=labels.ENTRY_STATE,
                           waiver_form=WaiverForm(), can_verdict=current_user.role in COMPLIANCE_ROLES,
                           today=request_today(), overdue=action_overdue, **follow_up(session, perimeter))


class WaiverForm(EmptyForm):
    entry = HiddenField()
    justification = TextAreaField(_l("Justification de la dispense"), validators=[Length(max=MAX_JUSTIFICATION)])


@bp.route("/waiver/<path:ref>", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def waiver(code: str, ref: str):
    """Waive an expected evidence entry (with a justification), or lift the waiver (the `clear` button)."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    requirement = item_or_404(perimeter, ref)
    form = WaiverForm()
    if form.validate_on_submit():
        lifting = "clear" in request.form
        if lifting and (confirmation := confirm.ask(
                _("Lever la dispense de la preuve attendue %(entry)s ?", entry=form.entry.data),
                consequence=_("Cette preuve sera de nouveau exigée pour couvrir %(ref)s ; le journal d’audit garde "
                              "la justification.", ref=requirement.ref),
                action=_("Lever la dispense"), back=url_for("readiness.verdict", code=perimeter.code,
                                                            ref=requirement.ref))):
            return confirmation
        with reported_errors() as outcome:
            set_waiver(session, current_user, perimeter, requirement, form.entry.data,
                       None if lifting else form.justification.data)
        if outcome.ok:
            flash(_("Dispense levée pour %(entry)s.", entry=form.entry.data) if lifting
                  else _("Preuve attendue %(entry)s dispensée.", entry=form.entry.data), "info")
    return redirect(url_for("readiness.verdict", code=perimeter.code, ref=requirement.ref))


@bp.route("/matrix.<any(xlsx, csv):fmt>")
@access(*ALL_ROLES)
def matrix(code: str, fmt: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    result = gaps.for_reader(gaps.compute(session, perimeter, request_today()), current_user.role, current_scope())
    data = exports.matrix_xlsx(result) if fmt == "xlsx" else exports.matrix_csv(result)
    mimetype = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx"
                else "text/csv; charset=utf-8")
    response = current_app.response_class(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="matrice-{perimeter.code}-{result.today.isoformat()}.{fmt}"'
    return response
