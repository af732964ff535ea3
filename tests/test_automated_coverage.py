"""Automated evidence in the coverage rule: a fresh passing run answers its entries; a stale or failing one
answers nothing and the gap says so in words, on the pages and in the dossier's words, judged on the TODAY clock."""
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import event
from sqlmodel import select

from evidence.core import rules
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Evidence, EvidenceVersion, Perimeter, User
from evidence.presentation import labels

FIXTURES = Path(__file__).parent / "fixtures" / "prowler"
FIRST = FIXTURES / "prowler-output-0b7c3f2e-20261103T101500Z.ocsf.json"
SECOND = FIXTURES / "prowler-output-0b7c3f2e-20261110T101500Z.ocsf.json"
RUN_DAY = date(2026, 11, 3)  # the first fixture's scan
TODAY = date(2026, 11, 5)
ENTRIES = ("10.1.b#1", "10.1.b#3")


def auto(result="passed", run_on=RUN_DAY, ttl=7, failed=0, status="approved", answers=("10.1.b#3",), ref="EV-1"):
    return rules.EvidenceFacts(status, None, True, tuple(answers), ref, "prowler", result, run_on,
                               run_on + timedelta(days=ttl) if run_on else None, failed)


def hand(answers=("10.1.b#3",), ref="EV-9"):
    return rules.EvidenceFacts("approved", date(2027, 1, 1), True, tuple(answers), ref)


def item(*evidence, entries=ENTRIES):
    return rules.ItemFacts(entries=entries, controls=(rules.ControlFacts("implemented", tuple(evidence), "KMS"),))


@pytest.mark.parametrize("evidence, today, state, reasons", [
    (auto(), TODAY, "answered", ()),  # fresh and passed: it answers its entry
    (auto(), RUN_DAY + timedelta(days=7), "answered", ()),  # the TTL's last day still counts
    (auto(), RUN_DAY + timedelta(days=8), "stale", ("automated_stale",)),  # the day after: run out
    (auto(ttl=30), RUN_DAY + timedelta(days=8), "answered", ()),  # its own time-to-live
    (auto("failed", failed=12), TODAY, "failing", ("automated_failing",)),
    (auto("partly", failed=1), TODAY, "failing", ("automated_failing",)),  # partly passed is not passed
    (auto("failed", failed=2), RUN_DAY + timedelta(days=9), "failing", ("automated_failing",)),  # failure first
    (auto(result=None, run_on=None), TODAY, "stale", ("automated_stale",)),  # no run to go by
    (auto(status="in_review"), TODAY, "not_approved", ("evidence_not_approved",)),  # reviewed first, as any
])
def test_an_automated_answer_counts_while_its_run_passes_and_is_fresh(evidence, today, state, reasons):
    status = rules.item_status(item(evidence), today)
    assert dict((e.id, e.state) for e in status.entries)["10.1.b#3"] == state
    assert tuple(r for r in status.reasons if r != "entry_missing") == reasons  # 10.1.b#1 is answered by nobody
    assert rules.usable(evidence, today) is (state == "answered")


def test_a_hand_made_proof_still_answers_beside_a_stale_run():
    status = rules.item_status(item(auto(), hand(answers=ENTRIES)), RUN_DAY + timedelta(days=20))
    assert status.status == "covered" and status.automated == ()


def test_the_notes_name_the_evidence_its_run_and_its_failures():
    stale_and_failing = rules.item_status(item(auto("failed", failed=12)), RUN_DAY + timedelta(days=10))
    assert stale_and_failing.automated == (
        rules.AutomatedNote("automated_failing", "EV-1", "prowler", RUN_DAY, 12),
        rules.AutomatedNote("automated_stale", "EV-1", "prowler", RUN_DAY, 12))
    covered = rules.item_status(item(auto(answers=ENTRIES)), TODAY)
    assert covered.status == "covered" and covered.automated == ()


def test_an_item_without_checklist_says_why_its_automated_proof_does_not_count():
    status = rules.item_status(item(auto(answers=()), entries=()), RUN_DAY + timedelta(days=30))
    assert status.reasons == ("automated_stale",) and [n.ref for n in status.automated] == ["EV-1"]


