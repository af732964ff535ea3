"""Where a perimeter's sites, data and operations are (19.2)."""
from __future__ import annotations

from datetime import date
from typing import Optional

from flask_babel import gettext as _
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError
from evidence.core.text import bounded
from evidence.core.vocabulary import DATA_CATEGORIES, MAX_JUSTIFICATION, OPERATIONS
from evidence.data import audit
from evidence.data.models import (
    DataLocation,
    OperationLocation,
    Perimeter,
    Site,
)
from evidence.presentation import labels
from evidence.presentation.sovereignty_words import country as country_name
from evidence.presentation.sovereignty_words import lower_first
from evidence.services.sovereignty.registers import (
    country,
    eu,
    inform,
    stored_words,
)

SITE_KIND_MAX, SITE_CITY_MAX, SITE_NAME_MAX, SITE_ROLE_MAX = 60, 100, 120, 500


def add_site(session: Session, actor, perimeter: Perimeter, kind: str, city: str, country_code: str,
             name: str = "", role: str = "") -> Site:
    """A site of the perimeter: its kind, where it is, its own name ("PAR-2") and what it does for the perimeter
    (its role: production, backup, operations centre…), which the dossier's description of the perimeter prints."""
    if not (kind or "").strip():
        raise EvidenceError(N_("nature du site : obligatoire (centre de données, site de sauvegarde, SOC…)"),
                            field="kind")
    site = Site(perimeter_id=perimeter.id, kind=bounded(kind, SITE_KIND_MAX, N_("nature du site"), "kind"),
                city=bounded(city, SITE_CITY_MAX, N_("ville"), "city"), country=country(country_code, N_("pays")),
                name=bounded(name, SITE_NAME_MAX, N_("nom du site"), "name"),
                role=bounded(role, SITE_ROLE_MAX, N_("rôle du site"), "role"))
    session.add(site)
    audit.record(session, actor, "sovereignty.site.create", perimeter,
                 {"kind": site.kind, "city": site.city, "country": site.country, "name": site.name, "role": site.role})
    session.commit()
    return site


def add_data_location(session: Session, actor, perimeter: Perimeter, category: str, activity: str, country_code: str,
                      today: Optional[date] = None, notify: bool = True) -> DataLocation:
    if category not in DATA_CATEGORIES:
        raise EvidenceError(N_("données : catégorie « %(category)s » inconnue (l’une de : %(categories)s)"),
                            category=category, categories=", ".join(DATA_CATEGORIES), field="category")
    if activity not in ("stored", "processed"):
        raise EvidenceError(N_("activité : « %(activity)s » inconnue (stored ou processed)"), activity=activity,
                            field="activity")
    row = DataLocation(perimeter_id=perimeter.id, category=category, activity=activity,
                       country=country(country_code, N_("pays")))
    # Recording where data is stored or processed for the first time is no change; a new place for it is one.
    moved = session.exec(select(DataLocation).where(DataLocation.perimeter_id == perimeter.id, DataLocation.category == category,
                                                    DataLocation.activity == activity)).first() is not None
    session.add(row)
    audit.record(session, actor, "sovereignty.data_location.create", perimeter,
                 {"category": category, "activity": activity, "country": row.country})
    if notify and moved:
        inform(session, actor, [perimeter], stored_words(lambda: _(
            "localisation des données : %(category)s (%(activity)s), %(country)s",
            category=lower_first(labels.text(labels.DATA_CATEGORY, category)),
            activity=labels.text(labels.DATA_ACTIVITY, activity), country=country_name(row.country))),
            today, "technical")
    session.commit()
    return row


def add_operation(session: Session, actor, perimeter: Perimeter, operation: str, country_code: str,
                  allowed_operations: str = "", today: Optional[date] = None, notify: bool = True) -> OperationLocation:
    if operation not in OPERATIONS:
        raise EvidenceError(N_("opération : « %(operation)s » inconnue (l’une de : %(operations)s)"),
                            operation=operation, operations=", ".join(OPERATIONS), field="operation")
    row = OperationLocation(perimeter_id=perimeter.id, operation=operation, country=country(country_code, N_("pays")),
                            allowed_operations=bounded(allowed_operations, MAX_JUSTIFICATION,
                                                       N_("Opérations permises depuis ce pays"), "allowed_operations"))
    session.add(row)
    audit.record(session, actor, "sovereignty.operation.create", perimeter,
                 {"operation": operation, "country": row.country, "allowed_operations": row.allowed_operations})
    if notify and row.country not in eu():
        inform(session, actor, [perimeter], stored_words(lambda: _(
            "%(operation)s depuis un pays hors Union européenne (%(country)s)",
            operation=labels.text(labels.OPERATION, operation), country=country_name(row.country))),
            today, "organisational")
    session.commit()
    return row
