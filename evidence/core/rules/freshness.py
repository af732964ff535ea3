"""Whether a piece of evidence is still valid on a given day, or soon to be renewed."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Optional

VALID, EXPIRING, EXPIRED = "valid", "expiring", "expired"
EXPIRING_DAYS = 30  # how far ahead an end of validity is announced (lists, dashboard, reminders)


def freshness(valid_until: Optional[date], today: date, expiring_days: int = EXPIRING_DAYS) -> str:
    """valid (or no end date), expiring (within `expiring_days` of its end), expired (after it)."""
    if valid_until is None:
        return VALID
    if valid_until < today:
        return EXPIRED
    if valid_until <= today + timedelta(days=expiring_days):
        return EXPIRING
    return VALID
