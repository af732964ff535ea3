"""The status cache (services.status_cache): two app nodes on one database never serve a status a write made
stale, a cached status reads whole in a later session, and nothing is recomputed while nothing changed."""
import re
from contextlib import contextmanager

from sqlalchemy import event, inspect, update
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import Evidence, Perimeter, Requirement
from evidence.services import gaps, status_cache
from evidence.services.perimeters import get_perimeter

from .conftest import DEMO_DAY, csrf_token, login, make_app

DAY = DEMO_DAY


def without_tokens(page: str) -> str:
    """The page without its CSRF tokens, which carry the second they were made in."""
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+"', r'\1"', page)


@contextmanager
def statements(app):
    """The SQL statements the app's engine runs inside the block."""
    seen = []
    engine = db.get_engine(app)

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _status(app, code="iaas-fr1"):
    with app.app_context(), db.session_scope(app) as session:
        return gaps.compute(session, get_perimeter(session, code), DAY)


def _columns(obj) -> dict:
    """Every column of an ORM row, read attribute by attribute as a template does (a detached row whose attribute
    was expired or never loaded raises here)."""
    return {attr.key: getattr(obj, attr.key) for attr in inspect(type(obj)).column_attrs}


def _everything(result) -> list:
    rows = [(_columns(r.requirement), r.status, r.applicability, r.controls, r.evidence,
             [_columns(f) for f in r.findings], _columns(r.verdict) if r.verdict else None,
             {k: _columns(w) for k, w in r.waivers.items()}, _columns(r.lower) if r.lower else None)
            for r in result.rows]
    return [_columns(result.perimeter), _columns(result.framework), rows]


def test_two_nodes_see_each_others_writes_and_reuse_what_did_not_change(demo_loaded, database_url, tmp_path):
    node_a = demo_loaded
    node_a.config["TODAY"] = DAY
    # A second node: its own instance folder, the same database.
    node_b = make_app(tmp_path / "instance-b", database_url, TODAY=DAY)
    try:
        status_cache.clear()
        before = _status(node_b)
        # Read in a later session than the one it was computed for (closed, its transaction rolled back): every
        # row whole, the same as computed afresh.
        with node_b.app_context(), db.session_scope(node_b) as session:
            perimeter = get_perimeter(session, "iaas-fr1")
            session.rollback()
            fresh = gaps.compute_fresh(session, perimeter, DAY)
            assert _everything(gaps.compute(session, perimeter, DAY)) == _everything(fresh)
        hits = status_cache.stats["hits"]
        with statements(node_b) as seen:
            again = _status(node_b)
        assert status_cache.stats["hits"] == hits + 1
        assert len([s for s in seen if "data_version" in s]) == 1 and not any("evidence_version" in s for s in seen)
        assert again.readiness == before.readiness

        # A justified verdict posted on node A covers one more exigence: node B's next read says so.
        gap = before.gaps()[0].requirement.ref
        client = node_a.test_client()
        login(client, "claire.fontaine@nuage-souverain.example")
        token = csrf_token(client, f"/perimeters/iaas-fr1/verdict/{gap}")
        client.post(f"/perimeters/iaas-fr1/verdict/{gap}", data={
            "csrf_token": token, "status": "covered", "justification": "Couvert par le contrat d'hébergement"})
        assert _status(node_b).readiness.covered == before.readiness.covered + 1

        # Node B's pages, through their templates, from the cache while nothing changes.
        reader = node_b.test_client()
        login(reader, "helene.dubois@nuage-souverain.example")
        first = without_tokens(reader.get("/perimeters/iaas-fr1/dashboard").get_data(as_text=True))
        hits = status_cache.stats["hits"]
        assert without_tokens(reader.get("/perimeters/iaas-fr1/dashboard").get_data(as_text=True)) == first
        assert status_cache.stats["hits"] == hits + 1
    finally:
        db.get_engine(node_b).dispose()


def test_bulk_statements_count_and_own_writes_are_seen(demo_loaded):
    app = demo_loaded
    with app.app_context(), db.session_scope(app) as session:
        version = db.data_version(session)
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-fr1")).one()
        approved = gaps.compute(session, perimeter, DAY).readiness.covered
        # A bulk statement, no flush: uncommitted, the session reads its own writes afresh...
        session.exec(update(Evidence).values(status="draft"))
        assert db.has_pending_writes(session)
        assert gaps.compute(session, perimeter, DAY).readiness.covered < approved
        session.rollback()  # ...and what was rolled back bumped nothing
        assert db.data_version(session) == version
        session.exec(update(Evidence).where(Evidence.id == -1).values(status="draft"))
        session.commit()
        assert db.data_version(session) == version + 1
        # A Core statement on the session's connection (the importer's batch writes) counts as well.
        session.connection().execute(update(Evidence).where(Evidence.id == -1).values(status="draft"))
        session.commit()
        assert db.data_version(session) == version + 2


def test_a_referentials_items_are_kept_until_a_referential_is_written(demo_loaded):
    app = demo_loaded
    with app.app_context(), db.session_scope(app) as session:
        status_cache.clear()
        framework_id = get_perimeter(session, "iaas-fr1").framework_id
        first = status_cache.items(session, framework_id)
        assert len(first) == 278
        session.close()  # read whole after the session that asked for them is gone
        assert all(_columns(item) for item in first)
        # Any other write leaves them kept...
        evidence = session.exec(select(Evidence)).first()
        evidence.title += " (revue)"
        session.commit()
        assert status_cache.items(session, framework_id) is first
        # ...a referential's own write does not (as a catalogue load makes them), through the ORM or a statement.
        item = session.get(Requirement, first[0].id)
        item.title = "Titre revu"
        session.commit()
        again = status_cache.items(session, framework_id)
        assert again is not first and again[0].title == "Titre revu"
        session.exec(update(Requirement).where(Requirement.id == first[1].id).values(title="Titre revu par lot"))
        assert status_cache.items(session, framework_id)[1].title == "Titre revu par lot"  # uncommitted: its own
        session.commit()
        assert status_cache.items(session, framework_id)[1].title == "Titre revu par lot"
