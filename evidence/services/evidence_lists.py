"""The evidence list's filters, one rule for the list page and the API's `GET /evidence`: review status (as the
reader sees statuses: services.reach.with_status), kind, perimeter, freshness and a search on ref and title."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Optional

from sqlalchemy import or_
from sqlmodel import select

from evidence.core import rules
from evidence.core.vocabulary import EVIDENCE_KINDS, EVIDENCE_STATUSES
from evidence.data.models import Evidence, EvidencePerimeter
from evidence.services import reach

MAX_QUERY = 100  # characters of a search that are read


def filtered(query, today: date, role: Optional[str], *, status: Optional[str] = None, kind: Optional[str] = None,
             perimeter_id: Optional[int] = None, freshness: Optional[str] = None, q: Optional[str] = None):
    """`query` (of Evidence) narrowed by the filters given; an unknown status, kind or freshness filters nothing,
    as the page's "all"."""
    if status in EVIDENCE_STATUSES:
        query = reach.with_status(query, status, role)
    if kind in EVIDENCE_KINDS:
        query = query.where(Evidence.kind == kind)
    if perimeter_id is not None:
        query = query.where(Evidence.id.in_(
            select(EvidencePerimeter.evidence_id).where(EvidencePerimeter.perimeter_id == perimeter_id)))
    soon = today + timedelta(days=rules.EXPIRING_DAYS)
    if freshness == "expired":
        query = query.where(Evidence.valid_until < today)
    elif freshness == "expiring":
        query = query.where(Evidence.valid_until >= today, Evidence.valid_until <= soon)
    elif freshness == "valid":
        query = query.where(or_(Evidence.valid_until.is_(None), Evidence.valid_until > soon))
    if search := (q or "").strip()[:MAX_QUERY]:
        query = query.where(or_(Evidence.ref.icontains(search, autoescape=True),
                                Evidence.title.icontains(search, autoescape=True)))
    return query
