"""Backup and restore: `evidence backup DEST` and `evidence restore SRC`.

A backup is a folder:

    manifest.json          format, app version, Alembic revision, date, audit head, row counts, and the
                           SHA-256 and size of every other file in the folder
    database.sqlite        SQLite: a copy made with the online backup API (one read transaction), or
    database.pgdump        PostgreSQL: `pg_dump --format=custom` in the very snapshot the blob list was read in
    blobs/ab/cd/<sha256>   every blob the database refers to (evidence versions, rendered dossiers)

Consistency: the list of blobs is read from the same snapshot as the database copy (SQLite: from the copy
itself; PostgreSQL: `pg_export_snapshot()` held open while pg_dump runs with `--snapshot`), and a blob is
always stored before any row refers to it and never removed, so every blob the copy needs exists. Each blob is
hashed while it is copied and must match its name. The folder is written as DEST.partial, synced, then renamed
to DEST: a crash leaves a *.partial folder, never one that looks like a complete backup.

Restore goes into an empty instance only: the database has no table, or only the product's tables with no row
(a migrated, never used database); the evidence store holds no blob that is not in the backup. Every file is
checked against the manifest before anything is written. The blobs go first (content-addressed: harmless if
what follows fails, and accepted by a second attempt), then the database in one step (SQLite: a file renamed
into place; PostgreSQL: `pg_restore --single-transaction`). The restored instance is then migrated if the backup
is older than this version, the restore is recorded in the audit trail, and everything `evidence verify` checks
is checked. Both evidence stores are supported (local folder and S3: blobs are read and written through the
store's own interface). Not in a backup: the secret key and instance/config.py (deployment settings, not data),
the job queue (a dossier queued or rendering at backup time stays so after a restore).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path, PurePosixPath
from typing import Callable, Optional

import click
from flask.cli import with_appcontext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from evidence import __version__, context
from evidence.core.errors import EvidenceError
from evidence.data import audit, storage
from evidence.data import database as db

FORMAT = "secnumcloud-evidence-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
BLOBS = "blobs"
CHUNK = storage.CHUNK_SIZE
PG_TIMEOUT_SECONDS = 6 * 3600  # pg_dump / pg_restore of a very large database; never forever
PG_LIB = Path("/usr/lib/postgresql")  # Debian's versioned client tools: PG_LIB/<major>/bin/pg_dump

_BLOB_PATH = re.compile(r"blobs/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


class BackupError(EvidenceError):
    """A backup cannot be written, checked or restored; the message is one line, shown as is."""


@dataclass
class DatabaseState:
    """What the manifest records about the copied database, read in the copy's own snapshot."""

    revision: Optional[str]
    audit_seq: int
    audit_hash: str
    tables: dict  # table -> rows
    blobs: dict  # storage key -> sha256


@dataclass
class BackupReport:
    path: Path
    backend: str
    revision: Optional[str]
    audit_seq: int
    audit_hash: str
    blobs: int
    bytes: int


@dataclass
class RestoreReport:
    backend: str
    created_at: str
    revision: Optional[str]
    migrated_to: Optional[str]
    tables: dict
    blobs: int
    events: int = 0
    head_seq: int = 0
    head_hash: str = ""
    problems: list = field(default_factory=list)


# --- helpers ----------------------------------------------------------------------------------------------


