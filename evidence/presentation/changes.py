"""What changed between two dossier versions (diff.changes), in sentences of the current locale: the dossier's
history (C), the web comparison page and the command line read them.
"""
from __future__ import annotations

from typing import Optional

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from evidence.presentation import labels
from evidence.presentation.typography import short_date

LISTED = 12  # refs named in a sentence; the rest are counted ("and 3 more"): the tables list them all

REGISTER = {
    "seats": _l("sièges"),
    "holders": _l("actionnariat"),
    "subcontractors": _l("sous-traitants"),
    "sites": _l("sites"),
    "data": _l("localisation des données"),
    "operations": _l("localisation des opérations"),
    "perimeter": _l("description du périmètre"),
}


def status_word(status: Optional[str]) -> str:
    """An item's coverage as a word; None: the item is not in that version's referential."""
    if status is None:
        return _("absente")
    return labels.text(labels.STATUS, status)


def register_word(name: str) -> str:
    return labels.text(REGISTER, name)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    more = len(names) - LISTED
    if more > 0:
        shown += ngettext(" et %(num)d autre", " et %(num)d autres", more)
    return shown


def coverage_line(change: dict) -> str:
    return _("%(ref)s (%(before)s → %(after)s)", ref=change["ref"], before=status_word(change["from"]),
             after=status_word(change["to"]))


def version_line(change: dict) -> str:
    return _("%(ref)s (v%(before)s → v%(after)s)", ref=change["ref"], before=change["from"], after=change["to"])


def finding_line(finding: dict) -> str:
    line = (_("#%(id)s (%(ref)s)", id=finding["id"], ref=finding["requirement"]) if finding.get("requirement")
            else "#%s" % finding["id"])
    if finding.get("campaign"):  # the campaign it was raised in
        line = _("%(finding)s, %(campaign)s", finding=line, campaign=campaign_name(finding["campaign"]))
    return line


def campaign_name(campaign: Optional[dict]) -> str:
    """« Évaluation initiale (Centre X) »; with its dates when the snapshot has them."""
    if not campaign:
        return _("aucune campagne")
    kind = labels.text(labels.CAMPAIGN_KIND, campaign.get("kind") or "")
    if campaign.get("starts_on") and campaign.get("ends_on"):
        return _("%(kind)s (%(centre)s, du %(start)s au %(end)s)", kind=kind, centre=campaign.get("centre") or "—",
                 start=short_date(campaign["starts_on"]), end=short_date(campaign["ends_on"]))
    return _("%(kind)s (%(centre)s)", kind=kind, centre=campaign.get("centre") or "—")


def describe(changes: Optional[dict]) -> list[str]:
    """One sentence per kind of change; the first version (None) and a version with no change say so."""
    if changes is None:
        return [_("Première version du dossier.")]
    sentences = []
    if changes.get("coverage"):
        moved = changes["coverage"]
        sentences.append(ngettext("Couverture modifiée pour %(num)d exigence : %(list)s.",
                                  "Couverture modifiée pour %(num)d exigences : %(list)s.", len(moved),
                                  list=_listed([coverage_line(c) for c in moved])))
    for key in ("evidence_added", "evidence_replaced", "evidence_expired", "evidence_removed"):
        values = changes.get(key) or []
        if values:
            names = [version_line(v) if isinstance(v, dict) else v for v in values]
            sentences.append(_evidence_sentence(key, len(values), _listed(names)))
    for key in ("findings_opened", "findings_closed"):
        values = changes.get(key) or []
        if values:
            sentences.append(_finding_sentence(key, len(values), _listed([finding_line(f) for f in values])))
    for change in changes.get("campaign") or []:
        sentences.append(_("Campagne d’évaluation : %(before)s → %(after)s.", before=campaign_name(change["from"]),
                           after=campaign_name(change["to"])))
    if changes.get("registers"):
        sentences.append(_("Registres modifiés : %(list)s.", list=", ".join(register_word(r) for r in changes["registers"])))
    return sentences or [_("Aucun changement depuis la version précédente.")]


# Each sentence is spelled out (not assembled from pieces) so that the catalogue holds whole sentences.
def _evidence_sentence(key: str, count: int, names: str) -> str:
    if key == "evidence_added":
        return ngettext("%(num)d preuve ajoutée : %(list)s.", "%(num)d preuves ajoutées : %(list)s.", count, list=names)
    if key == "evidence_replaced":
        return ngettext("%(num)d preuve remplacée par une nouvelle version : %(list)s.",
                        "%(num)d preuves remplacées par une nouvelle version : %(list)s.", count, list=names)
    if key == "evidence_expired":
        return ngettext("%(num)d preuve expirée : %(list)s.", "%(num)d preuves expirées : %(list)s.", count, list=names)
    return ngettext("%(num)d preuve retirée : %(list)s.", "%(num)d preuves retirées : %(list)s.", count, list=names)


def _finding_sentence(key: str, count: int, names: str) -> str:
    if key == "findings_opened":
        return ngettext("%(num)d constat ouvert : %(list)s.", "%(num)d constats ouverts : %(list)s.", count, list=names)
    return ngettext("%(num)d constat clos : %(list)s.", "%(num)d constats clos : %(list)s.", count, list=names)
