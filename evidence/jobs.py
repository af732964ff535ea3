"""Background jobs (huey): rendering a dossier outlives the request that asked for it.

The queue is huey's SQLite storage in the instance folder (EVIDENCE_HUEY_DB to move it); `evidence serve`
runs a consumer beside the web server and `evidence worker` runs one on its own. Tests run tasks at once
(EVIDENCE_JOBS_IMMEDIATE=1).
"""
from __future__ import annotations

import os
from pathlib import Path

from huey import SqliteHuey

from evidence import settings as config


def _make_huey() -> SqliteHuey:
    immediate = os.environ.get("EVIDENCE_JOBS_IMMEDIATE", "") in ("1", "true", "yes")
    filename = os.environ.get("EVIDENCE_HUEY_DB") or str(config.instance_path() / "jobs.db")
    if not immediate:
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("evidence", filename=filename, immediate=immediate, results=False)


huey = _make_huey()


def app_settings(app) -> dict:
    """What a job needs to rebuild the same app in the consumer: where the instance, database and store are."""
    return {"INSTANCE_PATH": app.instance_path, "DATABASE_URL": app.config["DATABASE_URL"],
            "STORAGE_URL": app.config.get("STORAGE_URL"), "SECRET_KEY": app.config["SECRET_KEY"]}


@huey.task()
def render_dossier(dossier_id: int, settings: dict) -> None:
    from evidence import create_app, dossier
    from evidence.data import database as db
    from evidence.data import storage
    from evidence.data.models import Dossier

    app = create_app(settings)
    with app.app_context(), db.session_scope(app) as session:
        item = session.get(Dossier, dossier_id)
        if item is None or item.status not in ("queued", "rendering"):
            return  # already done, or removed: a re-delivered task does nothing
        try:
            dossier.render_stored(session, storage.get_store(app), item)
        except Exception:
            app.logger.exception("dossier %s failed", dossier_id)
    db.get_engine(app).dispose()


def start_consumer(workers: int = 1):
    """An in-process consumer (threads), for `evidence serve`; returns it so that the caller can stop it."""
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=False)
    consumer.start()
    return consumer
