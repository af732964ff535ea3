"""A backup is restored only as far as it can be trusted: its manifest is authenticated by a key that is not in
the backup (derived from the instance's secret key), and its database must have exactly the schema the
migrations create, with no trigger, view or function of unknown origin; `--force-unverified` (a lost secret key)
waives the first and is audited, never the second (issue 16, finding 3)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import AuditEvent
from evidence.ops import database, schema
from evidence.ops.manifest import authenticate, key_id, manifest_key, sha256_file
from tests.english import english
from tests.test_backup import assert_untouched, cli, kind_of, source, target, target_url, writable  # noqa: F401

from .conftest import TEST_SECRET_KEY, make_app

KEY = manifest_key(TEST_SECRET_KEY)
SQLITE_TRIGGER = ("CREATE TRIGGER promote AFTER UPDATE OF last_login_at ON \"user\" "
                  "BEGIN UPDATE \"user\" SET role = 'admin' WHERE id = NEW.id; END")
PG_TRIGGER = [
    "CREATE FUNCTION promote() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.role := 'admin'; RETURN NEW; END $$",
    'CREATE TRIGGER promote BEFORE UPDATE ON "user" FOR EACH ROW EXECUTE FUNCTION promote()',
]


def manifest_of(dest: Path) -> dict:
    return json.loads((dest / "manifest.json").read_text())


def write_manifest(dest: Path, manifest: dict) -> None:
    path = dest / "manifest.json"
    writable(path)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))


def rehash(dest: Path, manifest: dict, name: str) -> dict:
    """What someone editing a backup does: the manifest's SHA-256 and size of `name` updated to match."""
    manifest["files"][name] = {"sha256": sha256_file(dest / name), "size": (dest / name).stat().st_size}
    return manifest


def run_sql(app, *statements: str) -> None:
    with db.get_engine(app).begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def restore_event(app) -> AuditEvent:
    with app.app_context(), db.session_scope(app) as session:
        return session.execute(select(AuditEvent).where(AuditEvent.action == "instance.restore")).scalars().one()


def test_a_trigger_added_to_a_backup_is_refused_whatever_its_hashes_say(source, target, tmp_path, database_url):
    if kind_of(database_url) != "sqlite":
        pytest.skip("the SQLite file is edited in place; PostgreSQL's dump: see the next test")
    dest = tmp_path / "b"
    assert cli(source, "backup", dest).exit_code == 0
    copy = dest / "database.sqlite"
    writable(copy)
    with sqlite3.connect(copy) as connection:
        connection.execute(SQLITE_TRIGGER)
    write_manifest(dest, rehash(dest, manifest_of(dest), "database.sqlite"))  # the hash updated, not the HMAC
    result = cli(target, "restore", dest)
    assert result.exit_code == 1, result.output
    assert "manifest.json was modified after the backup" in result.output and "altered" in result.output
    assert_untouched(target)

    # Even with an authenticated manifest (the key stolen, or the trigger added to the live database before
    # the backup) and even when forced: the schema is not the migrations', nothing is restored.
    write_manifest(dest, authenticate(manifest_of(dest), KEY))
    for forced in ((), ("--force-unverified",)):
        result = cli(target, "restore", dest, *forced)
        assert result.exit_code == 1, result.output
        assert "does not have the schema the migrations create" in result.output, result.output
        assert "trigger “promote” on the table “user”: of unknown origin" in result.output, result.output
        assert_untouched(target)


def test_a_trigger_in_the_saved_database_is_refused_before_anything_is_written(source, target, tmp_path,
                                                                               database_url):
    run_sql(source, *(PG_TRIGGER if kind_of(database_url) == "postgresql" else [SQLITE_TRIGGER]))
    assert cli(source, "backup", tmp_path / "b").exit_code == 0  # a genuine, authenticated backup
    result = cli(target, "restore", tmp_path / "b")
    assert result.exit_code == 1, result.output
    assert "nothing was restored" in result.output, result.output
    if kind_of(database_url) == "sqlite":  # the file's schema, read before it is put in place, names it
        assert "trigger “promote” on the table “user”: of unknown origin" in result.output, result.output
    else:  # the dump's table of contents, read before pg_restore runs anything, names the function first
        assert "contains “FUNCTION public promote()”: a kind of object the migrations" in result.output, result.output
        assert "(and 1 other difference(s))" in result.output  # the trigger
    assert_untouched(target)


