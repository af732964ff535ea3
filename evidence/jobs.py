"""Background jobs (huey): rendering a dossier outlives the request that asked for it; the e-mail digest goes out
on a schedule (a periodic task: DIGEST_CADENCE, DIGEST_HOUR), and so do the scheduled collections
(COLLECTOR_SCHEDULE: run_scheduled_collections).

The queue is huey's SQLite storage, HUEY_DB (instance/jobs.db by default), or Redis when QUEUE_URL names a
server: SQLite serves one machine, Redis every node of a cluster. `evidence serve` runs a consumer beside the web
server and `evidence worker` runs one on its own. With JOBS_IMMEDIATE on (the tests), a task runs at once, in the
caller's thread.

A periodic task is checked by every node's scheduler each minute; on Redis the first node to claim that minute
for that task (SET NX EX, `first_in_cluster`) enqueues it and the others do not, so that the digest goes out once
per cluster. On SQLite there is one node: no claim.

A job carries ids, never settings: jobs.db (and its -wal) is a file on disk, Redis a server others reach, and a
job that carried the secret key or the database's URL would hand them to anyone who reads it (nor is the Redis
URL, which may hold a password, ever logged: `shown`). The consumer renders with the app it was started with,
from its own environment and instance/config.py (`evidence worker` and `evidence serve` must be given the web's
settings); an immediate job runs in the caller's app.

Tasks are declared at import on the process's one huey; the queue is chosen later, from the settings of
the app being created (`init_app`, which create_app calls), so that instance/config.py can name it. The
process's last app chooses: a web or worker process has one app, or several on the same queue.
"""
from __future__ import annotations

import logging
import socket
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from huey import Huey
from huey.storage import BaseStorage, RedisStorage, SqliteStorage
from redis.exceptions import RedisError

from evidence.data import instance_files
from evidence.setting_types import SettingError

NOT_SET_UP = "the job queue is not set up: create the app first (create_app calls jobs.init_app)"


class NoQueueYet(BaseStorage):
    """The storage until an app is created: a task sent before then is a mistake, and says so."""

    def enqueue(self, data, priority=None):
        raise RuntimeError(NOT_SET_UP)

    def dequeue(self):
        return self.enqueue(None)


huey = Huey("evidence", results=False, storage_class=NoQueueYet)
queue: tuple | None = None  # (immediate, SQLite file or Redis URL) that huey serves, once an app has chosen
consuming = False  # a consumer of this process reads the queue: it must not change under it
# The app whose settings and database the consumer's tasks use: the process's last, as for the queue. A task
# carries no settings (see above), and a periodic one is started by the consumer's scheduler, not by a request.
scheduled_app = None
log = logging.getLogger(__name__)
REDIS_SCHEMES = ("redis", "rediss", "unix")
# A minute's claim outlives the minute by far: a node whose clock lags checks that minute late, and must still
# find it taken. Only a due task's minute is claimed (a few keys a day).
CLAIM_SECONDS = 3600


def init_app(app) -> None:
    """Point huey at the queue that the app's settings name (QUEUE_URL, else HUEY_DB; JOBS_IMMEDIATE)."""
    global queue, scheduled_app
    scheduled_app = app
    immediate = app.config["JOBS_IMMEDIATE"]
    redis_url = None if immediate else app.config.get("QUEUE_URL")
    if redis_url and urlsplit(redis_url).scheme not in REDIS_SCHEMES:
        # The value is not echoed: a Redis URL may hold a password.
        raise SettingError("EVIDENCE_QUEUE_URL must be a Redis URL (redis://, rediss:// or unix://)")
    wanted = (True, None) if immediate else (False, redis_url or str(app.config["HUEY_DB"]))
    if wanted == queue:
        return
    if consuming:
        raise RuntimeError(f"this process consumes the job queue {shown(queue[1])}; "
                           f"an app on {shown(wanted[1])} cannot be made here")
    if not immediate and not redis_url:
        # 0600 before huey's SQLite opens it, as the database (data.database.make_engine): its -wal follows.
        instance_files.create_private_file(Path(wanted[1]))
    previous = huey.storage
    huey.storage_class = RedisStorage if redis_url else SqliteStorage
    huey.storage_kwargs = {"url": redis_url} if redis_url else {"filename": wanted[1]} if wanted[1] else {}
    if huey.immediate != immediate:
        huey.immediate = immediate  # huey rebuilds its storage: in memory when immediate
    else:
        huey.storage = huey.create_storage()
    previous.close()
    if isinstance(previous, RedisStorage):
        previous.pool.disconnect()  # huey's close leaves a Redis storage's connections open
    queue = wanted


