"""Comment threads in the pages: post, edit, delete, and the address a mention's notification opens.

The pages show a thread with the macro of templates/web/comments/_thread.html, which asks `comment_thread(...)`
(a template global: the page's view needs no change) for what the reader may see of it; the thread is absent
for a subject he may not see. Every write is services.comments'.
"""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlmodel import select
from wtforms import HiddenField, TextAreaField
from wtforms.validators import Length

from evidence import context as db
from evidence.core.access import access
from evidence.core.rules import comments as rule
from evidence.core.text import plain_id
from evidence.core.vocabulary import ALL_ROLES, MAX_JUSTIFICATION
from evidence.data.models import EvidenceVersion, Perimeter
from evidence.services import comments, reach
from evidence.web import confirm, current_role, current_scope, perimeter_or_404, reported_errors
from evidence.web.clock import request_today
from evidence.web.forms import EmptyForm, VersionedForm, flash_form_errors

bp = Blueprint("comments", __name__, url_prefix="/perimeters/<code>/comments")


class CommentForm(EmptyForm):
    subject_type = HiddenField()
    subject_id = HiddenField()
    body = TextAreaField(_l("Votre commentaire"), validators=[Length(max=MAX_JUSTIFICATION)],
                         description=_l("Mentionnez quelqu’un par son adresse : @prenom.nom@exemple.fr ; il en sera "
                                        "averti s’il peut lire ce fil."))


class EditForm(VersionedForm):
    body = TextAreaField(_l("Commentaire"), validators=[Length(max=MAX_JUSTIFICATION)])


# --- where a subject is shown -------------------------------------------------------------------------------


def subject_url(subject: comments.Subject) -> str:
    code = subject.perimeter.code
    if subject.type == "requirement":
        return url_for("readiness.verdict", code=code, ref=subject.ref)
    if subject.type == "control":
        return url_for("controls.show", ref=subject.ref)
    if subject.type == "evidence_version":
        return url_for("evidence.show", ref=subject.ref, thread=subject.number)
    if subject.type == "request":
        return url_for("requests.show", code=code, request_id=subject.id)
    return url_for("findings.finding", code=code, finding_id=subject.id)


def thread_anchor(subject: comments.Subject) -> str:
    return f"comments-{subject.type}-{subject.id}-{subject.perimeter.code}"


# --- the thread, for the macro ----------------------------------------------------------------------------


def render_body(text: str) -> Markup:
    """The comment's text escaped (never read as HTML), its line breaks kept and its mentions marked."""
    escaped = str(escape(text or ""))
    marked = rule.MENTION.sub(lambda m: f'<mark class="mention">{m.group(0)}</mark>', escaped)
    return Markup(re.sub(r"\r?\n", "<br>\n", marked))


class Thread:
    """What the macro shows of one subject's thread to the reader."""

    def __init__(self, session, subject: comments.Subject, title: str = ""):
        self.subject, self.title = subject, title
        self.entries = comments.thread(session, subject)
        self.anchor = thread_anchor(subject)
        self.form = CommentForm(formdata=None, subject_type=subject.type, subject_id=str(subject.id))
        self.form.body.id = f"body-{self.anchor}"
        self.action = url_for("comments.post", code=subject.perimeter.code)
        self.delete_form = EmptyForm(formdata=None)

    @staticmethod
    def may_edit(entry) -> bool:
        return rule.may_edit(current_user.id, entry.comment.author_id, entry.comment.deleted_at is not None)

    @staticmethod
    def may_delete(entry) -> bool:
        return rule.may_delete(current_user.role, current_user.id, entry.comment.author_id,
                               entry.comment.deleted_at is not None)

    render = staticmethod(render_body)


def comment_thread(perimeter: Perimeter, subject_type: str, subject_id, title: str = ""):
    """The thread on the subject as the reader sees it; None when he may not see it."""
    session = db.get_session()
    try:
        subject = comments.subject_for(session, current_user, perimeter, subject_type, subject_id, request_today())
    except comments.SubjectNotFound:
        return None
    return Thread(session, subject, title)