@pytest.mark.sqlite_only
def test_the_gap_sentences_say_it_in_french_and_english(app):
    status = rules.item_status(item(auto("failed", failed=12)), RUN_DAY + timedelta(days=10))
    requirement = type("R", (), {"expected_evidence": [{"id": e, "text": e, "text_en": e} for e in ENTRIES]})()
    with app.test_request_context(), force_locale("fr"):
        french = labels.gap_sentences(status, requirement, "fr")
    with app.test_request_context(), force_locale("en"):
        english = labels.gap_sentences(status, requirement, "en")
    assert "12 contrôles Prowler en échec (EV-1)" in french
    assert "résultat Prowler du 3 novembre 2026 expiré (EV-1)" in french
    assert any(s.startswith("preuve attendue en échec (contrôles automatisés)") for s in french)
    assert "12 Prowler checks failing (EV-1)" in english
    assert "Prowler result of 3 November 2026 expired (EV-1)" in english
    one = rules.item_status(item(auto("partly", failed=1)), TODAY)
    with app.test_request_context(), force_locale("fr"):
        assert "1 contrôle Prowler en échec (EV-1)" in labels.gap_sentences(one, requirement, "fr")


# --- through the collection, the gaps and the pages ------------------------------------------------------------


def make_perimeter(app, users, code="iaas-p1"):
    from evidence.services import perimeters

    with app.app_context(), db.session_scope(app) as session:
        perimeters.create_perimeter(session, session.get(User, users["manager"].id), perimeters.PerimeterData(
            code=code, name="Socle P1", service_types=("IaaS",), framework_key="secnumcloud-3.2"))


def collect_first_scan(app, users, code="iaas-p1"):
    """The first Azure fixture collected for a SecNumCloud perimeter (made if need be) by the manager, then
    approved by another manager."""
    from evidence.collectors import prowler
    from evidence.services import collection
    from evidence.services import evidence as evidence_service
    from evidence.services import users as accounts

    with app.app_context(), db.session_scope(app) as session:
        if session.exec(select(Perimeter).where(Perimeter.code == code)).first() is None:
            make_perimeter(app, users, code)
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == code)).one()
        manager = session.get(User, users["manager"].id)
        grouped = prowler.group(prowler.read(FIRST))
        report = collection.record_collected(session, manager, perimeter, "prowler", grouped.report.source,
                                             grouped.collected, store=storage.get_store(app), today=TODAY)
        second = accounts.create_user(session, None, "second.manager@example.org", "Second", "manager", "x" * 16)
        for line in report.lines:
            evidence_service.review(session, second, evidence_service.get_evidence(session, line.ref), "approve")
        return {line.subject: line.ref for line in report.lines}


def collect_second_scan(app, users, code="iaas-p1"):
    """The second fixture (a week later) collected for the perimeter: every automated evidence gains a run."""
    from evidence.collectors import prowler
    from evidence.services import collection

    with app.app_context(), db.session_scope(app) as session:
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == code)).one()
        newer = prowler.group(prowler.read(SECOND))
        return collection.record_collected(session, session.get(User, users["manager"].id), perimeter, "prowler",
                                           newer.report.source, newer.collected, store=storage.get_store(app),
                                           today=TODAY)


def coverage_of(app, ref, code="iaas-p1", today=TODAY):
    from evidence.services import gaps

    with app.app_context(), db.session_scope(app) as session:
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == code)).one()
        row = next(r for r in gaps.compute(session, perimeter, today).rows if r.requirement.ref == ref)
        return row.status, {e.ref: e for e in row.evidence}


def test_a_fresh_passing_run_counts_and_stops_counting_when_its_ttl_passes(catalogue_loaded, users):
    refs = collect_first_scan(catalogue_loaded, users)
    status, lines = coverage_of(catalogue_loaded, "10.1.b")
    assert dict((e.id, (e.state, e.proofs)) for e in status.entries)["10.1.b#3"] == ("answered", (refs["10.1"],))
    assert lines[refs["10.1"]].is_proof and lines[refs["10.1"]].run.result == "passed"
    status, lines = coverage_of(catalogue_loaded, "10.1.b", today=RUN_DAY + timedelta(days=8))  # TTL 7 days
    assert dict((e.id, e.state) for e in status.entries)["10.1.b#3"] == "stale"
    assert "automated_stale" in status.reasons and not lines[refs["10.1"]].is_proof
    assert [(n.ref, n.run_on) for n in status.automated] == [(refs["10.1"], RUN_DAY)]


