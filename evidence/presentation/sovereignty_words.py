"""The chapter-19 checks in words: a problem's sentence and a figure's label and value, in the current locale.

The checks (evidence.core.rules.sovereignty) give codes and raw values; this module is the one place that words
them, for the web pages, the command line and the dossier (which keeps the problems as dicts in its snapshot and
words them in its own language when it renders). Values that are codes are shown as words: a country by its name in
the reader's language (Babel's territory names), a seat, a data category, an operation or a kind of change by the
register's label; shares, counts and dates through evidence.presentation.typography ("11 %", "1er décembre 2026").
"""
from __future__ import annotations

from typing import Mapping, Union

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from evidence.core.rules.sovereignty import Problem
from evidence.presentation import labels, typography


def country(code) -> str:
    """A country by its name in the reader's language ("États-Unis" / "United States"); an unknown code as is."""
    if not code:
        return _("non enregistré")
    from babel import Locale, UnknownLocaleError

    try:
        names = Locale.parse(typography.current_locale()).territories
    except (UnknownLocaleError, ValueError):
        return str(code)
    return names.get(str(code).upper(), str(code))


def lower_first(label: str) -> str:
    """A register label ("Données des commanditaires") inside a sentence: "données des commanditaires"."""
    label = str(label)
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _word(table: Mapping, code) -> str:
    """A register value's label, or the value itself when the table has none (never a blank)."""
    return str(table[code]) if code in table else str(code)


def _form(n: int) -> int:
    """The count ngettext chooses the form by. French is the source language and has no catalogue, so gettext
    would apply English's rule (0 is plural); French's rule is "0 and 1 are singular"."""
    return (1 if n <= 1 else 2) if typography.current_locale() == "fr" else n


def _days(n: int) -> str:
    return ngettext("%(count)s jour", "%(count)s jours", _form(n), count=typography.number(n))


def _as_dict(p: Union[Problem, Mapping, None]) -> dict:
    if isinstance(p, Problem):
        return p.as_dict()
    return dict(p or {})


def _ground(g) -> str:
    """Why a parent owns or controls a third party (article L233-3 of the code de commerce)."""
    g = _as_dict(g)
    code, params = g.get("code"), g.get("params") or {}
    share = typography.percent(params.get("share"))
    if code == "capital_majority":
        return _("détient %(share)s du capital", share=share)
    if code == "voting_majority":
        return _("majorité des droits de vote, %(share)s (L233-3 I 1°)", share=share)
    if code == "agreement":
        return _("majorité des droits de vote en vertu d'un accord avec d'autres associés (L233-3 I 2°)")
    if code == "de_facto":
        return _("détermine en fait les décisions des assemblées générales (L233-3 I 3°)")
    if code == "board_power":
        return _("nomme ou révoque la majorité des organes d'administration, de direction ou de surveillance "
                 "(L233-3 I 4°)")
    if code == "presumption":
        return _("%(share)s des droits de vote, aucun autre associé n'en détenant davantage (présomption, L233-3 II)",
                 share=share)
    return _("contrôle")


def tie(t) -> str:
    """Why a third party falls under 19.6.c, as the words put after its name: its country, or its country and the
    parent outside the Union that controls it."""
    t = _as_dict(t)
    params = t.get("params") or {}
    if t.get("code") == "controlled":
        return _("%(country)s, contrôlée par %(parent)s (%(parent_country)s) : %(ground)s",
                 country=country(params.get("country")), parent=params.get("parent", ""),
                 parent_country=country(params.get("parent_country")), ground=_ground(params.get("ground")))
    return country(params.get("country"))


def _basis_share(basis: str, share) -> str:
    share = typography.percent(share)
    return (_("%(share)s des droits de vote", share=share) if basis == "voting"
            else _("%(share)s du capital", share=share))


