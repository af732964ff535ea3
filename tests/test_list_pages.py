"""List pages cost a constant number of queries, whatever the number of rows shown."""
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, insert
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import Control, ControlPerimeter, ControlRequirement, Evidence, EvidenceControl, Perimeter


@contextmanager
def count_queries(app):
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.get_engine(app)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def populate(app, n, owner_id):
    """n controls and n evidence items, each control in a perimeter with a mapping and linked evidence."""
    with app.app_context(), db.session_scope(app) as session:
        perimeter = session.exec(select(Perimeter)).first()
        if perimeter is None:
            perimeter = Perimeter(code="iaas-fr1", name="IaaS", service_types=["IaaS"], framework_id=1)
            session.add(perimeter)
            session.flush()
        start = session.exec(select(func.count()).select_from(Control)).one()
        session.execute(insert(Control), [
            {"ref": f"CTL-{start + i:05d}", "title": f"Mesure {i}", "owner_id": owner_id, "status": "implemented",
             "category": "technical", "description": "", "review_cycle_days": 365, "version": 1}
            for i in range(n)
        ])
        session.execute(insert(Evidence), [
            {"ref": f"EV-{start + i:05d}", "title": f"Preuve {i}", "owner_id": owner_id, "kind": "report",
             "status": "approved", "classification": "internal", "description": "", "review_comment": "",
             "valid_until": date(2030, 1, 1) - timedelta(days=i), "version": 1}
            for i in range(n)
        ])
        controls = dict(session.exec(select(Control.ref, Control.id)).all())
        evidence = dict(session.exec(select(Evidence.ref, Evidence.id)).all())
        new = [(cid, evidence[f"EV-{ref[4:]}"]) for ref, cid in controls.items() if int(ref[4:]) >= start]
        session.execute(insert(ControlPerimeter), [{"control_id": c, "perimeter_id": perimeter.id} for c, _e in new])
        session.execute(insert(ControlRequirement), [{"control_id": c, "requirement_id": 1, "statement": ""} for c, _e in new])
        session.execute(insert(EvidenceControl), [{"evidence_id": e, "control_id": c} for c, e in new])
        session.commit()


@pytest.mark.parametrize("path", ["/evidence/", "/controls/", "/evidence/?freshness=expiring&status=approved", "/controls/?perimeter=1"])
def test_query_count_does_not_grow_with_rows(catalogue_loaded, client, users, login_as, path):
    app = catalogue_loaded
    login_as("manager")
    populate(app, 3, users["manager"].id)
    with count_queries(app) as few:
        assert client.get(path).status_code == 200
    populate(app, 120, users["manager"].id)
    with count_queries(app) as many:
        page = client.get(path).get_data(as_text=True)
    assert len(many) == len(few) <= 12, many
    assert "Page 1 sur" in page or "?perimeter" in path or "freshness" in path
