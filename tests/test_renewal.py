"""Recurring evidence: the cadence rule at its bounds, and the renewal task in the inbox and the gap list before
the evidence expires; the cadence comes through the form and the import alike."""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from evidence.core import rules
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Control, Evidence, User
from evidence.services import evidence as evidence_items
from evidence.services import notifications

from .conftest import login, seed_tiny_perimeter

DAY = date(2026, 6, 15)


# --- the rule ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day, months, expected", [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),  # a shorter month: its last day, never into March
    (date(2028, 1, 31), 1, date(2028, 2, 29)),  # a leap year
    (date(2028, 2, 29), 12, date(2029, 2, 28)),
    (date(2026, 11, 30), 3, date(2027, 2, 28)),  # across the year
    (date(2026, 12, 15), 1, date(2027, 1, 15)),
    (date(2026, 8, 31), 6, date(2027, 2, 28)),
    (date(2026, 3, 15), 12, date(2027, 3, 15)),
])
def test_months_are_added_without_skipping_a_month(day, months, expected):
    assert rules.add_months(day, months) == expected


def test_the_cadence_counts_from_the_later_of_effective_date_and_approval():
    effective, approved = date(2026, 1, 10), date(2026, 1, 25)
    assert rules.next_renewal("quarterly", effective, None) == date(2026, 4, 10)
    assert rules.next_renewal("quarterly", None, approved) == date(2026, 4, 25)
    assert rules.next_renewal("quarterly", effective, approved) == date(2026, 4, 25)
    assert rules.next_renewal("quarterly", date(2026, 2, 1), approved) == date(2026, 5, 1)
    assert rules.next_renewal("", effective, approved) is None  # not recurring
    assert rules.next_renewal("yearly", None, None) is None  # never in force: nothing to count from
    assert [rules.next_renewal(c, effective, None) for c in ("monthly", "quarterly", "half_yearly", "yearly")] == [
        date(2026, 2, 10), date(2026, 4, 10), date(2026, 7, 10), date(2027, 1, 10)]
    with pytest.raises(ValueError):
        rules.next_renewal("weekly", effective, None)


@pytest.mark.parametrize("cadence, lead", sorted(rules.RENEWAL_LEAD_DAYS.items()))
def test_the_task_opens_its_lead_time_before_the_due_date(cadence, lead):
    effective = date(2026, 1, 31)
    due = rules.next_renewal(cadence, effective, None)
    assert rules.renewal_due(cadence, effective, None, due - timedelta(days=lead + 1)) is None
    opened = rules.renewal_due(cadence, effective, None, due - timedelta(days=lead))
    assert opened == rules.Renewal(cadence, due, due - timedelta(days=lead))
    assert not opened.overdue(due)  # the due day itself is on time
    assert opened.overdue(due + timedelta(days=1))
    assert rules.renewal_due(cadence, effective, None, due + timedelta(days=400)) is not None  # late stays due
    assert rules.renewal_due("", effective, None, due) is None


# --- the task ----------------------------------------------------------------------------------------------


@pytest.fixture
def recurring(app, users):
    """A quarterly access review owned by the contributor, approved, effective 80 days ago and valid for a year."""
    app.config["TODAY"] = DAY
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        review = evidence_items.create_evidence(session, tiny.contributor, evidence_items.EvidenceData(
            title="Revue des accès", kind="record", control_ids=[tiny.control.id], renewal="quarterly",
            effective_date=DAY - timedelta(days=80), valid_until=DAY + timedelta(days=285)),
            store=storage.get_store(app), upload=io.BytesIO(b"revue T1"), filename="revue.csv")
        evidence_items.review(session, tiny.contributor, review, "submit")
        evidence_items.review(session, tiny.manager, review, "approve")
        approved_on(session, review, DAY - timedelta(days=80))
    return app, review.ref


def approved_on(session, evidence, day: date) -> None:
    """Date the current version's approval: approvals are stamped with the real clock, the tests' today is fixed."""
    version = evidence_items.current_version(session, evidence)
    version.approved_at = datetime(day.year, day.month, day.day, 9, 0, tzinfo=timezone.utc)
    session.add(version)
    session.commit()


