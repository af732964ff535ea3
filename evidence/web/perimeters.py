"""Perimeters: the services under qualification, and their statement of applicability."""
from __future__ import annotations

from collections import Counter

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from evidence import context as db
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.rules import evaluation
from evidence.core.vocabulary import (
    ALL_ROLES,
    COMPLIANCE_ROLES,
    MAX_DESCRIPTION,
    MAX_JUSTIFICATION,
    MAX_NAME,
    MAX_REFERENCE,
    PERIMETER_DOCUMENT_ROLES,
)
from evidence.data.models import SERVICE_TYPES, Evidence, EvidencePerimeter, Framework, Perimeter
from evidence.presentation import labels
from evidence.services import perimeter_documents, reach
from evidence.services.evidence import get_evidence
from evidence.services.perimeters import (
    DATE_FIELDS,
    DESCRIPTION_FIELDS,
    PerimeterData,
    create_perimeter,
    list_perimeters,
    lower_layer,
    set_applicability,
    statement_of_applicability,
    update_perimeter,
)
from evidence.web import confirm, current_role, current_scope, item_or_404, perimeter_or_404, reported_errors
from evidence.web.bulk import ApplicabilityBulkForm
from evidence.web.forms import CheckboxesField, EmptyForm, VersionedForm, choices, flash_form_errors

bp = Blueprint("perimeters", __name__, url_prefix="/perimeters")

PHASE_LABELS = labels.PHASE
STATE_LABELS = labels.APPLICABILITY
# The parts a perimeter's documents play, each named with the item that asks for it, and the parts of its
# structured description: the dossier's words too.
DOCUMENT_ROLE_LABELS = labels.REFERENCE_DOCUMENT
assert set(DOCUMENT_ROLE_LABELS) == set(PERIMETER_DOCUMENT_ROLES)
DESCRIPTION_LABELS = labels.DESCRIPTION
assert tuple(DESCRIPTION_LABELS) == DESCRIPTION_FIELDS


class PerimeterForm(VersionedForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)], description=_l("ex. iaas-fr1 ; utilisé par la ligne de commande"))
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=MAX_NAME)])
    description = TextAreaField(_l("Description"), validators=[Length(max=MAX_DESCRIPTION)])
    service_types = CheckboxesField(_l("Types de service"), choices=choices((t, t) for t in SERVICE_TYPES))
    framework = SelectField(_l("Référentiel"))
    built_on = SelectField(_l("Bâti sur (socle qualifié)"))
    phase = SelectField(_l("Phase"), choices=choices(PHASE_LABELS.items()))
    evaluation_centre = StringField(_l("Centre d'évaluation"), validators=[Length(max=MAX_NAME)])
    request_filed_on = DateField(_l("Demande déposée le"), validators=[Optional()])
    evaluation_started_on = DateField(_l("Évaluation commencée le"), validators=[Optional()])
    qualified_on = DateField(_l("Qualifié le"), validators=[Optional()])
    qualification_reference = StringField(_l("Référence de la décision de qualification"), validators=[Length(max=MAX_REFERENCE)],
                                          description=_l("numéro de la décision de l’ANSSI"))
    qualification_expires_on = DateField(_l("Qualification valable jusqu'au"), validators=[Optional()])
    next_surveillance_on = DateField(_l("Prochain audit de surveillance"), validators=[Optional()])
    # The structured description (its limit is the service's: one rule for every door).
    service_offer = TextAreaField(DESCRIPTION_LABELS["service_offer"],
                                  description=_l("Ce qui est vendu, à qui, sous quel nom commercial ; les types de service."))
    customers = TextAreaField(DESCRIPTION_LABELS["customers"],
                              description=_l("Qui sont les commanditaires et leurs utilisateurs, et comment ils accèdent au service."))
    interconnections = TextAreaField(DESCRIPTION_LABELS["interconnections"],
                                     description=_l("Les réseaux et systèmes avec lesquels le périmètre échange, et par quels flux."))
    administration = TextAreaField(DESCRIPTION_LABELS["administration"],
                                   description=_l("D'où, par quels moyens et par qui le service est administré."))
    out_of_scope = TextAreaField(DESCRIPTION_LABELS["out_of_scope"],
                                 description=_l("Ce que la qualification ne couvre pas."))

    def fill_choices(self, session, current: Perimeter | None):
        self.framework.choices = choices(
            (f.key, f.name) for f in session.exec(select(Framework).where(Framework.assessed).order_by(Framework.key))
        )
        self.built_on.choices = choices(
            [("", _("— aucun —"))] + [(p.code, f"{p.code} · {p.name}") for p in list_perimeters(session)
                                      if current is None or p.id != current.id]
        )

    def data_object(self) -> PerimeterData:
        return PerimeterData(
            code=self.code.data, name=self.name.data, description=self.description.data,
            service_types=tuple(self.service_types.data or ()), framework_key=self.framework.data,
            built_on_code=self.built_on.data or None, phase=self.phase.data,
            evaluation_centre=self.evaluation_centre.data,
            qualification_reference=self.qualification_reference.data or "",
            **{name: getattr(self, name).data for name in DATE_FIELDS},
            **{name: getattr(self, name).data or "" for name in DESCRIPTION_FIELDS},
        )


