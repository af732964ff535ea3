"""What the provider declares for 19.6.e and 19.6.f: its links with foreign governments and public bodies (or
that it has none), the changes that may affect compliance with 19.6 and the day the customers were told of each."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Optional

from flask_babel import gettext as _
from sqlmodel import Session, select

from evidence.core import clock
from evidence.core.errors import N_, EvidenceError
from evidence.core.rules import one_month_after
from evidence.core.text import bounded
from evidence.core.vocabulary import CHANGE_KINDS, MAX_JUSTIFICATION, MAX_LINE, MAX_NAME
from evidence.data import audit
from evidence.data.links import replace_links
from evidence.data.models import (
    ChangeNotice,
    ForeignLinkDeclaration,
    ForeignPublicLink,
    Perimeter,
    SovereigntyChange,
    SovereigntyChangePerimeter,
    User,
    utcnow,
)
from evidence.presentation.sovereignty_words import country as country_name
from evidence.services.sovereignty.registers import (
    MAX_CHANGE,
    country,
    eu,
    inform,
    plain,
    row_values,
    stored_words,
    who,
)


@dataclass
class ForeignLinkData:
    body: str
    country: str
    nature: str = ""
    assessment: str = ""
    assessed_on: Optional[date] = None


def save_foreign_link(session: Session, actor, data: ForeignLinkData, link: Optional[ForeignPublicLink] = None,
                      today: Optional[date] = None, notify: bool = True) -> ForeignPublicLink:
    day = clock.today(today)
    body = bounded(data.body, MAX_NAME, N_("Gouvernement ou organisme public"), "body")
    if not body:
        raise EvidenceError(N_("organisme : nommez le gouvernement ou l’organisme public étranger"), field="body")
    code = country(data.country, N_("pays"))
    if code in eu():
        raise EvidenceError(N_("pays : %(country)s est un État membre de l’Union ; ce registre recense les liens avec "
                               "des gouvernements ou organismes publics hors Union (19.6.e)"), country=code,
                            field="country")
    assessment = bounded(data.assessment, MAX_JUSTIFICATION, N_("Évaluation"), "assessment")
    assessed_on = data.assessed_on or (day if assessment else None)
    if assessed_on and not assessment:
        raise EvidenceError(N_("évaluation : une date d’évaluation est donnée sans évaluation"), field="assessment")
    if assessed_on and assessed_on > day:
        raise EvidenceError(N_("date d’évaluation : la date donnée est dans le futur"), field="assessed_on")
    values = {"body": body, "country": code, "nature": bounded(data.nature, MAX_JUSTIFICATION, N_("Nature du lien"), "nature"), "assessment": assessment,
              "assessed_on": assessed_on}
    created = link is None
    changes = plain(audit.diff(link, values) if link else values)
    link = link or ForeignPublicLink(body=body, country=code)
    for key, value in values.items():
        setattr(link, key, value)
    link.updated_at = utcnow()
    session.add(link)
    for declaration in session.exec(select(ForeignLinkDeclaration)) if created else ():
        session.delete(declaration)  # "none" no longer holds
        audit.record(session, actor, "sovereignty.foreign_link_declaration.withdraw", object_type="foreign_link_declaration",
                     object_id=str(declaration.id), details={"reason": f"lien recensé : {body} ({code})",
                                                             "deleted": row_values(session, declaration)})
    audit.record(session, actor, "sovereignty.foreign_link.create" if created else "sovereignty.foreign_link.update",
                 object_type="foreign_public_link", object_id=body, details={"changes": changes})
    if notify and created:
        inform(session, actor, None, stored_words(lambda: _("lien avec un organisme public étranger : %(body)s (%(country)s)",
                                                            body=body, country=country_name(code))), day, "organisational")
    session.commit()
    return link


def declare_no_foreign_links(session: Session, actor, statement: str = "",
                             today: Optional[date] = None) -> ForeignLinkDeclaration:
    """The positive declaration of an empty register: who declares it, on which day."""
    if session.exec(select(ForeignPublicLink.id)).first() is not None:
        raise EvidenceError(N_("déclaration : le registre recense des liens ; supprimez-les avant de déclarer qu’il "
                               "n’en existe aucun"))
    for old in session.exec(select(ForeignLinkDeclaration)):
        session.delete(old)
    declaration = ForeignLinkDeclaration(declared_by_id=actor.id if isinstance(actor, User) else None,
                                         declared_by=who(actor)[:254], declared_on=clock.today(today),
                                         statement=bounded(statement, MAX_JUSTIFICATION, N_("Déclaration"),
                                                           "statement"))
    session.add(declaration)
    session.flush()
    audit.record(session, actor, "sovereignty.foreign_link_declaration.create", object_type="foreign_link_declaration",
                 object_id=str(declaration.id), details={"declared_by": declaration.declared_by,
                                                         "declared_on": declaration.declared_on.isoformat(),
                                                         "statement": declaration.statement})
    session.commit()
    return declaration


# --- 19.6.f: the register of changes and the notices customers got -------------------------------------------


@dataclass
class ChangeData:
    kind: str
    changed_on: Optional[date]
    description: str
    perimeter_ids: tuple[int, ...] = ()  # none: every perimeter


def save_change(session: Session, actor, data: ChangeData, change: Optional[SovereigntyChange] = None) -> SovereigntyChange:
    if data.kind not in CHANGE_KINDS:
        raise EvidenceError(N_("nature du changement : « %(kind)s » inconnue (l’une de : %(kinds)s)"), kind=data.kind,
                            kinds=", ".join(CHANGE_KINDS), field="kind")
    if data.changed_on is None:
        raise EvidenceError(N_("date du changement : obligatoire"), field="changed_on")
    description = (data.description or "").strip()
    if not description:
        raise EvidenceError(N_("description : décrivez le changement"), field="description")
    if len(description) > MAX_CHANGE:
        raise EvidenceError(N_("description : %(n)s caractères, %(limit)s au plus"), n=len(description),
                            limit=MAX_CHANGE, field="description")
    unknown = set(data.perimeter_ids) - set(session.exec(select(Perimeter.id)))
    if unknown:
        raise EvidenceError(N_("périmètres concernés : %(ids)s inconnu(s)"), ids=", ".join(map(str, sorted(unknown))),
                            field="perimeters")
    values = {"kind": data.kind, "changed_on": data.changed_on, "description": description}
    created = change is None
    changes = plain(audit.diff(change, values) if change else values)
    change = change or SovereigntyChange(**values, recorded_by_id=actor.id if isinstance(actor, User) else None)
    for key, value in values.items():
        setattr(change, key, value)
    session.add(change)
    session.flush()
    replace_links(session, SovereigntyChangePerimeter, SovereigntyChangePerimeter.change_id, change.id,
                  SovereigntyChangePerimeter.perimeter_id, data.perimeter_ids)
    audit.record(session, actor, "sovereignty.change.create" if created else "sovereignty.change.update",
                 object_type="sovereignty_change", object_id=str(change.id),
                 details={"changes": changes, "perimeters": sorted(data.perimeter_ids) or "all", "origin": "manual"})
    session.commit()
    return change


def add_notice(session: Session, actor, change: SovereigntyChange, perimeter: Optional[Perimeter], sent_on: Optional[date],
               means: str = "", today: Optional[date] = None) -> ChangeNotice:
    """Record the day the customers were told of a change: those of one perimeter, or of all it concerns (None)."""
    if sent_on is None:
        raise EvidenceError(N_("date d’envoi : obligatoire"), field="sent_on")
    if sent_on > clock.today(today):
        raise EvidenceError(N_("date d’envoi : la date donnée est dans le futur ; consignez l’information une fois "
                               "envoyée"), field="sent_on")
    scope = set(session.exec(select(SovereigntyChangePerimeter.perimeter_id)
                             .where(SovereigntyChangePerimeter.change_id == change.id)))
    if perimeter is not None and scope and perimeter.id not in scope:
        raise EvidenceError(N_("périmètre : le changement n° %(number)s ne concerne pas %(code)s"), number=change.id,
                            code=perimeter.code, field="scope")
    notice = ChangeNotice(change_id=change.id, perimeter_id=perimeter.id if perimeter else None, sent_on=sent_on,
                          means=bounded(means, MAX_LINE, N_("Moyen"), "means"))
    session.add(notice)
    session.flush()
    late = (sent_on - one_month_after(change.changed_on)).days
    audit.record(session, actor, "sovereignty.change_notice.create", object_type="change_notice", object_id=str(notice.id),
                 details={"change": change.id, "perimeter": perimeter.code if perimeter else "all",
                          "sent_on": sent_on.isoformat(), "means": notice.means, "days_late": max(late, 0)})
    session.commit()
    return notice

