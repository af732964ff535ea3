"""The day the rules judge against: one definition, so that every page, command and dossier agree on "today".

The override is the application's TODAY setting, which the tests use to fix the date."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Optional


def today(override: Optional[date] = None) -> date:
    """The override when one is given, else the current date in UTC (the timestamps' zone, not the server's)."""
    if override is not None:
        return override
    return datetime.now(timezone.utc).date()
