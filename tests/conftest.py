"""Fixtures: an app on a fresh database per test, on SQLite and, when configured, on PostgreSQL.

Set EVIDENCE_TEST_DATABASE_URL (a PostgreSQL URL whose user may create databases) to run every database
test on PostgreSQL too; .ci/run starts a throw-away server and sets it. Without it, those runs skip.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid

import pytest

os.environ.setdefault("EVIDENCE_JOBS_IMMEDIATE", "1")  # background jobs run at once, in the test's thread

from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from evidence import create_app
from evidence.data import database as db
from evidence.data.models import ROLES  # noqa: E402
from evidence.services import users as auth  # noqa: E402

PG_URL = os.environ.get("EVIDENCE_TEST_DATABASE_URL")
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing():
    """Tests hash many passwords; the production parameters are exercised by the rehash test."""
    original = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth._hasher = original


# --- databases ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "evidence.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.migrate(engine)
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


def _pg_admin_engine():
    return db.make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template():
    if not PG_URL:
        yield None
        return
    name = f"evidence_tpl_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = db.make_engine(pg_url_for(name))
    db.migrate(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def pg_url_for(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _fresh_database(kind, tmp_path, sqlite_template=None, pg_template=None):
    """Yield the URL of a new database of `kind`, copied from a migrated template when one is given."""
    if kind == "sqlite":
        target = tmp_path / "db" / "evidence.db"
        target.parent.mkdir(exist_ok=True)
        if sqlite_template is not None:
            shutil.copyfile(sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set EVIDENCE_TEST_DATABASE_URL (.ci/run does)")
    name = f"evidence_t_{uuid.uuid4().hex[:10]}"
    template = f' TEMPLATE "{pg_template}"' if pg_template else ""
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
    yield pg_url_for(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path, sqlite_template, pg_template):
    """A migrated, empty database of each kind, new for every test."""
    yield from _fresh_database(request.param, tmp_path, sqlite_template, pg_template)


@pytest.fixture(params=DATABASES)
def blank_database_url(request, tmp_path):
    """A database of each kind with no schema at all (for migration and init tests)."""
    yield from _fresh_database(request.param, tmp_path)


def make_app(instance, database_url, **config):
    return create_app({
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "TESTING": True,
        **config,
    })


@pytest.fixture
def app(tmp_path, database_url):
    app = make_app(tmp_path / "instance", database_url)
    yield app
    db.get_engine(app).dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- people --------------------------------------------------------------------------------------------


@pytest.fixture
def users(app):
    """One active user per role, e.g. users["manager"].email == "manager@example.org"."""
    made = {}
    with app.app_context(), db.session_scope(app) as session:
        for role in ROLES:
            made[role] = auth.create_user(session, None, f"{role}@example.org", role.title(), role, PASSWORD)
    return made


def csrf_token(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, email, password=PASSWORD, **extra):
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token, **extra})


@pytest.fixture
def login_as(client, users):
    def _login(role):
        response = login(client, users[role].email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return _login


@pytest.fixture
def catalogue_loaded(app):
    """The app with the product's catalogues loaded (SecNumCloud 3.2 and ISO 27001 Annex A)."""
    from evidence import catalogue

    with app.app_context(), db.session_scope(app) as session:
        catalogue.load_catalogues(session, catalogue.default_catalogue_paths(), "cli:test")
    return app
