"""Controls: list, create, edit, retire, and their mappings to items of the referential."""
from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, or_
from sqlmodel import select
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

from evidence import context as db
from evidence.core.access import access
from evidence.core.errors import EvidenceError
from evidence.core.vocabulary import ALL_ROLES, WRITER_ROLES
from evidence.data.models import (
    CONTROL_CATEGORIES,
    CONTROL_STATUSES,
    Control,
    ControlPerimeter,
    ControlRequirement,
    Evidence,
    EvidenceControl,
    Framework,
    Perimeter,
    Requirement,
    User,
)
from evidence.services.controls import (
    ControlData,
    can_edit_control,
    create_control,
    get_control,
    map_requirement,
    retire_control,
    unmap_requirement,
    update_control,
)
from evidence.web import reported_errors
from evidence.web.forms import CheckboxesField, EmptyForm, OwnerField, VersionedForm, choices
from evidence.web.listing import by_owner, filter_choices, id_arg, paginate

bp = Blueprint("controls", __name__, url_prefix="/controls")

CATEGORY_LABELS = {"organisational": _l("Organisationnelle"), "physical": _l("Physique"),
                   "technical": _l("Technique"), "procedural": _l("Procédurale")}
STATUS_LABELS = {"planned": _l("Prévue"), "in_progress": _l("En cours"), "implemented": _l("En place"),
                 "retired": _l("Retirée")}


class ControlForm(VersionedForm):
    ref = StringField(_l("Référence"), validators=[DataRequired(), Length(max=40)], description=_l("ex. CTL-IAM-03"))
    title = StringField(_l("Intitulé"), validators=[DataRequired(), Length(max=300)])
    description = TextAreaField(_l("Description"), validators=[Length(max=20000)])
    category = SelectField(_l("Catégorie"), choices=choices(CATEGORY_LABELS.items()))
    status = SelectField(_l("État"), choices=choices(STATUS_LABELS.items()))
    owner = OwnerField(_l("Responsable"))
    review_cycle_days = IntegerField(_l("Cycle de revue (jours)"), default=365, validators=[NumberRange(1, 1095)])
    perimeters = CheckboxesField(_l("Déployée dans"), coerce=int)

    def fill_choices(self, session):
        self.owner.choices = choices([("", _("— personne —"))] + [
            (u.id, f"{u.name} <{u.email}>") for u in session.exec(select(User).where(User.active).order_by(User.name))
        ])
        self.perimeters.choices = choices((p.id, p.code) for p in session.exec(select(Perimeter).order_by(Perimeter.code)))

    def data_object(self) -> ControlData:
        return ControlData(
            ref=self.ref.data, title=self.title.data, description=self.description.data, category=self.category.data,
            owner_id=self.owner.data, status=self.status.data, review_cycle_days=self.review_cycle_days.data,
            perimeter_ids=list(self.perimeters.data or []),
        )


class MappingForm(EmptyForm):
    requirement = StringField(_l("Point du référentiel"), validators=[DataRequired(), Length(max=50)],
                              description=_l("ex. 12.4.a"))
    statement = TextAreaField(_l("Mise en œuvre"), validators=[Length(max=10000)],
                              description=_l("Comment cette mesure satisfait ce point."))


def _control_or_404(ref: str) -> Control:
    try:
        return get_control(db.get_session(), ref)
    except EvidenceError:
        abort(404)


def _assessed_requirement(session, ref: str) -> Requirement:
    requirement = session.exec(
        select(Requirement).join(Framework, Framework.id == Requirement.framework_id)
        .where(Framework.assessed, Requirement.ref == ref.strip())
    ).first()
    if requirement is None:
        raise EvidenceError(f"no item {ref.strip()!r} in the referential")
    return requirement


@bp.route("/")
@access(*ALL_ROLES)
def index():
    session = db.get_session()
    args = request.args
    query = select(Control, User).outerjoin(User, User.id == Control.owner_id)
    query = by_owner(query, Control.owner_id)
    if args.get("status") in CONTROL_STATUSES:
        query = query.where(Control.status == args["status"])
    elif not args.get("status"):
        query = query.where(Control.status != "retired")
    if args.get("category") in CONTROL_CATEGORIES:
        query = query.where(Control.category == args["category"])
    if id_arg("perimeter") is not None:
        query = query.where(Control.id.in_(
            select(ControlPerimeter.control_id).where(ControlPerimeter.perimeter_id == id_arg("perimeter"))
        ))
    if q := args.get("q", "").strip()[:100]:
        query = query.where(or_(Control.ref.icontains(q, autoescape=True), Control.title.icontains(q, autoescape=True)))
    page = paginate(session, query.order_by(Control.ref))
    ids = [control.id for control, _owner in page.rows]
    mapped = dict(session.exec(
        select(ControlRequirement.control_id, func.count()).where(ControlRequirement.control_id.in_(ids or [-1]))
        .group_by(ControlRequirement.control_id)
    ).all())
    proofs = dict(session.exec(
        select(EvidenceControl.control_id, func.count()).where(EvidenceControl.control_id.in_(ids or [-1]))
        .group_by(EvidenceControl.control_id)
    ).all())
    deployed = defaultdict(list)
    for control_id, code in session.exec(
        select(ControlPerimeter.control_id, Perimeter.code).join(Perimeter, Perimeter.id == ControlPerimeter.perimeter_id)
        .where(ControlPerimeter.control_id.in_(ids or [-1])).order_by(Perimeter.code)
    ):
        deployed[control_id].append(code)
    return render_template(
        "web/controls/index.html", page=page, mapped=mapped, proofs=proofs, deployed=deployed,
        statuses=STATUS_LABELS, categories=CATEGORY_LABELS,
        **filter_choices(session),
    )


