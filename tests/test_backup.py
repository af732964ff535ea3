"""Backup and restore: a round trip gives identical data and a passing verify, on SQLite and on PostgreSQL;
restore refuses a non-empty instance and a damaged backup before writing anything; a backup never overwrites
and never leaves a folder that looks complete when it did not finish."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, func, inspect, select

from evidence import catalogue, context
from evidence.data import audit, storage
from evidence.data import database as db
from evidence.data.models import EvidenceVersion, User
from evidence.dossier.generate import generate as generate_dossier
from evidence.ops import backup, database
from evidence.ops.manifest import authenticate, manifest_key
from evidence.services import evidence as evidence_items
from evidence.services import perimeters
from evidence.services import users as auth
from tests.conftest import TINY_CATALOGUE, seed_tiny_perimeter
from tests.english import refused

from .conftest import PASSWORD, TEST_SECRET_KEY, fresh_database, make_app

DAY = date(2026, 6, 15)


# --- helpers -----------------------------------------------------------------------------------------------


def kind_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def cli(app, *args):
    return app.test_cli_runner().invoke(args=[*map(str, args)])


def populate(app, users, dossier_too: bool = True) -> None:
    """A small but complete instance: perimeter, control and mapping, file evidence (two sharing one blob, one
    with two versions), link evidence, a review, and a rendered dossier (a PDF blob; WeasyPrint is the slow part,
    so tests that need no dossier leave it out)."""
    app.config["TODAY"] = DAY
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users, name="Socle « test »")
        manager, contributor, perimeter, control = tiny.manager, tiny.contributor, tiny.perimeter, tiny.control
        store = storage.get_store(app)
        data = evidence_items.EvidenceData
        first = evidence_items.create_evidence(session, contributor, data(
            title="Export EDR", kind="report", valid_until=date(2027, 1, 1), control_ids=[control.id]),
            store=store, upload=io.BytesIO(b"%PDF-1.4 version one"), filename="edr.pdf")
        evidence_items.add_version(session, contributor, first, store=store, upload=io.BytesIO(b"version two\n" * 5000),
                                   filename="edr-v2.csv", note="mise à jour")
        evidence_items.create_evidence(session, contributor, data(title="Copie identique", kind="record",
                                                                  perimeter_ids=[perimeter.id]),
                                       store=store, upload=io.BytesIO(b"%PDF-1.4 version one"), filename="copie.pdf")
        evidence_items.create_evidence(session, contributor, data(title="Console SOC", kind="link",
                                       control_ids=[control.id]), url="https://soc.example.internal/")
        evidence_items.review(session, contributor, first, "submit")
        evidence_items.review(session, manager, first, "approve")
        if dossier_too:
            generate_dossier(session, store, "cli:test", perimeters.get_perimeter(session, "iaas-t"), today=DAY,
                             settings=context.dossier_settings())


def table_rows(engine) -> dict[str, list[dict]]:
    """Every row of every table, in primary-key order (alembic_version included)."""
    metadata = MetaData()
    names = inspect(engine).get_table_names()
    rows = {}
    with engine.connect() as connection:
        for name in sorted(names):
            table = Table(name, metadata, autoload_with=connection)
            order = list(table.primary_key.columns) or list(table.columns)
            rows[name] = [dict(r._mapping) for r in connection.execute(select(table).order_by(*order))]
    return rows


def blobs(store: storage.BlobStore) -> dict[str, bytes]:
    out = {}
    for key in store.keys():
        with store.open(key) as f:
            out[key] = f.read()
    return out


def writable(path: Path) -> None:
    """Backup files are created read-only; a test that damages one makes it writable first."""
    path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.fixture
def source(app, users):
    populate(app, users, dossier_too=False)
    return app


@pytest.fixture
def source_with_dossier(app, users):
    populate(app, users)
    return app


@pytest.fixture
def target_url(tmp_path, database_url):
    """A blank database (no schema) of the same kind as the source's, for the instance restored into."""
    (tmp_path / "target").mkdir()
    yield from fresh_database(kind_of(database_url), tmp_path / "target")


@pytest.fixture
def target(tmp_path, target_url):
    app = make_app(tmp_path / "target-instance", target_url)
    yield app
    db.get_engine(app).dispose()


def assert_untouched(app) -> None:
    """Nothing was restored: no table in the target database, no blob in its store."""
    engine = db.get_engine(app)
    assert database.database_contents(engine) == ([], 0)
    assert list(storage.get_store(app).keys()) == []