def problem(p: Union[Problem, Mapping]) -> str:
    """One problem of a check as a sentence in the current locale (a Problem or its as_dict()); a snapshot made
    before problems had codes holds sentences, shown as they are."""
    if isinstance(p, str):
        return p
    p = _as_dict(p)
    code, params = p.get("code"), p.get("params") or {}
    q = dict(params)
    # Words for the values that are codes, numbers or dates; the sentences below pick what they need.
    if "country" in q:
        q["country"] = country(q["country"])
    if "seat" in q:
        q["seat"] = _word(labels.SEAT, q["seat"])
    if "category" in q:
        q["category"] = _word(labels.DATA_CATEGORY, q["category"])
    if "activity" in q:
        q["activity"] = _word(labels.DATA_ACTIVITY, q["activity"])
    if "operation" in q:
        q["operation"] = _word(labels.OPERATION, q["operation"])
    if "kind" in q:
        q["kind"] = _word(labels.CHANGE_KIND, q["kind"])
    for key in ("changed_on", "notified_on", "deadline"):
        if key in q:
            q[key] = typography.long_date(q[key])
    if "limit" in q:
        q["limit"] = typography.percent(q["limit"])
    if "days" in q:
        q["days"] = _days(int(q["days"]))
    if "tie" in q:
        q["tie"] = tie(q["tie"])

    if code == "seat_missing":
        return _("%(seat)s : non enregistré", seat=q["seat"])
    if code == "seat_outside_eu":
        return _("%(seat)s : pays hors Union européenne (%(country)s)", seat=q["seat"], country=q["country"])
    if code == "holder_above_limit":
        return _("%(holder)s (%(country)s) détient %(share)s, au-delà du plafond de %(limit)s",
                 holder=q["holder"], country=q["country"], share=_basis_share(q.get("basis"), q["share"]),
                 limit=q["limit"])
    if code == "holder_veto":
        return _("%(holder)s (%(country)s) dispose d'un droit de veto", holder=q["holder"], country=q["country"])
    if code == "holder_board_majority":
        return _("%(holder)s (%(country)s) peut nommer la majorité du conseil", holder=q["holder"],
                 country=q["country"])
    if code == "non_eu_combined_above_limit":
        return _("détentions hors UE cumulées : %(share)s, au-delà du plafond de %(limit)s",
                 share=_basis_share(q.get("basis"), q["share"]), limit=q["limit"])
    if code == "third_party_access":
        customer, technical = q.get("customer_data"), q.get("technical_data")
        if customer and technical:
            sentence = _("%(third_party)s (%(tie)s) : accès technique possible aux données des commanditaires et aux "
                         "données techniques", third_party=q["third_party"], tie=q["tie"])
        elif customer:
            sentence = _("%(third_party)s (%(tie)s) : accès technique possible aux données des commanditaires",
                         third_party=q["third_party"], tie=q["tie"])
        else:
            sentence = _("%(third_party)s (%(tie)s) : accès technique possible aux données techniques",
                         third_party=q["third_party"], tie=q["tie"])
        if q.get("qualified"):
            sentence = _("%(problem)s ; la qualification SecNumCloud n'en dispense pas", problem=sentence)
        return sentence
    if code == "third_party_access_unassessed":
        return _("%(third_party)s (%(tie)s) : accès aux données techniques non évalué", third_party=q["third_party"],
                 tie=q["tie"])
    if code == "qualified_without_reference":
        return _("%(third_party)s : qualifiée SecNumCloud sans référence de qualification (numéro et date de la "
                 "décision), et sans autonomie d'exploitation garantie", third_party=q["third_party"])
    if code == "no_qualification_nor_autonomy":
        count = int(q.get("named", 0))
        named = ngettext("%(count)s société tierce alternative nommée",
                         "%(count)s sociétés tierces alternatives nommées", _form(count), count=typography.number(count))
        return _("%(third_party)s : ni qualifiée SecNumCloud ni autonomie d'exploitation garantie (compétences propres "
                 "non déclarées ; %(named)s sur %(required)s requises)", third_party=q["third_party"], named=named,
                 required=typography.number(q.get("required")))
    if code == "link_unassessed":
        return _("%(body)s (%(country)s) : lien non évalué", body=q["body"], country=q["country"])
    if code == "no_link_declaration":
        return _("aucune déclaration : ni lien recensé avec un gouvernement ou un organisme public étranger, ni "
                 "déclaration qu'il n'en existe aucun")
    if code == "notice_late":
        return _("changement %(kind)s du %(changed_on)s « %(description)s » : commanditaires informés le "
                 "%(notified_on)s, %(days)s après l'échéance du %(deadline)s", **_pick(q, "kind", "changed_on",
                 "description", "notified_on", "days", "deadline"))
    if code == "notice_missing":
        return _("changement %(kind)s du %(changed_on)s « %(description)s » : commanditaires non informés, échéance "
                 "du %(deadline)s dépassée de %(days)s", **_pick(q, "kind", "changed_on", "description", "deadline",
                 "days"))
    if code == "data_outside_eu":
        return _("%(category)s (%(activity)s) : pays hors Union européenne (%(country)s)", category=q["category"],
                 activity=q["activity"], country=q["country"])
    if code == "data_place_missing":
        return _("%(category)s : lieu de %(activity)s non enregistré", category=q["category"], activity=q["activity"])
    if code == "operation_outside_eu":
        return _("%(operation)s : réalisée depuis un pays hors Union européenne (%(country)s)",
                 operation=q["operation"], country=q["country"])
    if code == "operation_place_missing":
        return _("%(operation)s : lieu non enregistré", operation=q["operation"])
    if code == "support_without_allowed_operations":
        return _("%(operation)s : assuré hors Union européenne (%(country)s) sans la liste des opérations permises",
                 operation=q["operation"], country=q["country"])
    return _("contrôle en échec")  # a code this version does not know (an older snapshot's): no internal word


