"""Fixtures: an app on a fresh database per test, on SQLite and, when configured, on PostgreSQL.

Set EVIDENCE_TEST_DATABASE_URL (a PostgreSQL URL whose user may create databases) to run every database
test on PostgreSQL too; .ci/run starts a throw-away server and sets it. Without it, those runs skip.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

os.environ.setdefault("EVIDENCE_JOBS_IMMEDIATE", "1")  # background jobs run at once, in the test's thread
os.environ["EVIDENCE_LOCALE"] = "en"  # the command line speaks English in tests, whatever the machine's LANG

from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import select  # noqa: E402

from evidence import create_app  # noqa: E402
from evidence.data import database as db  # noqa: E402
from evidence.data import storage  # noqa: E402
from evidence.data.models import ROLES, User  # noqa: E402
from evidence.services import users as auth  # noqa: E402

PG_URL = os.environ.get("EVIDENCE_TEST_DATABASE_URL")
PASSWORD = "correct horse battery staple"
DEMO_DAY = date(2026, 6, 15)  # the day the demo provider's dates are computed from
DEMO_DOMAIN = "nuage-souverain.example"
DEMO_EVALUATOR = "camille.roussel@confluence-evaluation.example"  # the evaluation centre's, granted iaas-fr1
TEST_SECRET_KEY = "test-secret-key-" + "x" * 32  # every test app's SECRET_KEY (make_app)


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


def pytest_collection_modifyitems(config, items):
    """A test marked `sqlite_only` checks words, templates, forms or a PDF's layout, not SQL: its PostgreSQL run
    is dropped, which keeps the suite within CI's time. What such a test's pages query still runs on PostgreSQL
    in test_every_page's crawl of every page and in the service tests."""
    dropped = [item for item in items if item.get_closest_marker("sqlite_only") and "postgresql" in (
        getattr(item, "callspec", None) and item.callspec.params.values() or ())]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(dropped)
        items[:] = [item for item in items if item not in gone]


def fresh_database(kind, tmp_path, sqlite_template=None, pg_template=None):
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
def database_url(request, tmp_path, sqlite_template, pg_template, seeded_templates):
    """A migrated database of each kind, new for every test: empty, or a copy of a seeded state's template
    when the test asks for one (see `seed_layers`); then the instance folder gets that template's files too."""
    layers = seed_layers(request.fixturenames)
    if not layers:
        yield from fresh_database(request.param, tmp_path, sqlite_template, pg_template)
        return
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL not configured: set EVIDENCE_TEST_DATABASE_URL (.ci/run does)")
    template = seeded_templates.get(request.param, layers)
    template.copy_instance(tmp_path / "instance")
    request.node.stash[SEEDED] = layers
    yield from fresh_database(request.param, tmp_path, template.sqlite_path, template.pg_name)


@pytest.fixture(params=DATABASES)
def blank_database_url(request, tmp_path):
    """A database of each kind with no schema at all (for migration and init tests)."""
    yield from fresh_database(request.param, tmp_path)


def make_app(instance, database_url, **config):
    return create_app({
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "TESTING": True,
        "MFA_REQUIRED_ROLES": (),  # the suite logs in with passwords alone; tests/test_second_factor.py sets the policy
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


def create_role_users(session) -> dict:
    return {role: auth.create_user(session, None, f"{role}@example.org", role.title(), role, PASSWORD) for role in ROLES}


@pytest.fixture
def users(request, app):
    """One active user per role, e.g. users["manager"].email == "manager@example.org"."""
    with app.app_context(), db.session_scope(app) as session:
        if "users" in request.node.stash.get(SEEDED, ()):  # already in the template the database was copied from
            return {role: session.exec(select(User).where(User.email == f"{role}@example.org")).one() for role in ROLES}
        return create_role_users(session)


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


TINY_CATALOGUE = Path(__file__).parent / "fixtures" / "tiny-catalogue.yaml"


@dataclass
class TinyPerimeter:
    manager: User
    contributor: User
    perimeter: object
    control: object


def seed_tiny_perimeter(session, users, name: str = "Socle test", **fields) -> TinyPerimeter:
    """The four-item referential and a perimeter on it (`fields`: more PerimeterData) with one implemented
    control mapped to 12.4.a: the ground the dossier tests stand on."""
    from evidence import catalogue
    from evidence.data.models import Requirement
    from evidence.services import controls, perimeters

    catalogue.load_catalogues(session, [TINY_CATALOGUE], "cli:test")
    manager = session.get(User, users["manager"].id)
    contributor = session.get(User, users["contributor"].id)
    perimeter = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
        code="iaas-t", name=name, service_types=("IaaS",), framework_key="tiny-1.0", **fields))
    control = controls.create_control(session, contributor, controls.ControlData(
        ref="CTL-AV-01", title="EDR", status="implemented", perimeter_ids=[perimeter.id]))
    requirement = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
    controls.map_requirement(session, contributor, control, requirement, "EDR sur tous les postes")
    return TinyPerimeter(manager, contributor, perimeter, control)


