"""Engine and sessions.

One engine per app (kept in app.extensions); one session per request, opened lazily in `g` and closed at
teardown, as in Flask's tutorial. Service functions take the session as an argument and commit once.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from flask import current_app, g
from sqlalchemy import delete, event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine, select

from . import models  # noqa: F401  (registers every table on the metadata)


def make_engine(url: str, busy_timeout_ms: int = 15_000) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
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
    app.extensions["evidence.engine"] = make_engine(
        app.config["DATABASE_URL"], app.config["SQLITE_BUSY_TIMEOUT_MS"]
    )
    app.teardown_appcontext(close_session)


def get_engine(app=None) -> Engine:
    return (app or current_app).extensions["evidence.engine"]


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = Session(get_engine(), expire_on_commit=False)
    return g.db_session


def close_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def session_scope(app=None):
    """A session outside a request (CLI, jobs): committed by the caller, always closed."""
    session = Session(get_engine(app), expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


def replace_links(session: Session, model, owner_column, owner_id: int, target_column, wanted) -> bool:
    """Make a link table hold exactly `wanted` targets for one owner (e.g. the perimeters of a control);
    True when that changed anything."""
    wanted = set(wanted)
    current = set(session.exec(select(target_column).where(owner_column == owner_id)))
    for target in wanted - current:
        session.add(model(**{owner_column.key: owner_id, target_column.key: target}))
    if current - wanted:
        session.execute(delete(model).where(owner_column == owner_id, target_column.in_(current - wanted)))
    return wanted != current


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


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


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