class DocumentForm(EmptyForm):
    role = SelectField(_l("Rôle"), choices=choices((r, label) for r, label in DOCUMENT_ROLE_LABELS.items()))
    evidence = SelectField(_l("Preuve"), validate_choice=False)
    note = StringField(_l("Note"), description=_l("ex. méthode EBIOS RM"))  # its limit is the service's

    def fill_choices(self, session, perimeter: Perimeter):
        """The perimeter's own evidence: nothing else can be one of its documents."""
        self.evidence.choices = choices((e.ref, f"{e.ref} · {e.title}") for e in session.exec(
            select(Evidence).join(EvidencePerimeter, EvidencePerimeter.evidence_id == Evidence.id)
            .where(EvidencePerimeter.perimeter_id == perimeter.id).order_by(Evidence.ref)))


class ApplicabilityForm(VersionedForm):
    state = SelectField(_l("Applicabilité"), choices=choices(STATE_LABELS.items()))
    justification = TextAreaField(_l("Justification"), validators=[Length(max=MAX_JUSTIFICATION)],
                                  description=_l("Obligatoire pour un point non applicable ou hérité."))



@bp.route("/")
@access(*ALL_ROLES)
def index():
    session = db.get_session()
    perimeters = [p for p in list_perimeters(session) if current_scope().reaches([p.id])]
    by_id = {p.id: p for p in perimeters}
    return render_template("web/perimeters/index.html", perimeters=perimeters, by_id=by_id, phases=PHASE_LABELS,
                           can_create=current_user.role in COMPLIANCE_ROLES)


