"""Sovereignty registers of chapter 19 (seats, shareholding, subcontractors, localisation), their checks, and
the "inform customers" action that a change which matters to them calls for (19.6.f).

The checks themselves are pure (evidence.core.rules.sovereignty); this module reads and writes the registers,
every change audited.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Optional

import yaml
from sqlmodel import Session, select

from evidence.core import clock, rules
from evidence.core.errors import EvidenceError
from evidence.core.vocabulary import DATA_CATEGORIES, OPERATIONS, SEAT_KINDS
from evidence.data import audit
from evidence.data.links import replace_links
from evidence.data.models import (
    Action,
    ActionRequirement,
    DataLocation,
    OperationLocation,
    Perimeter,
    Requirement,
    Seat,
    Shareholder,
    Site,
    Subcontractor,
    SubcontractorPerimeter,
    utcnow,
)
from evidence.settings import resource_dir

COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
INFORM_ITEM = "19.6.f"


@lru_cache(maxsize=1)
def eu_members() -> dict[str, str]:
    with open(resource_dir("controls") / "data" / "eu-member-states.yaml", encoding="utf-8") as f:
        return dict(yaml.safe_load(f)["members"])


def eu() -> set[str]:
    return set(eu_members())


def country(value: str, field: str) -> str:
    code = (value or "").strip().upper()
    if not COUNTRY_RE.match(code):
        raise EvidenceError(f"{field}: {value!r} is not an ISO 3166 country code (two letters, e.g. FR, DE, US)")
    return code


def percent_to_bp(value, field: str) -> int:
    try:
        bp = round(float(str(value).replace(",", ".").replace("%", "").strip() or 0) * 100)
    except ValueError:
        raise EvidenceError(f"{field}: {value!r} is not a percentage") from None
    if not 0 <= bp <= 10000:
        raise EvidenceError(f"{field}: {value} is not between 0 and 100")
    return bp


def one_month_after(day: date) -> date:
    year, month = (day.year + (day.month // 12), day.month % 12 + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- Reading and checking ----------------------------------------------------------------------------------


@dataclass
class Registers:
    seats: list[Seat]
    holders: list[Shareholder]
    subcontractors: list[Subcontractor]
    sites: list[Site]
    data: list[DataLocation]
    operations: list[OperationLocation]


def registers(session: Session, perimeter: Perimeter) -> Registers:
    linked = select(SubcontractorPerimeter.subcontractor_id)
    serving = select(SubcontractorPerimeter.subcontractor_id).where(SubcontractorPerimeter.perimeter_id == perimeter.id)
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
    )


def checks(regs: Registers) -> list[rules.Check]:
    members = eu()
    return [
        rules.check_seats({s.kind: s.country for s in regs.seats}, members),
        rules.check_shareholding([_holder(h) for h in regs.holders], members),
        rules.check_subcontractors([rules.SubcontractorFacts(s.name, s.country, s.data_access, s.qualified)
                                    for s in regs.subcontractors], members),
        *rules.check_localisation([rules.DataPlace(d.category, d.activity, d.country) for d in regs.data],
                                  [rules.OperationPlace(o.operation, o.country, o.allowed_operations) for o in regs.operations],
                                  members),
    ]


def failures(session: Session, perimeter: Perimeter) -> dict[str, tuple[str, ...]]:
    """Item ref → the problems of its failed checks, for the gap computation."""
    found: dict[str, tuple[str, ...]] = {}
    for check in checks(registers(session, perimeter)):
        if not check.passed:
            found[check.requirement] = found.get(check.requirement, ()) + check.problems
    return found


# --- Changes, audited; those that matter to customers plan the 19.6.f action --------------------------------


def _inform(session: Session, actor, perimeters: list[Perimeter], what: str, today: Optional[date]) -> None:
    due = one_month_after(clock.today(today))
    for perimeter in perimeters:
        action = Action(perimeter_id=perimeter.id, title=f"Informer les commanditaires : {what}"[:300],
                        description="Changement pouvant affecter la conformité au chapitre 19.6 : les commanditaires "
                                    "doivent en être informés formellement dans un délai d'un mois (19.6.f).",
                        due_date=due, status="open")
        session.add(action)
        session.flush()
        item = session.exec(select(Requirement).where(Requirement.framework_id == perimeter.framework_id,
                                                      Requirement.ref == INFORM_ITEM)).first()
        if item is not None:
            session.add(ActionRequirement(action_id=action.id, requirement_id=item.id))
        audit.record(session, actor, "action.create", object_type="action", object_id=str(action.id),
                     details={"perimeter": perimeter.code, "title": action.title, "reason": "19.6.f"})


def _all_perimeters(session: Session) -> list[Perimeter]:
    return list(session.exec(select(Perimeter).order_by(Perimeter.code)))


def set_seat(session: Session, actor, kind: str, country_code: str, city: str = "", address: str = "",
             today: Optional[date] = None, notify: bool = True) -> Seat:
    if kind not in SEAT_KINDS:
        raise EvidenceError(f"unknown seat {kind!r} (one of {', '.join(SEAT_KINDS)})")
    code = country(country_code, kind)
    seat = session.exec(select(Seat).where(Seat.kind == kind)).first()
    before = seat.country if seat else None
    seat = seat or Seat(kind=kind, country=code)
    seat.country, seat.city, seat.address, seat.updated_at = code, city.strip()[:100], address.strip()[:300], utcnow()
    session.add(seat)
    audit.record(session, actor, "sovereignty.seat", object_type="seat", object_id=kind,
                 details={"country": code, "city": seat.city, "before": before})
    if notify and before != code and before is not None:
        _inform(session, actor, _all_perimeters(session), f"{kind} transféré de {before} vers {code}", today)
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
        raise EvidenceError("a shareholder needs a name")
    if data.kind not in ("direct", "ultimate"):
        raise EvidenceError(f"unknown holding kind {data.kind!r}")
    members = eu()
    all_holders = list(session.exec(select(Shareholder)))
    before = rules.check_shareholding([_holder(h) for h in all_holders], members)
    values = {
        "name": data.name.strip()[:200], "country": country(data.country, "country"), "kind": data.kind,
        "capital_bp": percent_to_bp(data.capital, "capital"), "voting_bp": percent_to_bp(data.voting, "voting rights"),
        "veto": bool(data.veto), "board_majority": bool(data.board_majority), "notes": (data.notes or "").strip(),
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
    after = rules.check_shareholding([_holder(h) for h in session.exec(select(Shareholder))], members)
    audit.record(session, actor, "sovereignty.holder.create" if created else "sovereignty.holder.update",
                 object_type="shareholder", object_id=holder.name, details={"changes": changes})
    reason = None
    if holder.country not in members and (created or not was_foreign):
        reason = f"nouvel actionnaire hors UE : {holder.name} ({holder.country})"
    elif before.passed != after.passed:
        reason = f"seuils d'actionnariat : {', '.join(after.problems) or 'de nouveau respectés'}"
    if reason and notify:
        _inform(session, actor, _all_perimeters(session), reason, today)
    session.commit()
    return holder


def _holder(h: Shareholder) -> rules.Holder:
    return rules.Holder(h.name, h.country, h.capital_bp, h.voting_bp, h.veto, h.board_majority, h.kind)


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


def save_subcontractor(session: Session, actor, data: SubcontractorData, subcontractor: Optional[Subcontractor] = None,
                       today: Optional[date] = None, notify: bool = True) -> Subcontractor:
    if not (data.name or "").strip():
        raise EvidenceError("a subcontractor needs a name")
    if not data.data_access and not (data.access_justification or "").strip():
        raise EvidenceError(f"{data.name}: say why it cannot reach customer data (justification required)")
    values = {
        "name": data.name.strip()[:200], "country": country(data.country, "country"), "service": data.service.strip()[:300],
        "data_access": bool(data.data_access), "access_justification": (data.access_justification or "").strip(),
        "qualified": bool(data.qualified), "contract_ref": (data.contract_ref or "").strip()[:100],
    }
    created = subcontractor is None
    access_changed = not created and (subcontractor.data_access != values["data_access"]
                                      or subcontractor.country != values["country"])
    changes = audit.diff(subcontractor, values) if subcontractor else values
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
    if notify and (created or access_changed):
        served = [p for p in _all_perimeters(session) if not data.perimeter_ids or p.id in data.perimeter_ids]
        what = ("nouveau sous-traitant" if created else "accès du sous-traitant modifié") + f" : {subcontractor.name} ({subcontractor.country})"
        _inform(session, actor, served, what, today)
    session.commit()
    return subcontractor


def delete_row(session: Session, actor, row, today: Optional[date] = None) -> None:
    """Remove a register row (holder, subcontractor, site, data or operation location), audited."""
    kind = row.__tablename__
    label = getattr(row, "name", None) or getattr(row, "category", None) or getattr(row, "operation", None) or getattr(row, "kind", "")
    perimeter = session.get(Perimeter, row.perimeter_id) if hasattr(row, "perimeter_id") else None
    session.delete(row)
    audit.record(session, actor, f"sovereignty.{kind}.delete", object_type=kind, object_id=str(label)[:64],
                 details={"perimeter": perimeter.code if perimeter else None})
    if kind in ("data_location", "shareholder", "subcontractor", "operation_location"):
        targets = [perimeter] if perimeter else _all_perimeters(session)
        _inform(session, actor, targets, f"{kind.replace('_', ' ')} supprimé : {label}", today)
    session.commit()


def add_site(session: Session, actor, perimeter: Perimeter, kind: str, city: str, country_code: str) -> Site:
    if not (kind or "").strip():
        raise EvidenceError("a site needs a kind (data centre, backup site, SOC…)")
    site = Site(perimeter_id=perimeter.id, kind=kind.strip()[:60], city=city.strip()[:100], country=country(country_code, "country"))
    session.add(site)
    audit.record(session, actor, "sovereignty.site.create", perimeter, {"kind": site.kind, "city": site.city, "country": site.country})
    session.commit()
    return site


def add_data_location(session: Session, actor, perimeter: Perimeter, category: str, activity: str, country_code: str,
                      today: Optional[date] = None, notify: bool = True) -> DataLocation:
    if category not in DATA_CATEGORIES:
        raise EvidenceError(f"unknown data category {category!r} (one of {', '.join(DATA_CATEGORIES)})")
    if activity not in ("stored", "processed"):
        raise EvidenceError(f"unknown activity {activity!r} (stored or processed)")
    row = DataLocation(perimeter_id=perimeter.id, category=category, activity=activity, country=country(country_code, "country"))
    # Recording where data lives for the first time is no change; a new place for data already placed is one.
    moved = session.exec(select(DataLocation).where(DataLocation.perimeter_id == perimeter.id,
                                                    DataLocation.category == category)).first() is not None
    session.add(row)
    audit.record(session, actor, "sovereignty.data_location.create", perimeter,
                 {"category": category, "activity": activity, "country": row.country})
    if notify and moved:
        _inform(session, actor, [perimeter], f"localisation des données : {category} {activity} en {row.country}",
                today)
    session.commit()
    return row


def add_operation(session: Session, actor, perimeter: Perimeter, operation: str, country_code: str,
                  allowed_operations: str = "", today: Optional[date] = None, notify: bool = True) -> OperationLocation:
    if operation not in OPERATIONS:
        raise EvidenceError(f"unknown operation {operation!r} (one of {', '.join(OPERATIONS)})")
    row = OperationLocation(perimeter_id=perimeter.id, operation=operation, country=country(country_code, "country"),
                            allowed_operations=(allowed_operations or "").strip())
    session.add(row)
    audit.record(session, actor, "sovereignty.operation.create", perimeter,
                 {"operation": operation, "country": row.country, "allowed_operations": row.allowed_operations})
    if notify and row.country not in eu():
        _inform(session, actor, [perimeter], f"{operation} depuis {row.country}", today)
    session.commit()
    return row
