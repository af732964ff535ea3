"""An item's page computes that item alone (gaps.compute_items) when no status is kept: its row must be the very row
the whole perimeter's computation gives, on a perimeter of its own and on one that inherits items from the layer it
is built on."""
import pytest

from evidence.data import database as db
from evidence.services import gaps, status_cache
from evidence.services.perimeters import get_perimeter

from .conftest import DEMO_DAY
from .test_status_cache import _everything


@pytest.mark.sqlite_only  # the same queries as the whole computation's, with a shorter list of items
def test_an_item_computed_alone_is_the_row_of_the_whole_perimeter(demo_loaded):
    with demo_loaded.app_context(), db.session_scope(demo_loaded) as session:
        for code in ("iaas-fr1", "saas-collab"):
            perimeter = get_perimeter(session, code)
            whole = gaps.compute_fresh(session, perimeter, DEMO_DAY)
            rows = {row.requirement.id: row for row in whole.rows}
            # Every kind of row: each coverage status, inherited or not, with or without findings and waivers.
            picked = {}
            for row in whole.rows:
                picked.setdefault((row.status.status, row.lower is not None, bool(row.findings), bool(row.waivers)),
                                  row.requirement.id)
            assert len(picked) >= 4, picked.keys()
            if code == "saas-collab":
                assert any(inherited for _s, inherited, _f, _w in picked)
            for requirement_id in picked.values():
                status_cache.clear()  # nothing kept: the item alone is computed
                alone = gaps.compute_items(session, perimeter, {requirement_id}, DEMO_DAY)
                assert [row.requirement.id for row in alone.rows] == [requirement_id]
                assert _everything(alone)[2] == _everything(
                    gaps.PerimeterStatus(perimeter, whole.framework, DEMO_DAY, [rows[requirement_id]]))[2]
            # With the perimeter's status kept, its row is served from it.
            status_cache.clear()
            kept = gaps.compute(session, perimeter, DEMO_DAY)
            some = next(iter(picked.values()))
            assert gaps.compute_items(session, perimeter, {some}, DEMO_DAY).rows[0] is next(
                row for row in kept.rows if row.requirement.id == some)
