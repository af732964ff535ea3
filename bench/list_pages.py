"""Server time and query count of the list pages with 10,000 evidence items and 2,000 controls.

    .venv/bin/python bench/list_pages.py [--evidence 10000] [--database-url postgresql+psycopg://user@host:port/db]

With --database-url, a throw-away database is created on that PostgreSQL server (the URL's database is only used
to connect) and dropped at the end; without, a SQLite file in a temporary folder. Prints, for each page, the median and 95th percentile of the time spent in the app (Flask test client, no
network) over repeated requests, and the number of SQL queries one request makes.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import event, insert
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import create_pg_database, drop_pg_database  # noqa: E402

from evidence import catalogue, create_app
from evidence.data import database as db
from evidence.data.models import (
    Control,
    ControlPerimeter,
    ControlRequirement,
    Evidence,
    EvidenceControl,
    Perimeter,
    Requirement,
)
from evidence.services import users as auth  # noqa: E402

PAGES = [
    "/evidence/", "/evidence/?page=150", "/evidence/?status=approved&kind=report",
    "/evidence/?freshness=expiring", "/evidence/?q=Preuve+99", "/evidence/?perimeter=1", "/controls/",
    "/controls/?perimeter=1&status=implemented",
]


def populate(app, n_evidence: int, n_controls: int) -> None:
    with app.app_context(), db.session_scope(app) as session:
        catalogue.load_catalogues(session, catalogue.default_catalogue_paths(), "bench")
        users = [auth.create_user(session, None, f"user{i}@bench.example", f"User {i}", "manager", "bench-password-1")
                 for i in range(20)]
        perimeter = Perimeter(code="iaas-bench", name="Bench", service_types=["IaaS"], framework_id=1)
        session.add(perimeter)
        session.flush()
        requirement_ids = list(session.exec(select(Requirement.id)))
        session.execute(insert(Control), [
            {"ref": f"CTL-{i:05d}", "title": f"Mesure {i}", "owner_id": users[i % 20].id, "category": "technical",
             "status": ("implemented", "in_progress", "planned")[i % 3], "description": "", "review_cycle_days": 365,
             "version": 1} for i in range(n_controls)
        ])
        statuses = ("approved", "in_review", "draft", "rejected")
        kinds = ("report", "record", "policy", "procedure")
        today = date.today()
        session.execute(insert(Evidence), [
            {"ref": f"EV-{i:05d}", "title": f"Preuve {i}", "owner_id": users[i % 20].id, "kind": kinds[i % 4],
             "status": statuses[i % 4], "classification": "internal", "description": "", "review_comment": "",
             "valid_until": today + timedelta(days=(i % 400) - 40), "version": 1} for i in range(n_evidence)
        ])
        controls = list(session.exec(select(Control.id)))
        evidence = list(session.exec(select(Evidence.id)))
        session.execute(insert(ControlPerimeter), [{"control_id": c, "perimeter_id": perimeter.id} for c in controls])
        session.execute(insert(ControlRequirement), [
            {"control_id": c, "requirement_id": requirement_ids[(i * 7) % len(requirement_ids)], "statement": ""}
            for i, c in enumerate(controls)
        ])
        session.execute(insert(EvidenceControl), [
            {"evidence_id": e, "control_id": controls[i % len(controls)]} for i, e in enumerate(evidence)
        ])
        session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidence", type=int, default=10_000)
    parser.add_argument("--controls", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-lists-"))
    url, pg_name = f"sqlite:///{folder / 'evidence.db'}", None
    if options.database_url:
        url, pg_name = create_pg_database(options.database_url)
    try:
        measure(folder, url, options)
    finally:
        if pg_name:
            drop_pg_database(options.database_url, pg_name)
        shutil.rmtree(folder, ignore_errors=True)


def measure(folder: Path, url: str, options) -> None:
    # The bench measures list pages, not the login: a password alone, whatever the role.
    app = create_app({"INSTANCE_PATH": str(folder), "DATABASE_URL": url, "SECRET_KEY": "b" * 40,
                      "MFA_REQUIRED_ROLES": ()})
    db.migrate(db.get_engine(app))
    started = time.perf_counter()
    populate(app, options.evidence, options.controls)
    print(f"database: {db.get_engine(app).dialect.name}; {options.evidence} evidence items, {options.controls} controls "
          f"(populated in {time.perf_counter() - started:.1f} s)")

    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = login_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/login", data={"email": "user0@bench.example", "password": "bench-password-1", "csrf_token": token})

    queries = []
    event.listen(db.get_engine(app), "before_cursor_execute", lambda *a: queries.append(1))
    print(f"{'page':48} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for page in PAGES:
        assert client.get(page).status_code == 200, page  # warm up
        timings = []
        for _ in range(options.repeat):
            queries.clear()
            t0 = time.perf_counter()
            response = client.get(page)
            timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        p95 = sorted(timings)[int(0.95 * (len(timings) - 1))]
        print(f"{page:48} {statistics.median(timings):10.1f} {p95:8.1f} {len(queries):8d}")


if __name__ == "__main__":
    main()
