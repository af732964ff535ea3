"""The e-mail digest, sent by the job queue's periodic task to a local SMTP server: one mail per user with what is
new or due, in the user's language, none to those who opted out, and nothing twice."""
from __future__ import annotations

import email
import email.policy
import io
import socket
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from huey.consumer import Scheduler, Worker
from sqlmodel import select

from evidence import create_app, jobs
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Control, User
from evidence.services import evidence as evidence_items

from .conftest import create_role_users, csrf_token, login, make_app, seed_tiny_perimeter

DAY = date(2026, 6, 15)
HOUR = 6


class Mailbox:
    """aiosmtpd's handler: every message it is handed, decoded."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((envelope.rcpt_tos[0], message["Subject"], message.get_content()))
        return "250 OK"

    def to(self, address) -> list[tuple[str, str]]:
        return [(subject, body) for rcpt, subject, body in self.received if rcpt == address]


@pytest.fixture
def mailbox():
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port
    yield box
    controller.stop()


@pytest.fixture
def queued_app(tmp_path, database_url, mailbox, monkeypatch):
    """An app on a real queue (not immediate jobs), mailing to the local server; afterwards huey is pointed back
    at immediate jobs, as the other tests' apps expect (one huey per process: the last app created chooses)."""
    monkeypatch.delenv("EVIDENCE_JOBS_IMMEDIATE", raising=False)
    app = make_app(tmp_path / "instance", database_url, JOBS_IMMEDIATE=False, HUEY_DB=tmp_path / "jobs.db",
                   SMTP_HOST="127.0.0.1", SMTP_PORT=mailbox.port, SMTP_FROM="conformite@example.org",
                   TODAY=DAY, DIGEST_HOUR=HOUR)
    assert not jobs.huey.immediate
    yield app
    db.get_engine(app).dispose()
    monkeypatch.setenv("EVIDENCE_JOBS_IMMEDIATE", "1")
    jobs.consuming = False  # test_serve_runs_the_periodic_tasks built a consumer; none reads the queue
    again = create_app({"INSTANCE_PATH": str(tmp_path / "other")})
    db.get_engine(again).dispose()
    assert jobs.huey.immediate


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    """The naive UTC timestamp huey's scheduler passes for that local time."""
    return datetime(day.year, day.month, day.day, hour, minute).astimezone().astimezone(timezone.utc).replace(tzinfo=None)


def run_the_queue(moment: datetime) -> list[str]:
    """What the consumer does at that minute: its scheduler enqueues the periodic tasks that are due, its worker
    runs what is queued. Returns the names of the tasks enqueued."""
    stop = threading.Event()
    before = jobs.huey.pending_count()
    Scheduler(jobs.huey, stop, interval=1, periodic=True).enqueue_periodic_tasks(moment)
    names = [task.name for task in jobs.huey.pending()][before:]
    worker = Worker(jobs.huey, stop, default_delay=0.01, max_delay=0.01, backoff=1)
    while jobs.huey.pending_count():
        worker.loop(moment)
    return names


def user(session, email_address) -> User:
    return session.exec(select(User).where(User.email == email_address)).one()


def add_evidence(app, session, author, title, **fields):
    control = session.exec(select(Control).where(Control.ref == "CTL-AV-01")).one()
    return evidence_items.create_evidence(session, author, evidence_items.EvidenceData(
        title=title, kind="report", control_ids=[control.id], **fields),
        store=storage.get_store(app), upload=io.BytesIO(title.encode()), filename="f.csv")


@pytest.fixture
def office(queued_app):
    """A review waiting on the managers, the contributor's evidence expiring, the manager reading English and
    the admin opted out of the digest."""
    app = queued_app
    with app.app_context(), db.session_scope(app) as session:
        users = create_role_users(session)
        seed_tiny_perimeter(session, users)
        contributor, manager, admin = (user(session, f"{r}@example.org") for r in ("contributor", "manager", "admin"))
        manager.locale = "en"
        admin.digest = False
        session.add_all([manager, admin])
        session.commit()
        review = add_evidence(app, session, contributor, "Revue des accès")
        evidence_items.review(session, contributor, review, "submit")
        add_evidence(app, session, contributor, "Certificat TLS", valid_until=DAY + timedelta(days=12))
        return app, review.ref


