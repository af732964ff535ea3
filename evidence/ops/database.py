"""The database side of a backup and a restore, on SQLite and on PostgreSQL (pg_dump and pg_restore).

Consistency: what the manifest records (revision, audit head, row counts, the blobs referred to) is read in
the very snapshot that is copied: SQLite's from the copy itself, PostgreSQL's from a transaction whose
snapshot (`pg_export_snapshot()`) pg_dump is given with `--snapshot`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from evidence.core.errors import N_
from evidence.data import audit, storage
from evidence.data import database as db
from evidence.ops.manifest import BackupError, fsync

PG_TIMEOUT_SECONDS = 6 * 3600  # pg_dump / pg_restore of a very large database; never forever
PG_LIB = Path("/usr/lib/postgresql")  # Debian's versioned client tools: PG_LIB/<major>/bin/pg_dump


@dataclass
class DatabaseState:
    """What the manifest records about the copied database, read in the copy's own snapshot."""

    revision: Optional[str]
    audit_seq: int
    audit_hash: str
    tables: dict  # table -> rows
    blobs: dict  # storage key -> sha256


def backend_name(engine: Engine) -> str:
    """"sqlite" or "postgresql"; BackupError for any other database."""
    name = engine.url.get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(N_("les sauvegardes d’une base %(name)s ne sont pas prises en charge (SQLite et PostgreSQL "
                             "le sont)"), name=name)
    return name


def product_tables() -> list[str]:
    return [table.name for table in SQLModel.metadata.sorted_tables]


def read_state(rows: Callable[[str], list], backend: str) -> DatabaseState:
    """The manifest's facts about a database, through `rows(sql)`: works on a DB-API or SQLAlchemy connection."""
    existing = {name for (name,) in rows(
        "SELECT name FROM sqlite_master WHERE type = 'table'" if backend == "sqlite" else
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )}
    missing = {"alembic_version", "audit_head", "evidence_version", "dossier"} - existing
    if missing:
        raise BackupError(N_("la base de données n’est pas initialisée (pas de table %(table)s) : lancez "
                             "`evidence init`"), table=sorted(missing)[0])
    revision = rows("SELECT version_num FROM alembic_version")
    head = rows("SELECT seq, hash FROM audit_head WHERE id = 1")
    seq, head_hash = (int(head[0][0]), head[0][1]) if head else (0, audit.GENESIS_HASH)
    # Tables of this version that an older schema lacks are left out (the restore migrates it).
    tables = {name: int(rows(f'SELECT count(*) FROM "{name}"')[0][0]) for name in product_tables() if name in existing}
    blobs: dict[str, str] = {}
    for key, sha256 in rows(
        "SELECT storage_key, sha256 FROM evidence_version WHERE storage_key IS NOT NULL "
        "UNION SELECT storage_key, sha256 FROM dossier WHERE storage_key IS NOT NULL"
    ):
        try:
            expected = storage.blob_key(sha256)
        except ValueError:
            raise BackupError(N_("la base de données désigne le blob %(key)s avec un SHA-256 invalide %(sha256)s"),
                              key=repr(key), sha256=repr(sha256)) from None
        if key != expected:
            raise BackupError(N_("la base de données désigne le blob %(key)s sous le SHA-256 %(sha256)s : ils ne "
                                 "correspondent pas"), key=repr(key), sha256=sha256)
        blobs[key] = sha256
    return DatabaseState(revision[0][0] if revision else None, seq, head_hash, tables, blobs)


def read_engine_state(engine: Engine) -> DatabaseState:
    """read_state() of the engine's database as it is now."""
    backend = backend_name(engine)
    with engine.connect() as connection:
        return read_state(lambda sql: connection.execute(text(sql)).all(), backend)


def known_revisions() -> tuple[set[str], str]:
    """(every Alembic revision this version knows, its head revision)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config(None))
    return {rev.revision for rev in script.walk_revisions()}, script.get_current_head()


def table_names(engine: Engine) -> list[str]:
    if engine.url.get_backend_name() == "postgresql":
        with engine.connect() as connection:
            return [f"{schema}.{name}" if schema != "public" else name for schema, name in connection.execute(text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ))]
    return inspect(engine).get_table_names()


def database_contents(engine: Engine) -> tuple[list[str], int]:
    """(tables, rows that make the database not empty). A migrated, never used database has rows 0."""
    tables = table_names(engine)
    known = set(product_tables()) | {"alembic_version"}
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


# --- PostgreSQL tools ----------------------------------------------------------------------------------------


def conninfo(engine: Engine) -> tuple[str, dict]:
    """A libpq connection string for the engine's database (no password: that goes in PGPASSWORD) and the env."""
    url = engine.url

    def quoted(value) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    for key, value in url.query.items():
        parts[key] = value[-1] if isinstance(value, tuple) else value
    info = " ".join(f"{key}={quoted(value)}" for key, value in parts.items() if value not in (None, ""))
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return info, env


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
    raise BackupError(N_("%(name)s introuvable (ni dans le PATH ni sous /usr/lib/postgresql/*/bin) : installez les "
                         "outils clients de PostgreSQL (Debian : apt-get install postgresql-client)"), name=name)


