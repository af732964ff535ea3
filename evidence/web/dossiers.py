"""Dossiers: generate (a background job), follow its progress, approve it (four eyes), download any of its PDFs
again, compare two versions."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from evidence import context as db
from evidence import jobs
from evidence.core.access import access
from evidence.core.rules import evaluation
from evidence.core.vocabulary import ALL_ROLES, COMPLIANCE_ROLES, MAX_MARKING, RENDERED_DOSSIER_STATUSES
from evidence.data.models import Dossier, Perimeter, User
from evidence.dossier.diff import changes as compute_changes
from evidence.dossier.generate import file_name, offered_pdf, queue, render_again
from evidence.presentation import labels
from evidence.presentation.changes import describe, register_word, status_word
from evidence.services import dossier_signoff, need_to_know, reach
from evidence.services.perimeters import get_perimeter
from evidence.web import current_scope, reported_errors
from evidence.web.clock import request_today
from evidence.web.forms import EmptyForm, choices, flash_form_errors

bp = Blueprint("dossiers", __name__, url_prefix="/dossiers")

STATUS = labels.DOSSIER_STATUS
STATUS_BADGE = {"queued": "planned", "rendering": "in_progress", "draft": "draft", "approved": "approved",
                "failed": "rejected"}
PDF_KINDS = ("draft", "approved", "signed")


class GenerateForm(EmptyForm):
    perimeter = SelectField(_l("Périmètre"))
    language = SelectField(_l("Langue"), choices=choices([("fr", "Français"), ("en", "English")]))
    marking = StringField(_l("Mention sur chaque page"), validators=[Length(max=MAX_MARKING)],
                          description=_l("Facultative ; vide : celle du réglage DOSSIER_MARKING, s'il y en a une."))
    attach_evidence = BooleanField(_l("Joindre les fichiers des preuves (PDF/A-3)"))


class ApproveForm(EmptyForm):
    function = SelectField(_l("Au titre de"), validators=[DataRequired()])


def _form(session) -> GenerateForm:
    form = GenerateForm()
    form.perimeter.choices = choices((p.code, f"{p.code} · {p.name}") for p in session.exec(
        reach.only_reachable_perimeters(select(Perimeter), current_scope()).order_by(Perimeter.code)))
    return form


def _dossier_or_404(dossier_id: int) -> tuple[Dossier, Perimeter]:
    """The dossier in the address; 404 beyond the user's perimeters and, for an evaluator, unless approved."""
    session = db.get_session()
    item = session.get(Dossier, dossier_id) or abort(404)
    if not current_scope().reaches([item.perimeter_id]) or not evaluation.sees_dossier(current_user.role, item.status):
        abort(404)
    return item, session.get(Perimeter, item.perimeter_id)


def _pdf_kinds() -> tuple[str, ...]:
    """The PDFs of a version its reader may take: an evaluator never the draft's (marked « PROJET »)."""
    return PDF_KINDS if evaluation.sees_work_in_progress(current_user.role) else PDF_KINDS[1:]


def _start_render(item: Dossier) -> None:
    jobs.render_dossier(item.id)  # the id only: the consumer has its own settings (see jobs)


@bp.app_template_global()
def dossier_status(status: str) -> tuple[str, str]:
    """(badge class, word) of a dossier's status, for the pages that list versions."""
    return STATUS_BADGE.get(status, "draft"), str(STATUS.get(status, status))


@bp.route("/", methods=["GET", "POST"])
@access(*ALL_ROLES, write=COMPLIANCE_ROLES)
def index():
    session = db.get_session()
    form = _form(session)
    if request.method == "GET" and request.args.get("perimeter"):
        form.perimeter.data = request.args["perimeter"]
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            perimeter = get_perimeter(session, form.perimeter.data)
            item = queue(session, current_user, perimeter, form.language.data, form.attach_evidence.data,
                         form.marking.data, request_today(), organisation=db.dossier_settings().organisation,
                         default_marking=db.dossier_marking())
        if outcome.ok:
            _start_render(item)
            return redirect(url_for("dossiers.show", dossier_id=item.id))
    query = reach.only_in_scope(select(Dossier, Perimeter, User).join(Perimeter, Perimeter.id == Dossier.perimeter_id)
                                .outerjoin(User, User.id == Dossier.author_id), Dossier.perimeter_id, current_scope())
    if not evaluation.sees_work_in_progress(current_user.role):
        query = query.where(Dossier.status == "approved")
    rows = session.exec(query.order_by(Dossier.created_at.desc())).all()
    return render_template("web/dossiers/index.html", rows=rows, form=form, can_generate=current_user.role in COMPLIANCE_ROLES)


def _approve_form(item: Dossier, approvals: list) -> ApproveForm | None:
    """The approval form when the current user may approve this version in one of the functions still open."""
    functions = db.approver_functions()
    open_functions = [f for f in functions
                      if dossier_signoff.refusal(current_user, item, approvals, f, functions,
                                                 db.admin_approves()) is None]
    if not open_functions:
        return None
    form = ApproveForm()
    form.function.choices = choices((f, f) for f in open_functions)
    return form