def load_product_catalogues(session) -> None:
    from evidence import catalogue

    catalogue.load_catalogues(session, catalogue.default_catalogue_paths(), "cli:test")


def load_demo_provider(session, store) -> None:
    """The demo provider of `evidence init --demo`, on DEMO_DAY, its people logging in with PASSWORD."""
    from evidence.services import demo

    demo.load_demo(session, store, "cli:test", DEMO_DAY)
    for user in session.exec(select(User).where(User.email.like(f"%@{DEMO_DOMAIN}") | (User.email == DEMO_EVALUATOR))):
        auth.set_password(session, None, user, PASSWORD)


@pytest.fixture
def catalogue_loaded(request, app):
    """The app with the product's catalogues loaded (SecNumCloud 3.2 and ISO 27001 Annex A)."""
    if "catalogue" not in request.node.stash.get(SEEDED, ()):  # a database_url override that seeds nothing
        with app.app_context(), db.session_scope(app) as session:
            load_product_catalogues(session)
    return app


@pytest.fixture
def demo_loaded(request, catalogue_loaded, users):
    """The app with the catalogues, the `users` and the demo provider (`evidence init --demo`'s data, dated
    DEMO_DAY; its people, e.g. claire.fontaine@nuage-souverain.example, log in with PASSWORD)."""
    app = catalogue_loaded
    if "demo" not in request.node.stash.get(SEEDED, ()):
        with app.app_context(), db.session_scope(app) as session:
            load_demo_provider(session, storage.get_store(app))
    return app


# --- seeded templates ----------------------------------------------------------------------------------
# Loading the catalogues takes about a second and the demo provider several (a thousand audit events, each
# committed): far too long to repeat for every test. Each seeded state is built once per session (per xdist
# worker) and database kind, then copied for every test that asks for it, like the migrated schema above.

SEEDED = pytest.StashKey[tuple]()  # the layers the test's database was copied with


def seed_layers(fixturenames) -> tuple[str, ...]:
    """The state a test's database starts in, from the fixtures it uses: the layers, in the order built.

    `users` joins a seeded state only: elsewhere its users are created after whatever the test's own
    fixtures wrote first, as they always were."""
    if "demo_loaded" in fixturenames:
        return ("catalogue", "users", "demo")
    if "catalogue_loaded" in fixturenames:
        return ("catalogue", "users") if "users" in fixturenames else ("catalogue",)
    return ()


LAYERS = {
    "catalogue": lambda app, session: load_product_catalogues(session),
    "users": lambda app, session: create_role_users(session),
    "demo": lambda app, session: load_demo_provider(session, storage.get_store(app)),
}


@dataclass
class Template:
    instance: Path  # the instance folder the layers ran with (the demo's evidence files are in its blobs/)
    sqlite_path: Path | None = None
    pg_name: str | None = None

    def copy_instance(self, target: Path) -> None:
        # copy2 keeps the blobs' read-only mode; a copy, not links: some tests corrupt a blob on purpose.
        shutil.copytree(self.instance, target, symlinks=True, dirs_exist_ok=True)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({"instance": str(self.instance), "pg_name": self.pg_name,
                                    "sqlite_path": str(self.sqlite_path) if self.sqlite_path else None}))

    @classmethod
    def read(cls, path: Path) -> "Template":
        data = json.loads(path.read_text())
        return cls(Path(data["instance"]), Path(data["sqlite_path"]) if data["sqlite_path"] else None, data["pg_name"])


