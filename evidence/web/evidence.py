"""Evidence: list, add (file or link), versions, review, download."""
from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import or_
from sqlmodel import select
from wtforms import DateField, FileField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from evidence import context as db
from evidence.core import rules
from evidence.core.access import access
from evidence.core.text import plain_id
from evidence.core.vocabulary import ALL_ROLES, AUTOMATED_KIND, HAND_MADE_KINDS, MAX_JUSTIFICATION, WRITER_ROLES
from evidence.data.models import (
    Control,
    Evidence,
    EvidenceAnswer,
    EvidenceControl,
    EvidencePerimeter,
    EvidenceRequirement,
    EvidenceVersion,
    Framework,
    Perimeter,
    Requirement,
    User,
)
from evidence.presentation import labels
from evidence.services import collection, evidence_lists, gaps, need_to_know, notifications, reach, search
from evidence.services import requests as evidence_requests
from evidence.services.evidence import (
    EvidenceData,
    EvidenceInvalid,
    add_version,
    assessed_requirement_ids,
    can_edit_evidence,
    can_review,
    create_evidence,
    entries_of,
    own_work,
    review,
    update_evidence,
)
from evidence.services.perimeters import list_perimeters
from evidence.services.uploads import safe_filename
from evidence.services.users import possible_owners
from evidence.web import (
    bulk,
    confirm,
    current_role,
    current_scope,
    evidence_or_404,
    evidence_readers,
    pickers,
    reported_errors,
    say,
    select_locale,
)
from evidence.web.clock import request_today
from evidence.web.forms import CheckboxesField, EmptyForm, OwnerField, VersionedForm, choices
from evidence.web.listing import by_owner, filter_choices, id_arg, paginate
from evidence.web.requests import answered_request

bp = Blueprint("evidence", __name__, url_prefix="/evidence")
evidence_readers.register(bp)  # need-to-know: who may read an evidence, named by its owner or a manager

KIND_LABELS = labels.EVIDENCE_KIND
STATUS_LABELS = labels.capitalised(labels.EVIDENCE_STATUS)
# "restricted" is not worded "Diffusion restreinte", a regulated French protection mention (labels says why).
CLASSIFICATION_LABELS = labels.CLASSIFICATION
FRESHNESS_LABELS = labels.capitalised(labels.FRESHNESS)


