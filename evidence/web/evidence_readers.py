"""Need-to-know on the evidence pages: what the evidence page shows of who may read it, and the page where its
owner or a compliance manager names the roles and people who may (a route of the evidence blueprint, added by
`register`, so that this module need not import the evidence views)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectMultipleField

from evidence import context as db
from evidence.core.access import access
from evidence.core.text import plain_id
from evidence.core.vocabulary import ROLES, WRITER_ROLES
from evidence.data.models import Evidence
from evidence.presentation import labels
from evidence.services import need_to_know
from evidence.web import evidence_or_404, pickers, reported_errors
from evidence.web.forms import CheckboxesField, VersionedForm, choices


class ReadersForm(VersionedForm):
    roles = CheckboxesField(_l("Rôles qui peuvent la lire"), validate_choice=False,
                            choices=choices((role, labels.ROLE[role]) for role in ROLES))
    people = SelectMultipleField(_l("Personnes qui peuvent la lire"), coerce=int, validate_choice=False)

    def people_ids(self) -> list[int]:
        return [i for i in map(plain_id, self.people.data or []) if i is not None]


def page_facts(session, evidence: Evidence) -> dict:
    """What the evidence page needs to know: whether the reader may read its content, who is named on it, and
    whether he may change that."""
    return {"readable": need_to_know.can_read(session, current_user, evidence),
            "named_readers": need_to_know.named_readers(session, evidence),
            "can_name_readers": need_to_know.can_name_readers(current_user, evidence),
            "role_words": labels.ROLE}


@access(*WRITER_ROLES)
def readers(ref: str):
    session = db.get_session()
    evidence = evidence_or_404(ref)
    if not need_to_know.can_name_readers(current_user, evidence):
        abort(403)
    form = ReadersForm()
    if request.method == "GET":
        form.version.data = evidence.version
        form.roles.data = list(evidence.reader_roles or [])
        form.people.data = [u.id for u in need_to_know.named_readers(session, evidence)]
    if not pickers.searching() and form.validate_on_submit():
        with reported_errors(form=form) as outcome:
            need_to_know.set_readers(session, current_user, evidence, form.roles.data or [], form.people_ids(),
                                     form.expected_version())
        if outcome.ok:
            flash(_("Lecteurs de %(ref)s enregistrés.", ref=evidence.ref), "info")
            return redirect(url_for("evidence.show", ref=evidence.ref))
    picker = pickers.build("readers", form.people.name, form.people_ids(), key="id", errors=form.people.errors)
    return render_template("web/evidence/readers.html", evidence=evidence, form=form, people_picker=picker,
                           classifications=labels.CLASSIFICATION)


def register(bp) -> None:
    """Add the readers page to the evidence blueprint (endpoint "evidence.readers")."""
    bp.add_url_rule("/<ref>/readers", "readers", readers, methods=["GET", "POST"])
