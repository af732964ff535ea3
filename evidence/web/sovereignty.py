"""Sovereignty registers of a perimeter (chapter 19) and the verdict of each check."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select
from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length
from wtforms.validators import Optional as Blank

from evidence import context as db
from evidence.core import rules
from evidence.core.access import access
from evidence.core.vocabulary import (
    ALL_ROLES,
    COMPLIANCE_ROLES,
    MAX_CITY,
    MAX_JUSTIFICATION,
    MAX_LINE,
    MAX_NAME,
    MAX_REFERENCE,
)
from evidence.data.models import (
    ChangeNotice,
    DataLocation,
    ForeignPublicLink,
    OperationLocation,
    Perimeter,
    Shareholder,
    Site,
    SovereigntyChange,
    SovereigntyChangePerimeter,
    Subcontractor,
    SubcontractorPerimeter,
)
from evidence.presentation import labels, typography
from evidence.presentation import sovereignty_words as words
from evidence.services import reach, sovereignty
from evidence.services.sovereignty.localisation import SITE_CITY_MAX, SITE_KIND_MAX, SITE_NAME_MAX, SITE_ROLE_MAX
from evidence.web import confirm, current_scope, perimeter_or_404, reported_errors
from evidence.web.clock import request_today
from evidence.web.forms import EmptyForm, choices, flash_form_errors

bp = Blueprint("sovereignty", __name__, url_prefix="/perimeters/<code>/sovereignty")


class SeatForm(EmptyForm):
    kind = SelectField(_l("Siège"), choices=choices(labels.SEAT.items()))
    address = StringField(_l("Adresse"), validators=[Length(max=MAX_LINE)])
    city = StringField(_l("Ville"), validators=[Length(max=MAX_CITY)])
    country = StringField(_l("Pays (ISO)"), validators=[DataRequired(), Length(max=2)], description=_l("ex. FR"))


class HolderForm(EmptyForm):
    name = StringField(_l("Détenteur"), validators=[DataRequired(), Length(max=MAX_NAME)])
    country = StringField(_l("Pays du siège (ISO)"), validators=[DataRequired(), Length(max=2)])
    kind = SelectField(_l("Nature"), choices=choices([("direct", _l("Détention directe")), ("ultimate", _l("Entité contrôlante ultime"))]))
    capital = StringField(_l("Capital (%)"), default="0", validators=[Length(max=10)])
    voting = StringField(_l("Droits de vote (%)"), default="0", validators=[Length(max=10)])
    veto = BooleanField(_l("Droit de veto"))
    board_majority = BooleanField(_l("Nomme la majorité du conseil"))
    notes = TextAreaField(_l("Notes"), validators=[Length(max=MAX_JUSTIFICATION)])


def assessed(value):
    """A yes / no / not assessed answer: "yes", "no", "" from a form; True, False, None from a row."""
    return {"yes": True, "no": False}.get(value) if isinstance(value, str) else value


class SubcontractorForm(EmptyForm):
    name = StringField(_l("Sous-traitant"), validators=[DataRequired(), Length(max=MAX_NAME)])
    country = StringField(_l("Pays du siège (ISO)"), validators=[DataRequired(), Length(max=2)])
    service = StringField(_l("Prestation"), validators=[Length(max=MAX_LINE)])
    contract_ref = StringField(_l("Référence du contrat"), validators=[Length(max=MAX_REFERENCE)])
    data_access = BooleanField(_l("Peut techniquement accéder aux données des commanditaires"))
    technical_data_access = SelectField(
        _l("Peut techniquement accéder aux données techniques"), coerce=assessed,
        choices=choices([("", _l("— à évaluer —")), ("yes", _l("oui")), ("no", _l("non"))]),
        description=_l("identités, SDN, journaux, annuaire, certificats, configuration des accès"))
    access_justification = TextAreaField(_l("Pourquoi il ne peut pas accéder à ces données"), validators=[Length(max=MAX_JUSTIFICATION)])
    parent_name = StringField(_l("Société qui le détient ou le contrôle"), validators=[Length(max=MAX_NAME)])
    parent_country = StringField(_l("Pays de cette société (ISO)"), validators=[Length(max=2)])
    parent_capital = StringField(_l("Capital qu'elle détient (%)"), default="0", validators=[Length(max=10)])
    parent_voting = StringField(_l("Droits de vote qu'elle détient (%)"), default="0", validators=[Length(max=10)],
                                description=_l("directement ou indirectement"))
    largest_other_voting = StringField(_l("Plus forte part des droits de vote d'un autre associé (%)"), default="0",
                                       validators=[Length(max=10)])
    parent_agreement = BooleanField(_l("Majorité des droits de vote par accord avec d'autres associés (L233-3 I 2°)"))
    parent_de_facto = BooleanField(_l("Détermine en fait les décisions des assemblées générales (L233-3 I 3°)"))
    parent_board_power = BooleanField(_l("Nomme ou révoque la majorité des dirigeants (L233-3 I 4°)"))
    qualified = BooleanField(_l("Qualifié SecNumCloud"))
    qualification_decision = StringField(_l("Numéro de la décision de qualification"), validators=[Length(max=MAX_REFERENCE)])
    qualification_date = DateField(_l("Date de la décision de qualification"), validators=[Blank()])
    own_skills = BooleanField(_l("Autonomie d'exploitation par les compétences propres du prestataire"))
    autonomy_arrangements = TextAreaField(_l("Dispositions d'autonomie"), validators=[Length(max=MAX_JUSTIFICATION)],
                                          description=_l("équipe interne, miroir des mises à jour, séquestre du code source…"))
    alternatives = TextAreaField(_l("Sociétés tierces alternatives (une par ligne)"), validators=[Length(max=MAX_JUSTIFICATION)],
                                 description=_l("au moins deux, à défaut de compétences propres (19.6.d)"))
    perimeters = SelectMultipleField(_l("Périmètres servis (aucun : tous)"), coerce=int)


class ForeignLinkForm(EmptyForm):
    body = StringField(_l("Gouvernement ou organisme public"), validators=[DataRequired(), Length(max=MAX_NAME)])
    country = StringField(_l("Pays (ISO)"), validators=[DataRequired(), Length(max=2)])
    nature = TextAreaField(_l("Nature du lien"), validators=[Length(max=MAX_JUSTIFICATION)])
    assessment = TextAreaField(_l("Évaluation"), validators=[Length(max=MAX_JUSTIFICATION)],
                               description=_l("Vide : lien non évalué, ce qui est un écart (19.6.e)."))
    assessed_on = DateField(_l("Évalué le"), validators=[Blank()])


class NoLinkForm(EmptyForm):
    statement = TextAreaField(_l("Déclaration"), validators=[Length(max=MAX_JUSTIFICATION)],
                              default=_l("Le prestataire n'entretient aucun lien avec un gouvernement ou un organisme "
                                         "public étranger."))


class ChangeForm(EmptyForm):
    kind = SelectField(_l("Nature du changement"), choices=choices(labels.CHANGE_KIND.items()))
    changed_on = DateField(_l("Date du changement"), validators=[DataRequired()])
    description = TextAreaField(_l("Description"), validators=[DataRequired(), Length(max=sovereignty.MAX_CHANGE)])
    perimeters = SelectMultipleField(_l("Périmètres concernés (aucun : tous)"), coerce=int)


class NoticeForm(EmptyForm):
    sent_on = DateField(_l("Commanditaires informés le"), validators=[DataRequired()])
    scope = SelectField(_l("Commanditaires informés"), choices=choices([("perimeter", _l("ceux de ce périmètre")),
                                                                        ("all", _l("tous ceux que le changement concerne"))]))
    means = StringField(_l("Moyen"), validators=[Length(max=MAX_LINE)], description=_l("lettre recommandée, avenant, portail…"))


class SiteForm(EmptyForm):
    name = StringField(_l("Nom du site"), validators=[Length(max=SITE_NAME_MAX)], description=_l("ex. PAR-2, Campus Lyon"))
    kind = StringField(_l("Nature du site"), validators=[DataRequired(), Length(max=SITE_KIND_MAX)],
                       description=_l("centre de données, site de sauvegarde, SOC…"))
    role = TextAreaField(_l("Rôle pour le périmètre"), validators=[Length(max=SITE_ROLE_MAX)],
                         description=_l("production, sauvegarde, supervision…"))
    city = StringField(_l("Ville"), validators=[Length(max=SITE_CITY_MAX)])
    country = StringField(_l("Pays (ISO)"), validators=[DataRequired(), Length(max=2)])


class DataForm(EmptyForm):
    category = SelectField(_l("Données"), choices=choices(labels.DATA_CATEGORY.items()))
    activity = SelectField(_l("Activité"), choices=choices(labels.DATA_ACTIVITY.items()))
    country = StringField(_l("Pays (ISO)"), validators=[DataRequired(), Length(max=2)])


class OperationForm(EmptyForm):
    operation = SelectField(_l("Opération"), choices=choices(labels.OPERATION.items()))
    country = StringField(_l("Réalisée depuis (ISO)"), validators=[DataRequired(), Length(max=2)])
    allowed_operations = TextAreaField(_l("Opérations permises depuis ce pays"), validators=[Length(max=MAX_JUSTIFICATION)],
                                       description=_l("Obligatoire pour un support hors UE (19.2.e)."))



def _perimeter_choices(session):
    return choices((p.id, p.code) for p in session.exec(
        reach.only_reachable_perimeters(select(Perimeter), current_scope()).order_by(Perimeter.code)))


def _subcontractor_form(session, obj=None) -> SubcontractorForm:
    form = SubcontractorForm(obj=obj) if obj is not None and request.method == "GET" else SubcontractorForm()
    form.perimeters.choices = _perimeter_choices(session)
    return form


def _change_form(session, obj=None) -> ChangeForm:
    form = ChangeForm(obj=obj) if obj is not None and request.method == "GET" else ChangeForm()
    form.perimeters.choices = _perimeter_choices(session)
    return form


@bp.route("/")
@access(*ALL_ROLES)
def page(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    regs = sovereignty.registers(session, perimeter, request_today())
    if current_scope().limited:  # a change's other perimeters, beyond the reader's, are not named to him
        codes = {p.code for p in session.exec(reach.only_reachable_perimeters(select(Perimeter), current_scope()))}
        regs.change_scopes = {change: [c for c in scope if c in codes] for change, scope in regs.change_scopes.items()}
    members = set(sovereignty.eu_members())
    # The non-EU direct holdings, summed as 19.6.b sums them: the table's total row is the check's figure.
    outside = [h for h in regs.holders if h.country not in members and h.kind == "direct"]
    non_eu_total = {"capital": sum(h.capital_bp for h in outside), "voting": sum(h.voting_bp for h in outside),
                    "holders": len(outside)}
    return render_template(
        "web/sovereignty/page.html", perimeter=perimeter, regs=regs, checks=sovereignty.checks(regs),
        eu=sovereignty.eu_members(), labels=labels, words=words, non_eu_total=non_eu_total,
        percent=lambda bp: typography.percent(rules.share(bp)), can_edit=current_user.role in COMPLIANCE_ROLES,
        seat_form=SeatForm(), holder_form=HolderForm(), subcontractor_form=_subcontractor_form(session),
        site_form=SiteForm(), data_form=DataForm(), operation_form=OperationForm(), link_form=ForeignLinkForm(),
        no_link_form=NoLinkForm(), change_form=_change_form(session), notice_form=NoticeForm(),
        tie=lambda s: rules.foreign_tie(sovereignty.third_party(s), members), deadline=rules.one_month_after,
    )


def _form_errors(code: str, form):
    flash_form_errors(form)
    return redirect(url_for("sovereignty.page", code=code))


def _record(code: str, form, write, message):
    """The shape of every "add to a register" post: validate, write (a refusal becomes a message), go back."""
    perimeter = perimeter_or_404(code)
    if not form.validate_on_submit():
        return _form_errors(code, form)
    with reported_errors() as outcome:
        write(db.get_session(), perimeter, form)
    if outcome.ok:
        flash(message, "info")
    return redirect(url_for("sovereignty.page", code=code))


def _edit_row(code: str, model, row_id, form, write, message, *, fill=None, title):
    """The shape of every register row's own page: GET shows the row in its form (404 for a row that is not
    there), POST saves it like `_record`, `write(session, perimeter, form, row)` with row None for a new one."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    row = session.get(model, row_id) if row_id else None
    if row_id and row is None:
        abort(404)
    form = form(session, row)
    if request.method == "GET":
        if fill is not None:
            fill(session, form, row)
        return render_template("web/sovereignty/edit.html", perimeter=perimeter, form=form, title=title(row))
    return _record(code, form, lambda session, perimeter, f: write(session, perimeter, f, row), message)


