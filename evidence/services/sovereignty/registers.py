"""The registers of chapter 19 read for a perimeter and checked; the helpers every register shares; a change that
matters to customers recorded in the register of changes, with the "inform customers" action it plans (19.6.f)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Optional, Sequence, Union

import yaml
from sqlmodel import Session, select

from evidence.core import clock, rules
from evidence.core.errors import N_, EvidenceError, Message
from evidence.core.rules import one_month_after
from evidence.data import audit
from evidence.data.models import (
    Action,
    ActionRequirement,
    ChangeNotice,
    DataLocation,
    ForeignLinkDeclaration,
    ForeignPublicLink,
    OperationLocation,
    Perimeter,
    Requirement,
    Seat,
    Shareholder,
    Site,
    SovereigntyChange,
    SovereigntyChangePerimeter,
    Subcontractor,
    SubcontractorPerimeter,
    User,
)
from evidence.settings import resource_dir

COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
INFORM_ITEM = "19.6.f"
MAX_CHANGE = 2000


@lru_cache(maxsize=1)
def eu_members() -> dict[str, str]:
    with open(resource_dir("controls") / "data" / "eu-member-states.yaml", encoding="utf-8") as f:
        return dict(yaml.safe_load(f)["members"])


def eu() -> set[str]:
    return set(eu_members())


def country(value: str, label: str, field: str = "country") -> str:
    """The ISO 3166 code typed in the form field `field`, whose name in words is `label` (an N_ message id)."""
    code = (value or "").strip().upper()
    if not COUNTRY_RE.match(code):
        raise EvidenceError(N_("%(label)s : « %(value)s » n’est pas un code pays ISO 3166 (deux lettres, p. ex. FR, DE, "
                               "US)"), label=Message(label), value=value or "", field=field)
    return code


def stored_words(make):
    """A text the registers keep (a change's description): worded in French, the registers' language, whoever
    records it; the pages show it as recorded, like what a user types."""
    from flask import has_app_context
    from flask_babel import force_locale

    if not has_app_context():
        return make()
    with force_locale("fr"):
        return make()


def percent_to_bp(value, label: str, field: str) -> int:
    """Basis points from the percentage typed in the form field `field`, named `label` (an N_ message id)."""
    try:
        text = str(value).strip()
        if len(text) > 40:  # refused, not cut: no percentage takes 40 characters
            raise ValueError(value)
        number = float(text.replace(",", ".").replace("%", "").strip() or 0)
        if not math.isfinite(number):  # "inf", "nan", "1e999": no share of a capital
            raise ValueError(value)
        # Out of range is said before multiplying: 1e308 × 100 is no longer a finite number.
        bp = round(number * 100) if 0 <= number <= 100 else -1
    except ValueError:
        raise EvidenceError(N_("%(label)s : « %(value)s » n’est pas un pourcentage"), label=Message(label), value=value,
                            field=field) from None
    if not 0 <= bp <= 10000:
        raise EvidenceError(N_("%(label)s : %(value)s n’est pas compris entre 0 et 100"), label=Message(label),
                            value=value, field=field)
    return bp


def names(value: Union[str, Sequence[str], None]) -> list[str]:
    """Names given one a line (or separated by semicolons), or as a list: stripped, blanks dropped."""
    items = re.split(r"[\n;]", value) if isinstance(value, str) else list(value or ())
    return [item.strip() for item in items if item and item.strip()]


def plain(values: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def who(actor) -> str:
    return f"{actor.name} <{actor.email}>" if isinstance(actor, User) else str(actor or audit.SYSTEM_ACTOR)


# --- Reading and checking ----------------------------------------------------------------------------------


@dataclass
class Registers:
    seats: list[Seat]
    holders: list[Shareholder]
    subcontractors: list[Subcontractor]
    sites: list[Site]
    data: list[DataLocation]
    operations: list[OperationLocation]
    links: list[ForeignPublicLink] = field(default_factory=list)
    declaration: Optional[ForeignLinkDeclaration] = None
    changes: list[SovereigntyChange] = field(default_factory=list)  # those that concern this perimeter
    change_scopes: dict[int, list[str]] = field(default_factory=dict)  # change id → perimeter codes (none: all)
    notices: dict[int, list[ChangeNotice]] = field(default_factory=dict)  # those that reached this perimeter
    today: date = field(default_factory=clock.today)

    def notified_on(self, change_id: int) -> Optional[date]:
        """The first day this perimeter's customers were told of a change."""
        return min((n.sent_on for n in self.notices.get(change_id, ())), default=None)


def registers(session: Session, perimeter: Perimeter, today: Optional[date] = None) -> Registers:
    linked = select(SubcontractorPerimeter.subcontractor_id)
    serving = select(SubcontractorPerimeter.subcontractor_id).where(SubcontractorPerimeter.perimeter_id == perimeter.id)
    scoped = select(SovereigntyChangePerimeter.change_id)
    concerning = select(SovereigntyChangePerimeter.change_id).where(SovereigntyChangePerimeter.perimeter_id == perimeter.id)
    changes = list(session.exec(select(SovereigntyChange).where(
        SovereigntyChange.id.in_(concerning) | SovereigntyChange.id.not_in(scoped))
        .order_by(SovereigntyChange.changed_on.desc(), SovereigntyChange.id.desc())))
    ids = [c.id for c in changes] or [-1]
    scopes: dict[int, list[str]] = {}
    for change_id, code in session.exec(select(SovereigntyChangePerimeter.change_id, Perimeter.code)
                                        .join(Perimeter, Perimeter.id == SovereigntyChangePerimeter.perimeter_id)
                                        .where(SovereigntyChangePerimeter.change_id.in_(ids)).order_by(Perimeter.code)):
        scopes.setdefault(change_id, []).append(code)
    notices: dict[int, list[ChangeNotice]] = {}
    for notice in session.exec(select(ChangeNotice).where(
            ChangeNotice.change_id.in_(ids),
            (ChangeNotice.perimeter_id == perimeter.id) | ChangeNotice.perimeter_id.is_(None)).order_by(ChangeNotice.sent_on)):
        notices.setdefault(notice.change_id, []).append(notice)
    return Registers(
        seats=list(session.exec(select(Seat).order_by(Seat.kind))),
        holders=list(session.exec(select(Shareholder).order_by(Shareholder.kind, Shareholder.name))),
        subcontractors=list(session.exec(select(Subcontractor).where(
            Subcontractor.id.in_(serving) | Subcontractor.id.not_in(linked)).order_by(Subcontractor.name))),
        sites=list(session.exec(select(Site).where(Site.perimeter_id == perimeter.id).order_by(Site.id))),
        data=list(session.exec(select(DataLocation).where(DataLocation.perimeter_id == perimeter.id)
                               .order_by(DataLocation.category, DataLocation.activity))),
        operations=list(session.exec(select(OperationLocation).where(OperationLocation.perimeter_id == perimeter.id)
                                     .order_by(OperationLocation.operation))),
        links=list(session.exec(select(ForeignPublicLink).order_by(ForeignPublicLink.body))),
        declaration=session.exec(select(ForeignLinkDeclaration).order_by(ForeignLinkDeclaration.id.desc())).first(),
        changes=changes, change_scopes=scopes, notices=notices, today=clock.today(today),
    )


def third_party(s: Subcontractor) -> rules.SubcontractorFacts:
    parent = rules.ParentCompany(s.parent_name, s.parent_country, s.parent_capital_bp, s.parent_voting_bp,
                                 s.largest_other_voting_bp, s.parent_agreement, s.parent_de_facto,
                                 s.parent_board_power) if s.parent_name else None
    return rules.SubcontractorFacts(s.name, s.country, s.data_access, s.qualified, s.technical_data_access, parent,
                                    s.qualification_decision, s.qualification_date, s.own_skills, tuple(s.alternatives or ()))


def checks(regs: Registers) -> list[rules.Check]:
    members = eu()
    parties = [third_party(s) for s in regs.subcontractors]
    declaration = (rules.NoLinkDeclaration(regs.declaration.declared_by, regs.declaration.declared_on)
                   if regs.declaration else None)
    return [
        rules.check_seats({s.kind: s.country for s in regs.seats}, members),
        rules.check_shareholding([holder_facts(h) for h in regs.holders], members),
        rules.check_subcontractors(parties, members),
        rules.check_autonomy(parties),
        rules.check_foreign_links([rules.ForeignLink(link.body, link.country, link.assessment) for link in regs.links],
                                  declaration),
        rules.check_notices([rules.ChangeFacts(c.kind, c.description, c.changed_on, regs.notified_on(c.id))
                             for c in regs.changes], regs.today),
        *rules.check_localisation([rules.DataPlace(d.category, d.activity, d.country) for d in regs.data],
                                  [rules.OperationPlace(o.operation, o.country, o.allowed_operations) for o in regs.operations],
                                  members),
    ]


def failures(session: Session, perimeter: Perimeter, today: Optional[date] = None) -> dict[str, tuple]:
    """Item ref → the problems of its failed checks (rules.sovereignty.Problem): the gap computation keeps them
    beside the item's status, and each page, list or export words them in its reader's language
    (presentation.sovereignty_words.problem). Not words here: one computed status serves every reader."""
    found: dict[str, tuple] = {}
    for check in checks(registers(session, perimeter, today)):
        if not check.passed:
            found[check.requirement] = found.get(check.requirement, ()) + tuple(check.problems)
    return found


# --- Changes, audited; those that matter to customers are recorded and plan the 19.6.f action ----------------


def inform(session: Session, actor, perimeters: Optional[list[Perimeter]], what: str, today: Optional[date],
            kind: str) -> SovereigntyChange:
    """Record the change in the register (for the perimeters given; None: all) and plan, in each perimeter it
    concerns, the action of telling the customers within a month: the action is the to-do, the register the proof."""
    day = clock.today(today)
    change = SovereigntyChange(kind=kind, changed_on=day, description=what[:MAX_CHANGE],
                               recorded_by_id=actor.id if isinstance(actor, User) else None)
    session.add(change)
    session.flush()
    for perimeter in perimeters or ():
        session.add(SovereigntyChangePerimeter(change_id=change.id, perimeter_id=perimeter.id))
    audit.record(session, actor, "sovereignty.change.create", object_type="sovereignty_change", object_id=str(change.id),
                 details={"kind": kind, "changed_on": day.isoformat(), "description": change.description,
                          "perimeters": [p.code for p in perimeters] if perimeters is not None else "all",
                          "origin": "register"})
    due = one_month_after(day)
    for perimeter in perimeters if perimeters is not None else all_perimeters(session):
        action = Action(perimeter_id=perimeter.id, title=f"Informer les commanditaires : {what}"[:300],
                        description="Changement pouvant affecter la conformité au chapitre 19.6 : les commanditaires "
                                    "doivent en être informés formellement dans un délai d'un mois (19.6.f). "
                                    f"Registre des changements, n° {change.id} : y consigner la date de l'information.",
                        due_date=due, status="open")
        session.add(action)
        session.flush()
        item = session.exec(select(Requirement).where(Requirement.framework_id == perimeter.framework_id,
                                                      Requirement.ref == INFORM_ITEM)).first()
        if item is not None:
            session.add(ActionRequirement(action_id=action.id, requirement_id=item.id))
        audit.record(session, actor, "action.create", object_type="action", object_id=str(action.id),
                     details={"perimeter": perimeter.code, "title": action.title, "reason": "19.6.f", "change": change.id})
    return change


def all_perimeters(session: Session) -> list[Perimeter]:
    return list(session.exec(select(Perimeter).order_by(Perimeter.code)))


def holder_facts(h: Shareholder) -> rules.Holder:
    return rules.Holder(h.name, h.country, h.capital_bp, h.voting_bp, h.veto, h.board_majority, h.kind)


# --- Rows removed --------------------------------------------------------------------------------------------

CHANGE_ON_DELETE = {"data_location": "technical", "shareholder": "legal", "subcontractor": "organisational",
                    "operation_location": "technical"}


def removed(row) -> str:
    """The change a removal is, in words (the register's values named, not their codes)."""
    from flask_babel import gettext as _

    from evidence.presentation import labels
    from evidence.presentation.sovereignty_words import country as country_name
    from evidence.presentation.sovereignty_words import lower_first

    kind = row.__tablename__
    if kind == "shareholder":
        return _("actionnaire retiré du registre : %(name)s (%(country)s)", name=row.name, country=country_name(row.country))
    if kind == "subcontractor":
        return _("sous-traitant retiré du registre : %(name)s (%(country)s)", name=row.name,
                 country=country_name(row.country))
    if kind == "data_location":
        return _("localisation des données retirée : %(category)s (%(activity)s), %(country)s",
                 category=lower_first(labels.text(labels.DATA_CATEGORY, row.category)),
                 activity=labels.text(labels.DATA_ACTIVITY, row.activity), country=country_name(row.country))
    return _("lieu d'opération retiré : %(operation)s, %(country)s",
             operation=lower_first(labels.text(labels.OPERATION, row.operation)), country=country_name(row.country))


def row_label(row) -> str:
    """The words a register row is known by (its name, its category…): the audit trail's object and the
    confirmation's question."""
    return next((str(v) for v in (getattr(row, a, None) for a in ("name", "category", "operation", "body",
                                                                   "description", "kind")) if v),
                f"{row.__tablename__} {row.id}")


def row_values(session: Session, row) -> dict:
    """Everything a deleted register row held, as the audit trail keeps it, so that it can be told or put back
    by hand: its columns (dates as ISO text), and what goes with it (the perimeters a subcontractor or a change
    concerns, a change's notices, which the database removes with it)."""

    def columns(obj) -> dict:
        return {column.key: _plain(getattr(obj, column.key)) for column in obj.__table__.columns}

    values = columns(row)
    codes = {p.id: p.code for p in session.exec(select(Perimeter))}
    if isinstance(row, Subcontractor):
        values["perimeters"] = sorted(codes[link.perimeter_id] for link in session.exec(
            select(SubcontractorPerimeter).where(SubcontractorPerimeter.subcontractor_id == row.id)))
    if isinstance(row, SovereigntyChange):
        values["perimeters"] = sorted(codes[link.perimeter_id] for link in session.exec(
            select(SovereigntyChangePerimeter).where(SovereigntyChangePerimeter.change_id == row.id)))
        values["notices"] = [columns(notice) for notice in session.exec(
            select(ChangeNotice).where(ChangeNotice.change_id == row.id).order_by(ChangeNotice.id))]
    if values.get("perimeter_id") in codes:
        values["perimeter"] = codes[values["perimeter_id"]]
    return values


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def delete_row(session: Session, actor, row, today: Optional[date] = None) -> None:
    """Remove a register row (holder, subcontractor, site, data or operation location, foreign link, change,
    notice), audited with every value it held; removing what protected the customers is itself a change to tell
    them of."""
    kind = row.__tablename__
    perimeter = session.get(Perimeter, row.perimeter_id) if getattr(row, "perimeter_id", None) else None
    deleted = row_values(session, row)
    session.delete(row)
    audit.record(session, actor, f"sovereignty.{kind}.delete", object_type=kind, object_id=row_label(row)[:64],
                 details={"perimeter": perimeter.code if perimeter else None, "deleted": deleted})
    if kind in CHANGE_ON_DELETE:
        inform(session, actor, [perimeter] if perimeter else None, stored_words(lambda: removed(row)), today,
               CHANGE_ON_DELETE[kind])
    session.commit()