@bp.route("/new", methods=["GET", "POST"])
@access(*WRITER_ROLES)
def new():
    """Create a control; with ?requirement=ID (from an item's page) it is mapped to that item at once."""
    session = db.get_session()
    form = ControlForm()
    form.fill_choices(session)
    requirement = session.get(Requirement, id_arg("requirement") or 0)
    if request.method == "GET":
        form.owner.data = current_user.id
    if form.validate_on_submit():
        with reported_errors() as outcome:
            control = create_control(session, current_user, form.data_object())
            if requirement is not None:
                map_requirement(session, current_user, control, requirement, request.form.get("statement", ""))
        if outcome.ok:
            flash(_("Mesure %(ref)s créée.", ref=control.ref), "info")
            return redirect(url_for("controls.show", ref=control.ref))
    return render_template("web/controls/form.html", form=form, control=None, requirement=requirement)


@bp.route("/<ref>")
@access(*ALL_ROLES)
def show(ref: str):
    session = db.get_session()
    control = _control_or_404(ref)
    owner = session.get(User, control.owner_id) if control.owner_id else None
    mappings = session.exec(
        select(ControlRequirement, Requirement, Framework)
        .join(Requirement, Requirement.id == ControlRequirement.requirement_id)
        .join(Framework, Framework.id == Requirement.framework_id)
        .where(ControlRequirement.control_id == control.id).order_by(Requirement.order)
    ).all()
    evidence = session.exec(
        select(Evidence).join(EvidenceControl, EvidenceControl.evidence_id == Evidence.id)
        .where(EvidenceControl.control_id == control.id).order_by(Evidence.ref)
    ).all()
    perimeters = session.exec(
        select(Perimeter).join(ControlPerimeter, ControlPerimeter.perimeter_id == Perimeter.id)
        .where(ControlPerimeter.control_id == control.id).order_by(Perimeter.code)
    ).all()
    return render_template(
        "web/controls/show.html", control=control, owner=owner, mappings=mappings, evidence=evidence,
        perimeters=perimeters, can_edit=can_edit_control(current_user, control), mapping_form=MappingForm(),
        statuses=STATUS_LABELS, categories=CATEGORY_LABELS, retire_form=EmptyForm(),
    )


@bp.route("/<ref>/edit", methods=["GET", "POST"])
@access(*WRITER_ROLES)
def edit(ref: str):
    session = db.get_session()
    control = _control_or_404(ref)
    if not can_edit_control(current_user, control):
        abort(403)
    form = ControlForm(obj=control) if request.method == "GET" else ControlForm()
    form.fill_choices(session)
    if request.method == "GET":
        form.version.data = control.version
        form.owner.data = control.owner_id
        form.perimeters.data = list(session.exec(
            select(ControlPerimeter.perimeter_id).where(ControlPerimeter.control_id == control.id)
        ))
    if form.validate_on_submit():
        with reported_errors() as outcome:
            update_control(session, current_user, control, form.data_object(), form.expected_version())
        if outcome.ok:
            flash(_("Mesure enregistrée."), "info")
            return redirect(url_for("controls.show", ref=control.ref))
    return render_template("web/controls/form.html", form=form, control=control, requirement=None)


@bp.route("/<ref>/retire", methods=["POST"])
@access(*WRITER_ROLES)
def retire(ref: str):
    session = db.get_session()
    control = _control_or_404(ref)
    form = VersionedForm()
    if form.validate_on_submit():
        with reported_errors():
            retire_control(session, current_user, control, form.expected_version())
            flash(_("Mesure %(ref)s retirée.", ref=control.ref), "info")
    return redirect(url_for("controls.show", ref=control.ref))


@bp.route("/map", methods=["POST"], defaults={"ref": None})
@bp.route("/<ref>/map", methods=["POST"])
@access(*WRITER_ROLES)
def map_item(ref: str | None):
    """Map a control to an item: from the control's page (ref in the address) or an item's page (in the form)."""
    session = db.get_session()
    control = _control_or_404(ref or request.form.get("control", ""))
    form = MappingForm()
    if form.validate_on_submit():
        with reported_errors():
            requirement = _assessed_requirement(session, form.requirement.data)
            map_requirement(session, current_user, control, requirement, form.statement.data)
            flash(_("%(control)s associée à %(ref)s.", control=control.ref, ref=requirement.ref), "info")
    else:
        flash(_("Indiquez le point du référentiel."), "error")
    return redirect(request.form.get("next") if request.form.get("next", "").startswith("/requirements/")
                    else url_for("controls.show", ref=control.ref))


@bp.route("/<ref>/unmap/<int:requirement_id>", methods=["POST"])
@access(*WRITER_ROLES)
def unmap_item(ref: str, requirement_id: int):
    session = db.get_session()
    control = _control_or_404(ref)
    requirement = session.get(Requirement, requirement_id) or abort(404)
    if EmptyForm().validate_on_submit():
        unmap_requirement(session, current_user, control, requirement)
        flash(_("%(control)s n'est plus associée à %(ref)s.", control=control.ref, ref=requirement.ref), "info")
    return redirect(url_for("controls.show", ref=control.ref))
