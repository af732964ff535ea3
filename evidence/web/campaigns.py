"""A perimeter's evaluation campaigns: listed for every reader of the perimeter; opened, changed, closed and
given their evaluators by the compliance managers."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from evidence import context as db
from evidence.core.access import access
from evidence.core.errors import EvidenceError
from evidence.core.vocabulary import ALL_ROLES, COMPLIANCE_ROLES, MAX_NAME
from evidence.presentation import changes as change_words
from evidence.presentation import labels
from evidence.services import campaigns
from evidence.web import current_role, perimeter_or_404, reported_errors
from evidence.web.clock import request_today
from evidence.web.forms import CheckboxesField, EmptyForm, VersionedForm, choices, flash_form_errors

bp = Blueprint("campaigns", __name__, url_prefix="/perimeters/<code>")


class CampaignForm(VersionedForm):
    kind = SelectField(_l("Type d’évaluation"), choices=choices(labels.CAMPAIGN_KIND.items()))
    centre = StringField(_l("Centre d'évaluation"), validators=[DataRequired(), Length(max=MAX_NAME)])
    starts_on = DateField(_l("Du"), validators=[Optional()])
    ends_on = DateField(_l("Au"), validators=[Optional()], description=_l("Le dernier jour de l’évaluation : "
                                                                          "l’accès des évaluateurs finit le lendemain."))

    def data_object(self) -> campaigns.CampaignData:
        return campaigns.CampaignData(kind=self.kind.data, centre=self.centre.data, starts_on=self.starts_on.data,
                                      ends_on=self.ends_on.data)


class EvaluatorsForm(EmptyForm):
    evaluators = CheckboxesField(_l("Évaluateurs de la campagne"), coerce=int, validate_choice=False)


@bp.app_context_processor
def campaign_globals() -> dict:
    """The perimeter page's campaign card reads the running campaign through this (one query, on that page); the
    dossiers' comparison page names campaigns with campaign_name."""
    return {"running_campaign": lambda perimeter: campaigns.running(db.get_session(), perimeter),
            "campaign_kinds": labels.CAMPAIGN_KIND, "campaign_name": change_words.campaign_name}


def campaign_or_404(perimeter, campaign_id: int):
    try:
        return campaigns.get_campaign(db.get_session(), perimeter, campaign_id)
    except EvidenceError:
        abort(404)


@bp.route("/campaigns", methods=["GET", "POST"])
@access(*ALL_ROLES, write=COMPLIANCE_ROLES)
def index(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = CampaignForm()
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            campaign = campaigns.create_campaign(session, current_user, perimeter, form.data_object())
        if outcome.ok:
            flash(_("Campagne ouverte."), "info")
            return redirect(url_for("campaigns.show", code=perimeter.code, campaign_id=campaign.id))
    elif request.method == "GET":
        form.centre.data = perimeter.evaluation_centre
    rows = campaigns.list_for(session, perimeter)
    return render_template("web/campaigns/index.html", perimeter=perimeter, rows=rows, form=form,
                           kinds=labels.CAMPAIGN_KIND, can_edit=current_role() in COMPLIANCE_ROLES,
                           evaluators={c.id: campaigns.evaluators_of(session, c) for c in rows})


@bp.route("/campaigns/<int:campaign_id>", methods=["GET", "POST"])
@access(*ALL_ROLES, write=COMPLIANCE_ROLES)
def show(code: str, campaign_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    campaign = campaign_or_404(perimeter, campaign_id)
    form = CampaignForm(obj=campaign) if request.method == "GET" else CampaignForm()
    if form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            campaigns.update_campaign(session, current_user, campaign, form.data_object(), form.expected_version())
        if outcome.ok:
            flash(_("Campagne enregistrée."), "info")
            return redirect(url_for("campaigns.show", code=perimeter.code, campaign_id=campaign.id))
    granted = campaigns.evaluators_of(session, campaign)
    people = EvaluatorsForm()
    people.evaluators.choices = choices(
        (u.id, f"{u.name} <{u.email}>") for u in {u.id: u for u in campaigns.evaluator_accounts(session) + granted}.values())
    people.evaluators.data = [u.id for u in granted]
    return render_template("web/campaigns/show.html", perimeter=perimeter, campaign=campaign, form=form,
                           people=people, granted=granted, kinds=labels.CAMPAIGN_KIND, close_form=EmptyForm(),
                           can_edit=current_role() in COMPLIANCE_ROLES and campaign.closed_at is None)


@bp.route("/campaigns/<int:campaign_id>/evaluators", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def evaluators(code: str, campaign_id: int):
    """Grant the evaluators ticked for the campaign (their access ends with it); untick to take it back."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    campaign = campaign_or_404(perimeter, campaign_id)
    form = EvaluatorsForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
    else:
        with reported_errors() as outcome:
            campaigns.set_evaluators(session, current_user, campaign, form.evaluators.data or [], request_today())
        if outcome.ok:
            flash(_("Évaluateurs de la campagne enregistrés."), "info")
    return redirect(url_for("campaigns.show", code=perimeter.code, campaign_id=campaign.id))


@bp.route("/campaigns/<int:campaign_id>/close", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def close(code: str, campaign_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    campaign = campaign_or_404(perimeter, campaign_id)
    if EmptyForm().validate_on_submit():
        with reported_errors() as outcome:
            campaigns.close_campaign(session, current_user, campaign, request_today())
        if outcome.ok:
            flash(_("Campagne clôturée : l’accès de ses évaluateurs finit ce soir."), "info")
    return redirect(url_for("campaigns.show", code=perimeter.code, campaign_id=campaign.id))
