"""Dossiers: generate (a background job), follow its progress, download any version again."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Length

from evidence import context as db
from evidence import jobs
from evidence.core.access import access
from evidence.core.vocabulary import ALL_ROLES, COMPLIANCE_ROLES
from evidence.data.models import Dossier, Perimeter, User
from evidence.dossier.generate import file_name, queue
from evidence.services.perimeters import get_perimeter
from evidence.web import reported_errors
from evidence.web.clock import request_today
from evidence.web.forms import EmptyForm, choices

bp = Blueprint("dossiers", __name__, url_prefix="/dossiers")



class GenerateForm(EmptyForm):
    perimeter = SelectField(_l("Périmètre"))
    language = SelectField(_l("Langue"), choices=choices([("fr", "Français"), ("en", "English")]))
    classification = StringField(_l("Mention de classification"), default="Diffusion restreinte",
                                 validators=[Length(max=80)])
    attach_evidence = BooleanField(_l("Joindre les fichiers des preuves (PDF/A-3)"))


def _form(session) -> GenerateForm:
    form = GenerateForm()
    form.perimeter.choices = choices((p.code, f"{p.code} · {p.name}") for p in session.exec(select(Perimeter).order_by(Perimeter.code)))
    return form


@bp.route("/", methods=["GET", "POST"])
@access(*ALL_ROLES, write=COMPLIANCE_ROLES)
def index():
    session = db.get_session()
    form = _form(session)
    if request.method == "GET" and request.args.get("perimeter"):
        form.perimeter.data = request.args["perimeter"]
    if form.validate_on_submit():
        with reported_errors() as outcome:
            perimeter = get_perimeter(session, form.perimeter.data)
            item = queue(session, current_user, perimeter, form.language.data, form.attach_evidence.data,
                         form.classification.data, request_today(), organisation=db.dossier_settings().organisation)
        if outcome.ok:
            jobs.render_dossier(item.id, jobs.app_settings(current_app))
            return redirect(url_for("dossiers.show", dossier_id=item.id))
    rows = session.exec(
        select(Dossier, Perimeter, User).join(Perimeter, Perimeter.id == Dossier.perimeter_id)
        .outerjoin(User, User.id == Dossier.author_id).order_by(Dossier.created_at.desc())
    ).all()
    return render_template("web/dossiers/index.html", rows=rows, form=form, can_generate=current_user.role in COMPLIANCE_ROLES)


@bp.route("/<int:dossier_id>")
@access(*ALL_ROLES)
def show(dossier_id: int):
    session = db.get_session()
    item = session.get(Dossier, dossier_id) or abort(404)
    perimeter = session.get(Perimeter, item.perimeter_id)
    author = session.get(User, item.author_id) if item.author_id else None
    return render_template("web/dossiers/show.html", item=item, perimeter=perimeter, author=author,
                           file_name=file_name(perimeter.code, item))


@bp.route("/<int:dossier_id>/download")
@access(*ALL_ROLES)
def download(dossier_id: int):
    session = db.get_session()
    item = session.get(Dossier, dossier_id) or abort(404)
    if item.status != "done":
        abort(404)
    perimeter = session.get(Perimeter, item.perimeter_id)
    response = send_file(db.get_store().open(item.storage_key), mimetype="application/pdf", as_attachment=True,
                         download_name=file_name(perimeter.code, item), conditional=False, etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