def _loaded(form_class):
    """A form factory: the row's values on GET, the posted values otherwise."""
    return lambda _session, row: form_class(obj=row) if row is not None and request.method == "GET" else form_class()


@bp.route("/seat", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def seat(code: str):
    return _record(code, SeatForm(), lambda session, _perimeter, f: sovereignty.set_seat(
        session, current_user, f.kind.data, f.country.data, f.city.data, f.address.data, today=request_today()),
        _("Siège enregistré."))


@bp.route("/holders", methods=["POST"], defaults={"holder_id": None})
@bp.route("/holders/<int:holder_id>", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def holder(code: str, holder_id):
    def fill(_session, form, item):
        form.capital.data, form.voting.data = f"{item.capital_bp / 100:g}", f"{item.voting_bp / 100:g}"

    def write(session, _perimeter, form, item):
        sovereignty.save_holder(session, current_user, sovereignty.HolderData(
            name=form.name.data, country=form.country.data, capital=form.capital.data, voting=form.voting.data,
            kind=form.kind.data, veto=form.veto.data, board_majority=form.board_majority.data, notes=form.notes.data),
            item, today=request_today())

    return _edit_row(code, Shareholder, holder_id, _loaded(HolderForm), write, _("Actionnariat enregistré."), fill=fill,
                     title=lambda item: item.name)


SUBCONTRACTOR_FIELDS = ("name", "country", "service", "data_access", "technical_data_access", "access_justification",
                        "parent_name", "parent_country", "parent_capital", "parent_voting", "largest_other_voting",
                        "parent_agreement", "parent_de_facto", "parent_board_power", "qualified",
                        "qualification_decision", "qualification_date", "own_skills", "alternatives",
                        "autonomy_arrangements", "contract_ref")


@bp.route("/subcontractors", methods=["POST"], defaults={"subcontractor_id": None})
@bp.route("/subcontractors/<int:subcontractor_id>", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def subcontractor(code: str, subcontractor_id):
    def fill(session, form, item):
        form.perimeters.data = list(session.exec(select(SubcontractorPerimeter.perimeter_id).where(
            SubcontractorPerimeter.subcontractor_id == item.id)))
        form.parent_capital.data, form.parent_voting.data, form.largest_other_voting.data = (
            f"{bp / 100:g}" for bp in (item.parent_capital_bp, item.parent_voting_bp, item.largest_other_voting_bp))
        form.alternatives.data = "\n".join(item.alternatives or ())

    def write(session, _perimeter, form, item):
        sovereignty.save_subcontractor(session, current_user, sovereignty.SubcontractorData(
            **{name: form[name].data for name in SUBCONTRACTOR_FIELDS}, perimeter_ids=tuple(form.perimeters.data or ())),
            item, today=request_today())

    return _edit_row(code, Subcontractor, subcontractor_id, _subcontractor_form, write, _("Sous-traitant enregistré."),
                     fill=fill, title=lambda item: item.name)


@bp.route("/sites", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def site(code: str):
    return _record(code, SiteForm(), lambda session, perimeter, f: sovereignty.add_site(
        session, current_user, perimeter, f.kind.data, f.city.data, f.country.data, name=f.name.data, role=f.role.data),
        _("Site ajouté."))


@bp.route("/data", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def data(code: str):
    return _record(code, DataForm(), lambda session, perimeter, f: sovereignty.add_data_location(
        session, current_user, perimeter, f.category.data, f.activity.data, f.country.data, today=request_today()),
        _("Localisation ajoutée."))


@bp.route("/operations", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def operation(code: str):
    return _record(code, OperationForm(), lambda session, perimeter, f: sovereignty.add_operation(
        session, current_user, perimeter, f.operation.data, f.country.data, f.allowed_operations.data, today=request_today()),
        _("Opération ajoutée."))


@bp.route("/links", methods=["POST"], defaults={"row_id": None})
@bp.route("/links/<int:row_id>", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def foreign_link(code: str, row_id):
    """Record a link with a foreign government or public body (19.6.e), or assess one."""
    def write(session, _perimeter, form, item):
        sovereignty.save_foreign_link(session, current_user, sovereignty.ForeignLinkData(
            body=form.body.data, country=form.country.data, nature=form.nature.data, assessment=form.assessment.data,
            assessed_on=form.assessed_on.data), item, today=request_today())

    return _edit_row(code, ForeignPublicLink, row_id, _loaded(ForeignLinkForm), write, _("Lien enregistré."),
                     title=lambda item: item.body)


@bp.route("/links/none", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def no_foreign_link(code: str):
    return _record(code, NoLinkForm(), lambda session, _perimeter, f: sovereignty.declare_no_foreign_links(
        session, current_user, f.statement.data, today=request_today()), _("Absence de lien déclarée."))


@bp.route("/changes", methods=["POST"], defaults={"row_id": None})
@bp.route("/changes/<int:row_id>", methods=["GET", "POST"])
@access(*COMPLIANCE_ROLES)
def change(code: str, row_id):
    """Record a change that may affect compliance with 19.6 (19.6.f), or correct one."""
    def fill(session, form, item):
        form.perimeters.data = list(session.exec(select(SovereigntyChangePerimeter.perimeter_id).where(
            SovereigntyChangePerimeter.change_id == item.id)))

    def write(session, _perimeter, form, item):
        sovereignty.save_change(session, current_user, sovereignty.ChangeData(
            kind=form.kind.data, changed_on=form.changed_on.data, description=form.description.data,
            perimeter_ids=tuple(form.perimeters.data or ())), item)

    return _edit_row(code, SovereigntyChange, row_id, _change_form, write, _("Changement enregistré."), fill=fill,
                     title=lambda item: _("Changement n° %(number)s", number=item.id))


@bp.route("/changes/<int:row_id>/notices", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def notice(code: str, row_id: int):
    """The day the customers were told of a change: this perimeter's, or all those it concerns."""
    item = db.get_session().get(SovereigntyChange, row_id) or abort(404)
    return _record(code, NoticeForm(), lambda session, perimeter, f: sovereignty.add_notice(
        session, current_user, item, perimeter if f.scope.data == "perimeter" else None, f.sent_on.data, f.means.data,
        today=request_today()), _("Information des commanditaires enregistrée."))


DELETED_WHAT = {"holder": _l("le détenteur"), "subcontractor": _l("le sous-traitant"), "site": _l("le site"),
                "data": _l("la localisation de données"), "operation": _l("le lieu d’opération"),
                "link": _l("le lien avec un organisme public étranger"), "change": _l("le changement"),
                "notice": _l("l’information des commanditaires")}
REMOVABLE = {"holder": Shareholder, "subcontractor": Subcontractor, "site": Site, "data": DataLocation,
             "operation": OperationLocation, "link": ForeignPublicLink, "change": SovereigntyChange, "notice": ChangeNotice}


@bp.route("/<any(holder, subcontractor, site, data, operation, link, change, notice):kind>/<int:row_id>/delete",
          methods=["POST"])
@access(*COMPLIANCE_ROLES)
def delete(code: str, kind: str, row_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    row = session.get(REMOVABLE[kind], row_id) or abort(404)
    if getattr(row, "perimeter_id", None) not in (None, perimeter.id):
        abort(404)
    if EmptyForm().validate_on_submit():
        page = url_for("sovereignty.page", code=code)
        consequence = (_("La ligne quitte le registre ; le journal d’audit garde toutes ses valeurs.")
                       + (" " + _("Ce retrait est aussi consigné comme un changement dont informer les commanditaires.")
                          if row.__tablename__ in sovereignty.CHANGE_ON_DELETE else ""))
        question = _("Supprimer %(what)s « %(name)s » ?", what=DELETED_WHAT[kind],
                     name=sovereignty.row_label(row))
        if (confirmation := confirm.ask(question, consequence=consequence, action=_("Supprimer"), back=page)):
            return confirmation
        sovereignty.delete_row(session, current_user, row, today=request_today())
        flash(_("Ligne supprimée."), "info")
    return redirect(url_for("sovereignty.page", code=code))
