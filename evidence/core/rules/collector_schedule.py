"""Scheduled collections (the COLLECTOR_SCHEDULE setting): which collector runs on which perimeter's source, and
when. Pure: the setting's text in, entries out; a moment in, the entries due then out.

An entry is `collector:perimeter:path@cadence` (`tls-ssh:iaas-fr1:/srv/hosts@daily`); entries are separated by
commas, semicolons or new lines, so a path holds none of these (nor starts with a space). The path is the source the
collector reads on the worker's machine, absolute (a job has no working directory to be relative to).

The job queue asks every minute; a collection is due at the top of the hour: hourly at every hour, daily at RUN_HOUR
(server time), weekly on Mondays at RUN_HOUR. A run missed while no consumer ran is not caught up: the next one
refreshes the evidence, and until then its time-to-live says how old its result is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

CADENCES = ("hourly", "daily", "weekly")
RUN_HOUR = 2  # in the night, server time: away from the working day and from the digest (DIGEST_HOUR, 7 h)
COLLECTOR_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
EXAMPLE = "tls-ssh:iaas-fr1:/srv/hosts@daily"


@dataclass(frozen=True)
class ScheduledCollection:
    collector: str
    perimeter: str  # its code (or id), as the command line takes it
    path: str
    cadence: str

    def __str__(self) -> str:
        return f"{self.collector}:{self.perimeter}:{self.path}@{self.cadence}"


def parse_entry(text: str) -> ScheduledCollection:
    """One entry; ValueError saying what is expected."""
    body, at, cadence = text.strip().rpartition("@")
    collector, _, rest = body.partition(":")
    perimeter, _, path = rest.partition(":")
    if not at or cadence not in CADENCES:
        raise ValueError(f"entries ending in @{'|@'.join(CADENCES)} (e.g. {EXAMPLE})")
    if not COLLECTOR_NAME.match(collector) or not perimeter.strip() or not path:
        raise ValueError(f"entries collector:perimeter:path@cadence (e.g. {EXAMPLE})")
    if not path.startswith("/"):
        raise ValueError(f"entries whose path is absolute (e.g. {EXAMPLE})")
    return ScheduledCollection(collector, perimeter.strip(), path, cadence)


def parse_schedule(text: str) -> tuple[ScheduledCollection, ...]:
    """The entries of the setting's text, in order; the same entry twice counts once. A refusal among several
    entries names the one refused."""
    parts = [part for part in re.split(r"[,;\n]+", text) if part.strip()]
    entries = []
    for part in parts:
        try:
            entries.append(parse_entry(part))
        except ValueError as error:
            if len(parts) == 1:
                raise
            raise ValueError(f"{error}: {part.strip()!r} is not one") from None
    return tuple(dict.fromkeys(entries))


def schedule_of(value: Any, known: Iterable[str]) -> tuple[ScheduledCollection, ...]:
    """The setting's value: from its text, from a list of entry texts (instance/config.py) or of entries; every
    collector named among `known`. ValueError saying what is expected."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, ScheduledCollection) for v in value):
        entries = tuple(value)
    elif isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
        entries = parse_schedule(value if isinstance(value, str) else "\n".join(value))
    else:
        raise ValueError(f"collector:perimeter:path@cadence entries separated by commas (e.g. {EXAMPLE})")
    known = sorted(known)
    unknown = sorted({entry.collector for entry in entries} - set(known))
    if unknown:
        raise ValueError(f"entries naming known collectors ({', '.join(known)}), not {', '.join(unknown)}")
    return entries


def due(entries: Iterable[ScheduledCollection], moment: datetime) -> list[ScheduledCollection]:
    """The entries to run at `moment` (the server's local time)."""
    if moment.minute != 0:
        return []
    wanted = {"hourly"}
    if moment.hour == RUN_HOUR:
        wanted.add("daily")
        if moment.weekday() == 0:
            wanted.add("weekly")
    return [entry for entry in entries if entry.cadence in wanted]
