"""Running a collector by name: load it (evidence.collectors' registry), let it read its source, and record what it
found for a perimeter through the one door (services.collection.record_collected). The command line (`evidence
collect run`), the API and the scheduled runs (COLLECTOR_SCHEDULE, evidence.jobs) all come here.

The scheduled runs act as one service account, `scheduled-collectors@service-account.invalid`, made the first time
it is needed (audited, like an API token's account): a job has no person behind it, and the audit trail and the
evidence's owner must still say who. It is a manager so that it may refresh any automated evidence of the schedule,
whoever first collected it (a contributor may change only his own); it has no password anybody knows, cannot log in
to the web, and no token may act as it (services.api_tokens refuses service accounts to --user).
"""
from __future__ import annotations

import secrets
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

from sqlmodel import Session

from evidence import collectors
from evidence.core.errors import N_, EvidenceError
from evidence.data import audit
from evidence.data.models import User
from evidence.services import users
from evidence.services.collection import CollectionReport, configured_ttl, record_collected
from evidence.services.perimeters import get_perimeter

SCHEDULER_EMAIL = "scheduled-collectors@service-account.invalid"
SCHEDULER_NAME = "Collectes planifiées"
SCHEDULER_ROLE = "manager"


def run_moment(today: date, now: Optional[datetime] = None) -> datetime:
    """The time a run is dated with: now, on the day the rules take for today (the TODAY setting fixes it in tests
    and demonstrations, and a run must then fall on that day too)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return now if now.date() == today else datetime.combine(today, now.time(), tzinfo=timezone.utc)


def collect(name: str, source: Path, options: Optional[Mapping[str, Any]] = None, *,
            now: Optional[datetime] = None) -> tuple[collectors.Collector, list[collectors.Collected]]:
    """The collector called `name` and what it reads from `source` (nothing written yet)."""
    collector = collectors.get(name)
    options = dict(options or {})
    if "now" in options:
        raise EvidenceError(N_("%(collector)s : option inconnue « %(option)s »"), collector=name, option="now",
                            field="option")
    items = collector.collect(Path(source), {**options, "now": now or datetime.now(timezone.utc)})
    if not items:
        raise EvidenceError(N_("%(collector)s : rien à recueillir dans %(path)s"), collector=name, path=str(source),
                            field="source")
    return collector, items


def run_collector(session: Session, actor: User, perimeter_code: str, name: str, source: Path, *,
                  options: Optional[Mapping[str, Any]] = None, store, today: date, config: Mapping[str, Any],
                  now: Optional[datetime] = None) -> CollectionReport:
    """Run the collector `name` on `source` for the perimeter `perimeter_code` and record the results (one
    transaction, audited `evidence.collect`). Read and checked before anything is written."""
    perimeter = get_perimeter(session, perimeter_code)
    collector, items = collect(name, source, options, now=run_moment(today, now))
    return record_collected(session, actor, perimeter, collector.name, collectors.source_of(collector, items), items,
                            store=store, today=today, ttl_days=configured_ttl(collector.name, config, collector.default_ttl_days),
                            max_size=config.get("MAX_CONTENT_LENGTH"))


def scheduler_account(session: Session) -> User:
    """The account scheduled runs act as, made (and committed, audited) the first time."""
    account = users.find_user(session, SCHEDULER_EMAIL)
    if account is not None:
        if not account.active or account.role != SCHEDULER_ROLE:
            raise EvidenceError(N_("le compte %(email)s des collectes planifiées est désactivé ou n’est plus "
                                   "responsable conformité : les collectes planifiées ne sont pas lancées"),
                                email=SCHEDULER_EMAIL)
        return account
    account = User(email=SCHEDULER_EMAIL, name=SCHEDULER_NAME, role=SCHEDULER_ROLE,
                   password_hash=users.hash_password(secrets.token_urlsafe(32)), session_token=secrets.token_hex(16),
                   service_account=True)
    session.add(account)
    audit.record(session, "system:scheduler", "user.create", account,
                 {"role": SCHEDULER_ROLE, "name": SCHEDULER_NAME, "service_account": True})
    session.commit()
    return account