def _backend(engine: Engine) -> str:
    name = engine.url.get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups of a {name} database are not supported (SQLite and PostgreSQL are)")
    return name


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    """fsync a file or a folder (a folder's entries: the names of the files in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _product_tables() -> list[str]:
    return [table.name for table in SQLModel.metadata.sorted_tables]


def _read_state(rows: Callable[[str], list], backend: str) -> DatabaseState:
    """The manifest's facts about a database, through `rows(sql)`: works on a DB-API or SQLAlchemy connection."""
    existing = {name for (name,) in rows(
        "SELECT name FROM sqlite_master WHERE type = 'table'" if backend == "sqlite" else
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )}
    missing = {"alembic_version", "audit_head", "evidence_version", "dossier"} - existing
    if missing:
        raise BackupError(f"the database is not initialised (no table {sorted(missing)[0]}): run `evidence init`")
    revision = rows("SELECT version_num FROM alembic_version")
    head = rows("SELECT seq, hash FROM audit_head WHERE id = 1")
    seq, head_hash = (int(head[0][0]), head[0][1]) if head else (0, audit.GENESIS_HASH)
    # Tables of this version that an older schema lacks are left out (the restore migrates it).
    tables = {name: int(rows(f'SELECT count(*) FROM "{name}"')[0][0]) for name in _product_tables() if name in existing}
    blobs: dict[str, str] = {}
    for key, sha256 in rows(
        "SELECT storage_key, sha256 FROM evidence_version WHERE storage_key IS NOT NULL "
        "UNION SELECT storage_key, sha256 FROM dossier WHERE storage_key IS NOT NULL"
    ):
        try:
            expected = storage.blob_key(sha256)
        except ValueError:
            raise BackupError(f"the database refers to blob {key!r} with an invalid SHA-256 {sha256!r}") from None
        if key != expected:
            raise BackupError(f"the database refers to blob {key!r} under SHA-256 {sha256}: they do not match")
        blobs[key] = sha256
    return DatabaseState(revision[0][0] if revision else None, seq, head_hash, tables, blobs)


# --- PostgreSQL tools ----------------------------------------------------------------------------------------


def _conninfo(engine: Engine) -> tuple[str, dict]:
    """A libpq connection string for the engine's database (no password: that goes in PGPASSWORD) and the env."""
    url = engine.url

    def quoted(value) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    for key, value in url.query.items():
        parts[key] = value[-1] if isinstance(value, tuple) else value
    conninfo = " ".join(f"{key}={quoted(value)}" for key, value in parts.items() if value not in (None, ""))
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def pg_tool(name: str, server_major: Optional[int] = None) -> str:
    """pg_dump or pg_restore: from /usr/lib/postgresql/<major>/bin (the oldest that is not older than the
    server, since pg_dump refuses a newer server), else from PATH."""
    versioned = []
    for folder in PG_LIB.glob("*/bin"):
        if (folder / name).is_file() and folder.parent.name.split(".")[0].isdigit():
            versioned.append((int(folder.parent.name.split(".")[0]), str(folder / name)))
    for major, path in sorted(versioned):
        if server_major is None or major >= server_major:
            return path
    found = shutil.which(name)
    if found:
        return found
    if versioned:
        return sorted(versioned)[-1][1]
    raise BackupError(
        f"{name} not found (neither on PATH nor under /usr/lib/postgresql/*/bin): install the PostgreSQL "
        "client tools (Debian: apt-get install postgresql-client)"
    )


def _server_major(connection) -> int:
    return int(connection.execute(text("SHOW server_version_num")).scalar()) // 10000