def shown(place: str | None) -> str:
    """A queue as messages name it: a Redis URL without its user, password or options (never logged)."""
    if place is None:
        return "(immediate)"
    parts = urlsplit(place)
    if parts.scheme not in REDIS_SCHEMES:
        return place
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="").geturl()


def first_in_cluster(task: str, moment: datetime) -> bool:
    """Whether this node runs a periodic task due at `moment` (huey's minute, UTC): on Redis, when it is the first
    node to claim that task's minute (the others' schedulers check the same minute and find it taken); on one
    node's SQLite or immediate queue, always. Redis unreachable: not run (the queue would refuse it anyway)."""
    storage = huey.storage
    if not isinstance(storage, RedisStorage):
        return True
    key = f"evidence.periodic.{task}.{moment:%Y-%m-%dT%H:%M}"
    try:
        return bool(storage.conn.set(key, socket.gethostname(), nx=True, ex=CLAIM_SECONDS))
    except RedisError as error:
        log.warning("periodic task %s at %s not run: the queue's Redis did not answer (%s)", task, key[-16:],
                    type(error).__name__)
        return False


def periodic_task(due):
    """huey's periodic task, due when `due(moment)` says so, and run once per cluster (first_in_cluster)."""
    def decorator(function):
        return huey.periodic_task(lambda moment: due(moment) and first_in_cluster(function.__name__, moment))(
            function)
    return decorator


def running_app():
    """The app a job runs in: the caller's (an immediate job runs inside its request or command), else the one
    this consumer was started with."""
    if has_app_context():
        return current_app._get_current_object()
    if scheduled_app is None:
        raise RuntimeError(NOT_SET_UP)
    return scheduled_app


@huey.task()
def render_dossier(dossier_id: int, former_settings: dict | None = None) -> None:
    """Lay out a queued version: a draft, or once two people approved it the final version (signed when a
    certificate is configured). Asked for by the web when a version is queued, approved or rendered again.

    The id only: the consumer knows its own instance, database and store. (`former_settings`: what a job queued
    by an older version carried; ignored, so that such a job still renders after an upgrade.)"""
    from evidence import context
    from evidence.data import database as db
    from evidence.data import storage
    from evidence.data.models import Dossier
    from evidence.dossier.generate import render_stored

    app = running_app()
    with app.app_context(), db.session_scope(app) as session:
        item = session.get(Dossier, dossier_id)
        if item is None:  # a consumer on another database than the app that queued it: said, not silent
            app.logger.warning("dossier %s: no such dossier in this worker's database; check its DATABASE_URL",
                               dossier_id)
            return
        if item.status not in ("queued", "rendering"):
            return  # already done: a re-delivered task does nothing
        try:
            render_stored(session, storage.get_store(app), item, settings=context.dossier_settings())
        except Exception:
            app.logger.exception("dossier %s failed", dossier_id)


def digest_time(moment: datetime) -> bool:
    """Whether the digest goes out at this minute (huey asks every minute, in UTC, without a time zone): the top of
    DIGEST_HOUR in the server's local time, every day or on Mondays (DIGEST_CADENCE); never without an app."""
    app = scheduled_app
    if app is None or app.config["DIGEST_CADENCE"] == "never":
        return False
    local = moment.replace(tzinfo=timezone.utc).astimezone()
    if local.minute != 0 or local.hour != app.config["DIGEST_HOUR"]:
        return False
    return app.config["DIGEST_CADENCE"] == "daily" or local.weekday() == 0