class EvidenceForm(VersionedForm):
    # The rules on these fields are the evidence service's (`check_evidence`), so that the form and the importer
    # refuse the same input with the same words; the form only reads the values.
    title = StringField(_l("Intitulé"), render_kw={"required": True})
    # A person never makes automated evidence (a collector does): the kind is offered only to keep it (fill_choices).
    kind = SelectField(_l("Nature"), choices=choices((k, KIND_LABELS[k]) for k in HAND_MADE_KINDS), validate_choice=False)
    description = TextAreaField(_l("Description"))
    owner = OwnerField(_l("Responsable"), validate_choice=False)
    classification = SelectField(_l("Classification"), choices=choices(CLASSIFICATION_LABELS.items()), default="internal",
                                 validate_choice=False)
    effective_date = DateField(_l("Date d'effet"), validators=[Optional()])
    valid_until = DateField(_l("Valable jusqu'au"), validators=[Optional()], description=_l("Date de revue ou d'expiration."))
    document_version = StringField(_l("Version du document"), description=_l("La version que le document porte, ex. 2.3"))
    renewal = SelectField(_l("Renouvellement"), validate_choice=False,
                          choices=choices([("", _l("Non récurrente")), *labels.RENEWAL_CADENCE.items()]),
                          description=_l("Une preuve récurrente (revue des accès trimestrielle…) : son responsable est "
                                         "prévenu avant chaque échéance, comptée depuis la date d'effet ou la dernière "
                                         "approbation."))
    controls = SelectMultipleField(_l("Mesures prouvées"), coerce=int, validate_choice=False)
    # Picked (each value a ref; a value may hold several separated by « ; », as the importer's column does).
    requirements = SelectMultipleField(_l("Points du référentiel"), validate_choice=False)
    perimeters = CheckboxesField(_l("Valable pour les périmètres"), coerce=int, validate_choice=False,
                                 description=_l("Une preuve ne compte que dans ces périmètres. Rien de coché : les "
                                                "périmètres où ses mesures sont déployées."))
    answers = CheckboxesField(_l("Preuves attendues auxquelles elle répond"), validate_choice=False,
                              description=_l("Les lignes de la liste de contrôle des points liés (directement ou par "
                                             "ses mesures) que ce document apporte. Sans ligne cochée, il étaye le "
                                             "point sans répondre à une preuve attendue."))

    def fill_choices(self, session, evidence: Evidence | None = None):
        """Active users and live controls, and what the evidence has already (shown as it is, kept unless changed)."""
        owner_id = evidence.owner_id if evidence else None
        if evidence is not None and evidence.kind == AUTOMATED_KIND:
            self.kind.choices = choices([(AUTOMATED_KIND, KIND_LABELS[AUTOMATED_KIND])])
        linked = select(EvidenceControl.control_id).where(EvidenceControl.evidence_id == (evidence.id if evidence else -1))
        self.owner.choices = choices(
            (u.id, f"{u.name} <{u.email}>")
            for u in possible_owners(session, owner_id)
        )
        self.controls.choices = choices(
            (c.id, f"{c.ref} · {c.title}")
            for c in session.exec(select(Control).where(or_(Control.status != "retired", Control.id.in_(linked))).order_by(Control.ref))
        )
        self.perimeters.choices = choices((p.id, f"{p.code} · {p.name}") for p in list_perimeters(session))

    def fill_answers(self, session, requirement_ids, control_ids, locale: str):
        """The checklist lines of the items the evidence supports, as the answers it may give."""
        entries = entries_of(session, requirement_ids, control_ids)
        texts = {e["id"]: labels.entry_text(e, locale) for r in session.exec(
            select(Requirement).where(Requirement.id.in_(set(entries.values()) or {-1})).order_by(Requirement.order))
            for e in r.expected_evidence or []}
        self.answers.choices = choices((entry, f"{entry} · {texts.get(entry, '')}") for entry in texts)

    def requirement_refs(self) -> list[str]:
        values = self.requirements.data or []
        values = [values] if isinstance(values, str) else values
        return list(dict.fromkeys(r.strip() for v in values for r in v.replace(",", ";").split(";") if r.strip()))

    def pickers(self) -> dict:
        """The form's pickers: controls and items (several), the owner (one; a manager's choice only)."""
        owner = None if current_user.role == "contributor" else pickers.build(
            "owners", self.owner.name, [self.owner.data] if self.owner.data else [], key="id", multiple=False,
            browse=True, errors=self.owner.errors)
        return {"owner_picker": owner,
                "control_picker": pickers.build("controls", self.controls.name, self.controls.data or [], key="id",
                                                errors=self.controls.errors),
                "requirement_picker": pickers.build("requirements", self.requirements.name, self.requirement_refs(),
                                                    errors=self.requirements.errors)}

    def data_object(self, session) -> EvidenceData:
        refs = self.requirement_refs()
        return EvidenceData(
            title=self.title.data, kind=self.kind.data, description=self.description.data, owner_id=self.owner.data,
            classification=self.classification.data, effective_date=self.effective_date.data,
            valid_until=self.valid_until.data, control_ids=list(self.controls.data or []),
            requirement_ids=assessed_requirement_ids(session, refs),
            perimeter_ids=list(self.perimeters.data) if self.perimeters.data else None,
            answers=list(self.answers.data or []), document_version=self.document_version.data or "",
            renewal=self.renewal.data or "",
        )


class NewEvidenceForm(EvidenceForm):
    file = FileField(_l("Fichier"))
    url = StringField(_l("Ou lien (adresse https)"),
                      description=_l("Pour une preuve de nature « lien » : l'adresse n'est jamais consultée par l'application."))
    note = StringField(_l("Note de version"))