def _run_pg(command: list[str], env: dict, what: str) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish within {PG_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[0] if lines else f"exit status {result.returncode}"
        raise BackupError(f"{what} failed: {detail.strip()}")


# --- backup --------------------------------------------------------------------------------------------------


def _check_destination(dest: Path, partial: Path) -> None:
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise BackupError(f"{dest} exists and is not a folder: give a new folder")
        if any(dest.iterdir()):
            raise BackupError(f"{dest} exists and is not empty: give a new folder (a backup never overwrites)")
    if partial.exists() or partial.is_symlink():
        raise BackupError(
            f"{partial} exists: another backup to {dest} is running, or one was interrupted (remove it first)"
        )


def _backup_sqlite(engine: Engine, target: Path) -> DatabaseState:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("this SQLite database is not a plain file: it cannot be backed up")
    if not Path(database).is_file():
        raise BackupError(f"the database file {database} does not exist")
    source = sqlite3.connect(database, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one read transaction: a consistent copy even while the app writes
        copy.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
        state = _read_state(lambda sql: copy.execute(sql).fetchall(), "sqlite")
        copy.commit()
    except sqlite3.Error as error:
        raise BackupError(f"SQLite backup failed: {error}") from None
    finally:
        copy.close()
        source.close()
    return state


def _backup_postgresql(engine: Engine, target: Path) -> DatabaseState:
    conninfo, env = _conninfo(engine)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        connection.execute(text("SET TRANSACTION READ ONLY"))
        # The snapshot this transaction sees is handed to pg_dump, so the dump and the blob list agree.
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar()
        state = _read_state(lambda sql: connection.execute(text(sql)).all(), "postgresql")
        tool = pg_tool("pg_dump", _server_major(connection))
        _run_pg([tool, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                 f"--file={target}", f"--dbname={conninfo}"], env, "pg_dump")
        connection.rollback()
    return state


def _copy_blob(store: storage.BlobStore, key: str, sha256: str, target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        reader = store.open(key)
    except storage.StorageError:
        raise BackupError(f"blob {key} is missing from the evidence store (run `evidence verify`)") from None
    digest, size = hashlib.sha256(), 0
    with reader, open(target, "xb") as out:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != sha256:
        raise BackupError(f"blob {key} is corrupt in the evidence store (run `evidence verify`)")
    os.chmod(target, 0o400)
    return size


def create_backup(engine: Engine, store: storage.BlobStore, dest: Path | str) -> BackupReport:
    """Write a backup folder at `dest` (absent or empty); see the module's docstring."""
    from evidence.data.models import utcnow

    backend = _backend(engine)
    dest = Path(dest).absolute()
    partial = dest.with_name(dest.name + ".partial")
    _check_destination(dest, partial)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial.mkdir(mode=0o700)  # evidence may be confidential: the backup is readable by its owner only
    try:
        db_file = SQLITE_FILE if backend == "sqlite" else PG_FILE
        state = (_backup_sqlite if backend == "sqlite" else _backup_postgresql)(engine, partial / db_file)
        _fsync(partial / db_file)
        os.chmod(partial / db_file, 0o400)
        files = {db_file: {"sha256": _sha256_file(partial / db_file), "size": (partial / db_file).stat().st_size}}
        total = files[db_file]["size"]
        for key, sha256 in sorted(state.blobs.items()):
            size = _copy_blob(store, key, sha256, partial / BLOBS / key)
            files[f"{BLOBS}/{key}"] = {"sha256": sha256, "size": size}
            total += size
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": __version__,
            "alembic_revision": state.revision,
            "created_at": utcnow().astimezone(timezone.utc).isoformat(timespec="seconds"),
            "database": {"backend": backend, "file": db_file},
            "storage": "s3" if isinstance(store, storage.S3BlobStore) else "local",
            "audit_head": {"seq": state.audit_seq, "hash": state.audit_hash},
            "tables": state.tables,
            "blobs": len(state.blobs),
            "files": files,
        }
        # Every file is on disk (each was fsynced) and so is every folder entry, before the manifest and the
        # rename vouch for them. Per file rather than os.sync(), which would flush the whole machine's writes.
        for folder in {parent for name in files for parent in (partial / name).parents if partial in parent.parents}:
            _fsync(folder)
        with open(partial / MANIFEST, "x", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(partial / MANIFEST, 0o400)
        _fsync(partial)
        os.rename(partial, dest)  # the commit: DEST appears complete or not at all (an empty DEST is replaced)
        _fsync(dest.parent)
    except BaseException as error:
        shutil.rmtree(partial, ignore_errors=True)  # ours; a kill -9 leaves it, under its .partial name only
        if isinstance(error, OSError):  # e.g. the destination's disk is full: one line, not a traceback
            raise BackupError(f"backup to {dest} failed, nothing was kept: {error}") from None
        raise
    return BackupReport(dest, backend, state.revision, state.audit_seq, state.audit_hash, len(state.blobs), total)


# --- checking a backup ---------------------------------------------------------------------------------------


def read_manifest(src: Path) -> dict:
    src = Path(src)
    if src.name.endswith(".partial"):
        raise BackupError(f"{src} is an unfinished backup (its name ends in .partial): it cannot be restored")
    if not src.is_dir():
        raise BackupError(f"{src}: no such backup folder")
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(f"{src} is not a complete backup: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{path} is not valid JSON: the backup is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not the manifest of a SecNumCloud evidence backup")
    if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
        raise BackupError(f"{src} was written by a newer version of the product (backup format "
                          f"{manifest.get('format_version')!r}); upgrade before restoring it")
    database, files = manifest.get("database"), manifest.get("files")
    if (not isinstance(database, dict) or database.get("backend") not in ("sqlite", "postgresql")
            or database.get("file") != {"sqlite": SQLITE_FILE, "postgresql": PG_FILE}[database["backend"]]
            or not isinstance(files, dict) or database["file"] not in files
            or not isinstance(manifest.get("audit_head"), dict) or not isinstance(manifest.get("tables"), dict)):
        raise BackupError(f"{path} is incomplete or malformed: the backup is damaged")
    for name, entry in files.items():
        blob = _BLOB_PATH.fullmatch(name) if isinstance(name, str) else None
        well_named = name == database["file"] or (
            blob is not None and blob[1] + blob[2] == blob[3][:4] and isinstance(entry, dict)
            and entry.get("sha256") == blob[3]
        )
        if not well_named or not isinstance(entry, dict) or not isinstance(entry.get("size"), int) \
                or not isinstance(entry.get("sha256"), str):
            raise BackupError(f"{path} lists an invalid entry {str(name)[:80]!r}: the backup is damaged")
    return manifest


def check_backup(src: Path | str) -> dict:
    """The manifest, once every file it lists is present with its size and SHA-256 and nothing else is there."""
    src = Path(src)
    manifest = read_manifest(src)
    problems = []
    for name, entry in sorted(manifest["files"].items()):
        path = src / PurePosixPath(name)
        if not path.is_file() or path.is_symlink():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != entry["size"]:
            problems.append(f"{name} has {path.stat().st_size} bytes instead of {entry['size']}")
        elif _sha256_file(path) != entry["sha256"]:
            problems.append(f"{name} does not match its SHA-256 (corrupt)")
    listed = set(manifest["files"]) | {MANIFEST}
    for path in sorted(src.rglob("*")):
        if not path.is_dir() and path.relative_to(src).as_posix() not in listed:
            problems.append(f"{path.relative_to(src).as_posix()} is not listed in the manifest")
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise BackupError(f"backup {src} failed its check, nothing was restored: {problems[0]}{more}")
    return manifest


# --- restore ---------------------------------------------------------------------------------------------


def _table_names(engine: Engine) -> list[str]:
    if engine.url.get_backend_name() == "postgresql":
        with engine.connect() as connection:
            return [f"{schema}.{name}" if schema != "public" else name for schema, name in connection.execute(text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ))]
    return inspect(engine).get_table_names()


def database_contents(engine: Engine) -> tuple[list[str], int]:
    """(tables, rows that make the database not empty). A migrated, never used database has rows 0."""
    tables = _table_names(engine)
    known = set(_product_tables()) | {"alembic_version"}
    if not set(tables) <= known:
        return tables, -1  # someone else's tables: not ours to replace
    rows = 0
    with engine.connect() as connection:
        for name in tables:
            if name == "alembic_version":
                continue
            if name == "audit_head":
                rows += int(connection.execute(text("SELECT count(*) FROM audit_head WHERE seq <> 0")).scalar())
            else:
                rows += int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar())
    return tables, rows


def stored_keys(store: storage.BlobStore) -> list[str]:
    """Every blob key present in the store."""
    if isinstance(store, storage.LocalBlobStore):
        if not store.root.is_dir():
            return []
        return sorted(p.relative_to(store.root).as_posix() for p in store.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*")
                      if storage._KEY.fullmatch(p.relative_to(store.root).as_posix()))
    if isinstance(store, storage.S3BlobStore):
        keys = []
        for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(store.prefix):]
                if storage._KEY.fullmatch(key):
                    keys.append(key)
        return sorted(keys)
    raise BackupError(f"restoring into {store!r} is not supported (local folder and S3 stores are)")