def _pick(values: dict, *keys) -> dict:
    return {key: values.get(key, "") for key in keys}


# A figure's label and the kind of its value (how it is written). Every key a check gives is here: a test holds it.
COUNT, SHARE, COUNTRY, DATE, TEXT = "count", "share", "country", "date", "text"
FIGURES = {
    **{kind: (label, COUNTRY) for kind, label in labels.SEAT.items()},
    "non_eu_capital": (_l("capital détenu hors UE (détentions directes)"), SHARE),
    "non_eu_voting": (_l("droits de vote détenus hors UE (détentions directes)"), SHARE),
    "largest_non_eu": (_l("plus forte détention hors UE"), SHARE),
    "third_parties": (_l("sociétés tierces"), COUNT),
    "non_eu_or_controlled": (_l("hors UE ou contrôlées hors UE"), COUNT),
    "qualified": (_l("qualifiées SecNumCloud (décision référencée)"), COUNT),
    "autonomous": (_l("autonomie d'exploitation garantie"), COUNT),
    "links": (_l("liens recensés"), COUNT),
    "assessed": (_l("liens évalués"), COUNT),
    "declared_none_on": (_l("absence de lien déclarée"), DATE),
    "declared_none_by": (_l("déclarant"), TEXT),
    "changes": (_l("changements"), COUNT),
    "late": (_l("informations en retard"), COUNT),
    "pending": (_l("informations à faire"), COUNT),
    "places": (_l("lieux enregistrés"), COUNT),
    "non_eu_support": (_l("opérations de support hors UE"), COUNT),
}


def figure_label(key: str) -> str:
    entry = FIGURES.get(key)
    return str(entry[0]) if entry else _("autre chiffre")


def figure_value(key: str, value) -> str:
    kind = FIGURES.get(key, (None, TEXT))[1]
    if kind == COUNTRY:
        return country(value)
    if kind == SHARE:
        return typography.percent(value)
    if kind == COUNT:
        return typography.number(value)
    if kind == DATE:
        return typography.long_date(value)
    return "" if value is None else str(value)


def figure(key: str, value) -> str:
    """ "détention…: 11 %" — one figure of a check, label and value, in the current locale."""
    return _("%(name)s : %(value)s", name=figure_label(key), value=figure_value(key, value))