class VersionForm(EmptyForm):
    file = FileField(_l("Nouveau fichier"))
    url = StringField(_l("Ou nouvelle adresse"))
    note = StringField(_l("Note de version"))


class ReviewForm(VersionedForm):
    comment = TextAreaField(_l("Commentaire"), validators=[Length(max=MAX_JUSTIFICATION)])


def _upload(field):
    """(stream, file name) of an uploaded file, or (None, "") when the field was left empty."""
    storage_file = request.files.get(field.name)
    if storage_file is None or not storage_file.filename:
        return None, ""
    return storage_file.stream, storage_file.filename


@contextmanager
def refused_on(form):
    """`reported_errors` for an evidence form: a refused field gets its message beside it (the field the importer
    names for the same input); what no field of the form shows is flashed."""
    with reported_errors(form=form) as outcome:
        try:
            yield outcome
        except EvidenceInvalid as invalid:
            elsewhere = []
            for problem in invalid.problems:
                if problem.field in form:
                    form[problem.field].errors.append(say(problem.message))
                else:
                    elsewhere.append(problem)
            if elsewhere:
                raise EvidenceInvalid(elsewhere) from None
            db.get_session().rollback()
            outcome.ok = False


def _offer_answers(session, form) -> None:
    """Offer the checklist of the items the form links (as loaded or as posted)."""
    try:
        requirement_ids = assessed_requirement_ids(session, form.requirement_refs())
    except EvidenceInvalid:
        requirement_ids = []  # the save reports the unknown ref beside the field
    control_ids = [i for i in map(plain_id, form.controls.data or []) if i is not None]
    form.fill_answers(session, requirement_ids, control_ids, select_locale())


@bp.route("/")
@access(*ALL_ROLES)
def index():
    session = db.get_session()
    args = request.args
    today = request_today()
    query = reach.only_reachable_evidence(select(Evidence, User).outerjoin(User, User.id == Evidence.owner_id),
                                          current_scope(), current_role())
    query = by_owner(query, Evidence.owner_id)
    query = evidence_lists.filtered(query, today, current_role(), status=args.get("status"), kind=args.get("kind"),
                                    perimeter_id=id_arg("perimeter"), freshness=args.get("freshness"),
                                    q=args.get("q"))
    page = paginate(session, query.order_by(Evidence.ref))
    ids = [evidence.id for evidence, _owner in page.rows]
    controls = defaultdict(list)
    for evidence_id, ref in session.exec(
        reach.only_reachable_controls(select(EvidenceControl.evidence_id, Control.ref).join(
            Control, Control.id == EvidenceControl.control_id).where(EvidenceControl.evidence_id.in_(ids or [-1])),
            current_scope()).order_by(Control.ref)
    ):
        controls[evidence_id].append(ref)
    readable = need_to_know.readable_ids(session, current_user, [evidence for evidence, _owner in page.rows])
    return render_template(
        "web/evidence/index.html", page=page, controls=controls, today=today, freshness=rules.freshness,
        readable=readable, can_create=current_user.role in WRITER_ROLES,
        statuses=STATUS_LABELS, kinds=KIND_LABELS, freshness_labels=FRESHNESS_LABELS,
        **(lists := filter_choices(session)), **bulk.list_tools(session, "evidence", ids, lists["owners"]),
    )