@periodic_task(digest_time)
def send_digests() -> None:
    """Mail each user the digest of what is new or due (services.digest). Without a mail server, nothing to do."""
    from evidence.core import clock
    from evidence.data import database as db
    from evidence.services import digest

    app = scheduled_app
    if app is None or not app.config.get("SMTP_HOST"):
        log.info("digest: no mail server configured (EVIDENCE_SMTP_HOST); nothing sent")
        return
    with app.app_context(), db.session_scope(app) as session:
        report = digest.send_digests(session, app.config, clock.today(app.config.get("TODAY")))
    log.info("digest: %d sent, %d with nothing new, %d opted out", len(report.sent), report.nothing_new,
             report.opted_out)


def collection_time(moment: datetime) -> bool:
    """Whether scheduled collections may be due at this minute (huey asks every minute): the top of an hour, when
    the app's COLLECTOR_SCHEDULE names any (rules.collector_schedule says which entries are due)."""
    app = scheduled_app
    return app is not None and bool(app.config.get("COLLECTOR_SCHEDULE")) and moment.minute == 0


@periodic_task(collection_time)
def run_scheduled_collections() -> None:
    """Run the COLLECTOR_SCHEDULE entries due this hour (server time), each through the collection service."""
    if scheduled_app is not None:
        run_due_collections(scheduled_app, datetime.now().astimezone().replace(minute=0, second=0, microsecond=0))


def run_due_collections(app, moment: datetime) -> list:
    """Run the entries of `app`'s COLLECTOR_SCHEDULE due at `moment` (local time), each in its own transaction as
    the scheduler's service account; one that fails is logged and the others run. Returns (entry, report or None)."""
    from evidence.core import clock
    from evidence.core.errors import EvidenceError
    from evidence.core.rules.collector_schedule import due
    from evidence.data import database as db
    from evidence.data import storage
    from evidence.presentation import messages
    from evidence.services import collector_runs

    done = []
    with app.app_context():
        for entry in due(app.config.get("COLLECTOR_SCHEDULE") or (), moment):
            report = None
            with db.session_scope(app) as session:
                try:
                    report = collector_runs.run_collector(
                        session, collector_runs.scheduler_account(session), entry.perimeter, entry.collector,
                        entry.path, store=storage.get_store(app), today=clock.today(app.config.get("TODAY")),
                        config=app.config)
                except EvidenceError as error:
                    log.warning("scheduled collection %s: %s", entry, messages.render(error, "en"))
                except Exception:  # noqa: BLE001 - a collector's own failure must not stop the others
                    log.exception("scheduled collection %s failed", entry)
            if report is not None:
                log.info("scheduled collection %s: %d created, %d refreshed, %d unchanged", entry, report.created,
                         report.refreshed, report.unchanged)
            done.append((entry, report))
    return done


def start_consumer(workers: int = 1):
    """An in-process consumer (threads), for `evidence serve`; returns it so that the caller can stop it. It runs
    the periodic tasks too (the digest, the scheduled collections).

    With JOBS_IMMEDIATE on it has nothing to read (the web workers run their jobs), and does no harm."""
    consumer = _consumer(workers=workers, worker_type="thread", periodic=True)
    consumer.start()
    return consumer


def run_consumer(workers: int = 1) -> None:
    """A consumer on its own (`evidence worker`), until it is stopped."""
    if huey.immediate:
        raise RuntimeError("JOBS_IMMEDIATE is on: jobs run at once where they are asked for, there is no queue to consume")
    _consumer(workers=workers, worker_type="thread").run()


def _consumer(**options):
    global consuming
    if queue is None:
        raise RuntimeError(NOT_SET_UP)
    consuming = True
    return huey.create_consumer(**options)