# --- round trip --------------------------------------------------------------------------------------------


def test_round_trip_gives_identical_data_and_a_passing_verify(source_with_dossier, target, tmp_path):
    source = source_with_dossier
    dest = tmp_path / "backup-1"
    made = cli(source, "backup", dest)
    assert made.exit_code == 0, made.output
    assert f"Wrote {dest}:" in made.output and "3 stored file(s)" in made.output

    manifest = json.loads((dest / "manifest.json").read_text())
    with source.app_context(), db.session_scope(source) as session:
        head = session.get(audit.AuditHead, 1)
        revision = db.current_revision(db.get_engine(source))
    assert manifest["audit_head"] == {"seq": head.seq, "hash": head.hash}
    assert manifest["alembic_revision"] == revision
    assert manifest["app_version"] == __import__("evidence").__version__
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert manifest["blobs"] == 3 and manifest["tables"]["evidence_version"] == 4 and manifest["tables"]["dossier"] == 1
    for name, entry in manifest["files"].items():  # every file, hashed
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == entry["sha256"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert not (tmp_path / "backup-1.partial").exists()

    restored = cli(target, "restore", dest)
    assert restored.exit_code == 0, restored.output
    assert "chain intact" in restored.output

    before, after = table_rows(db.get_engine(source)), table_rows(db.get_engine(target))
    assert before.keys() == after.keys()
    for name in before:
        if name in ("audit_event", "audit_head"):
            continue
        assert after[name] == before[name], f"table {name} differs after the round trip"
    # The audit trail: the same events, then the restore itself, on the same chain.
    assert after["audit_event"][:-1] == before["audit_event"]
    last = after["audit_event"][-1]
    assert last["action"] == "instance.restore" and last["prev_hash"] == before["audit_head"][0]["hash"]
    assert last["details"]["backup_audit_head"] == manifest["audit_head"]
    assert blobs(storage.get_store(target)) == blobs(storage.get_store(source))

    verify = cli(target, "verify")
    assert verify.exit_code == 0, verify.output
    assert "Evidence: 3 stored versions re-hashed, 0 problem(s)" in verify.output
    assert "Dossiers: 1 stored PDFs re-hashed, 0 problem(s)" in verify.output

    # The restored instance is alive: new rows get fresh ids (PostgreSQL sequences came along), downloads work.
    with target.app_context(), db.session_scope(target) as session:
        manager = session.execute(select(User).where(User.email == "manager@example.org")).scalars().one()
        scope = [perimeters.get_perimeter(session, "iaas-t").id]
        added = evidence_items.create_evidence(session, manager, evidence_items.EvidenceData(
            title="Après restauration", perimeter_ids=scope),
            store=storage.get_store(target), upload=io.BytesIO(b"new"), filename="n.txt")
        assert added.ref == "EV-0004"
    assert cli(target, "verify").exit_code == 0


def test_restore_checks_what_evidence_verify_checks(source, target, tmp_path):
    """One verification: the problems a restore reports are the lines `evidence verify` prints afterwards."""
    assert cli(source, "backup", tmp_path / "b").exit_code == 0
    # A damaged copy of one of the backup's blobs already sits in the target store: the restore keeps it
    # (content-addressed: a blob of that name is taken to be that content), and the check after it notices.
    key = next(storage.get_store(source).keys())
    planted = storage.get_store(target).root / key
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"tampered")
    restored = cli(target, "restore", tmp_path / "b")
    assert restored.exit_code == 1 and "do not use this instance" in restored.output
    problems = [line for line in restored.output.splitlines() if line.startswith("Evidence ")]
    assert problems and all(line.endswith(f"corrupt blob {key}") for line in problems)
    verify = cli(target, "verify")
    assert verify.exit_code == 1 and f"{len(problems)} problem(s) found" in verify.output
    assert [line for line in verify.output.splitlines() if line.startswith("Evidence ")] == problems


def test_restore_into_a_migrated_but_unused_database(source, tmp_path, database_url, sqlite_template, pg_template):
    (tmp_path / "migrated").mkdir()
    urls = fresh_database(kind_of(database_url), tmp_path / "migrated", sqlite_template, pg_template)
    url = next(urls)
    try:
        target = make_app(tmp_path / "migrated-instance", url)
        assert database.database_contents(db.get_engine(target))[1] == 0  # tables, no rows: empty
        assert cli(source, "backup", tmp_path / "b").exit_code == 0
        result = cli(target, "restore", tmp_path / "b")
        assert result.exit_code == 0, result.output
        assert cli(target, "verify").exit_code == 0
        db.get_engine(target).dispose()
    finally:
        next(urls, None)


