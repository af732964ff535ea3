"""The job queue on Redis (EVIDENCE_QUEUE_URL): two nodes share it, and a periodic task runs once per cluster.

The Redis tests skip unless EVIDENCE_TEST_REDIS_URL names a throw-away server (its database is emptied);
.ci/run starts one.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timezone

import pytest
from redis import Redis

from evidence import create_app, jobs
from evidence.data import database as db
from evidence.data.models import Dossier
from evidence.dossier import generate as dossier_life
from evidence.services import digest, perimeters
from tests.conftest import TEST_SECRET_KEY, create_role_users, make_app, seed_tiny_perimeter

REDIS_URL = os.environ.get("EVIDENCE_TEST_REDIS_URL")
DAY = date(2026, 6, 15)
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="Redis not configured: set EVIDENCE_TEST_REDIS_URL "
                                 "(.ci/run starts a throw-away redis-server)")


@pytest.fixture
def nodes(tmp_path, sqlite_template, monkeypatch):
    """Two apps on one Redis queue and one database, each with its own instance folder (two nodes, as far as one
    process can hold two: huey is one per process). Afterwards huey goes back to immediate jobs, which the other
    tests' apps expect."""
    Redis.from_url(REDIS_URL).flushdb()
    database = tmp_path / "evidence.db"
    database.write_bytes(sqlite_template.read_bytes())
    database.chmod(0o600)  # as the app keeps its files: node B's worker would warn otherwise
    url = f"sqlite:///{database}"
    apps = [make_app(tmp_path / name, url, JOBS_IMMEDIATE=False, QUEUE_URL=REDIS_URL, DIGEST_HOUR=7,
                     SMTP_HOST="mail.invalid") for name in ("a", "b")]
    yield apps
    monkeypatch.setattr(jobs, "consuming", False)
    apps.append(make_app(tmp_path / "after", url, JOBS_IMMEDIATE=True))
    assert jobs.huey.immediate
    for app in apps:
        db.get_engine(app).dispose()


@needs_redis
def test_a_dossier_queued_on_one_node_is_rendered_by_the_other(nodes, tmp_path):
    node_a, node_b = nodes
    assert isinstance(jobs.huey.storage, jobs.RedisStorage) and not (tmp_path / "a" / "jobs.db").exists()
    with node_a.app_context(), db.session_scope(node_a) as session:
        tiny = seed_tiny_perimeter(session, create_role_users(session))
        item = dossier_life.queue(session, tiny.manager, perimeters.get_perimeter(session, "iaas-t"), "fr", False,
                                  "", DAY, organisation="")
        jobs.render_dossier(item.id)  # as the web does: queued on Redis, not run here
        dossier_id = item.id
    raw = b"".join(Redis.from_url(REDIS_URL).lrange(jobs.huey.storage.queue_key, 0, -1))
    assert jobs.huey.pending()[0].args == (dossier_id,)  # the id only: neither the secret key nor the database
    assert TEST_SECRET_KEY.encode() not in raw and str(tmp_path).encode() not in raw

    # Node B's worker: another process, another instance folder, the same database and queue.
    environment = {**os.environ, "EVIDENCE_INSTANCE": str(tmp_path / "b"), "EVIDENCE_DATABASE_URL":
                   node_b.config["DATABASE_URL"], "EVIDENCE_QUEUE_URL": REDIS_URL, "EVIDENCE_JOBS_IMMEDIATE": "0",
                   "EVIDENCE_SECRET_KEY": TEST_SECRET_KEY, "EVIDENCE_TODAY": DAY.isoformat(),
                   "EVIDENCE_DOSSIER_RENDER_WORKERS": "1"}
    worker = subprocess.Popen([sys.executable, "-c", "from evidence.cli import main; main()", "worker"],
                              env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with node_a.app_context(), db.session_scope(node_a) as session:
                status = session.get(Dossier, dossier_id).status
            if status not in ("queued", "rendering") or worker.poll() is not None:
                break
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGINT)  # huey's graceful stop: the job in hand ends first
        output = worker.communicate(timeout=20)[0]
    assert status == "draft", output
    assert any((tmp_path / "b" / "blobs").rglob("*")), "the PDF is in node B's store: B rendered it"
    assert REDIS_URL not in output  # the connection string is never logged
    assert jobs.huey.pending_count() == 0


@needs_redis
def test_two_schedulers_on_the_same_minute_send_the_digest_once(nodes, monkeypatch):
    sent = []
    monkeypatch.setattr(digest, "send_digests", lambda *args, **kwargs: sent.append(1) or digest.DigestReport())
    # The top of DIGEST_HOUR (7 h, the server's local time) as huey's scheduler gives it: UTC, without a zone.
    moment = datetime(2026, 12, 7, 7, 0, 12).astimezone().astimezone(timezone.utc).replace(tzinfo=None)
    schedulers = [jobs.huey.create_consumer(workers=1, worker_type="thread")._create_scheduler() for _ in nodes]
    for scheduler in schedulers:  # what each node's scheduler does once a minute
        scheduler.enqueue_periodic_tasks(moment)
    assert jobs.huey.pending_count() == 1
    for _ in range(jobs.huey.pending_count()):  # what a worker does (without BRPOP's wait for an empty queue)
        jobs.huey.execute(jobs.huey.dequeue())
    assert sent == [1]
    schedulers[1].enqueue_periodic_tasks(moment.replace(second=50))  # the same minute, later: still taken
    assert jobs.huey.pending_count() == 0
    schedulers[1].enqueue_periodic_tasks(moment.replace(day=8))  # the next day's digest is due again
    assert jobs.huey.pending_count() == 1


def test_one_node_without_redis_claims_nothing(tmp_path, monkeypatch):
    """On SQLite there is one node: every due minute is its own, as before; a Redis URL is never shown whole."""
    monkeypatch.setattr(jobs, "consuming", False)
    assert jobs.first_in_cluster("send_digests", datetime(2026, 12, 7, 6, 0))
    assert jobs.first_in_cluster("send_digests", datetime(2026, 12, 7, 6, 0))
    assert jobs.shown("redis://user:pw@10.0.0.5:6379/2?ssl_cert_reqs=none") == "redis://10.0.0.5:6379/2"
    monkeypatch.delenv("EVIDENCE_JOBS_IMMEDIATE", raising=False)
    with pytest.raises(Exception, match="must be a Redis URL") as refused:
        create_app({"INSTANCE_PATH": str(tmp_path), "QUEUE_URL": "https://user:pw@queue.example/"})
    assert "pw" not in str(refused.value)
