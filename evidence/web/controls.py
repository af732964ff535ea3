"""Controls: list, create, edit, retire, and their mappings to items of the referential."""
from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, or_
from sqlmodel import select
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

from evidence import context as db
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import ALL_ROLES, MAX_DESCRIPTION, MAX_STATEMENT, MAX_TITLE, WRITER_ROLES
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
from evidence.presentation import labels
from evidence.services import reach
from evidence.services.controls import (
    ControlData,
    can_edit_control,
    create_control,
    map_requirement,
    map_requirements,
    retire_control,
    unmap_requirement,
    update_control,
)
from evidence.services.users import possible_owners
from evidence.web import bulk, confirm, control_or_404, current_role, current_scope, pickers, reported_errors
from evidence.web.account import safe_next
from evidence.web.forms import CheckboxesField, EmptyForm, OwnerField, VersionedForm, choices, flash_form_errors
from evidence.web.listing import by_owner, filter_choices, id_arg, paginate

bp = Blueprint("controls", __name__, url_prefix="/controls")

CATEGORY_LABELS = labels.CONTROL_CATEGORY
STATUS_LABELS = labels.capitalised(labels.CONTROL_STATUS)


class ControlForm(VersionedForm):
    ref = StringField(_l("Référence"), validators=[DataRequired(), Length(max=40)], description=_l("ex. CTL-IAM-03"))
    title = StringField(_l("Intitulé"), validators=[DataRequired(), Length(max=MAX_TITLE)])
    description = TextAreaField(_l("Description"), validators=[Length(max=MAX_DESCRIPTION)])
    category = SelectField(_l("Catégorie"), choices=choices(CATEGORY_LABELS.items()))
    status = SelectField(_l("État"), choices=choices(STATUS_LABELS.items()))
    owner = OwnerField(_l("Responsable"))
    review_cycle_days = IntegerField(_l("Cycle de revue (jours)"), default=365, validators=[NumberRange(1, 1095)])
    perimeters = CheckboxesField(_l("Déployée dans"), coerce=int)

    def fill_choices(self, session, owner_id: int | None = None):
        """`owner_id`: the control's owner, offered whatever he has become (kept unless changed)."""
        self.owner.choices = choices([("", _("— personne —"))] + [
            (u.id, f"{u.name} <{u.email}>") for u in possible_owners(session, owner_id)
        ])
        self.perimeters.choices = choices((p.id, p.code) for p in session.exec(select(Perimeter).order_by(Perimeter.code)))

    def data_object(self) -> ControlData:
        return ControlData(
            ref=self.ref.data, title=self.title.data, description=self.description.data, category=self.category.data,
            owner_id=self.owner.data, status=self.status.data, review_cycle_days=self.review_cycle_days.data,
            perimeter_ids=list(self.perimeters.data or []),
        )


class MappingForm(EmptyForm):
    # The items (or, from an item's page, the control) are picked with a picker, read from the form as a list.
    statement = TextAreaField(_l("Mise en œuvre"), validators=[Length(max=MAX_STATEMENT)],
                              description=_l("Comment cette mesure satisfait ces points."))


def _assessed_requirement(session, ref: str) -> Requirement:
    requirement = session.exec(
        select(Requirement).join(Framework, Framework.id == Requirement.framework_id)
        .where(Framework.assessed, Requirement.ref == ref.strip())
    ).first()
    if requirement is None:
        raise EvidenceError(N_("le référentiel évalué ne contient aucun point « %(ref)s »"), ref=ref.strip(),
                            field="requirements")
    return requirement