def test_backup_is_consistent_while_evidence_is_added(source, target, tmp_path):
    """Uploads keep landing during the backup: whatever the copy holds, every blob it refers to is in it."""
    stop, errors = threading.Event(), []

    def writer():
        n = 0
        with source.app_context(), db.session_scope(source) as session:
            contributor = session.execute(select(User).where(User.role == "contributor")).scalars().one()
            scope = [perimeters.get_perimeter(session, "iaas-t").id]
            while not stop.is_set() and n < 200:
                n += 1
                try:
                    evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
                        title=f"Flux {n}", perimeter_ids=scope), store=storage.get_store(source),
                        upload=io.BytesIO(b"flux %d" % n), filename=f"f{n}.txt")
                except Exception as error:  # noqa: BLE001 - reported below
                    errors.append(error)
                    return

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        made = cli(source, "backup", tmp_path / "live")
    finally:
        stop.set()
        thread.join(20)
    assert made.exit_code == 0, made.output
    assert not errors
    manifest = json.loads((tmp_path / "live" / "manifest.json").read_text())
    restored = cli(target, "restore", tmp_path / "live")
    assert restored.exit_code == 0, restored.output
    with target.app_context(), db.session_scope(target) as session:
        versions = session.execute(select(func.count()).select_from(EvidenceVersion)).scalars().one()
    assert versions == manifest["tables"]["evidence_version"]


# --- refusals --------------------------------------------------------------------------------------------


def test_restore_refuses_a_non_empty_instance(source, tmp_path, database_url):
    assert cli(source, "backup", tmp_path / "b").exit_code == 0
    # Into itself: data everywhere.
    result = cli(source, "restore", tmp_path / "b")
    assert result.exit_code == 1
    assert "the instance is not empty: the database" in result.output and "row(s)" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_restore_refuses_a_store_holding_other_files(source, target, tmp_path):
    assert cli(source, "backup", tmp_path / "b").exit_code == 0
    foreign = storage.get_store(target).put(io.BytesIO(b"not from this backup"))
    result = cli(target, "restore", tmp_path / "b")
    assert result.exit_code == 1
    assert "the evidence store" in result.output and "1 file(s) that are not in this backup" in result.output
    assert database.database_contents(db.get_engine(target)) == ([], 0)
    assert list(storage.get_store(target).keys()) == [foreign.key]


def test_restore_refuses_a_database_of_the_other_kind(source, tmp_path, database_url):
    other_kind = "postgresql" if kind_of(database_url) == "sqlite" else "sqlite"
    (tmp_path / "other").mkdir()
    urls = fresh_database(other_kind, tmp_path / "other")  # skips when PostgreSQL is not configured
    other = make_app(tmp_path / "other-instance", next(urls))
    try:
        assert cli(source, "backup", tmp_path / "b").exit_code == 0
        result = cli(other, "restore", tmp_path / "b")
        assert result.exit_code == 1 and "moving between databases is not supported" in result.output
        assert_untouched(other)
    finally:
        db.get_engine(other).dispose()
        next(urls, None)


def damage_blob(dest: Path) -> str:
    path = [p for p in (dest / "blobs").rglob("*") if p.is_file()][0]
    writable(path)
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.write_bytes(bytes(data))
    return f"{path.relative_to(dest).as_posix()} does not match its SHA-256"


def damage_database(dest: Path) -> str:
    path = next(p for p in dest.iterdir() if p.name.startswith("database."))
    writable(path)
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    return f"{path.name} does not match its SHA-256"


def truncate_database(dest: Path) -> str:
    path = next(p for p in dest.iterdir() if p.name.startswith("database."))
    size = path.stat().st_size
    writable(path)
    os.truncate(path, size - 100)
    return f"{path.name} has {size - 100} bytes instead of {size}"


def remove_blob(dest: Path) -> str:
    path = [p for p in (dest / "blobs").rglob("*") if p.is_file()][-1]
    path.unlink()
    return f"{path.relative_to(dest).as_posix()} is missing"


def add_file(dest: Path) -> str:
    (dest / "blobs" / "extra.txt").write_text("slipped in")
    return "blobs/extra.txt is not listed in the manifest"


def break_manifest(dest: Path) -> str:
    path = dest / "manifest.json"
    writable(path)
    path.write_text(path.read_text()[:-20])
    return "manifest.json is not valid JSON"