def _previous(session, item: Dossier) -> Dossier | None:
    """The rendered version before this one, to compare with (for an evaluator, the approved one before)."""
    statuses = [s for s in RENDERED_DOSSIER_STATUSES if evaluation.sees_dossier(current_user.role, s)]
    return session.exec(select(Dossier).where(
        Dossier.perimeter_id == item.perimeter_id, Dossier.number < item.number, Dossier.status.in_(statuses)
    ).order_by(Dossier.number.desc()).limit(1)).first()


@bp.route("/<int:dossier_id>")
@access(*ALL_ROLES)
def show(dossier_id: int):
    session = db.get_session()
    item, perimeter = _dossier_or_404(dossier_id)
    author = session.get(User, item.author_id) if item.author_id else None
    approvals = dossier_signoff.approvals(session, item)
    # A PDF carrying evidence content its reader may not read is offered to nobody but those who may read it all.
    withheld = need_to_know.dossier_unreadable(session, current_user, item.snapshot or {})
    downloads = [] if withheld else [(kind, offered_pdf(item, kind)) for kind in _pdf_kinds()]
    return render_template(
        "web/dossiers/show.html", item=item, perimeter=perimeter, author=author, approvals=approvals,
        approve_form=_approve_form(item, approvals), previous=_previous(session, item),
        downloads=[(kind, pdf, file_name(perimeter.code, item, kind)) for kind, pdf in downloads if pdf],
        offered=not withheld and offered_pdf(item), file_name=file_name(perimeter.code, item), withheld=withheld,
        can_render_again=item.status == "failed" and current_user.role in COMPLIANCE_ROLES,
        needed=dossier_signoff.SIGNOFF.APPROVALS_NEEDED,
    )


@bp.route("/<int:dossier_id>/approve", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def approve(dossier_id: int):
    session = db.get_session()
    item, perimeter = _dossier_or_404(dossier_id)
    form = ApproveForm()
    functions = db.approver_functions()
    form.function.choices = choices((f, f) for f in functions)
    if form.validate_on_submit():
        with reported_errors() as outcome:
            dossier_signoff.approve(session, current_user, item, form.function.data, functions=functions,
                                    admin_approves=db.admin_approves())
        if outcome.ok:
            if item.approved_at is not None:
                flash(_("Version %(n)d approuvée par deux personnes : elle est figée ; la version définitive est en "
                        "cours de mise en page.", n=item.number), "info")
                _start_render(item)
            else:
                flash(_("Approbation enregistrée ; une seconde personne doit approuver la version %(n)d dans une "
                        "autre fonction.", n=item.number), "info")
    else:
        flash_form_errors(form)
    return redirect(url_for("dossiers.show", dossier_id=item.id))


@bp.route("/<int:dossier_id>/render-again", methods=["POST"], endpoint="render_again")
@access(*COMPLIANCE_ROLES)
def render_again_view(dossier_id: int):
    session = db.get_session()
    item, _perimeter = _dossier_or_404(dossier_id)
    form = EmptyForm()
    if form.validate_on_submit():
        with reported_errors() as outcome:
            render_again(session, current_user, item)
        if outcome.ok:
            _start_render(item)
    return redirect(url_for("dossiers.show", dossier_id=item.id))


@bp.route("/<int:dossier_id>/download")
@access(*ALL_ROLES)
def download(dossier_id: int):
    """The PDF one hands over (the signed one when there is one, else the approved one, else the draft's), or
    with ?pdf=draft|approved|signed that one."""
    item, perimeter = _dossier_or_404(dossier_id)
    which = request.args.get("pdf")
    if which is not None and which not in _pdf_kinds():
        abort(404)
    pdf = offered_pdf(item, which)
    if pdf is None:
        abort(404)
    if need_to_know.dossier_unreadable(db.get_session(), current_user, item.snapshot or {}):
        abort(403)
    response = send_file(db.get_store().open(pdf[0]), mimetype="application/pdf", as_attachment=True,
                         download_name=file_name(perimeter.code, item, which), conditional=False, etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:dossier_id>/diff/<int:other_id>")
@access(*ALL_ROLES)
def diff(dossier_id: int, other_id: int):
    """What changed between two versions of the same perimeter's dossier, the earlier first."""
    first, perimeter = _dossier_or_404(dossier_id)
    second, _other = _dossier_or_404(other_id)
    if first.perimeter_id != second.perimeter_id:
        abort(404)
    old, new = sorted((first, second), key=lambda d: d.number)
    found = compute_changes(old.snapshot, new.snapshot)
    return render_template("web/dossiers/diff.html", perimeter=perimeter, old=old, new=new, changes=found,
                           sentences=describe(found), status_word=status_word, register_word=register_word)