class SeededTemplates:
    """Templates built on demand, each from the one with a layer less (the migrated schema for the first).

    Built once for the whole run, whichever worker asks first (the demo takes seconds to build per database): the
    others wait on a lock in the run's shared temporary folder and copy the same template. A template is never
    written after it is built, so sharing it shares nothing a test changes."""

    def __init__(self, root: Path, sqlite_template: Path, pg_template: str | None):
        self.root, self.schema = root, {"sqlite": sqlite_template, "postgresql": pg_template}
        self.built: dict[tuple, Template] = {}

    def get(self, kind: str, layers: tuple[str, ...]) -> Template:
        key = (kind, layers)
        if key not in self.built:
            folder = self.root / kind / "-".join(layers)
            folder.parent.mkdir(parents=True, exist_ok=True)
            with open(folder.parent / f"{folder.name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the build fails
                ready = folder / "template.json"
                if ready.exists():
                    self.built[key] = Template.read(ready)
                else:
                    base = self.get(kind, layers[:-1]) if len(layers) > 1 else None
                    template = self.build(kind, layers, base)
                    if template.pg_name:
                        with open(self.root / PG_TEMPLATE_NAMES, "a") as names:
                            names.write(template.pg_name + "\n")
                    template.write(ready)
                    self.built[key] = template
        return self.built[key]

    def build(self, kind: str, layers: tuple[str, ...], base: Template | None) -> Template:
        folder = self.root / kind / "-".join(layers)
        instance = folder / "instance"
        instance.mkdir(parents=True)
        if base is not None:
            base.copy_instance(instance)
        if kind == "sqlite":
            template = Template(instance, sqlite_path=folder / "evidence.db")
            shutil.copyfile(base.sqlite_path if base else self.schema["sqlite"], template.sqlite_path)
            url = f"sqlite:///{template.sqlite_path}"
        else:
            template = Template(instance, pg_name=f"evidence_tpl_{uuid.uuid4().hex[:8]}")
            with _pg_admin_engine().connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{template.pg_name}" TEMPLATE '
                                  f'"{base.pg_name if base else self.schema["postgresql"]}"'))
            url = pg_url_for(template.pg_name)
        app = make_app(instance, url)
        engine = db.get_engine(app)
        try:
            # The blob store fsyncs every file and folder it writes (hundreds for the demo): a template that
            # lives as long as the session has no use for that, and each test's copy is taken after the build.
            with pytest.MonkeyPatch.context() as patch, app.app_context(), db.session_scope(app) as session:
                patch.setattr(os, "fsync", lambda fd: None)
                LAYERS[layers[-1]](app, session)
            if kind == "sqlite":  # everything into the main file, which is all that gets copied
                with engine.connect() as conn:
                    conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        finally:
            engine.dispose()  # PostgreSQL copies a template only while nobody is connected to it
        return template


PG_TEMPLATE_NAMES = "pg-templates.txt"  # in the shared folder: what the run's end drops


def shared_seeded_root(tmp_path_factory) -> Path:
    """The folder every worker of this run sees (the base temporary folder's parent under xdist)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "seeded-shared"
    root.mkdir(exist_ok=True)
    return root


def drop_seeded_pg_templates(root: Path) -> None:
    names_file = root / PG_TEMPLATE_NAMES
    if not PG_URL or not names_file.exists():
        return
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        for name in sorted(set(names_file.read_text().split())):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    names_file.unlink()


@pytest.fixture(scope="session")
def seeded_templates(tmp_path_factory, sqlite_template, pg_template, cheap_password_hashing):
    root = shared_seeded_root(tmp_path_factory)
    yield SeededTemplates(root, sqlite_template, pg_template)
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        drop_seeded_pg_templates(root)  # without workers; with them, the controller does (pytest_sessionfinish)


def pytest_sessionfinish(session):
    """The controller of a run with workers drops the seeded PostgreSQL templates once every worker is done (a
    worker cannot: another may still copy them)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        drop_seeded_pg_templates(shared_seeded_root(session.config._tmp_path_factory))