def _check_empty(engine: Engine, store: storage.BlobStore, backup_keys: set[str]) -> list[str]:
    tables, rows = database_contents(engine)
    where = engine.url.render_as_string(hide_password=True)
    if rows < 0:
        raise BackupError(f"the database {where} is not empty (it has tables the product does not know): "
                          "restore needs a new, empty database")
    if rows > 0:
        raise BackupError(f"the instance is not empty: the database {where} holds {rows} row(s); "
                          "restore needs a new, empty database and evidence store")
    foreign = [key for key in stored_keys(store) if key not in backup_keys]
    if foreign:
        raise BackupError(f"the instance is not empty: the evidence store {store!r} holds {len(foreign)} file(s) "
                          "that are not in this backup; restore needs an empty evidence store")
    return tables


def _restore_sqlite(engine: Engine, source: Path, sha256: str) -> None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("the configured SQLite database is not a plain file: cannot restore into it")
    target = Path(database)
    target.parent.mkdir(parents=True, exist_ok=True)
    engine.dispose()  # no connection of ours keeps the old (empty) file or its WAL open
    partial = target.with_name(target.name + ".restore-partial")
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as f, open(partial, "wb") as out:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise BackupError(f"{source} changed while it was being restored; nothing was restored")
        for suffix in ("-wal", "-shm", "-journal"):  # the empty database's: they must not meet the new file
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(partial, target)
        _fsync(target.parent)
    finally:
        partial.unlink(missing_ok=True)


