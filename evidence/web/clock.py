"""The day a page judges against: the core clock, with the application's TODAY setting (tests fix it) as override."""
from __future__ import annotations

from datetime import date

from flask import current_app

from evidence.core import clock


def request_today() -> date:
    return clock.today(current_app.config.get("TODAY"))