def contributor(session) -> User:
    return session.exec(select(User).where(User.email == "contributor@example.org")).one()


def test_the_renewal_task_comes_before_expiry_in_the_inbox(recurring):
    app, ref = recurring
    with app.app_context(), db.session_scope(app) as session:
        owner = contributor(session)
        due = rules.add_months(DAY - timedelta(days=80), 3)  # 2026-06-27, 12 days ahead
        tasks = notifications.tasks(session, owner, DAY)
        assert [(t.kind, t.object_id, t.on) for t in tasks] == [("renewal_due", ref, due)]  # far from expiring
        manager = session.exec(select(User).where(User.email == "manager@example.org")).one()
        assert notifications.tasks(session, manager, DAY) == []  # the owner's, nobody else's
        assert notifications.tasks(session, owner, DAY - timedelta(days=5)) == []  # not within 15 days yet


def test_the_gap_list_shows_what_is_due_and_renewing_clears_it(recurring, client):
    app, ref = recurring
    login(client, "auditor@example.org")  # a reader sees it too
    page = client.get("/perimeters/iaas-t/gaps").get_data(as_text=True)
    section = page.split('id="renewals"', 1)[1]
    assert ref in section and "Revue des accès" in section and "trimestriel" in section
    assert "27 juin 2026" in section and "Contributor" in section  # 27 March + 3 months

    with app.app_context(), db.session_scope(app) as session:
        evidence = session.exec(select(Evidence).where(Evidence.ref == ref)).one()
        owner = contributor(session)
        manager = session.exec(select(User).where(User.email == "manager@example.org")).one()
        evidence_items.add_version(session, owner, evidence, store=storage.get_store(app),
                                   upload=io.BytesIO(b"revue T2"), filename="revue-t2.csv")
        evidence_items.review(session, owner, evidence, "submit")
        evidence_items.review(session, manager, evidence, "approve")
        approved_on(session, evidence, DAY)  # renewed today: next due in three months
        assert notifications.tasks(session, owner, DAY) == []
    page = client.get("/perimeters/iaas-t/gaps").get_data(as_text=True)
    assert ref not in page.split('id="renewals"', 1)[1]


def test_the_cadence_is_set_on_the_form_and_shown_on_the_evidence(recurring, client):
    app, ref = recurring
    login(client, "contributor@example.org")
    form = client.get(f"/evidence/{ref}/edit").get_data(as_text=True)
    assert re.search(r'<option selected value="quarterly">trimestriel</option>', form)
    shown = client.get(f"/evidence/{ref}").get_data(as_text=True)
    assert "Renouvellement" in shown and "trimestriel" in shown and "prochain le 27 juin 2026" in shown
    with app.app_context(), db.session_scope(app) as session:
        control = session.exec(select(Control)).first()
        with pytest.raises(evidence_items.EvidenceInvalid) as refused:
            evidence_items.create_evidence(session, contributor(session), evidence_items.EvidenceData(
                title="Test", control_ids=[control.id], renewal="weekly"), url="https://x.example/")
        assert [p.field for p in refused.value.problems] == ["renewal"]


def test_the_import_takes_a_renewal_column(recurring, tmp_path):
    app, _ref = recurring
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "pra.pdf").write_bytes(b"%PDF test de restauration")
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,title,controls,perimeters,renewal,effective_date\n"
                        "pra.pdf,Test de restauration,CTL-AV-01,iaas-t,half_yearly,2026-01-10\n"
                        "pra.pdf,Autre,CTL-AV-01,iaas-t,weekly,2026-01-10\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["import", str(manifest), "--root", str(tmp_path / "files"),
                                                "--as", "manager@example.org"])
    assert result.exit_code == 1 and "renewal" in result.output  # the bad row names its column
    with app.app_context(), db.session_scope(app) as session:
        imported = session.exec(select(Evidence).where(Evidence.title == "Test de restauration")).one()
        assert imported.renewal == "half_yearly"
        assert session.exec(select(Evidence).where(Evidence.title == "Autre")).first() is None