def rename_a_blob_in_the_manifest(dest: Path) -> str:
    path = dest / "manifest.json"
    writable(path)
    manifest = json.loads(path.read_text())
    name = next(n for n in manifest["files"] if n.startswith("blobs/"))
    manifest["files"][name[:-1] + ("0" if name[-1] != "0" else "1")] = manifest["files"].pop(name)
    path.write_text(json.dumps(manifest))
    return "lists an invalid entry"


def newer_schema(dest: Path) -> str:
    path = dest / "manifest.json"
    writable(path)
    manifest = json.loads(path.read_text())
    manifest["alembic_revision"] = "9999"
    # A genuine backup of a newer version of this instance: its manifest is authenticated by the same key.
    path.write_text(json.dumps(authenticate(manifest, manifest_key(TEST_SECRET_KEY))))
    return "revision 9999) is newer than this version of the product"


def remove_manifest(dest: Path) -> str:
    (dest / "manifest.json").unlink()
    return "is not a complete backup: manifest.json is missing"


DAMAGES = [damage_blob, damage_database, truncate_database, remove_blob, add_file, break_manifest,
           rename_a_blob_in_the_manifest, newer_schema, remove_manifest]


def test_a_damaged_backup_is_refused_before_anything_is_written(source, target, tmp_path):
    good = tmp_path / "good"
    assert cli(source, "backup", good).exit_code == 0
    for damage in DAMAGES:
        copy = tmp_path / damage.__name__
        shutil.copytree(good, copy)
        expected = damage(copy)
        result = cli(target, "restore", copy)
        assert result.exit_code == 1, (damage.__name__, result.output)
        assert expected in result.output, (damage.__name__, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert_untouched(target)
    # The good one still restores into the same, untouched instance.
    result = cli(target, "restore", good)
    assert result.exit_code == 0, result.output


def test_an_unfinished_backup_is_never_taken_for_a_complete_one(source, target, tmp_path, monkeypatch):
    # A failure at the last moment (the rename): no DEST, and the .partial folder is cleaned up.
    def crash(*_args):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(backup.os, "rename", crash)
        with pytest.raises(KeyboardInterrupt):
            with source.app_context():
                backup.create_backup(db.get_engine(source), storage.get_store(source), tmp_path / "b",
                                     manifest_key(source.config["SECRET_KEY"]))
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()
    # What a kill -9 leaves (a complete-looking folder under the .partial name) is refused by restore ...
    assert cli(source, "backup", tmp_path / "done").exit_code == 0
    shutil.copytree(tmp_path / "done", tmp_path / "b.partial")
    result = cli(target, "restore", tmp_path / "b.partial")
    assert result.exit_code == 1 and "is an unfinished backup" in result.output
    # ... and blocks a new backup to the same place until someone looks at it.
    result = cli(source, "backup", tmp_path / "b")
    assert result.exit_code == 1 and "b.partial exists" in result.output
    assert_untouched(target)


def test_backup_killed_midway_leaves_no_complete_looking_folder(app, users, tmp_path):
    """kill -9 of a real backup process while it writes: DEST never appears; the .partial folder is refused."""
    with app.app_context(), db.session_scope(app) as session:
        catalogue.load_catalogues(session, [TINY_CATALOGUE], "cli:test")
        contributor = session.get(User, users["contributor"].id)
        scope = [perimeters.create_perimeter(session, session.get(User, users["manager"].id), perimeters.PerimeterData(
            code="iaas-t", name="Socle", service_types=("IaaS",), framework_key="tiny-1.0")).id]
        for i in range(3):
            evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
                title=f"Gros {i}", perimeter_ids=scope), store=storage.get_store(app),
                upload=io.BytesIO(os.urandom(16 << 20)), filename=f"gros-{i}.bin")
    dest, partial = tmp_path / "b", tmp_path / "b.partial"
    env = {**os.environ, "EVIDENCE_INSTANCE": app.instance_path, "EVIDENCE_DATABASE_URL": app.config["DATABASE_URL"],
           "EVIDENCE_SECRET_KEY": app.config["SECRET_KEY"]}
    script = ("import sys; from evidence import create_app; from evidence.ops import backup; from evidence.data import database as db, storage; app = create_app(); "
              "from evidence.ops.manifest import manifest_key; "
              "backup.create_backup(db.get_engine(app), storage.get_store(app), sys.argv[1], "
              "manifest_key(app.config['SECRET_KEY']))")
    process = subprocess.Popen([sys.executable, "-c", script, str(dest)], env=env)
    try:
        deadline = time.monotonic() + 20
        while not partial.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
    finally:
        process.kill()  # SIGKILL: no cleanup runs
        process.wait(10)
    assert partial.exists() and not dest.exists(), "the backup was not caught midway"
    result = cli(app, "restore", partial)
    assert result.exit_code == 1 and "is an unfinished backup" in result.output
    assert "b.partial exists" in cli(app, "backup", dest).output
    shutil.rmtree(partial)
    assert cli(app, "backup", dest).exit_code == 0 and (dest / "manifest.json").is_file()


