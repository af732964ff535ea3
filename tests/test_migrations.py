"""The migrations build exactly the schema the models describe, on both databases."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from evidence.data import database as db
from evidence.data.models import SQLModel


def test_models_and_migrations_agree(blank_database_url):
    engine = db.make_engine(blank_database_url)
    try:
        db.migrate(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_migrate_is_idempotent_and_seeds_the_audit_head(blank_database_url):
    engine = db.make_engine(blank_database_url)
    try:
        db.migrate(engine)
        db.migrate(engine)
        assert db.current_revision(engine) is not None
        with engine.connect() as conn:
            assert conn.execute(text("SELECT seq, hash FROM audit_head")).all() == [(0, "0" * 64)]
        assert set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(blank_database_url):
    from alembic import command

    engine = db.make_engine(blank_database_url)
    try:
        db.migrate(engine)
        with engine.begin() as conn:
            command.downgrade(db.alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        db.migrate(engine)
        assert "audit_event" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 15000
    finally:
        engine.dispose()


def test_postgresql_urls_use_psycopg3_with_pre_ping():
    engine = db.make_engine("postgresql://u@127.0.0.1:1/x")
    assert engine.dialect.driver == "psycopg" and engine.pool._pre_ping