@bp.route("/new", methods=["GET", "POST"])
@access(*WRITER_ROLES)
def new():
    session = db.get_session()
    form = NewEvidenceForm()
    form.fill_choices(session)
    answering = answered_request(session)  # ?request=ID: the new evidence answers that evidence request
    if request.method == "GET":
        form.owner.data = current_user.id
        form.effective_date.data = request_today()
        _prefill(session, form)
        if answering is not None:
            form.perimeters.data = [answering.perimeter_id]
    _offer_answers(session, form)
    if not pickers.searching() and form.validate_on_submit():  # a picker's search saves nothing, the file neither
        stream, filename = _upload(form.file)
        with refused_on(form) as outcome:
            evidence = create_evidence(
                session, current_user, form.data_object(session), store=db.get_store(), upload=stream,
                filename=filename, url=form.url.data, note=form.note.data, max_size=current_app.config["MAX_CONTENT_LENGTH"],
                link_schemes=current_app.config["LINK_SCHEMES"],
                before_commit=(lambda made: evidence_requests.stage_answer(session, current_user, answering, [made]))
                if answering is not None else None,
            )
        if outcome.ok:
            flash(_("Preuve %(ref)s ajoutée en réponse à la demande n° %(id)s : elle sera visible de l’évaluateur "
                    "une fois approuvée.", ref=evidence.ref, id=answering.id) if answering is not None
                  else _("Preuve %(ref)s ajoutée.", ref=evidence.ref), "info")
            return redirect(url_for("evidence.show", ref=evidence.ref))
    return render_template("web/evidence/form.html", form=form, evidence=None, **form.pickers(),
                           file_not_kept=_file_not_kept(form.file))


def _file_not_kept(field) -> str:
    """The name of the file a refused form (or a picker's search) came with: it is not stored and a browser never
    sends it again, so the page says it must be chosen again (the other fields are shown as they were given)."""
    if request.method != "POST":
        return ""
    _stream, filename = _upload(field)
    return safe_filename(filename) if filename else ""


def _prefill(session, form) -> None:
    """"Ajouter une preuve" from a control or an item: ?control=CTL-…&requirement=12.4.a preselect what names a
    live control or an item of the assessed referential (the user may still change it); the rest is ignored."""
    asked = request.args.getlist("control")
    found = [c for c in search.chosen(session, current_user, "controls", [v for v in asked if not v.isdigit()])
             + search.chosen(session, current_user, "controls", [v for v in asked if v.isdigit()], "id")
             if c.status != "retired"]
    form.controls.data = [c.id for c in found]
    refs = [r.strip() for v in request.args.getlist("requirement") for r in v[:2000].split(";") if r.strip()]
    items = search.chosen(session, current_user, "requirements", refs)
    form.requirements.data = [c.ref for c in items]
    if len(found) < len(asked) or len(items) < len(refs):
        flash(_("Une mesure ou un point demandé n’existe pas (ou plus) : il n’est pas présélectionné."), "error")