def server_major(connection) -> int:
    return int(connection.execute(text("SHOW server_version_num")).scalar()) // 10000


def run_pg(command: list[str], env: dict, what: str) -> str:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise BackupError(N_("%(what)s ne s’est pas terminé en %(seconds)s s"), what=what,
                          seconds=PG_TIMEOUT_SECONDS) from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[0] if lines else f"exit status {result.returncode}"
        raise BackupError(N_("%(what)s a échoué : %(detail)s"), what=what, detail=detail.strip())
    return result.stdout


# --- copying out -----------------------------------------------------------------------------------------------


def _plain_sqlite_file(engine: Engine, refusal: str) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(refusal)
    return Path(database)


def dump_sqlite(engine: Engine, target: Path) -> DatabaseState:
    """Copy the SQLite database to `target` in one read transaction; the state is read from the copy."""
    database = _plain_sqlite_file(engine, N_("cette base SQLite n’est pas un simple fichier : elle ne peut pas être "
                                             "sauvegardée"))
    if not database.is_file():
        raise BackupError(N_("le fichier de base de données %(database)s n’existe pas"), database=database)
    source = sqlite3.connect(database, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one read transaction: a consistent copy even while the app writes
        copy.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
        state = read_state(lambda sql: copy.execute(sql).fetchall(), "sqlite")
        copy.commit()
    except sqlite3.Error as error:
        raise BackupError(N_("la sauvegarde SQLite a échoué : %(reason)s"), reason=error) from None
    finally:
        copy.close()
        source.close()
    return state


def dump_postgresql(engine: Engine, target: Path) -> DatabaseState:
    """pg_dump the database to `target` in the snapshot the returned state was read in."""
    info, env = conninfo(engine)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        connection.execute(text("SET TRANSACTION READ ONLY"))
        # The snapshot this transaction sees is handed to pg_dump, so the dump and the blob list agree.
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar()
        state = read_state(lambda sql: connection.execute(text(sql)).all(), "postgresql")
        tool = pg_tool("pg_dump", server_major(connection))
        run_pg([tool, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                f"--file={target}", f"--dbname={info}"], env, "pg_dump")
        connection.rollback()
    return state


# --- copying in ------------------------------------------------------------------------------------------------


def load_sqlite(engine: Engine, source: Path, sha256: str, check: Optional[Callable[[Path], None]] = None) -> None:
    """Put the copy `source` in place of the (checked empty) database file, in one rename; `check(copy)` may
    refuse the copy (by raising) before it is renamed into place."""
    target = _plain_sqlite_file(engine, N_("la base SQLite configurée n’est pas un simple fichier : impossible d’y "
                                           "restaurer"))
    target.parent.mkdir(parents=True, exist_ok=True)
    engine.dispose()  # no connection of ours keeps the old (empty) file or its WAL open
    partial = target.with_name(target.name + ".restore-partial")
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as f, open(partial, "wb") as out:
            while chunk := f.read(storage.CHUNK_SIZE):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise BackupError(N_("%(source)s a changé pendant sa restauration ; rien n’a été restauré"), source=source)
        if check is not None:
            check(partial)
        for suffix in ("-wal", "-shm", "-journal"):  # the empty database's: they must not meet the new file
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(partial, target)
        fsync(target.parent)
    finally:
        partial.unlink(missing_ok=True)


def dump_contents(engine: Engine, source: Path) -> str:
    """The dump's table of contents (`pg_restore --list`): what pg_restore would create, read without running it."""
    with engine.connect() as connection:
        major = server_major(connection)
    _info, env = conninfo(engine)
    return run_pg([pg_tool("pg_restore", major), "--list", str(source)], env, "pg_restore --list")


def load_postgresql(engine: Engine, source: Path, existing_tables: list[str]) -> None:
    """pg_restore the dump `source` in one transaction, after dropping the (checked empty) product tables."""
    with engine.begin() as connection:
        major = server_major(connection)
        for name in existing_tables:  # a migrated but empty schema (checked): make room for the backup's own
            connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    engine.dispose()
    info, env = conninfo(engine)
    run_pg([pg_tool("pg_restore", major), "--no-owner", "--no-privileges", "--single-transaction",
            "--exit-on-error", f"--dbname={info}", str(source)], env, "pg_restore")