def evidence_threads(evidence, perimeters) -> dict:
    """The evidence page's threads: on the version chosen (`?thread=N`) or else the latest the reader sees, one per
    perimeter of the evidence he reaches; with the other versions he may open, and their comment counts."""
    session = db.get_session()
    scope = current_scope()
    reachable = [p for p in perimeters if scope.reaches([p.id])]
    versions = reach.visible_versions(current_role(), session.exec(select(EvidenceVersion).where(
        EvidenceVersion.evidence_id == evidence.id).order_by(EvidenceVersion.number.desc())))
    if not versions or not reachable:
        return {"threads": [], "versions": [], "shown": None}
    wanted = plain_id(request.args.get("thread"))
    shown = next((v for v in versions if v.number == wanted), versions[0])
    title = _("version %(n)s", n=shown.number)
    threads = [t for t in (comment_thread(p, "evidence_version", shown.id,
                                          f"{title} · {p.code}" if len(reachable) > 1 else title)
                           for p in reachable) if t is not None]
    counted = comments.counts(session, [p.id for p in reachable], "evidence_version", [v.id for v in versions])
    return {"threads": threads, "shown": shown,
            "versions": [(v.number, counted.get(v.id, 0)) for v in versions] if len(versions) > 1 else []}


@bp.record_once
def thread_globals(state) -> None:
    """Globals of the environment (not of a context), so that the macro sees them when a page imports it."""
    state.app.jinja_env.globals.update(comment_thread=comment_thread, evidence_threads=evidence_threads)


# --- the routes ---------------------------------------------------------------------------------------------


def _comment_or_404(perimeter, comment_id: int):
    try:
        return comments.comment_for(db.get_session(), current_user, perimeter, comment_id, request_today())
    except comments.SubjectNotFound:
        abort(404)


@bp.route("", methods=["POST"])
@access(*ALL_ROLES)
def post(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = CommentForm()
    try:
        subject = comments.subject_for(session, current_user, perimeter, form.subject_type.data or "",
                                       plain_id(form.subject_id.data), request_today())
    except comments.SubjectNotFound:
        abort(404)
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(subject_url(subject) + "#" + thread_anchor(subject))
    with reported_errors() as outcome:
        comment = comments.post(session, current_user, perimeter, subject.type, subject.id, form.body.data,
                                request_today())
    if outcome.ok:
        flash(_("Commentaire publié."), "info")
        return redirect(subject_url(subject) + f"#comment-{comment.id}")
    return redirect(subject_url(subject) + "#" + thread_anchor(subject))


@bp.route("/<int:comment_id>")
@access(*ALL_ROLES)
def show(code: str, comment_id: int):
    """The comment in its subject's page (where a mention's notification leads)."""
    _comment, subject = _comment_or_404(perimeter_or_404(code), comment_id)
    return redirect(subject_url(subject) + f"#comment-{comment_id}")


@bp.route("/<int:comment_id>/edit", methods=["GET", "POST"])
@access(*ALL_ROLES)
def edit(code: str, comment_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    comment, subject = _comment_or_404(perimeter, comment_id)
    if not rule.may_edit(current_user.id, comment.author_id, comment.deleted_at is not None):
        abort(403)
    form = EditForm(version=comment.version, body=comment.body)
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            comments.edit(session, current_user, comment, form.body.data, request_today(), form.expected_version())
        if outcome.ok:
            flash(_("Commentaire modifié."), "info")
            return redirect(subject_url(subject) + f"#comment-{comment.id}")
    return render_template("web/comments/edit.html", perimeter=perimeter, comment=comment, subject=subject,
                           form=form, back=subject_url(subject) + f"#comment-{comment.id}")


@bp.route("/<int:comment_id>/delete", methods=["POST"])
@access(*ALL_ROLES)
def delete(code: str, comment_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    comment, subject = _comment_or_404(perimeter, comment_id)
    back = subject_url(subject) + f"#comment-{comment.id}"
    if not rule.may_delete(current_user.role, current_user.id, comment.author_id, comment.deleted_at is not None):
        abort(403)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if confirmation := confirm.ask(_("Supprimer ce commentaire ?"), back=back, action=_("Supprimer"),
                                   consequence=_("Le fil dira qui l’a supprimé et quand ; son texte reste dans le "
                                                 "journal d’audit.")):
        return confirmation
    with reported_errors() as outcome:
        comments.delete(session, current_user, comment, request_today())
    if outcome.ok:
        flash(_("Commentaire supprimé."), "info")
    return redirect(back)