def _restore_postgresql(engine: Engine, source: Path, existing_tables: list[str]) -> None:
    with engine.begin() as connection:
        major = _server_major(connection)
        for name in existing_tables:  # a migrated but empty schema (checked): make room for the backup's own
            connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    engine.dispose()
    conninfo, env = _conninfo(engine)
    _run_pg([pg_tool("pg_restore", major), "--no-owner", "--no-privileges", "--single-transaction",
             "--exit-on-error", f"--dbname={conninfo}", str(source)], env, "pg_restore")


def _known_revisions() -> tuple[set[str], str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config(None))
    return {rev.revision for rev in script.walk_revisions()}, script.get_current_head()


def verify_instance(engine: Engine, store: storage.BlobStore) -> tuple[int, int, str, list[str]]:
    """What `evidence verify` checks: (audit events, head seq, head hash, problems)."""
    from evidence.dossier import verify_dossiers
    from evidence.services.evidence import verify_blobs

    with Session(engine, expire_on_commit=False) as session:
        _checked, problems = verify_blobs(session, store)
        _checked, dossier_problems = verify_dossiers(session, store)
        problems = [f"Evidence {p}" for p in problems] + [f"Dossier {p}" for p in dossier_problems]
        count, chain = audit.verify(session)
        head = session.get(audit.AuditHead, 1)
    if chain is not None:
        problems.append(f"Audit trail: {chain}")
    return count, head.seq if head else 0, head.hash if head else audit.GENESIS_HASH, problems


