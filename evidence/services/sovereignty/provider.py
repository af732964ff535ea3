"""The provider's seats and shareholding (19.6.a/b) and the third parties it relies on (19.6.c/d), validated here
once for the web forms and the demo loader."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Optional, Sequence, Union

from flask_babel import gettext as _
from sqlmodel import Session, select

from evidence.core import clock, rules
from evidence.core.errors import N_, EvidenceError
from evidence.core.text import bounded
from evidence.core.vocabulary import MAX_CITY, MAX_JUSTIFICATION, MAX_LINE, MAX_NAME, MAX_REFERENCE, SEAT_KINDS
from evidence.data import audit
from evidence.data.links import replace_links
from evidence.data.models import (
    Perimeter,
    Seat,
    Shareholder,
    Subcontractor,
    SubcontractorPerimeter,
    utcnow,
)
from evidence.presentation import labels
from evidence.presentation import sovereignty_words as words
from evidence.presentation.sovereignty_words import country as country_name
from evidence.services.sovereignty.registers import (
    all_perimeters,
    country,
    eu,
    holder_facts,
    inform,
    names,
    percent_to_bp,
    plain,
    stored_words,
    third_party,
)


def set_seat(session: Session, actor, kind: str, country_code: str, city: str = "", address: str = "",
             today: Optional[date] = None, notify: bool = True) -> Seat:
    if kind not in SEAT_KINDS:
        raise EvidenceError(N_("siège : « %(kind)s » inconnu (l’un de : %(kinds)s)"), kind=kind,
                            kinds=", ".join(SEAT_KINDS), field="kind")
    code = country(country_code, N_("pays"))
    city, address = bounded(city, MAX_CITY, N_("ville"), "city"), bounded(address, MAX_LINE, N_("Adresse"), "address")
    seat = session.exec(select(Seat).where(Seat.kind == kind)).first()
    before = seat.country if seat else None
    seat = seat or Seat(kind=kind, country=code)
    seat.country, seat.city, seat.address, seat.updated_at = code, city, address, utcnow()
    session.add(seat)
    audit.record(session, actor, "sovereignty.seat", object_type="seat", object_id=kind,
                 details={"country": code, "city": seat.city, "before": before})
    if notify and before != code and before is not None:
        inform(session, actor, None, stored_words(lambda: _(
            "%(seat)s transféré (%(before)s auparavant, désormais %(after)s)", seat=labels.text(labels.SEAT, kind),
            before=country_name(before), after=country_name(code))), today, "legal")
    session.commit()
    return seat


@dataclass
class HolderData:
    name: str
    country: str
    capital: str = "0"
    voting: str = "0"
    kind: str = "direct"
    veto: bool = False
    board_majority: bool = False
    notes: str = ""


def save_holder(session: Session, actor, data: HolderData, holder: Optional[Shareholder] = None,
                today: Optional[date] = None, notify: bool = True) -> Shareholder:
    if not (data.name or "").strip():
        raise EvidenceError(N_("détenteur : un détenteur doit être nommé"), field="name")
    if data.kind not in ("direct", "ultimate"):
        raise EvidenceError(N_("nature : « %(kind)s » inconnue (direct ou ultimate)"), kind=data.kind, field="kind")
    members = eu()
    all_holders = list(session.exec(select(Shareholder)))
    before = rules.check_shareholding([holder_facts(h) for h in all_holders], members)
    values = {
        "name": bounded(data.name, MAX_NAME, N_("Détenteur"), "name"), "country": country(data.country, N_("pays")),
        "kind": data.kind,
        "capital_bp": percent_to_bp(data.capital, N_("capital"), "capital"),
        "voting_bp": percent_to_bp(data.voting, N_("droits de vote"), "voting"),
        "veto": bool(data.veto), "board_majority": bool(data.board_majority),
        "notes": bounded(data.notes, MAX_JUSTIFICATION, N_("Notes"), "notes"),
    }
    created = holder is None
    changes = audit.diff(holder, values) if holder else values
    was_foreign = holder is not None and holder.country not in members
    holder = holder or Shareholder(name=values["name"], country=values["country"])
    for key, value in values.items():
        setattr(holder, key, value)
    holder.updated_at = utcnow()
    session.add(holder)
    session.flush()
    after = rules.check_shareholding([holder_facts(h) for h in session.exec(select(Shareholder))], members)
    audit.record(session, actor, "sovereignty.holder.create" if created else "sovereignty.holder.update",
                 object_type="shareholder", object_id=holder.name, details={"changes": changes})
    reason = None
    if holder.country not in members and (created or not was_foreign):
        reason = stored_words(lambda: _("nouvel actionnaire hors UE : %(name)s (%(country)s)", name=holder.name,
                                        country=country_name(holder.country)))
    elif before.passed != after.passed:
        reason = stored_words(lambda: _("seuils d'actionnariat : %(state)s", state=(
            _(" ; ").join(words.problem(p) for p in after.problems) or _("de nouveau respectés"))))
    if reason and notify:
        inform(session, actor, None, reason, today, "legal")
    session.commit()
    return holder


@dataclass
class SubcontractorData:
    name: str
    country: str
    service: str = ""
    data_access: bool = False
    access_justification: str = ""
    qualified: bool = False
    contract_ref: str = ""
    perimeter_ids: tuple[int, ...] = ()
    technical_data_access: Optional[bool] = None  # must be assessed: True or False
    parent_name: str = ""  # the company that owns or controls it, if any
    parent_country: str = ""
    parent_capital: str = "0"
    parent_voting: str = "0"
    largest_other_voting: str = "0"
    parent_agreement: bool = False
    parent_de_facto: bool = False
    parent_board_power: bool = False
    qualification_decision: str = ""
    qualification_date: Optional[date] = None
    own_skills: bool = False
    alternatives: Union[str, Sequence[str]] = ()
    autonomy_arrangements: str = ""


def subcontractor_values(data: SubcontractorData, today: date) -> dict:
    """The register row a form or the demo describes, or the refusal naming the field."""
    name = bounded(data.name, MAX_NAME, N_("Sous-traitant"), "name")
    if not name:
        raise EvidenceError(N_("sous-traitant : un sous-traitant doit être nommé"), field="name")
    if data.technical_data_access is None:
        raise EvidenceError(N_("accès aux données techniques : %(name)s — évaluez s’il peut techniquement obtenir les "
                               "données techniques (identités, SDN, journaux, annuaire, certificats, configuration "
                               "des accès)"), name=name, field="technical_data_access")
    justification = bounded(data.access_justification, MAX_JUSTIFICATION,
                            N_("Pourquoi il ne peut pas accéder à ces données"), "access_justification")
    if not (data.data_access and data.technical_data_access) and not justification:
        raise EvidenceError(N_("justification : %(name)s — dites pourquoi il ne peut pas accéder aux données "
                               "(justification requise)"), name=name, field="access_justification")
    parent_name = bounded(data.parent_name, MAX_NAME, N_("Société qui le détient ou le contrôle"), "parent_name")
    parent = {"parent_capital_bp": percent_to_bp(data.parent_capital, N_("capital de la société mère"),
                                                 "parent_capital"),
              "parent_voting_bp": percent_to_bp(data.parent_voting, N_("droits de vote de la société mère"),
                                                "parent_voting"),
              "largest_other_voting_bp": percent_to_bp(data.largest_other_voting,
                                                       N_("plus forte part d’un autre associé"), "largest_other_voting"),
              "parent_agreement": bool(data.parent_agreement), "parent_de_facto": bool(data.parent_de_facto),
              "parent_board_power": bool(data.parent_board_power)}
    if not parent_name and ((data.parent_country or "").strip() or any(parent.values())):
        raise EvidenceError(N_("société mère : nommez la société qui détient ou contrôle le sous-traitant"),
                            field="parent_name")
    if parent["parent_voting_bp"] + parent["largest_other_voting_bp"] > 10000:
        raise EvidenceError(N_("plus forte part d’un autre associé : ajoutée aux droits de vote de la société mère, "
                               "elle dépasse la totalité des droits de vote"), field="largest_other_voting")
    decision = bounded(data.qualification_decision, MAX_REFERENCE, N_("Numéro de la décision de qualification"),
                       "qualification_decision") if data.qualified else ""
    qualified_on = data.qualification_date if data.qualified else None
    if data.qualified and not decision:
        raise EvidenceError(N_("référence de qualification : %(name)s est déclaré qualifié SecNumCloud ; donnez le "
                               "numéro de la décision de qualification"), name=name, field="qualification_decision")
    if data.qualified and qualified_on is None:
        raise EvidenceError(N_("date de qualification : %(name)s est déclaré qualifié SecNumCloud ; donnez la date de "
                               "la décision"), name=name, field="qualification_date")
    if qualified_on and qualified_on > today:
        raise EvidenceError(N_("date de qualification : la date donnée est dans le futur"), field="qualification_date")
    arrangements = bounded(data.autonomy_arrangements, MAX_JUSTIFICATION, N_("Dispositions d'autonomie"),
                           "autonomy_arrangements")
    if data.own_skills and not arrangements:
        raise EvidenceError(N_("dispositions d’autonomie : décrivez les compétences propres qui garantissent "
                               "l’autonomie d’exploitation (équipe, miroir des mises à jour, séquestre du code "
                               "source…)"), field="autonomy_arrangements")
    given = data.alternatives if isinstance(data.alternatives, str) else "\n".join(data.alternatives or ())
    alternatives = names(bounded(given, MAX_JUSTIFICATION, N_("Sociétés tierces alternatives (une par ligne)"),
                                 "alternatives"))
    if any(a.casefold() == name.casefold() for a in alternatives):
        raise EvidenceError(N_("sociétés tierces alternatives : %(name)s ne peut être sa propre alternative"), name=name,
                            field="alternatives")
    if any(len(a) > MAX_NAME for a in alternatives):
        raise EvidenceError(N_("sociétés tierces alternatives : un nom par ligne, 200 caractères au plus"),
                            field="alternatives")
    return {
        "name": name, "country": country(data.country, N_("pays")), "service": bounded(data.service, MAX_LINE, N_("Prestation"), "service"),
        "data_access": bool(data.data_access), "technical_data_access": bool(data.technical_data_access),
        "access_justification": justification, "parent_name": parent_name,
        "parent_country": (country(data.parent_country, N_("pays de la société mère"), "parent_country")
                           if parent_name else ""), **parent,
        "qualified": bool(data.qualified), "qualification_decision": decision, "qualification_date": qualified_on,
        "own_skills": bool(data.own_skills), "alternatives": alternatives, "autonomy_arrangements": arrangements,
        "contract_ref": bounded(data.contract_ref, MAX_REFERENCE, N_("Référence du contrat"), "contract_ref"),
    }


def save_subcontractor(session: Session, actor, data: SubcontractorData, subcontractor: Optional[Subcontractor] = None,
                       today: Optional[date] = None, notify: bool = True) -> Subcontractor:
    values = subcontractor_values(data, clock.today(today))
    known = set(session.exec(select(Perimeter.id)))
    if set(data.perimeter_ids) - known:
        raise EvidenceError(N_("périmètres servis : %(ids)s inconnu(s)"),
                            ids=", ".join(map(str, sorted(set(data.perimeter_ids) - known))), field="perimeters")
    members = eu()
    created = subcontractor is None
    access_changed = not created and (subcontractor.data_access != values["data_access"]
                                      or subcontractor.technical_data_access != values["technical_data_access"]
                                      or subcontractor.country != values["country"])
    tie_before = None if created else rules.foreign_tie(third_party(subcontractor), members)
    changes = plain(audit.diff(subcontractor, values) if subcontractor else values)
    subcontractor = subcontractor or Subcontractor(name=values["name"], country=values["country"])
    for key, value in values.items():
        setattr(subcontractor, key, value)
    subcontractor.updated_at = utcnow()
    session.add(subcontractor)
    session.flush()
    replace_links(session, SubcontractorPerimeter, SubcontractorPerimeter.subcontractor_id, subcontractor.id,
                  SubcontractorPerimeter.perimeter_id, data.perimeter_ids)
    audit.record(session, actor, "sovereignty.subcontractor.create" if created else "sovereignty.subcontractor.update",
                 object_type="subcontractor", object_id=subcontractor.name,
                 details={"changes": changes, "perimeters": sorted(data.perimeter_ids)})
    tie_after = rules.foreign_tie(third_party(subcontractor), members)
    if notify and (created or access_changed or tie_before != tie_after):
        served = [p for p in all_perimeters(session) if p.id in data.perimeter_ids] if data.perimeter_ids else None
        tie = tie_after or rules.Problem("outside_eu", {"country": subcontractor.country})
        if created:
            kind, what = "organisational", lambda: _("nouveau sous-traitant : %(name)s (%(tie)s)",
                                                     name=subcontractor.name, tie=words.tie(tie))
        elif access_changed:
            kind, what = "technical", lambda: _("accès du sous-traitant modifié : %(name)s (%(tie)s)",
                                                name=subcontractor.name, tie=words.tie(tie))
        else:
            kind, what = "legal", lambda: _("contrôle du sous-traitant modifié : %(name)s (%(tie)s)",
                                            name=subcontractor.name, tie=words.tie(tie))
        inform(session, actor, served, stored_words(what), today, kind)
    session.commit()
    return subcontractor