def test_the_periodic_job_mails_each_user_in_their_language(office, mailbox):
    app, ref = office
    assert run_the_queue(at_local(DAY, HOUR + 1)) == []  # not the digest's hour: nothing is enqueued
    assert run_the_queue(at_local(DAY, HOUR, 30)) == []  # once, at the top of the hour
    assert run_the_queue(at_local(DAY, HOUR)) == ["send_digests"]

    assert sorted(r for r, _s, _b in mailbox.received) == ["contributor@example.org", "manager@example.org"]
    [(subject, body)] = mailbox.to("manager@example.org")
    assert subject == "[SecNumCloud evidence] Your digest of 15 June 2026"
    assert f"Contributor asks for a review of {ref} “Revue des accès”" in body and "Bonjour" not in body
    [(subject, body)] = mailbox.to("contributor@example.org")
    assert subject == "[Preuves SecNumCloud] Votre récapitulatif du 15 juin 2026"
    assert "Bonjour Contributor," in body and "« Certificat TLS » expire le 27 juin 2026" in body
    assert mailbox.to("admin@example.org") == []  # opted out
    assert mailbox.to("auditor@example.org") == []  # nothing concerns them

    # A second run reports nothing twice: no mail at all.
    assert run_the_queue(at_local(DAY, HOUR)) == ["send_digests"]
    assert len(mailbox.received) == 2

    # The next day, only what is new: the verdict, not the review nor the expiry already told.
    app.config["TODAY"] = DAY + timedelta(days=1)
    with app.app_context(), db.session_scope(app) as session:
        evidence = evidence_items.get_evidence(session, ref)
        evidence_items.review(session, user(session, "manager@example.org"), evidence, "reject", comment="Incomplète")
    run_the_queue(at_local(DAY + timedelta(days=1), HOUR))
    assert len(mailbox.received) == 3
    [_first, (subject, body)] = mailbox.to("contributor@example.org")
    assert "Manager a rejeté" in body and "Incomplète" in body and "Certificat TLS" not in body


def test_weekly_and_never(office, mailbox):
    app, _ref = office
    monday = DAY  # 15 June 2026 is a Monday
    app.config["DIGEST_CADENCE"] = "weekly"
    assert run_the_queue(at_local(monday + timedelta(days=1), HOUR)) == []
    assert run_the_queue(at_local(monday, HOUR)) == ["send_digests"]
    app.config["DIGEST_CADENCE"] = "never"
    assert run_the_queue(at_local(monday, HOUR)) == []


def test_serve_runs_the_periodic_tasks(office, monkeypatch):
    from huey.consumer import Consumer

    monkeypatch.setattr(Consumer, "start", lambda self: None)  # its threads are not needed to see how it is built
    assert jobs.start_consumer().periodic is True


def test_opting_out_on_the_account_page_and_the_command(office, mailbox):
    app, _ref = office
    client = app.test_client()
    login(client, "contributor@example.org")
    page = client.get("/account").get_data(as_text=True)
    assert 'name="digest"' in page and "checked" in page and "chaque jour à 6 h" in page
    token = csrf_token(client, "/account")
    assert client.post("/account", data={"csrf_token": token}).status_code == 302  # unticked
    with app.app_context(), db.session_scope(app) as session:
        assert user(session, "contributor@example.org").digest is False

    result = app.test_cli_runner().invoke(args=["digest", "send"])
    assert result.exit_code == 0, result.output
    assert "1 digest(s) sent" in result.output and "2 opted out" in result.output
    assert [r for r, _s, _b in mailbox.received] == ["manager@example.org"]
    again = app.test_cli_runner().invoke(args=["digest", "send"])
    assert "0 digest(s) sent" in again.output and len(mailbox.received) == 1


def test_without_a_mail_server_the_command_says_so(app, users):
    result = app.test_cli_runner().invoke(args=["digest", "send"])
    assert result.exit_code == 1 and "EVIDENCE_SMTP_HOST" in result.output
