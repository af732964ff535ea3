"""The home page (readiness of every perimeter, and what the logged-in user owns or, for an auditor, may read)
and the health check."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from sqlalchemy import func, or_
from sqlmodel import select

from evidence import context as db
from evidence.core import rules
from evidence.core.access import access, public
from evidence.core.rules import evaluation
from evidence.core.vocabulary import (
    ALL_ROLES,
    COMPLIANCE_ROLES,
    EVALUATOR,
    OPEN_ACTION_STATUSES,
    OPEN_FINDING_STATUSES,
    OPEN_REQUEST_STATUSES,
    RENDERED_DOSSIER_STATUSES,
    SCOPED_ROLES,
)
from evidence.data import database
from evidence.data.models import Action, Control, Dossier, Evidence, EvidenceRequest, Finding, Perimeter
from evidence.presentation import labels
from evidence.services import gaps, reach
from evidence.services.evidence import can_review
from evidence.services.findings import action_overdue
from evidence.web import current_scope
from evidence.web.clock import request_today

bp = Blueprint("dashboard", __name__)

RECENT = 10  # recent approvals an auditor sees on the home page


@bp.route("/")
@access(*ALL_ROLES)
def index():
    session = db.get_session()
    day = request_today()
    scope = current_scope()
    perimeters = list(session.exec(reach.only_reachable_perimeters(select(Perimeter), scope).order_by(Perimeter.code)))
    results = [gaps.compute(session, perimeter, day) for perimeter in perimeters]
    open_findings = dict(session.exec(reach.only_in_scope(
        select(Finding.perimeter_id, func.count()).where(Finding.status.in_(OPEN_FINDING_STATUSES)),
        Finding.perimeter_id, scope).group_by(Finding.perimeter_id)
    ).all())
    # Auditors and evaluators own nothing: they get the reading view (within their perimeters), not "my subjects".
    reader = current_user.role in SCOPED_ROLES
    open_requests = None
    if current_user.role == EVALUATOR:  # what he asked and still waits for, per perimeter
        open_requests = dict(session.exec(reach.only_in_scope(
            select(EvidenceRequest.perimeter_id, func.count()).where(
                EvidenceRequest.status.in_(OPEN_REQUEST_STATUSES)), EvidenceRequest.perimeter_id, scope)
            .group_by(EvidenceRequest.perimeter_id)).all())
    return render_template(
        "web/dashboard.html", results=results, open_findings=open_findings, today=day,
        freshness=rules.freshness, status_labels=labels.STATUS, overdue=action_overdue,
        can_create_perimeter=current_user.role in COMPLIANCE_ROLES, auditor=reader, open_requests=open_requests,
        **(reading(session, perimeters, scope) if reader else my_subjects(session, day)),
    )


def my_subjects(session, day) -> dict:
    """What the user owns and must move: controls to implement, evidence to renew or finish, actions, reviews."""
    soon = day + timedelta(days=rules.EXPIRING_DAYS)
    my_controls = session.exec(
        select(Control).where(Control.owner_id == current_user.id, Control.status.in_(("planned", "in_progress")))
        .order_by(Control.ref)
    ).all()
    my_evidence = session.exec(
        select(Evidence).where(Evidence.owner_id == current_user.id, or_(
            Evidence.valid_until <= soon, Evidence.status.in_(("draft", "rejected")),
        )).order_by(Evidence.valid_until, Evidence.ref).limit(50)
    ).all()
    my_actions = session.exec(
        select(Action, Perimeter.code).join(Perimeter, Perimeter.id == Action.perimeter_id)
        .where(Action.owner_id == current_user.id, Action.status.in_(OPEN_ACTION_STATUSES))
        .order_by(Action.due_date)
    ).all()
    to_review = []
    if can_review(current_user, db.admin_approves()):  # an administrator, by default, approves nothing
        to_review = session.exec(select(Evidence).where(Evidence.status == "in_review")
                                 .order_by(Evidence.updated_at).limit(20)).all()
    return {"my_controls": my_controls, "my_evidence": my_evidence, "my_actions": my_actions, "to_review": to_review}


def reading(session, perimeters, scope) -> dict:
    """What an auditor or an evaluator reads, within his perimeters: the latest approvals (what changed in the
    proof) and the dossiers (an evaluator: approved ones), newest first. He owns nothing, so the owner's lists
    would be empty cards."""
    approved = session.exec(reach.only_reachable_evidence(
        select(Evidence).where(Evidence.status == "approved", Evidence.reviewed_at.is_not(None)), scope,
        current_user.role).order_by(Evidence.reviewed_at.desc(), Evidence.ref).limit(RECENT)
    ).all()
    codes = {p.id: p.code for p in perimeters}
    statuses = [s for s in RENDERED_DOSSIER_STATUSES if evaluation.sees_dossier(current_user.role, s)]
    dossiers = session.exec(reach.only_in_scope(
        select(Dossier).where(Dossier.status.in_(statuses)), Dossier.perimeter_id, scope)
        .order_by(Dossier.created_at.desc()).limit(RECENT)
    ).all()
    return {"recent_approvals": approved, "dossiers": [(d, codes.get(d.perimeter_id, "")) for d in dossiers]}


@bp.route("/healthz")
@public
def healthz():
    ok = database.database_reachable(db.get_engine())
    body = {"status": "ok" if ok else "error", "database": "ok" if ok else "unreachable"}
    return jsonify(body), 200 if ok else 503
