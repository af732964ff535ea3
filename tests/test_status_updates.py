"""A kept status brought up to date (services.gaps.brought_up_to_date): after each kind of write, the items the
write reached (data.changes) are computed again and the status of every perimeter is the same, row for row, as
one computed whole; a write whose reach is unknown, or changes no longer recorded, compute it whole."""
from datetime import date

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import (
    Applicability,
    Control,
    ControlPerimeter,
    ControlRequirement,
    DataChange,
    EntryWaiver,
    Evidence,
    EvidenceControl,
    EvidencePerimeter,
    Finding,
    Perimeter,
    Requirement,
    User,
    Verdict,
)
from evidence.services import gaps, status_cache

from .test_status_cache import DAY, _everything


def statuses(app) -> dict:
    """Every perimeter's status as the pages get it (kept, brought up to date) and as computed whole now."""
    with app.app_context(), db.session_scope(app) as session:
        found = {}
        for perimeter in session.exec(select(Perimeter).order_by(Perimeter.id)).all():
            found[perimeter.code] = (_everything(gaps.compute(session, perimeter, DAY)),
                                     _everything(gaps.compute_fresh(session, perimeter, DAY)))
        return found


def write(app, change) -> None:
    with app.app_context(), db.session_scope(app) as session:
        change(session)
        session.commit()


def iaas(session) -> Perimeter:
    return session.exec(select(Perimeter).where(Perimeter.code == "iaas-fr1")).one()


def proof(session, n: int = 0) -> tuple[Evidence, EvidenceControl]:
    """The n-th approved evidence of iaas-fr1 that proves one of its controls, and that link."""
    rows = session.exec(select(Evidence, EvidenceControl).join(EvidenceControl, EvidenceControl.evidence_id == Evidence.id)
                        .join(EvidencePerimeter, EvidencePerimeter.evidence_id == Evidence.id)
                        .where(Evidence.status == "approved", EvidencePerimeter.perimeter_id == iaas(session).id)
                        .order_by(Evidence.ref)).all()
    return rows[n]


def mapping(session, n: int = 0) -> ControlRequirement:
    deployed = select(ControlPerimeter.control_id).where(ControlPerimeter.perimeter_id == iaas(session).id)
    return session.exec(select(ControlRequirement).where(ControlRequirement.control_id.in_(deployed))
                        .order_by(ControlRequirement.id)).all()[n]


def item(session, ref: str) -> Requirement:
    return session.exec(select(Requirement).where(Requirement.ref == ref,
                                                  Requirement.framework_id == iaas(session).framework_id)).one()


def retitle(session):
    evidence, _link = proof(session)
    evidence.title += " (revue)"


def withdraw(session):
    proof(session, 1)[0].status = "draft"


def out_of_perimeter(session):
    evidence, _link = proof(session, 2)
    session.delete(session.get(EvidencePerimeter, (evidence.id, iaas(session).id)))


def unlink(session):
    session.delete(proof(session, 3)[1])


def unmap(session):
    session.delete(mapping(session))


def map_elsewhere(session):
    moved = mapping(session, 1)
    moved.requirement_id = item(session, "5.1.a").id  # the item it answered loses it, 5.1.a gains it


def retire(session):
    session.get(Control, mapping(session, 2).control_id).status = "retired"


def verdict(session):
    session.add(Verdict(perimeter_id=iaas(session).id, requirement_id=item(session, "8.1.a").id, status="covered",
                        justification="Couvert par le contrat d’hébergement"))


def major_finding(session):
    session.add(Finding(perimeter_id=iaas(session).id, requirement_id=mapping(session, 3).requirement_id,
                        severity="major", text="Non-conformité majeure", status="open", raised_on=date(2026, 5, 1)))


def finding_moved(session):
    finding = session.exec(select(Finding).where(Finding.perimeter_id == iaas(session).id)).first()
    finding.requirement_id = item(session, "6.1.a").id