def test_a_column_of_unknown_origin_is_refused_and_what_was_restored_is_dropped(source, target, tmp_path,
                                                                                database_url):
    run_sql(source, 'ALTER TABLE "user" ADD COLUMN backdoor TEXT')
    assert cli(source, "backup", tmp_path / "b").exit_code == 0
    result = cli(target, "restore", tmp_path / "b")
    assert result.exit_code == 1, result.output
    assert "column “backdoor” of the table “user”: of unknown origin" in result.output, result.output
    # The database is as it was (empty: on PostgreSQL, what pg_restore created was dropped). The backup's
    # blobs, copied first on PostgreSQL, are content-addressed: the good backup is still accepted afterwards.
    assert database.database_contents(db.get_engine(target)) == ([], 0)
    if kind_of(database_url) == "sqlite":
        assert_untouched(target)


def test_an_edited_manifest_is_refused(source, target, tmp_path):
    dest = tmp_path / "b"
    assert cli(source, "backup", dest).exit_code == 0
    manifest = manifest_of(dest)
    assert manifest["authentication"]["key_id"] == key_id(KEY) and manifest["format_version"] == 2
    edited = json.loads(json.dumps(manifest))
    edited["tables"]["user"] += 1  # a row count changed, everything else (the hashes included) left consistent
    write_manifest(dest, edited)
    result = cli(target, "restore", dest)
    assert result.exit_code == 1 and "was modified after the backup" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert_untouched(target)
    stripped = {name: value for name, value in manifest.items() if name != "authentication"}
    write_manifest(dest, stripped)
    result = cli(target, "restore", dest)
    assert result.exit_code == 1 and "is not authenticated" in result.output, result.output
    assert_untouched(target)
    write_manifest(dest, manifest)  # put back as it was: restored
    result = cli(target, "restore", dest)
    assert result.exit_code == 0, result.output
    assert restore_event(target).details["manifest_verified"] is True


def test_another_instance_key_is_named_and_forcing_it_is_audited(source, tmp_path, target_url):
    other = make_app(tmp_path / "other-instance", target_url, SECRET_KEY="another-secret-key-" + "y" * 32)
    try:
        assert cli(source, "backup", tmp_path / "b").exit_code == 0
        result = cli(other, "restore", tmp_path / "b")
        assert result.exit_code == 1, result.output
        assert "made by an instance with another secret key" in result.output, result.output
        assert key_id(KEY) in result.output and "instance/secret_key" in result.output
        assert "altered" not in result.output
        assert_untouched(other)

        # Disaster recovery (that key is lost): restored, said so, and recorded with the reason.
        result = cli(other, "restore", tmp_path / "b", "--force-unverified")
        assert "Restored WITHOUT an authenticated manifest (--force-unverified)" in result.output, result.output
        assert f"Restored {tmp_path / 'b'}" in result.output
        event = restore_event(other)
        assert event.details["forced_unverified"] is True and event.details["manifest_verified"] is False
        assert key_id(KEY) in event.details["unverified_reason"]
        assert len(list(storage.get_store(other).keys())) == len(list(storage.get_store(source).keys()))
    finally:
        db.get_engine(other).dispose()


def test_an_older_backup_is_compared_with_the_schema_of_its_own_revision(tmp_path):
    """The reference is what the migrations create at the backup's revision (then the restore migrates it)."""
    from alembic import command

    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        command.upgrade(db.alembic_config(connection), "0008")
    engine.dispose()
    assert schema.sqlite_file_differences(path, "0008") == []
    newer = schema.sqlite_file_differences(path, "0009")
    assert newer and any("password_token" in english(problem) for problem in newer)