@bp.route("/")
@access(*ALL_ROLES)
def index():
    session = db.get_session()
    args = request.args
    query = reach.only_reachable_controls(select(Control, User).outerjoin(User, User.id == Control.owner_id),
                                          current_scope())
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
    proofs = dict(session.exec(reach.only_reachable_evidence(
        select(EvidenceControl.control_id, func.count()).join(Evidence, Evidence.id == EvidenceControl.evidence_id)
        .where(EvidenceControl.control_id.in_(ids or [-1])), current_scope(), current_role())
        .group_by(EvidenceControl.control_id)
    ).all())
    deployed = defaultdict(list)
    for control_id, code in session.exec(reach.only_in_scope(
        select(ControlPerimeter.control_id, Perimeter.code).join(Perimeter, Perimeter.id == ControlPerimeter.perimeter_id)
        .where(ControlPerimeter.control_id.in_(ids or [-1])), ControlPerimeter.perimeter_id, current_scope())
        .order_by(Perimeter.code)
    ):
        deployed[control_id].append(code)
    return render_template(
        "web/controls/index.html", page=page, mapped=mapped, proofs=proofs, deployed=deployed,
        can_create=current_user.role in WRITER_ROLES,
        statuses=STATUS_LABELS, categories=CATEGORY_LABELS,
        **(lists := filter_choices(session)), **bulk.list_tools(session, "control", ids, lists["owners"]),
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
    if not pickers.searching() and form.validate_on_submit():  # a picker's search saves nothing
        with reported_errors(form=form) as outcome:
            control = create_control(session, current_user, form.data_object(), mapped=(
                requirement, request.form.get("statement", "")) if requirement is not None else None)
        if outcome.ok:
            flash(_("Mesure %(ref)s créée.", ref=control.ref), "info")
            return redirect(url_for("controls.show", ref=control.ref))
    return render_template("web/controls/form.html", form=form, control=None, requirement=requirement,
                           owner_picker=_owner_picker(form))


@bp.route("/<ref>", methods=["GET", "POST"])
@access(*ALL_ROLES, write=WRITER_ROLES)
def show(ref: str):
    """The control's page; a POST is only the "map items" picker's search made without JavaScript (it changes
    nothing: the page comes back with the matches, the picks and the statement kept)."""
    if request.method == "POST" and not pickers.searching():
        abort(400)
    session = db.get_session()
    control = control_or_404(ref)
    owner = session.get(User, control.owner_id) if control.owner_id else None
    mappings = session.exec(
        select(ControlRequirement, Requirement, Framework)
        .join(Requirement, Requirement.id == ControlRequirement.requirement_id)
        .join(Framework, Framework.id == Requirement.framework_id)
        .where(ControlRequirement.control_id == control.id).order_by(Requirement.order)
    ).all()
    evidence = session.exec(reach.only_reachable_evidence(
        select(Evidence).join(EvidenceControl, EvidenceControl.evidence_id == Evidence.id)
        .where(EvidenceControl.control_id == control.id), current_scope(), current_role()).order_by(Evidence.ref)
    ).all()
    perimeters = session.exec(reach.only_reachable_perimeters(
        select(Perimeter).join(ControlPerimeter, ControlPerimeter.perimeter_id == Perimeter.id)
        .where(ControlPerimeter.control_id == control.id), current_scope()).order_by(Perimeter.code)
    ).all()
    can_edit = can_edit_control(current_user, control)
    mapping_form, item_picker = MappingForm(formdata=None), None
    if can_edit:
        # Searched without JavaScript (posted), or back from the confirmation (in the address): picks kept.
        given = request.form if pickers.searching() else request.args
        mapping_form.statement.data = given.get("statement", "")[:MAX_STATEMENT]
        item_picker = pickers.build("requirements", "requirements", given.getlist("requirements"),
                                    exclude=[requirement.ref for _m, requirement, _f in mappings])
    return render_template(
        "web/controls/show.html", control=control, owner=owner, mappings=mappings, evidence=evidence,
        perimeters=perimeters, can_edit=can_edit, mapping_form=mapping_form, item_picker=item_picker,
        can_add_evidence=current_user.role in WRITER_ROLES, evidence_statuses=labels.EVIDENCE_STATUS,
        statuses=STATUS_LABELS, categories=CATEGORY_LABELS, retire_form=EmptyForm(),
    )


@bp.route("/<ref>/edit", methods=["GET", "POST"])
@access(*WRITER_ROLES)
def edit(ref: str):
    session = db.get_session()
    control = control_or_404(ref)
    if not can_edit_control(current_user, control):
        abort(403)
    form = ControlForm(obj=control) if request.method == "GET" else ControlForm()
    form.fill_choices(session, control.owner_id)
    if request.method == "GET":
        form.version.data = control.version
        form.owner.data = control.owner_id
        form.perimeters.data = list(session.exec(
            select(ControlPerimeter.perimeter_id).where(ControlPerimeter.control_id == control.id)
        ))
    if not pickers.searching() and form.validate_on_submit():  # a picker's search saves nothing
        with reported_errors(form=form) as outcome:
            update_control(session, current_user, control, form.data_object(), form.expected_version())
        if outcome.ok:
            flash(_("Mesure enregistrée."), "info")
            return redirect(url_for("controls.show", ref=control.ref))
    return render_template("web/controls/form.html", form=form, control=control, requirement=None,
                           owner_picker=_owner_picker(form))


def _owner_picker(form: ControlForm):
    """The owner, picked among the people who can own (a manager's choice: a contributor's controls are his)."""
    if current_user.role == "contributor":
        return None
    return pickers.build("owners", form.owner.name, [form.owner.data] if form.owner.data else [], key="id",
                         multiple=False, browse=True, errors=form.owner.errors)


@bp.route("/<ref>/retire", methods=["POST"])
@access(*WRITER_ROLES)
def retire(ref: str):
    session = db.get_session()
    control = control_or_404(ref)
    form = VersionedForm()
    if not can_edit_control(current_user, control):
        abort(403)  # before asking: a confirmation is offered only for what the user may do
    if form.validate_on_submit():
        if (confirmation := confirm.ask(
                _("Retirer la mesure %(ref)s « %(title)s » ?", ref=control.ref, title=control.title),
                consequence=_("Une mesure retirée ne couvre plus aucun point et ne peut plus recevoir de preuve."),
                action=_("Retirer"), back=url_for("controls.show", ref=control.ref))):
            return confirmation
        with reported_errors():
            retire_control(session, current_user, control, form.expected_version())
            flash(_("Mesure %(ref)s retirée.", ref=control.ref), "info")
    return redirect(url_for("controls.show", ref=control.ref))


@bp.route("/map", methods=["POST"], defaults={"ref": None})
@bp.route("/<ref>/map", methods=["POST"])
@access(*WRITER_ROLES)
def map_item(ref: str | None):
    """Map a control to items: from an item's page, the control picked there (mapped at once); from the control's
    page, the items picked there, mapped after one confirmation that lists them (one audit event per mapping)."""
    form = MappingForm()
    if ref is None:
        return _map_from_item(form)
    control = control_or_404(ref)
    if not can_edit_control(current_user, control):
        abort(403)
    back = url_for("controls.show", ref=control.ref) + "#requirements-picker"
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(back)
    session = db.get_session()
    refs = [r for r in [*request.form.getlist("requirements"), *request.form.getlist("requirement")] if r.strip()]
    if not refs:
        flash(_("Choisissez au moins un point du référentiel."), "error")
        return redirect(back)
    with reported_errors() as outcome:
        requirements = list({r.id: r for r in (_assessed_requirement(session, ref) for ref in refs)}.values())
    if not outcome.ok:
        return redirect(back)
    if request.form.get("confirmed") != "1":
        return render_template(
            "web/controls/confirm_map.html", control=control, requirements=requirements, form=form,
            back=url_for("controls.show", ref=control.ref, requirements=[r.ref for r in requirements],
                         statement=form.statement.data or None) + "#requirements-picker")
    with reported_errors() as outcome:
        map_requirements(session, current_user, control, requirements, form.statement.data)
    if outcome.ok:
        flash(ngettext("%(num)d point associé à %(control)s.", "%(num)d points associés à %(control)s.",
                       len(requirements), control=control.ref), "info")
    return redirect(url_for("controls.show", ref=control.ref))


def _map_from_item(form: MappingForm):
    """The item page's "Associer": the control picked (none is preselected) mapped to that one item."""
    session = db.get_session()
    next_url = request.form.get("next", "")
    home = url_for("requirements.index")
    next_url = safe_next(next_url, home) if next_url.startswith("/requirements/") else home
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(next_url)
    if not request.form.get("control", "").strip():
        flash(_("Choisissez la mesure à associer à ce point."), "error")
        return redirect(next_url + "#control-picker")
    control = control_or_404(request.form["control"])
    with reported_errors():
        requirement = _assessed_requirement(session, request.form.get("requirement", ""))
        map_requirement(session, current_user, control, requirement, form.statement.data)
        flash(_("%(control)s associée à %(ref)s.", control=control.ref, ref=requirement.ref), "info")
    return redirect(next_url)


@bp.route("/<ref>/unmap/<int:requirement_id>", methods=["POST"])
@access(*WRITER_ROLES)
def unmap_item(ref: str, requirement_id: int):
    session = db.get_session()
    control = control_or_404(ref)
    requirement = session.get(Requirement, requirement_id) or abort(404)
    if not can_edit_control(current_user, control):
        abort(403)  # before asking: a confirmation is offered only for what the user may do
    if EmptyForm().validate_on_submit():
        if (confirmation := confirm.ask(
                _("Dissocier %(control)s du point %(ref)s ?", control=control.ref, ref=requirement.ref),
                consequence=_("La déclaration de mise en œuvre est effacée ; le journal d’audit la garde."),
                action=_("Dissocier"), back=url_for("controls.show", ref=control.ref))):
            return confirmation
        unmap_requirement(session, current_user, control, requirement)
        flash(_("%(control)s n'est plus associée à %(ref)s.", control=control.ref, ref=requirement.ref), "info")
    return redirect(url_for("controls.show", ref=control.ref))
