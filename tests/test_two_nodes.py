"""Two app nodes on one PostgreSQL, one S3 bucket and one Redis, set up as the README's "Two nodes" says: what
one node accepts, the other serves; the queue, the login throttling and the session revocation are the cluster's,
not a node's; a node killed outright loses nothing it had answered with success.

Node A runs gunicorn alone (no job consumer); node B runs gunicorn and `evidence worker`. Each has its own
instance folder and is configured by environment variables only. Skips without EVIDENCE_TEST_DATABASE_URL and
EVIDENCE_TEST_REDIS_URL (.ci/run sets both); the S3 bucket is moto's emulator, in this process.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from evidence.data import database as db
from evidence.services import users as auth
from tests.cluster_support import Browser, Node, start_node, start_s3, wait_until_up
from tests.conftest import (
    PASSWORD,
    PG_URL,
    TEST_SECRET_KEY,
    create_role_users,
    make_app,
    pg_url_for,
    seed_tiny_perimeter,
)

REDIS_URL = os.environ.get("EVIDENCE_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="two nodes need a shared PostgreSQL and Redis: "
                                "set EVIDENCE_TEST_DATABASE_URL and EVIDENCE_TEST_REDIS_URL (.ci/run does)")
# A Redis database of its own: tests/test_queue_redis.py empties the URL's, maybe at the same time on another worker.
QUEUE_DB = 7
BUCKET = "evidence-two-nodes"


@dataclass
class Cluster:
    a: Node  # gunicorn alone
    b: Node  # gunicorn and `evidence worker`
    database_url: str
    perimeter_id: int  # the tiny referential's perimeter (iaas-t)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, pg_template):
    root = tmp_path_factory.mktemp("two-nodes")
    name = f"evidence_2n_{uuid.uuid4().hex[:8]}"
    admin = db.make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    database_url = pg_url_for(name)
    queue_url = make_url(REDIS_URL).set(database=str(QUEUE_DB)).render_as_string(hide_password=False)
    Redis.from_url(queue_url).flushdb()
    nodes, s3 = [], None
    try:
        s3, endpoint = start_s3(BUCKET)
        seeder = make_app(root / "seed", database_url)
        with seeder.app_context(), db.session_scope(seeder) as session:
            tiny = seed_tiny_perimeter(session, create_role_users(session))
            for extra in ("throttled", "leaver", "mover"):
                auth.create_user(session, None, f"{extra}@example.org", extra, "auditor", PASSWORD)
            perimeter_id = tiny.perimeter.id
        db.get_engine(seeder).dispose()
        # As a deployer sets them, one environment for both nodes (the same secret key: sessions and the login
        # throttling's keyed hashes are the cluster's). No second factor, which these people have not enrolled; one
        # render process, for a tiny dossier on a machine that runs the rest of the suite besides.
        settings = {"EVIDENCE_DATABASE_URL": database_url, "EVIDENCE_SECRET_KEY": TEST_SECRET_KEY,
                    "EVIDENCE_STORAGE_URL": f"s3://{BUCKET}/evidence", "EVIDENCE_S3_ENDPOINT_URL": endpoint,
                    "EVIDENCE_QUEUE_URL": queue_url, "EVIDENCE_MFA_REQUIRED_ROLES": "",
                    "EVIDENCE_DOSSIER_RENDER_WORKERS": "1"}
        nodes = [start_node("A", root / "a", settings), start_node("B", root / "b", settings, workers=1, consumer=True)]
        for node in nodes:
            wait_until_up(node)
        yield Cluster(*nodes, database_url, perimeter_id)
    finally:
        for node in nodes:
            node.stop()
        if s3 is not None:
            s3.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def logged_in(node, email: str) -> Browser:
    browser = Browser(node)
    answer = browser.log_in(email, PASSWORD)
    assert answer.status_code == 302, answer.text
    return browser


def upload(browser: Browser, perimeter_id: int, title: str, content: bytes):
    """New evidence with a file through the form; the answer."""
    return browser.post("/evidence/new", {"title": title, "kind": "report", "owner": "", "classification": "internal",
                                          "requirements": "", "perimeters": str(perimeter_id)},
                        files={"file": (f"{title}.bin", content)})


def downloaded(browser: Browser, ref: str) -> bytes:
    answer = browser.get(f"/evidence/{ref}/versions/1/download")
    assert answer.status_code == 200, (ref, answer.status_code)
    return answer.content


def created_ref(answer) -> str:
    assert answer.status_code == 302, answer.text[:2000]
    return answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def test_evidence_uploaded_on_one_node_downloads_on_the_other_with_the_same_hash(cluster):
    content = os.urandom(300_000)
    ref = created_ref(upload(logged_in(cluster.a, "manager@example.org"), cluster.perimeter_id, "Rapport A", content))
    on_b = downloaded(logged_in(cluster.b, "auditor@example.org"), ref)
    assert hashlib.sha256(on_b).hexdigest() == hashlib.sha256(content).hexdigest()
    assert not any((node.log.parent / "blobs").exists() for node in (cluster.a, cluster.b))  # in the bucket only


def test_a_dossier_queued_on_a_is_rendered_by_the_worker_of_b(cluster):
    manager = logged_in(cluster.a, "manager@example.org")
    answer = manager.post("/dossiers/", {"perimeter": "iaas-t", "language": "fr", "marking": ""})
    assert answer.status_code == 302, answer.text[:2000]
    dossier_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    engine = db.make_engine(cluster.database_url)
    try:
        deadline = time.monotonic() + 30
        while (status := _dossier_status(engine, dossier_id)) in ("queued", "rendering") and time.monotonic() < deadline:
            assert cluster.b.worker.poll() is None, cluster.b.log_text()
            time.sleep(0.2)
    finally:
        engine.dispose()
    assert status == "draft", f"{status}\n{cluster.b.log_text()}"
    assert not (cluster.a.log.parent / "jobs.db").exists()  # A queued on Redis, not on a SQLite queue of its own
    pdf = manager.get(f"/dossiers/{dossier_id}/download")  # rendered on B, stored in S3, served by A
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def _dossier_status(engine, dossier_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT status FROM dossier WHERE id = :id"), {"id": dossier_id}).scalar_one()


def test_login_throttling_counts_the_failures_of_every_node(cluster):
    # Five failures for one account from one address (LOGIN_MAX_FAILURES), spread over both nodes.
    for node in (cluster.a, cluster.b, cluster.a, cluster.b, cluster.a):
        assert Browser(node).log_in("throttled@example.org", "wrong password").status_code == 200
    assert Browser(cluster.b).log_in("throttled@example.org", PASSWORD).status_code == 429
    assert Browser(cluster.a).log_in("throttled@example.org", PASSWORD).status_code == 429


def test_signing_out_on_one_node_ends_the_session_on_the_other(cluster):
    on_a, on_b = logged_in(cluster.a, "evaluator@example.org"), logged_in(cluster.b, "evaluator@example.org")
    assert on_a.logged_in() and on_b.logged_in()
    assert on_a.post("/logout", {}, form_page="/account").status_code == 302
    assert not on_b.logged_in()


def test_disabling_an_account_on_one_node_ends_its_sessions_on_the_other(cluster):
    leaver = logged_in(cluster.b, "leaver@example.org")
    assert leaver.logged_in()
    user_id = _user_id(cluster, "leaver@example.org")
    answer = logged_in(cluster.a, "admin@example.org").post(f"/admin/users/{user_id}/active", {"confirmed": "1"},
                                                            form_page="/admin/users")
    assert answer.status_code == 302
    assert not leaver.logged_in()


def test_a_password_changed_on_one_node_ends_the_other_sessions(cluster):
    on_a, on_b = logged_in(cluster.a, "mover@example.org"), logged_in(cluster.b, "mover@example.org")
    new = "a new passphrase for two nodes"
    answer = on_b.post("/account/password", {"current": PASSWORD, "password": new, "confirm": new})
    assert answer.status_code == 302, answer.text[:2000]
    assert on_b.logged_in() and not on_a.logged_in()


def _user_id(cluster, email: str) -> int:
    engine = db.make_engine(cluster.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT id FROM \"user\" WHERE email = :e"), {"e": email}).scalar_one()
    finally:
        engine.dispose()


def test_killing_a_node_loses_no_write_it_had_accepted(cluster):
    """Last: node A is gone afterwards. Writes go on while A is killed; each one A answered with success (the
    redirect to the new evidence) is on B afterwards, row and file."""
    writer = logged_in(cluster.a, "manager@example.org")
    accepted: list[tuple[str, str]] = []
    stop = threading.Event()

    def write():
        n = 0
        while not stop.is_set():
            content = os.urandom(20_000)
            try:
                answer = upload(writer, cluster.perimeter_id, f"Avant la panne {n}", content)
            except Exception:  # noqa: BLE001 - the node's death: no answer, so nothing was promised
                continue
            if answer.status_code == 302:
                accepted.append((created_ref(answer), hashlib.sha256(content).hexdigest()))
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(accepted) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.a.kill()  # in the middle of a write, most likely
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert len(accepted) >= 4
    reader = logged_in(cluster.b, "auditor@example.org")
    for ref, sha256 in accepted:
        assert hashlib.sha256(downloaded(reader, ref)).hexdigest() == sha256
