"""The pure rules, with tables of cases."""
from datetime import date, datetime, timedelta, timezone

import pytest

from evidence.core import clock, rules

TODAY = date(2026, 6, 15)


@pytest.mark.parametrize("valid_until, expected", [
    (None, "valid"), (date(2026, 6, 14), "expired"), (date(2026, 6, 15), "expiring"),
    (date(2026, 7, 15), "expiring"), (date(2026, 7, 16), "valid"),
])
def test_freshness(valid_until, expected):
    assert rules.freshness(valid_until, TODAY) == expected


@pytest.mark.parametrize("action, status, expected", [
    ("submit", "draft", "in_review"), ("submit", "rejected", "in_review"), ("approve", "in_review", "approved"),
    ("reject", "in_review", "rejected"), ("reopen", "approved", "draft"),
    ("approve", "draft", None), ("submit", "approved", None), ("reject", "approved", None), ("fly", "draft", None),
])
def test_review_transitions(action, status, expected):
    if expected is None:
        with pytest.raises(ValueError):
            rules.review_transition(action, status)
    else:
        assert rules.review_transition(action, status) == expected


# --- overdue actions and findings ---------------------------------------------------------------------------


@pytest.mark.parametrize("status, due_date, expected", [
    ("open", date(2026, 6, 14), True), ("in_progress", date(2026, 6, 14), True),
    ("open", TODAY, False),  # due today is still on time
    ("in_progress", date(2026, 6, 16), False), ("open", None, False),
    ("done", date(2026, 6, 1), False), ("cancelled", date(2026, 6, 1), False),
])
def test_action_overdue(status, due_date, expected):
    assert rules.action_overdue(status, due_date, TODAY) is expected


@pytest.mark.parametrize("status, due_date, expected", [
    ("open", date(2026, 6, 14), True), ("answered", date(2026, 6, 14), True),  # answered, not yet closed
    ("closed", date(2026, 6, 1), False), ("open", TODAY, False), ("open", date(2026, 7, 1), False),
    ("answered", None, False),
])
def test_finding_overdue(status, due_date, expected):
    assert rules.finding_overdue(status, due_date, TODAY) is expected


# --- the clock ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("override", [TODAY, date(2000, 1, 1), date(2099, 12, 31)])
def test_the_clock_honours_its_override(override):
    assert clock.today(override) == override


class LateEvening(datetime):
    """23:30 UTC on 14 June 2026, seen from a server clock already on the next day (UTC+2)."""

    @classmethod
    def now(cls, tz=None):
        instant = datetime(2026, 6, 14, 23, 30, tzinfo=timezone.utc)
        if tz is None:
            return instant.astimezone(timezone(timedelta(hours=2))).replace(tzinfo=None)
        return instant.astimezone(tz)


def test_without_override_the_clock_gives_the_utc_date(monkeypatch):
    monkeypatch.setattr(clock, "datetime", LateEvening)
    assert clock.today() == clock.today(None) == date(2026, 6, 14)


def test_the_clock_without_override_is_the_current_date():
    before = datetime.now(timezone.utc).date()
    assert before <= clock.today() <= datetime.now(timezone.utc).date()

