"""Where a perimeter's sites, data and operations are (19.2)."""
from __future__ import annotations

from datetime import date
from typing import Optional

from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import EvidenceError
from evidence.core.vocabulary import DATA_CATEGORIES, OPERATIONS
from evidence.data import audit
from evidence.data.models import (
    DataLocation,
    OperationLocation,
    Perimeter,
    Site,
)
from evidence.services.sovereignty.registers import (
    country,
    eu,
    inform,
)


def add_site(session: Session, actor, perimeter: Perimeter, kind: str, city: str, country_code: str) -> Site:
    if not (kind or "").strip():
        raise EvidenceError("nature du site : obligatoire (centre de données, site de sauvegarde, SOC…)")
    site = Site(perimeter_id=perimeter.id, kind=kind.strip()[:60], city=city.strip()[:100], country=country(country_code, "pays"))
    session.add(site)
    audit.record(session, actor, "sovereignty.site.create", perimeter, {"kind": site.kind, "city": site.city, "country": site.country})
    session.commit()
    return site


def add_data_location(session: Session, actor, perimeter: Perimeter, category: str, activity: str, country_code: str,
                      today: Optional[date] = None, notify: bool = True) -> DataLocation:
    if category not in DATA_CATEGORIES:
        raise EvidenceError(f"données : catégorie {category!r} inconnue (l'une de {', '.join(DATA_CATEGORIES)})")
    if activity not in ("stored", "processed"):
        raise EvidenceError(f"activité : {activity!r} inconnue (stored ou processed)")
    row = DataLocation(perimeter_id=perimeter.id, category=category, activity=activity, country=country(country_code, "pays"))
    # Recording where data is stored or processed for the first time is no change; a new place for it is one.
    moved = session.exec(select(DataLocation).where(DataLocation.perimeter_id == perimeter.id, DataLocation.category == category,
                                                    DataLocation.activity == activity)).first() is not None
    session.add(row)
    audit.record(session, actor, "sovereignty.data_location.create", perimeter,
                 {"category": category, "activity": activity, "country": row.country})
    if notify and moved:
        inform(session, actor, [perimeter], f"localisation des données : {rules.DATA_WORDS[category]} "
                                             f"({rules.ACTIVITY_WORDS[activity]}) en {row.country}", today, "technical")
    session.commit()
    return row


def add_operation(session: Session, actor, perimeter: Perimeter, operation: str, country_code: str,
                  allowed_operations: str = "", today: Optional[date] = None, notify: bool = True) -> OperationLocation:
    if operation not in OPERATIONS:
        raise EvidenceError(f"opération : {operation!r} inconnue (l'une de {', '.join(OPERATIONS)})")
    row = OperationLocation(perimeter_id=perimeter.id, operation=operation, country=country(country_code, "pays"),
                            allowed_operations=(allowed_operations or "").strip())
    session.add(row)
    audit.record(session, actor, "sovereignty.operation.create", perimeter,
                 {"operation": operation, "country": row.country, "allowed_operations": row.allowed_operations})
    if notify and row.country not in eu():
        inform(session, actor, [perimeter], f"{rules.OPERATION_WORDS[operation]} depuis {row.country}", today,
                "organisational")
    session.commit()
    return row