def not_applicable(session):
    session.add(Applicability(perimeter_id=iaas(session).id, requirement_id=item(session, "19.2.a").id,
                              applicable=False, justification="Hors du périmètre du service"))


def waiver(session):
    entry = next(r for r in session.exec(select(Requirement).where(Requirement.framework_id == iaas(session).framework_id)
                                         .order_by(Requirement.order)) if r.expected_evidence)
    session.add(EntryWaiver(perimeter_id=iaas(session).id, requirement_id=entry.id,
                            entry_id=entry.expected_evidence[0]["id"], justification="Sans objet ici"))


ITEM_WRITES = [retitle, withdraw, out_of_perimeter, unlink, unmap, map_elsewhere, retire, verdict, major_finding,
               finding_moved, not_applicable, waiver]


def rename_owner(session):
    owner = session.get(User, session.exec(select(Control.owner_id).where(Control.owner_id.is_not(None))).first())
    owner.name += " (intérim)"


def delete_evidence(session):
    session.delete(proof(session, 4)[0])


def bulk(session):
    session.exec(update(Evidence).where(Evidence.status == "approved").values(valid_until=date(2026, 5, 2)))


WHOLE_WRITES = [rename_owner, delete_evidence, bulk]


def test_after_each_write_the_items_it_reached_are_computed_again_and_nothing_else_differs(demo_loaded):
    app = demo_loaded
    status_cache.clear()
    statuses(app)
    for change in ITEM_WRITES:
        before = dict(status_cache.stats)
        write(app, change)
        for code, (kept, whole) in statuses(app).items():
            assert kept == whole, (change.__name__, code)
        assert status_cache.stats["misses"] == before["misses"], change.__name__  # nothing computed whole
        assert status_cache.stats["updates"] > before["updates"], change.__name__
    # Several versions behind: what they reached together.
    before = dict(status_cache.stats)
    write(app, retitle)
    write(app, lambda session: session.add(Verdict(perimeter_id=iaas(session).id, status="covered",
                                                   requirement_id=item(session, "8.1.b").id, justification="Couvert")))
    assert all(kept == whole for kept, whole in statuses(app).values())
    assert status_cache.stats["misses"] == before["misses"]


@pytest.mark.parametrize("change", WHOLE_WRITES, ids=lambda change: change.__name__)
def test_a_write_whose_reach_is_not_known_item_by_item_computes_the_status_whole(demo_loaded, change):
    app = demo_loaded
    status_cache.clear()
    statuses(app)
    before = dict(status_cache.stats)
    write(app, change)
    assert all(kept == whole for kept, whole in statuses(app).values())
    assert status_cache.stats["updates"] == before["updates"]
    assert status_cache.stats["misses"] > before["misses"]


def test_changes_no_longer_recorded_compute_the_status_whole(demo_loaded):
    app = demo_loaded
    status_cache.clear()
    statuses(app)
    write(app, retitle)
    write(app, lambda session: session.exec(delete(DataChange)))  # as pruning leaves a node far behind
    before = dict(status_cache.stats)
    assert all(kept == whole for kept, whole in statuses(app).values())
    assert status_cache.stats["updates"] == before["updates"] and status_cache.stats["misses"] > before["misses"]


def test_a_flush_failing_in_a_savepoint_leaves_the_statements_after_it_counted(demo_loaded):
    """The ORM's own statements are told from Core ones by a flag its flush raises and lowers: a flush that fails
    in a savepoint must not leave it raised for what the transaction writes next."""
    app = demo_loaded
    with app.app_context(), db.session_scope(app) as session:
        version = db.data_version(session)
        taken = session.exec(select(Evidence.ref)).first()
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(Evidence(ref=taken, title="Doublon"))
            session.flush()
        session.connection().execute(update(Evidence).where(Evidence.ref == taken).values(title="Revu par lot"))
        session.commit()
        assert db.data_version(session) == version + 1
        assert session.get(DataChange, version + 1).reach == {"all": True}