@bp.route("/<ref>")
@access(*ALL_ROLES)
def show(ref: str):
    session = db.get_session()
    evidence = evidence_or_404(ref)
    # An evaluator sees the approved versions only: the last approved one is, for him, the current one.
    versions = [(version, author) for version, author in session.exec(
        select(EvidenceVersion, User).outerjoin(User, User.id == EvidenceVersion.author_id)
        .where(EvidenceVersion.evidence_id == evidence.id).order_by(EvidenceVersion.number.desc())
    ) if reach.visible_versions(current_role(), [version])]
    controls = session.exec(reach.only_reachable_controls(
        select(Control).join(EvidenceControl, EvidenceControl.control_id == Control.id)
        .where(EvidenceControl.evidence_id == evidence.id), current_scope()).order_by(Control.ref)
    ).all()
    requirements = session.exec(
        select(Requirement, Framework).join(EvidenceRequirement, EvidenceRequirement.requirement_id == Requirement.id)
        .join(Framework, Framework.id == Requirement.framework_id)
        .where(EvidenceRequirement.evidence_id == evidence.id).order_by(Requirement.order)
    ).all()
    users = {u.id: u for u in session.exec(select(User).where(User.id.in_({evidence.owner_id, evidence.reviewed_by_id} - {None} or {-1})))}
    perimeters = session.exec(reach.only_reachable_perimeters(
        select(Perimeter).join(EvidencePerimeter, EvidencePerimeter.perimeter_id == Perimeter.id)
        .where(EvidencePerimeter.evidence_id == evidence.id), current_scope()).order_by(Perimeter.code)).all()
    locale = select_locale()
    answers = []
    for answer, requirement in session.exec(
        select(EvidenceAnswer, Requirement).join(Requirement, Requirement.id == EvidenceAnswer.requirement_id)
        .where(EvidenceAnswer.evidence_id == evidence.id).order_by(Requirement.order, EvidenceAnswer.entry_id)
    ):
        entry = next((e for e in requirement.expected_evidence or [] if e["id"] == answer.entry_id), {})
        answers.append((answer.entry_id, labels.entry_text(entry, locale)))
    facts = evidence_readers.page_facts(session, evidence)  # need-to-know: the content shown only to its readers
    run = collection.current_runs(session, [evidence.id]).get(evidence.id) if evidence.collector else None
    return render_template(
        "web/evidence/show.html", evidence=evidence, versions=versions, controls=controls, requirements=requirements,
        users=users, perimeters=perimeters, answers=answers, **facts,
        run=run, run_line=gaps.RunLine.of(run) if run else None, today=request_today(),
        can_edit=can_edit_evidence(current_user, evidence) and facts["readable"],
        can_review=(can_review(current_user, db.admin_approves()) and current_user.id not in own_work(session, evidence)
                    and facts["readable"]),
        version_form=VersionForm(), review_form=ReviewForm(version=evidence.version),
        freshness=rules.freshness(evidence.valid_until, request_today()), freshness_labels=FRESHNESS_LABELS,
        next_renewal=notifications.next_renewal_of(session, evidence),
        statuses=STATUS_LABELS, kinds=KIND_LABELS, classifications=CLASSIFICATION_LABELS,
    )


@bp.route("/<ref>/edit", methods=["GET", "POST"])
@access(*WRITER_ROLES)
def edit(ref: str):
    session = db.get_session()
    evidence = evidence_or_404(ref)
    if not can_edit_evidence(current_user, evidence) or not need_to_know.can_read(session, current_user, evidence):
        abort(403)  # the form shows the description: who may not read it may not edit it either
    form = EvidenceForm(obj=evidence) if request.method == "GET" else EvidenceForm()
    form.fill_choices(session, evidence)
    if request.method == "GET":
        form.version.data = evidence.version
        form.owner.data = evidence.owner_id or current_user.id  # no owner: saving makes the editor the owner
        form.controls.data = list(session.exec(select(EvidenceControl.control_id).where(EvidenceControl.evidence_id == evidence.id)))
        form.requirements.data = list(session.exec(
            select(Requirement.ref).join(EvidenceRequirement, EvidenceRequirement.requirement_id == Requirement.id)
            .where(EvidenceRequirement.evidence_id == evidence.id)
            .order_by(Requirement.order)
        ))
        form.perimeters.data = list(session.exec(
            select(EvidencePerimeter.perimeter_id).where(EvidencePerimeter.evidence_id == evidence.id)))
        form.answers.data = list(session.exec(
            select(EvidenceAnswer.entry_id).where(EvidenceAnswer.evidence_id == evidence.id)))
    _offer_answers(session, form)
    if not pickers.searching() and form.validate_on_submit():  # a picker's search saves nothing
        status_before = evidence.status
        with refused_on(form) as outcome:
            update_evidence(session, current_user, evidence, form.data_object(session), form.expected_version())
        if outcome.ok:
            flash(_("Preuve enregistrée ; ces changements portent sur ce que sa revue attestait : elle repasse en "
                    "brouillon et doit être de nouveau soumise à la revue.") if evidence.status != status_before
                  else _("Preuve enregistrée."), "info")
            return redirect(url_for("evidence.show", ref=evidence.ref))
    return render_template("web/evidence/form.html", form=form, evidence=evidence, **form.pickers())


