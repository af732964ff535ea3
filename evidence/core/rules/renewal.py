"""Recurring evidence: when a piece of evidence renewed on a cadence (a quarterly access review, a yearly
continuity test) is due again, and from when its owner is told.

The cadence counts from the later of the evidence's effective date and the last approval of one of its versions:
the date the current proof took effect, or the day a renewed version was approved (a renewal approved without a
new effective date still restarts the count, so that doing the work clears the task).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Optional

from evidence.core.vocabulary import RENEWAL_CADENCES

RENEWAL_MONTHS = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}
# How many days before the due date the owner gets the task: long enough to do the work (collect the export,
# hold the review), short enough not to nag about a monthly report for half the month.
RENEWAL_LEAD_DAYS = {"monthly": 7, "quarterly": 15, "half_yearly": 30, "yearly": 30}
assert set(RENEWAL_MONTHS) == set(RENEWAL_LEAD_DAYS) == set(RENEWAL_CADENCES)


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the last day of the month when that month is shorter (31 January + 1 month:
    28 or 29 February), so that a cadence never skips a month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def renewal_base(effective_date: Optional[date], approved_on: Optional[date]) -> Optional[date]:
    """The day the cadence counts from: the later of the two that are known; None when neither is."""
    known = [d for d in (effective_date, approved_on) if d is not None]
    return max(known) if known else None


def next_renewal(cadence: str, effective_date: Optional[date], approved_on: Optional[date]) -> Optional[date]:
    """The day the evidence is due again; None when it has no cadence ("") or nothing to count from (never in
    force: neither an effective date nor an approval)."""
    if not cadence:
        return None
    if cadence not in RENEWAL_MONTHS:
        raise ValueError(f"unknown renewal cadence {cadence!r}")
    base = renewal_base(effective_date, approved_on)
    return None if base is None else add_months(base, RENEWAL_MONTHS[cadence])


@dataclass(frozen=True)
class Renewal:
    cadence: str
    due_on: date
    opens_on: date  # the first day the owner is told (due_on minus the cadence's lead time)

    def overdue(self, today: date) -> bool:
        """The due day itself is still on time."""
        return today > self.due_on


def renewal_due(cadence: str, effective_date: Optional[date], approved_on: Optional[date],
                today: date) -> Optional[Renewal]:
    """The renewal to do now: from its lead time before the due date onwards (late ones included); None when
    there is none yet."""
    due_on = next_renewal(cadence, effective_date, approved_on)
    if due_on is None:
        return None
    opens_on = due_on - timedelta(days=RENEWAL_LEAD_DAYS[cadence])
    return Renewal(cadence, due_on, opens_on) if today >= opens_on else None