def test_a_failing_run_answers_nothing(catalogue_loaded, users):
    refs = collect_first_scan(catalogue_loaded, users)
    status, _lines = coverage_of(catalogue_loaded, "10.2.c")  # the web app's TLS 1.0 fails
    assert dict((e.id, e.state) for e in status.entries)["10.2.c#1"] == "failing"
    assert [(n.reason, n.ref, n.failed) for n in status.automated] == [("automated_failing", refs["10.2"], 1)]


@pytest.mark.sqlite_only
def test_the_item_and_gaps_pages_show_the_reason_in_words(catalogue_loaded, users, client, login_as):
    refs = collect_first_scan(catalogue_loaded, users)
    catalogue_loaded.config["TODAY"] = RUN_DAY + timedelta(days=10)
    login_as("manager")
    page = client.get("/requirements/secnumcloud-3.2/10.1.b").get_data(as_text=True)
    assert f"résultat Prowler du 3 novembre 2026 expiré ({refs['10.1']})" in page
    gaps_page = client.get("/perimeters/iaas-p1/gaps").get_data(as_text=True)
    assert f"1 contrôle Prowler en échec ({refs['10.2']})" in gaps_page
    catalogue_loaded.config["TODAY"] = TODAY
    fresh = client.get("/requirements/secnumcloud-3.2/10.1.b").get_data(as_text=True)
    assert "expiré (" not in fresh


def test_the_dossier_pins_the_current_run_and_words_the_notes(catalogue_loaded, users):
    """A newer run of approved automated evidence keeps the approval: the dossier cites that run's file."""
    from evidence.dossier import snapshot
    from evidence.dossier.view import DossierView

    refs = collect_first_scan(catalogue_loaded, users)
    collect_second_scan(catalogue_loaded, users)
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-p1")).one()
        evidence = session.exec(select(Evidence).where(Evidence.ref == refs["10.1"])).one()
        current = session.exec(select(EvidenceVersion).where(EvidenceVersion.evidence_id == evidence.id)
                               .order_by(EvidenceVersion.number.desc())).first()
        assert evidence.status == "approved" and current.number == 2 and current.approved_at is not None
        taken = snapshot.take_snapshot(session, perimeter, date(2026, 11, 12), {}, organisation="Test")
        cited = {e["ref"]: e for e in taken["evidence"]}
        assert (cited[refs["10.1"]]["version"], cited[refs["10.1"]]["sha256"]) == (2, current.sha256)
        stale = snapshot.take_snapshot(session, perimeter, date(2026, 11, 30), {}, organisation="Test")
    item = next(i for i in stale["items"] if i["ref"] == "10.1.b")
    assert item["automated"] == [{"reason": "automated_stale", "ref": refs["10.1"], "collector": "prowler",
                                  "run_on": "2026-11-10", "failed": 0}]
    with app.test_request_context(), force_locale("fr"):
        words = DossierView(stale, "fr").gaps(item)
    assert f"résultat Prowler du 10 novembre 2026 expiré ({refs['10.1']})" in words


@contextmanager
def counting(app):
    statements = []
    engine = db.get_engine(app)
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_the_gaps_read_the_runs_in_a_constant_number_of_queries(catalogue_loaded, users):
    """No query per automated evidence: the runs come in one query for the perimeter's evidence."""
    from evidence.services import gaps, status_cache

    def queries():
        status_cache.clear()  # computed whole each time, the referential's items read again too
        with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
            perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-p1")).one()
            with counting(catalogue_loaded) as statements:
                gaps.compute(session, perimeter, TODAY)
            return len(statements)

    make_perimeter(catalogue_loaded, users)
    none = queries()
    collect_first_scan(catalogue_loaded, users)  # eight automated evidence, each with its run
    assert queries() == none
    collect_second_scan(catalogue_loaded, users)  # and a second run each
    assert queries() == none