def test_backup_destination_must_be_new_or_empty(source, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("precious")
    result = cli(source, "backup", taken)
    assert result.exit_code == 1 and "exists and is not empty" in result.output
    assert [p.name for p in taken.iterdir()] == ["keep.txt"] and (taken / "keep.txt").read_text() == "precious"
    assert not (tmp_path / "taken.partial").exists()

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    result = cli(source, "backup", a_file)
    assert result.exit_code == 1 and "exists and is not a folder" in result.output and a_file.read_text() == "x"

    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli(source, "backup", empty)
    assert result.exit_code == 0, result.output
    assert (empty / "manifest.json").is_file()

    nested = tmp_path / "new" / "nested"
    assert cli(source, "backup", nested).exit_code == 0 and (nested / "manifest.json").is_file()


def test_backup_stops_on_a_corrupt_or_missing_blob(source, tmp_path):
    store = storage.get_store(source)
    key = next(store.keys())
    path = store.root / key
    path.chmod(0o640)
    path.write_bytes(b"tampered")
    result = cli(source, "backup", tmp_path / "b")
    assert result.exit_code == 1 and f"blob {key} is corrupt in the evidence store" in result.output
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()
    path.unlink()
    result = cli(source, "backup", tmp_path / "b")
    assert result.exit_code == 1 and f"blob {key} is missing" in result.output
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()


def test_missing_pg_dump_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setattr(database, "PG_LIB", tmp_path / "nowhere")
    monkeypatch.setattr(database.shutil, "which", lambda name: None)
    with refused(backup.BackupError, r"^pg_dump not found \(neither on PATH nor under"):
        database.pg_tool("pg_dump", 15)


def test_pg_tool_prefers_a_version_not_older_than_the_server(monkeypatch, tmp_path):
    for major in ("13", "15", "16"):
        (tmp_path / major / "bin").mkdir(parents=True)
        (tmp_path / major / "bin" / "pg_dump").write_text("")
    monkeypatch.setattr(database, "PG_LIB", tmp_path)
    assert database.pg_tool("pg_dump", 14) == str(tmp_path / "15" / "bin" / "pg_dump")
    assert database.pg_tool("pg_dump", 16) == str(tmp_path / "16" / "bin" / "pg_dump")


# --- S3 --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "test")
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            storage.S3BlobStore("backups", endpoint_url=endpoint).client.create_bucket(Bucket="backups")
            yield endpoint
        finally:
            server.stop()


def test_round_trip_with_the_s3_store(s3_endpoint, tmp_path, sqlite_template):
    """Blobs are read from and written to S3 through the store's interface (the database: once, on SQLite)."""
    shutil.copyfile(sqlite_template, tmp_path / "source.db")
    source = make_app(tmp_path / "source", f"sqlite:///{tmp_path / 'source.db'}",
                      STORAGE_URL="s3://backups/source/", S3_ENDPOINT_URL=s3_endpoint)
    target = make_app(tmp_path / "target", f"sqlite:///{tmp_path / 'target.db'}",
                      STORAGE_URL="s3://backups/restored/", S3_ENDPOINT_URL=s3_endpoint)
    try:
        with source.app_context(), db.session_scope(source) as session:
            people = {role: auth.create_user(session, None, f"{role}@example.org", role, role, PASSWORD)
                      for role in ("manager", "contributor")}
        populate(source, people)
        assert cli(source, "backup", tmp_path / "b").exit_code == 0
        result = cli(target, "restore", tmp_path / "b")
        assert result.exit_code == 0, result.output
        assert len(list(storage.get_store(target).keys())) == 3
        assert blobs(storage.get_store(target)) == blobs(storage.get_store(source))
        assert cli(target, "verify").exit_code == 0
    finally:
        for one in (source, target):
            db.get_engine(one).dispose()