@bp.route("/<ref>/versions", methods=["POST"])
@access(*WRITER_ROLES)
def new_version(ref: str):
    session = db.get_session()
    evidence = evidence_or_404(ref)
    if not need_to_know.can_read(session, current_user, evidence):
        abort(403)  # who may not read the evidence does not replace its content
    form = VersionForm()
    if form.validate_on_submit():
        stream, filename = _upload(form.file)
        with reported_errors() as outcome:
            version = add_version(session, current_user, evidence, store=db.get_store(), upload=stream,
                                  filename=filename, url=form.url.data, note=form.note.data,
                                  max_size=current_app.config["MAX_CONTENT_LENGTH"],
                                  link_schemes=current_app.config["LINK_SCHEMES"])
        if outcome.ok:
            if version is None:
                flash(_("Ce fichier est identique à la version actuelle : aucune version créée."), "info")
            else:
                flash(_("Version %(n)d ajoutée ; la preuve repasse en brouillon.", n=version.number), "info")
    return redirect(url_for("evidence.show", ref=evidence.ref))


@bp.route("/<ref>/review/<action>", methods=["POST"])
@access(*WRITER_ROLES)
def review_action(ref: str, action: str):
    session = db.get_session()
    evidence = evidence_or_404(ref)
    if action not in rules.REVIEW_TRANSITIONS:
        abort(404)
    form = ReviewForm()
    if form.validate_on_submit():
        if (confirmation := _confirm_review(evidence, action, form.comment.data or "")):
            return confirmation
        with reported_errors() as outcome:
            review(session, current_user, evidence, action, form.comment.data, form.expected_version(),
                   admin_approves=db.admin_approves())
        if outcome.ok:
            flash(_("%(ref)s : %(status)s.", ref=evidence.ref, status=STATUS_LABELS[evidence.status]), "info")
    return redirect(url_for("evidence.show", ref=evidence.ref))


def _confirm_review(evidence: Evidence, action: str, comment: str):
    """Rejecting, or sending approved evidence back to draft, undoes a review: asked first (an empty reason for
    a rejection is refused by the review itself, with nothing to confirm)."""
    back = url_for("evidence.show", ref=evidence.ref)
    if action == "reject" and comment.strip() and can_review(current_user, db.admin_approves()):
        return confirm.ask(_("Rejeter %(ref)s « %(title)s » ?", ref=evidence.ref, title=evidence.title),
                           consequence=_("Motif donné à son responsable : %(comment)s", comment=comment.strip()),
                           action=_("Rejeter"), back=back)
    if action == "reopen" and evidence.status == "approved" and can_edit_evidence(current_user, evidence):
        return confirm.ask(_("Repasser %(ref)s « %(title)s » en brouillon ?", ref=evidence.ref, title=evidence.title),
                           consequence=_("Son approbation est levée : elle ne prouve plus rien tant qu’elle n’est pas "
                                         "de nouveau approuvée."), action=_("Repasser en brouillon"), back=back)
    return None


@bp.route("/<ref>/versions/<int:number>/download")
@access(*ALL_ROLES)
def download(ref: str, number: int):
    session = db.get_session()
    evidence = evidence_or_404(ref)
    if not need_to_know.can_read(session, current_user, evidence):
        abort(403)  # need-to-know: its classification, owner and named readers decide
    version = session.exec(select(EvidenceVersion).where(
        EvidenceVersion.evidence_id == evidence.id, EvidenceVersion.number == number
    )).first() or abort(404)
    if version.storage_key is None or not reach.visible_versions(current_role(), [version]):
        abort(404)  # a version not approved is not there for an evaluator
    stream = db.get_store().open(version.storage_key)
    # Markup could run script if a browser ever rendered it; it is handed over as opaque bytes.
    risky = version.media_type in ("text/html", "image/svg+xml", "application/xml") or "html" in version.media_type
    response = send_file(
        stream, mimetype="application/octet-stream" if risky else version.media_type, as_attachment=True, conditional=False, etag=False,
        download_name=version.original_filename or f"{evidence.ref}-v{version.number}",
    )
    # Whatever the file holds (HTML, SVG…), the browser saves it and never renders it in the app's origin.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "no-store"
    return response
