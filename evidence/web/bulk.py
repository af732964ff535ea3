"""Bulk actions from the list pages: a first POST shows what would change (a confirmation page, no JavaScript
needed), the second, with `confirmed=1`, changes it all or nothing (services/bulk.py)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import select
from wtforms import HiddenField, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import Length

from evidence import context as db
from evidence.core.access import access
from evidence.core.text import sort_key
from evidence.core.vocabulary import COMPLIANCE_ROLES, MAX_JUSTIFICATION
from evidence.data.models import Evidence, EvidenceVersion, User
from evidence.presentation import labels
from evidence.services import bulk
from evidence.services.evidence import can_review
from evidence.services.users import can_own, possible_owners
from evidence.web import perimeter_or_404, reported_errors, say
from evidence.web.account import safe_next
from evidence.web.forms import EmptyForm, OwnerField, choices, flash_form_errors

bp = Blueprint("bulk", __name__)


class BulkForm(EmptyForm):
    """The rows ticked on a list page (`items`, their refs) and, once shown the changes, `confirmed`."""

    items = SelectMultipleField(validate_choice=False)
    confirmed = HiddenField()
    back = HiddenField()

    def back_url(self, default: str) -> str:
        """Where the list page was (its filters kept): a path of this site only."""
        return safe_next(self.back.data, default)


class ApplicabilityBulkForm(BulkForm):
    state = SelectField(_l("Décision"), choices=choices(labels.APPLICABILITY.items()))
    justification = TextAreaField(_l("Justification"), validators=[Length(max=MAX_JUSTIFICATION)],
                                  description=_l("La même pour chaque point coché ; obligatoire pour un point non "
                                                 "applicable ou hérité."))


class ReviewBulkForm(BulkForm):
    operation = HiddenField()  # approve | reject, from the button pressed
    comment = TextAreaField(_l("Commentaire de revue"), validators=[Length(max=MAX_JUSTIFICATION)],
                            description=_l("Le même pour chaque preuve ; obligatoire pour un rejet."))


class OwnerBulkForm(BulkForm):
    owner = OwnerField(_l("Nouveau responsable"), validate_choice=False)

    def fill_choices(self, session, people=None) -> None:
        """`people`: the active users a list page has read already (its owner filter), to save a query."""
        people = possible_owners(session) if people is None else sorted(
            (u for u in people if u.active and can_own(u)), key=lambda u: (sort_key(u.name), u.email))
        self.owner.choices = choices([("", _("— choisir —"))] + [(u.id, f"{u.name} <{u.email}>") for u in people])


def list_tools(session, kind: str, ids, people) -> dict:
    """What the controls and evidence lists offer a manager for the rows shown: the owner panel and, for evidence,
    the review panel with the rows whose current version the manager uploaded (four eyes: named on the page),
    to those who may approve (separation of duties: not an admin, unless ADMIN_APPROVES)."""
    if current_user.role not in COMPLIANCE_ROLES:
        return {"bulk": None}
    back = request.full_path.rstrip("?")
    tools = {"owner": OwnerBulkForm(formdata=None, back=back), "own_uploads": set()}
    tools["owner"].fill_choices(session, people)
    if kind == "evidence" and can_review(current_user, db.admin_approves()):
        tools["review"] = ReviewBulkForm(formdata=None, back=back)
        latest = (select(EvidenceVersion.evidence_id, func.max(EvidenceVersion.number).label("number"))
                  .where(EvidenceVersion.evidence_id.in_(list(ids) or [-1])).group_by(EvidenceVersion.evidence_id)
                  .subquery())
        tools["own_uploads"] = set(session.exec(
            select(EvidenceVersion.evidence_id).join(latest, (latest.c.evidence_id == EvidenceVersion.evidence_id)
                                                     & (latest.c.number == EvidenceVersion.number))
            .where(EvidenceVersion.author_id == current_user.id)))
        # ... and those whose attested content he changed (services.evidence.own_work: four eyes on edits too).
        tools["own_uploads"] |= {evidence_id for evidence_id, editors in session.exec(
            select(Evidence.id, Evidence.editor_ids).where(Evidence.id.in_(list(ids) or [-1])))
            if current_user.id in (editors or [])}
    return {"bulk": tools}


def _run(form, default_back: str, action, page: dict):
    """Judge the ticked rows (a dry run: the confirmation page) or, confirmed, apply them."""
    back = form.back_url(default_back)
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(back)
    confirmed = form.confirmed.data == "1"
    with reported_errors() as outcome:
        changes = action(dry_run=not confirmed)
    if not outcome.ok:
        return redirect(back)
    if confirmed:
        done = sum(1 for c in changes if c.changed)
        flash(ngettext("%(num)d modification enregistrée.", "%(num)d modifications enregistrées.", done), "info")
        return redirect(back)
    form.confirmed.data = "1"
    form.back.data = back
    refused = [c for c in changes if c.refusal is not None]
    return render_template("web/bulk/confirm.html", form=form, changes=changes, refused=refused, back=back,
                           reasons={c.ref: say(c.refusal) for c in refused},
                           to_change=sum(1 for c in changes if c.changed), **page)


@bp.route("/perimeters/<code>/applicability", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def applicability(code: str):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    form = ApplicabilityBulkForm()
    return _run(
        form, url_for("perimeters.show", code=perimeter.code) + "#soa",
        lambda dry_run: bulk.decide_applicability(session, current_user, perimeter, form.items.data or [],
                                                  form.state.data, form.justification.data, dry_run=dry_run),
        {"title": _("Décider l’applicabilité de plusieurs points"), "words": labels.APPLICABILITY,
         "summary": _("Décision « %(state)s » pour chaque point coché du périmètre %(code)s.",
                      state=labels.APPLICABILITY.get(form.state.data, ""), code=perimeter.code),
         "note": form.justification.data, "perimeter": perimeter, "kind": "requirement",
         "rule": _("Chaque point est jugé comme dans son propre formulaire : une exigence sans condition ne peut "
                   "pas être exclue. Tout ou rien : si un point est refusé, aucun n’est modifié.")},
    )


@bp.route("/evidence/review", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def review():
    session = db.get_session()
    form = ReviewBulkForm()
    operation = request.form.get("operation", "")
    if operation not in bulk.REVIEW_ACTIONS:
        flash(_("Choisissez d’approuver ou de rejeter."), "error")
        return redirect(form.back_url(url_for("evidence.index", status="in_review")))
    form.operation.data = operation
    return _run(
        form, url_for("evidence.index", status="in_review"),
        lambda dry_run: bulk.review_many(session, current_user, form.items.data or [], operation,
                                         form.comment.data, dry_run=dry_run, admin_approves=db.admin_approves()),
        {"title": _("Approuver des preuves") if operation == "approve" else _("Rejeter des preuves"),
         "words": labels.EVIDENCE_STATUS, "kind": "evidence", "note": form.comment.data,
         "summary": (_("Chaque preuve cochée sera approuvée, dans sa version actuelle.") if operation == "approve"
                     else _("Chaque preuve cochée sera rejetée.")),
         "rule": _("Quatre yeux : vous ne pouvez pas revoir une preuve dont vous avez déposé la version actuelle. "
                   "Tout ou rien : si une preuve est refusée, aucune n’est modifiée.")},
    )


def _owner_name(session, owner_id) -> str:
    owner = session.get(User, owner_id) if isinstance(owner_id, int) else None
    return owner.name if owner else "—"


def _owner(kind: str, default_back: str, title: str):
    session = db.get_session()
    form = OwnerBulkForm()
    form.fill_choices(session)
    return _run(
        form, default_back,
        lambda dry_run: bulk.assign_owner(session, current_user, kind, form.items.data or [], form.owner.data,
                                          dry_run=dry_run),
        {"title": title, "words": {}, "kind": kind, "note": "",
         "summary": _("Chaque ligne cochée aura pour responsable %(name)s.", name=_owner_name(session, form.owner.data)),
         "rule": _("Seule une personne active qui peut être responsable (pas un auditeur) est proposée. "
                   "Tout ou rien : si une ligne est refusée, aucune n’est modifiée.")},
    )


@bp.route("/evidence/owner", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def evidence_owner():
    return _owner("evidence", url_for("evidence.index"), _("Attribuer des preuves à un responsable"))


@bp.route("/controls/owner", methods=["POST"])
@access(*COMPLIANCE_ROLES)
def control_owner():
    return _owner("control", url_for("controls.index"), _("Attribuer des mesures à un responsable"))
