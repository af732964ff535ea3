"""When an action or a finding is late: its due date has passed and it is still waiting on someone.

The lists, the dashboard, the reminders and the dossier all ask here, so that they flag the same items."""
from __future__ import annotations

from datetime import date
from typing import Optional

from evidence.core.vocabulary import OPEN_ACTION_STATUSES, OPEN_FINDING_STATUSES


def past_due(due_date: Optional[date], today: date) -> bool:
    """The due day itself is still on time; an item without a due date is never late."""
    return due_date is not None and due_date < today


def action_overdue(status: str, due_date: Optional[date], today: date) -> bool:
    """A planned action (open or in progress) past its due date; a done or cancelled one is never late."""
    return status in OPEN_ACTION_STATUSES and past_due(due_date, today)


def finding_overdue(status: str, due_date: Optional[date], today: date) -> bool:
    """A finding the evaluation centre has not closed, past the date it set for the answer."""
    return status in OPEN_FINDING_STATUSES and past_due(due_date, today)