@bp.route("/new", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def new():
    session = db.get_session()
    form = PerimeterForm()
    form.fill_choices(session, None)
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            perimeter = create_perimeter(session, current_user, form.data_object())
        if outcome.ok:
            flash(_("Périmètre %(code)s créé.", code=perimeter.code), "info")
            return redirect(url_for("perimeters.show", code=perimeter.code))
    return render_template("web/perimeters/form.html", form=form, perimeter=None)


@bp.route("/<code>")
@access(*ALL_ROLES)
def show(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    rows = statement_of_applicability(session, perimeter)
    state_filter = request.args.get("state", "")
    counts = Counter(row.applicability.state for row in rows)
    decided = sum(1 for row in rows if not row.applicability.derived)
    if state_filter in STATE_LABELS:
        rows = [row for row in rows if row.applicability.state == state_filter]
    lower = session.get(Perimeter, perimeter.built_on_id) if perimeter.built_on_id else None
    framework = session.get(Framework, perimeter.framework_id)
    can_edit = current_user.role in COMPLIANCE_ROLES
    document_form = bulk_form = None
    if can_edit:
        document_form = DocumentForm()
        document_form.fill_choices(session, perimeter)
        # Tick rows of the statement, one decision for all: the confirmation page lists what changes.
        bulk_form = ApplicabilityBulkForm(formdata=None, back=request.full_path.rstrip("?") + "#soa")
    return render_template(
        "web/perimeters/show.html", perimeter=perimeter, rows=rows, counts=counts, decided=decided, lower=lower,
        framework=framework, phases=PHASE_LABELS, states=STATE_LABELS, state_filter=state_filter,
        can_edit=can_edit, description_parts=_description_parts(perimeter),
        documents=_documents(session, perimeter), role_labels=DOCUMENT_ROLE_LABELS,
        document_form=document_form, bulk_form=bulk_form,
    )


def _documents(session, perimeter: Perimeter) -> dict:
    """The perimeter's reference documents, each shown only to whom reaches its evidence (an evaluator: approved)."""
    found = perimeter_documents.by_role(session, perimeter)
    if evaluation.sees_work_in_progress(current_user.role):
        return found
    return {role: [(d, e) for d, e in rows if reach.reaches_evidence(session, current_scope(), current_role(), e)]
            for role, rows in found.items()}


def _description_parts(perimeter: Perimeter) -> list[tuple[str, str]]:
    """(label, text) of the structured description's parts, in the form's order."""
    return [(DESCRIPTION_LABELS[name], getattr(perimeter, name)) for name in DESCRIPTION_FIELDS]


@bp.route("/<code>/edit", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def edit(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    lower = session.get(Perimeter, perimeter.built_on_id) if perimeter.built_on_id else None
    framework = session.get(Framework, perimeter.framework_id)
    form = PerimeterForm(obj=perimeter) if request.method == "GET" else PerimeterForm()
    form.fill_choices(session, perimeter)
    if request.method == "GET":
        form.version.data = perimeter.version
        form.built_on.data = lower.code if lower else ""
        form.framework.data = framework.key
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            update_perimeter(session, current_user, perimeter, form.data_object(), form.expected_version())
        if outcome.ok:
            flash(_("Périmètre enregistré."), "info")
            return redirect(url_for("perimeters.show", code=perimeter.code))
    return render_template("web/perimeters/form.html", form=form, perimeter=perimeter)


@bp.route("/<code>/documents", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def designate_document(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = DocumentForm()
    form.fill_choices(session, perimeter)
    if form.validate_on_submit():
        with reported_errors() as outcome:
            evidence = _evidence_or_refuse(session, form.evidence.data)
            perimeter_documents.designate(session, current_user, perimeter, form.role.data, evidence, form.note.data,
                                          store=db.get_store())
        if outcome.ok:
            flash(_("%(ref)s désignée : %(role)s.", ref=evidence.ref, role=DOCUMENT_ROLE_LABELS[form.role.data]), "info")
    else:
        flash_form_errors(form)
    return redirect(url_for("perimeters.show", code=perimeter.code) + "#documents")


@bp.route("/<code>/documents/remove", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def remove_document(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = EmptyForm()
    if form.validate_on_submit():
        role = request.form.get("role", "")
        if (confirmation := confirm.ask(
                _("Retirer la désignation de %(ref)s (%(role)s) pour %(code)s ?", ref=request.form.get("evidence", ""),
                  role=DOCUMENT_ROLE_LABELS.get(role, role), code=perimeter.code),
                consequence=_("La preuve elle-même reste ; le dossier indiquera ce document comme manquant."),
                action=_("Retirer"), back=url_for("perimeters.show", code=perimeter.code) + "#documents")):
            return confirmation
        with reported_errors() as outcome:
            evidence = _evidence_or_refuse(session, request.form.get("evidence", ""))
            perimeter_documents.remove(session, current_user, perimeter, role, evidence)
        if outcome.ok:
            flash(_("Désignation de %(ref)s retirée.", ref=evidence.ref), "info")
    return redirect(url_for("perimeters.show", code=perimeter.code) + "#documents")


def _evidence_or_refuse(session, ref: str) -> Evidence:
    if not (ref or "").strip():
        raise EvidenceError(N_("Choisissez une preuve."), field="evidence")
    return get_evidence(session, ref)


@bp.route("/<code>/applicability/<path:ref>", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def applicability(code: str, ref: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    requirement = item_or_404(perimeter, ref)
    row = next(r for r in statement_of_applicability(session, perimeter) if r.requirement.id == requirement.id)
    form = ApplicabilityForm()
    if request.method == "GET":
        form.state.data = row.applicability.state
        form.justification.data = "" if row.applicability.derived else row.applicability.justification
        form.version.data = perimeter.version
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            set_applicability(session, current_user, perimeter, requirement, form.state.data, form.justification.data)
        if outcome.ok:
            flash(_("Applicabilité de %(ref)s enregistrée.", ref=requirement.ref), "info")
            return redirect(url_for("perimeters.show", code=perimeter.code) + f"#req-{requirement.id}")
    return render_template("web/perimeters/applicability.html", form=form, perimeter=perimeter, requirement=requirement,
                           row=row, states=STATE_LABELS, lower=lower_layer(session, perimeter), phases=PHASE_LABELS)
