"""Engine, sessions outside a request, and migrations.

One engine per app (kept in app.extensions). The request-bound session lives in `evidence.context`; service
functions take a session as an argument and commit once. Nothing here knows Flask: an app is passed in.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from evidence.data import (
    audit,
    changes,
    models,  # noqa: F401  (registers every table on the metadata)
)
from evidence.data.instance_files import create_private_file


def make_engine(url: str, busy_timeout_ms: int = 15_000) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            # Made here, 0600, before SQLite opens it: SQLite gives the -wal and -shm files the database's mode.
            create_private_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # psycopg 3 is the driver we ship; plain postgresql:// URLs mean it too.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def init_app(app) -> None:
    engine = make_engine(app.config["DATABASE_URL"], app.config["SQLITE_BUSY_TIMEOUT_MS"])
    # Every event recorded on this database is sealed with the instance's key (kept out of the database).
    audit.use_seal_key(engine, audit.derive_seal_key(app.config.get("SECRET_KEY")))
    app.extensions["evidence.engine"] = engine


def get_engine(app) -> Engine:
    return app.extensions["evidence.engine"]


@contextmanager
def session_scope(app):
    """A session outside a request (CLI, jobs): committed by the caller, always closed."""
    session = Session(get_engine(app), expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


# --- The data version ----------------------------------------------------------------------------------
# Every transaction that writes bumps data_version.version as it commits, in that same transaction: a value
# computed from the database and keyed by the version (services.status_cache) is then stale as soon as any node
# commits anything. Counted on sessions bound to an engine (the app's, the CLI's, the jobs'); the migrations'
# sessions, bound to their connection, run before the table exists.

WRITES = "evidence.writes"  # session.info: flushes and DML statements of the current root transaction
UNREAD = changes.UNREAD  # tables whose writes alone bump no version: no cached computation reads them
# The referentials themselves, which only a catalogue load (or a library import) writes: a transaction that writes
# them also bumps a version of their own (row REFERENTIAL of data_version), which keys what is computed from them
# alone and may then outlive any other write (services.status_cache.requirements).
REFERENTIAL_TABLES = frozenset({"framework", "section", "requirement"})
REFERENTIAL_WRITES = "evidence.referential-writes"  # session.info and connection.info: a referential was written
DATA, REFERENTIAL = 1, 2  # the rows of data_version
REACH = "evidence.reach"  # session.info: what the transaction's writes reach in a status (data.changes.Reach)
FLUSHING = "evidence.flushing"  # connection.info: the ORM is flushing (its statements are seen by _note_flush)
PRUNE_EVERY, KEEP_CHANGES = 256, 2_048  # data_change: every 256th version drops those 2,048 versions older


def _counts(session) -> bool:
    return isinstance(session.bind, Engine)


@event.listens_for(Session, "before_flush")
def _flush_begins(session, _flush_context, _instances):
    if _counts(session):
        session.connection().info[FLUSHING] = True


@event.listens_for(Session, "after_flush_postexec")
def _flush_ends(session, _flush_context):
    if _counts(session):
        session.connection().info.pop(FLUSHING, None)


@event.listens_for(Session, "after_flush")
def _note_flush(session, _flush_context):
    # Fired only for a flush that had something to write; new, dirty and deleted still hold what it wrote.
    if not _counts(session):
        return
    tables = {inspect(obj).mapper.local_table.name for obj in (*session.new, *session.dirty, *session.deleted)}
    if tables - UNREAD:
        session.info[WRITES] = session.info.get(WRITES, 0) + 1
        reach = session.info.setdefault(REACH, changes.Reach())
        for obj in (*session.new, *session.dirty):
            reach.note(obj)
        for obj in session.deleted:
            reach.note(obj, deleted=True)
    if tables & REFERENTIAL_TABLES:
        session.info[REFERENTIAL_WRITES] = True


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state):
    # session.execute(update/delete/insert): bulk writes that no flush sees.
    table = getattr(state.statement, "table", None)
    if ((state.is_update or state.is_delete or state.is_insert) and _counts(state.session)
            and getattr(table, "name", None) not in UNREAD):
        state.session.info[WRITES] = state.session.info.get(WRITES, 0) + 1
        state.session.info[REACH] = changes.Reach(everything=True)  # which rows, only the database knows
        if getattr(table, "name", None) in REFERENTIAL_TABLES:
            state.session.info[REFERENTIAL_WRITES] = True


@event.listens_for(Engine, "after_execute")
def _note_core_statement(connection, clauseelement, _multiparams, _params, _options, _result):
    # Core statements on a session's connection (the importer's batch inserts and updates): no flush and no ORM
    # event sees them. Noted on the connection, which the session's transaction holds until it ends.
    name = getattr(getattr(clauseelement, "table", None), "name", None)
    if connection.info.get(FLUSHING):
        return  # the ORM's own statements: the flush notes what they write, row by row
    if getattr(clauseelement, "is_dml", False) and name not in UNREAD | {"data_version"}:
        connection.info[WRITES] = connection.info.get(WRITES, 0) + 1
        if name in REFERENTIAL_TABLES:
            connection.info[REFERENTIAL_WRITES] = True


@event.listens_for(Engine, "rollback")
def _forget_core_writes(connection):
    connection.info.pop(FLUSHING, None)  # a flush that failed
    connection.info.pop(WRITES, None)
    connection.info.pop(REFERENTIAL_WRITES, None)


@event.listens_for(Engine, "rollback_savepoint")
def _flush_failed_in_savepoint(connection, _name, _context):
    # The transaction goes on, and so must the counting of its Core statements. (Their count before the savepoint
    # stays: counting too much only costs a recomputation.)
    connection.info.pop(FLUSHING, None)


@event.listens_for(Session, "before_commit")
def _bump_data_version(session):
    if not _counts(session) or session.in_nested_transaction() or not session.in_transaction():
        return  # a savepoint's writes are counted when the whole transaction commits
    # Flushed here rather than after this hook: the writes flushed at commit count, and data_version is the last
    # row every writer locks (audit_head is taken earlier), so writers cannot deadlock on the two.
    session.flush()
    connection = session.connection()
    referential = session.info.pop(REFERENTIAL_WRITES, False) | connection.info.pop(REFERENTIAL_WRITES, False)
    core_writes = connection.info.pop(WRITES, None)
    if not (session.info.get(WRITES) or core_writes):
        return
    # The importer's batch statements: no flush saw which rows they wrote.
    reach = changes.Reach(everything=True) if core_writes else session.info.get(REACH) or changes.Reach()
    insert = upsert_insert(connection)
    table = models.DataVersion.__table__
    # Upserts: the first write ever creates the row, concurrent first writers included. Always in this order
    # (DATA, then REFERENTIAL), so that two writers never hold one row each while waiting for the other.
    def bump(row: int) -> int:
        return connection.execute(insert(table).values(id=row, version=1).on_conflict_do_update(
            index_elements=[table.c.id], set_={"version": table.c.version + 1}).returning(table.c.version)).scalar_one()

    version = bump(DATA)
    if referential:
        bump(REFERENTIAL)
    change = models.DataChange.__table__
    connection.execute(change.insert().values(version=version, reach=reach.as_json()))
    if version % PRUNE_EVERY == 0:
        connection.execute(change.delete().where(change.c.version <= version - KEEP_CHANGES))
    session.info[WRITES] = 0
    session.info.pop(REACH, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_writes(session, transaction):
    if transaction.parent is None:  # committed or rolled back: the next transaction starts clean
        session.info.pop(WRITES, None)
        session.info.pop(REFERENTIAL_WRITES, None)
        session.info.pop(REACH, None)


def upsert_insert(bind):
    """The `insert` of the bind's dialect (a connection, an engine or a session's bind), whose statements take
    `on_conflict_do_update`: both databases have the upsert, each its own construct."""
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def has_pending_writes(session) -> bool:
    """Whether the session holds writes its transaction has not committed (flushed or not)."""
    return bool(session.info.get(WRITES) or session.new or session.dirty or session.deleted)


def data_version(session, row: int = DATA) -> int | None:
    """The committed data version (or, with `row` REFERENTIAL, the referentials' own) as the session reads it
    (one query); None where it is not kept."""
    if not _counts(session):
        return None
    from sqlmodel import select

    return session.exec(select(models.DataVersion.version).where(models.DataVersion.id == row)).first() or 0


def changes_between(session, older: int, newer: int):
    """What the data versions after `older` up to `newer` reached together (data.changes.Reach), or None when
    some are no longer recorded (pruned, or written before they were)."""
    from sqlmodel import select

    if newer - older > KEEP_CHANGES:
        return None
    recorded = list(session.exec(select(models.DataChange.reach).where(
        models.DataChange.version > older, models.DataChange.version <= newer)))
    return changes.Reach.union(recorded) if len(recorded) == newer - older else None


# --- Migrations ----------------------------------------------------------------------------------------

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest revision (a no-op when it is there already)."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
        # The events recorded before sealing began (an upgraded instance, the migrations' own) sealed in the same
        # transaction, once their chain is found intact.
        with Session(bind=connection) as session:
            audit.seal_earlier(session, audit.seal_key_for_engine(engine))
            session.flush()


def current_revision(engine: Engine) -> str | None:
    """The schema's revision, None before the first migration. Read from Alembic's own table rather than through
    Alembic, whose import would cost every command a fifth of a second before it does anything."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