def restore_backup(engine: Engine, store: storage.BlobStore, src: Path | str, actor: audit.Actor = None) -> RestoreReport:
    """Restore the backup at `src` into this (empty) instance; see the module's docstring."""
    src = Path(src).absolute()
    backend = _backend(engine)
    manifest = check_backup(src)
    if manifest["database"]["backend"] != backend:
        raise BackupError(f"this backup holds a {manifest['database']['backend']} database and the instance is "
                          f"configured for {backend}: restore it into a {manifest['database']['backend']} database "
                          "(moving between databases is not supported)")
    known, head_revision = _known_revisions()
    revision = manifest.get("alembic_revision")
    if revision is not None and revision not in known:
        raise BackupError(f"the backup's schema (revision {revision}) is newer than this version of the product "
                          f"({__version__}, revision {head_revision}): upgrade before restoring it")
    blob_names = sorted(name for name in manifest["files"] if name.startswith(f"{BLOBS}/"))
    keys = {name.removeprefix(f"{BLOBS}/") for name in blob_names}
    existing_tables = _check_empty(engine, store, keys)

    # 1. The blobs: content-addressed, so harmless should the rest fail, and accepted by a second attempt.
    present = set(stored_keys(store))
    for name in blob_names:
        key = name.removeprefix(f"{BLOBS}/")
        if key in present and store.verify(key, manifest["files"][name]["sha256"]) is None:
            continue
        with open(src / PurePosixPath(name), "rb") as f:
            blob = store.put(f)
        if blob.key != key:
            raise BackupError(f"{name} changed while it was being restored (it now hashes to {blob.sha256})")

    # 2. The database, in one step.
    db_entry = manifest["files"][manifest["database"]["file"]]
    if backend == "sqlite":
        _restore_sqlite(engine, src / manifest["database"]["file"], db_entry["sha256"])
    else:
        _restore_postgresql(engine, src / manifest["database"]["file"], existing_tables)
    engine.dispose()

    # 3. Check what landed against the manifest, bring the schema up to date, record the restore, verify.
    with engine.connect() as connection:
        state = _read_state(lambda sql: connection.execute(text(sql)).all(), backend)
    report = RestoreReport(backend, manifest.get("created_at", "?"), revision, None, state.tables, len(keys))
    if state.tables != manifest["tables"]:
        report.problems.append(f"restored row counts {state.tables} differ from the manifest's {manifest['tables']}")
    head = manifest["audit_head"]
    if (state.audit_seq, state.audit_hash) != (head.get("seq"), head.get("hash")):
        report.problems.append(f"restored audit head #{state.audit_seq} {state.audit_hash} differs from the "
                               f"manifest's #{head.get('seq')} {head.get('hash')}")
    if revision != head_revision:
        db.migrate(engine)
        report.migrated_to = head_revision
    with Session(engine, expire_on_commit=False) as session:
        audit.record(session, actor, "instance.restore", details={
            "backup_created_at": manifest.get("created_at"), "backup_app_version": manifest.get("app_version"),
            "backup_revision": revision, "backup_audit_head": head, "source": str(src),
        }, object_type="instance")
        session.commit()
    report.events, report.head_seq, report.head_hash, problems = verify_instance(engine, store)
    report.problems += problems
    return report


# --- command line ----------------------------------------------------------------------------------------


def _friendly(function):
    """cli.friendly_errors, looked up when the command runs, so that cli.py may import this module anywhere."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from evidence.cli import friendly_errors

        return friendly_errors(function)(*args, **kwargs)

    return wrapper


def _command(**kwargs):
    """Like cli.evidence_command: inside the application context, with one-line errors."""

    def decorate(function):
        return click.command(**kwargs)(with_appcontext(_friendly(function)))

    return decorate


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@_command(name="backup")
@click.argument("dest", type=click.Path(path_type=Path))
def backup_command(dest):
    """Write a consistent backup (database, every stored file, a manifest of SHA-256 hashes) to the new folder DEST."""
    from evidence.cli import require_schema

    require_schema()
    report = create_backup(context.get_engine(), context.get_store(), dest)
    click.echo(f"Wrote {report.path}: {report.backend} database (revision {report.revision}), {report.blobs} "
               f"stored file(s), {_megabytes(report.bytes)}; audit head #{report.audit_seq} {report.audit_hash}")


@_command(name="restore")
@click.argument("src", type=click.Path(path_type=Path))
def restore_command(src):
    """Restore the backup SRC into this instance, which must be empty; then check it as `evidence verify` does."""
    from evidence.cli import cli_actor

    try:
        report = restore_backup(context.get_engine(), context.get_store(), src, cli_actor())
    except OSError as error:
        raise BackupError(f"restore from {src} failed: {error}") from None
    click.echo(f"Restored {src} (taken {report.created_at}, revision {report.revision}): "
               f"{sum(report.tables.values())} rows in {len(report.tables)} tables, {report.blobs} stored file(s)")
    if report.migrated_to:
        click.echo(f"Schema migrated from revision {report.revision} to {report.migrated_to}")
    for problem in report.problems:
        click.echo(problem, err=True)
    if report.problems:
        raise click.ClickException(f"restored, but {len(report.problems)} problem(s) found: do not use this instance")
    click.echo(f"Verify: every stored file re-hashed; audit trail: {report.events} events, chain intact; "
               f"head #{report.head_seq} {report.head_hash}")


def register(app) -> None:
    """Add the two commands to an app (what cli.register_commands does once it lists them)."""
    for command in (backup_command, restore_command):
        if command.name not in app.cli.commands:
            app.cli.add_command(command)
