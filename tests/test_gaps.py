"""Gap tracking on real data: the dashboard, the gap list, the matrix and `evidence gaps` agree; readiness
moves when evidence is approved or expires (with a fixed clock)."""
import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import Evidence, ReadinessSnapshot, User
from evidence.services import evidence as evidence_items
from evidence.services import gaps
from evidence.services import users as auth
from evidence.services.perimeters import get_perimeter

from .conftest import DEMO_DAY, csrf_token, login

DAY = DEMO_DAY


@pytest.fixture
def demo_app(demo_loaded):
    """The demo provider (copied from a session template, see conftest), on the day its dates start from."""
    demo_loaded.config["TODAY"] = DAY
    return demo_loaded


def test_dashboard_gap_list_matrix_and_command_agree(demo_app):
    app = demo_app
    with app.app_context(), db.session_scope(app) as session:
        result = gaps.compute(session, get_perimeter(session, "iaas-fr1"), DAY)
    readiness = result.readiness
    gap_refs = {row.requirement.ref for row in result.gaps()}
    # 278 items − 17 recommendations − 7 exigences not applicable (6 by service type, 14.7.b by a justified decision)
    assert 0 < readiness.covered < readiness.applicable == 254
    assert {"entry_missing", "control_not_implemented", "evidence_expired", "evidence_not_approved"} <= {
        reason for row in result.gaps() for reason in row.status.reasons
    }
    assert all(row.requirement.kind == "exigence" for row in result.gaps())  # recommendations are never gaps

    # The command line: exit 1 while gaps remain, and the same figures.
    command = app.test_cli_runner().invoke(args=["gaps", "iaas-fr1", "--format", "json"])
    assert command.exit_code == 1
    payload = json.loads(command.output)
    assert payload["readiness"] == {"covered": readiness.covered, "applicable": readiness.applicable,
                                    "percent": readiness.percent}
    assert {g["ref"] for g in payload["gaps"]} == gap_refs
    assert {g["ref"] for g in payload["recommendations_not_followed"]} == {
        row.requirement.ref for row in result.recommendations_not_followed()}

    client = app.test_client()
    login(client, "helene.dubois@nuage-souverain.example")  # the auditor reads it all
    page = client.get("/perimeters/iaas-fr1/dashboard").get_data(as_text=True)
    assert f"{readiness.percent} %" in page and f"{readiness.covered} exigences couvertes sur {readiness.applicable}" in page
    listing = client.get("/perimeters/iaas-fr1/gaps").get_data(as_text=True)
    assert f"{len(gap_refs)} écarts" in listing
    assert all(f'<span class="ref">{ref}</span>' in listing for ref in gap_refs)

    rows = list(csv.reader(io.StringIO(client.get("/perimeters/iaas-fr1/matrix.csv").get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == 279
    statuses = {row[0]: row[6] for row in rows[1:]}
    assert {ref for ref, status in statuses.items() if status in ("Non couvert", "Partiellement couvert")} == gap_refs
    assert sum(1 for row in rows[1:] if row[2] == "exigence" and row[6] == "Couvert") == readiness.covered
    assert {row[6] for row in rows[1:] if row[2] == "recommandation"} <= {"Suivie", "Non suivie", "Non applicable"}

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(client.get("/perimeters/iaas-fr1/matrix.xlsx").data)).active
    assert sheet.freeze_panes == "B2" and sheet.auto_filter.ref.startswith("A1:")
    assert [c.value for c in sheet[1]] == ["Point", "Chapitre", "Nature", "Intitulé", "Applicabilité", "Justification",
                                           "Couverture", "Ce qui manque", "Mesures", "Preuves attendues",
                                           "Preuves citées", "Écarts ouverts"]
    assert sheet.max_row == 279


def _readiness(app, day):
    with app.app_context(), db.session_scope(app) as session:
        return gaps.compute(session, get_perimeter(session, "iaas-fr1"), day).readiness.covered


def test_readiness_moves_when_evidence_is_approved_or_expires(demo_app):
    app = demo_app
    with app.app_context(), db.session_scope(app) as session:
        result = gaps.compute(session, get_perimeter(session, "iaas-fr1"), DAY)
        # An exigence whose only gap is an entry answered by evidence still in review: approving it covers the item.
        row, waiting = next(
            (r, e) for r in result.exigences() for e in r.evidence
            if r.status.reasons == ("evidence_not_approved",) and e.status == "in_review"
            and {entry.id for entry in r.status.unanswered} <= set(e.answers))
        evidence = session.exec(select(Evidence).where(Evidence.ref == waiting.ref)).one()
        evidence.valid_until = DAY + timedelta(days=100)
        session.add(evidence)
        session.commit()
        owner_id = evidence.owner_id
        reviewer = session.exec(select(User).where(User.role == "manager", User.id != owner_id,
                                                   User.email.like("%nuage-souverain%"))).first()
    before = _readiness(app, DAY)
    with app.app_context(), db.session_scope(app) as session:
        evidence_items.review(session, session.get(User, reviewer.id), session.get(Evidence, evidence.id), "approve")
    assert _readiness(app, DAY) > before
    # The same data a year later: evidence has run out, readiness falls.
    assert _readiness(app, DAY + timedelta(days=400)) < _readiness(app, DAY)


def test_verdict_and_major_finding(demo_app):
    app = demo_app
    client = app.test_client()
    login(client, "claire.fontaine@nuage-souverain.example")
    with app.app_context(), db.session_scope(app) as session:
        result = gaps.compute(session, get_perimeter(session, "iaas-fr1"), DAY)
        gap = next(r for r in result.gaps() if r.requirement.kind == "exigence").requirement.ref
        covered = next(r for r in result.rows if r.status.status == "covered").requirement.ref
    token = csrf_token(client, f"/perimeters/iaas-fr1/verdict/{gap}")
    page = client.post(f"/perimeters/iaas-fr1/verdict/{gap}", data={"csrf_token": token, "status": "covered",
                                                                   "justification": ""}).get_data(as_text=True)
    assert "un verdict doit être justifié" in page
    before = _readiness(app, DAY)
    client.post(f"/perimeters/iaas-fr1/verdict/{gap}", data={"csrf_token": token, "status": "covered",
                                                            "justification": "Couvert par le contrat d'hébergement"})
    assert _readiness(app, DAY) == before + 1
    client.post("/perimeters/iaas-fr1/findings", data={"csrf_token": token, "severity": "major", "requirement": covered,
                                                       "text": "Écart relevé par le CESTI", "status": "open"})
    assert _readiness(app, DAY) == before
    page = client.get("/perimeters/iaas-fr1/gaps?reason=open_finding").get_data(as_text=True)
    assert f'<span class="ref">{covered}</span>' in page


def test_trend_is_recorded_daily(demo_app):
    app = demo_app
    client = app.test_client()
    login(client, "claire.fontaine@nuage-souverain.example")
    client.get("/perimeters/iaas-fr1/dashboard")
    app.config["TODAY"] = DAY + timedelta(days=1)
    client.get("/perimeters/iaas-fr1/dashboard")
    client.get("/perimeters/iaas-fr1/dashboard")
    with app.app_context(), db.session_scope(app) as session:
        trend = gaps.trend(session, get_perimeter(session, "iaas-fr1"))
    assert [s.taken_on for s in trend] == [DAY, DAY + timedelta(days=1)]


def test_two_dashboards_recording_the_day_at_once_both_succeed(demo_app):
    """A second worker records the day's first figures between this one's read and its write (seen under load:
    the second insert failed on the day's unique row, a 500 for a dashboard view)."""
    app = demo_app
    engine = db.get_engine(app)
    with app.app_context(), db.session_scope(app) as session:
        result = gaps.compute(session, get_perimeter(session, "iaas-fr1"), DAY)
        table = ReadinessSnapshot.__table__

        came = []

        def the_other_worker_first(_conn, _cursor, statement, *_args):
            if statement.lstrip().upper().startswith("INSERT INTO READINESS_SNAPSHOT") and not came:
                came.append(True)
                with engine.begin() as other:
                    other.execute(table.insert().values(perimeter_id=result.perimeter.id, taken_on=DAY, covered=0,
                                                        partly_covered=0, not_covered=0, applicable=0, chapters={}))

        event.listen(engine, "before_cursor_execute", the_other_worker_first)
        try:
            gaps.record_snapshot(session, result)
        finally:
            event.remove(engine, "before_cursor_execute", the_other_worker_first)
        assert came  # the other worker did come first
        [snapshot] = gaps.trend(session, result.perimeter)
        assert (snapshot.taken_on, snapshot.covered) == (DAY, result.readiness.covered)  # the latest wins


def test_actions_and_findings_permissions(demo_app):
    app = demo_app
    manager, contributor, auditor = app.test_client(), app.test_client(), app.test_client()
    login(manager, "claire.fontaine@nuage-souverain.example")
    login(contributor, "sophie.lambert@nuage-souverain.example")
    login(auditor, "helene.dubois@nuage-souverain.example")
    with app.app_context(), db.session_scope(app) as session:
        sophie = auth.find_user(session, "sophie.lambert@nuage-souverain.example")
    token = csrf_token(manager, "/perimeters/iaas-fr1/actions")
    manager.post("/perimeters/iaas-fr1/actions", data={"csrf_token": token, "title": "Renouveler le PCA", "owner": str(sophie.id),
                                                       "due_date": (DAY - timedelta(days=3)).isoformat(), "status": "open",
                                                       "requirements": "17.1.a"})
    page = auditor.get("/perimeters/iaas-fr1/actions").get_data(as_text=True)
    assert "Renouveler le PCA" in page and "en retard" in page and "Nouvelle action" not in page
    token = csrf_token(auditor, "/perimeters/iaas-fr1/actions")
    assert auditor.post("/perimeters/iaas-fr1/actions", data={"csrf_token": token, "title": "x"}).status_code == 403
    assert auditor.post("/perimeters/iaas-fr1/findings", data={"csrf_token": token, "text": "x"}).status_code == 403
    # The owner reports progress, and only that.
    token = csrf_token(contributor, "/perimeters/iaas-fr1/actions/1")
    contributor.post("/perimeters/iaas-fr1/actions/1", data={"csrf_token": token, "status": "done", "title": "Hacked"})
    page = manager.get("/perimeters/iaas-fr1/actions").get_data(as_text=True)
    assert "Renouveler le PCA" in page and "Hacked" not in page and "Terminée" in page
    reminders = app.test_cli_runner().invoke(args=["reminders", "--days", "30"])
    assert reminders.exit_code == 0 and "expired" in reminders.output


def test_reminders_are_mailed_to_each_owner(demo_app):
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            received.append((envelope.rcpt_tos, message.get_content()))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        demo_app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="conformite@nuage-souverain.example")
        result = demo_app.test_cli_runner().invoke(args=["reminders", "--send"])
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    sent = int(result.output.strip().splitlines()[-1].split()[0])
    assert sent == len(received) > 0
    recipients = [r[0][0] for r in received]
    assert len(set(recipients)) == len(recipients)  # one mail per owner
    assert any("Preuves expirées" in body for _to, body in received)


def test_reminders_without_smtp_is_a_clear_error(demo_app):
    result = demo_app.test_cli_runner().invoke(args=["reminders", "--send"])
    assert result.exit_code == 1 and "EVIDENCE_SMTP_HOST" in result.output


def test_export_matrix_command(demo_app, tmp_path):
    runner = demo_app.test_cli_runner()
    assert runner.invoke(args=["export", "matrix", "saas-collab", "-o", str(tmp_path / "m.xlsx")]).exit_code == 0
    assert (tmp_path / "m.xlsx").stat().st_size > 5000
    result = runner.invoke(args=["export", "matrix", "saas-collab", "-o", str(tmp_path / "m.pdf")])
    assert result.exit_code == 1 and "written as .xlsx or .csv" in result.output and not (tmp_path / "m.pdf").exists()


def test_each_test_writes_to_its_own_copy_of_the_demo(demo_app, seeded_templates, request):
    """The demo comes from a session template (see conftest): what a test writes, rows or blobs, stays in its copy."""
    from evidence.data import storage

    from .conftest import PASSWORD, pg_url_for

    kind = request.node.callspec.params["database_url"]
    template = seeded_templates.get(kind, ("catalogue", "users", "demo"))
    store = storage.get_store(demo_app)
    key = next(store.keys())
    copied, original = store.root / key, template.instance / "blobs" / key
    assert copied.stat().st_mode == original.stat().st_mode  # read-only, as the store left it
    assert not copied.samefile(original)
    copied.chmod(0o640)
    copied.write_bytes(b"tampered")
    with demo_app.app_context(), db.session_scope(demo_app) as session:
        auth.create_user(session, None, "intruder@example.org", "Intruder", "admin", PASSWORD)

    assert original.read_bytes() != b"tampered"
    engine = db.make_engine(f"sqlite:///{template.sqlite_path}" if kind == "sqlite" else pg_url_for(template.pg_name))
    try:
        with engine.connect() as conn:
            assert conn.execute(select(User.id).where(User.email == "intruder@example.org")).first() is None
            assert conn.execute(select(User.id).where(User.email.like("%@nuage-souverain.example"))).first()
    finally:
        engine.dispose()
