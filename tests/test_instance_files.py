"""The instance's files are their owner's only, and no secret reaches the job queue (issue 16, finding 2: any
local account read evidence.db, jobs.db-wal and the rendered parts, took the secret key from a queued job and
forged an admin session)."""
from __future__ import annotations

import io
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import select

from evidence import catalogue, create_app, jobs
from evidence.data import database as db
from evidence.data import instance_files, storage
from evidence.data.models import Dossier, User
from evidence.services import controls, perimeters
from evidence.services import evidence as evidence_items

from .conftest import PASSWORD, TINY_CATALOGUE, create_role_users, csrf_token, login

pytestmark = pytest.mark.sqlite_only  # file modes and a queue's bytes: nothing here is SQL


@dataclass
class InstanceInUse:
    app: object
    instance: Path
    queued: bytes  # jobs.db and its -wal as they were on disk with the job waiting
    queued_args: tuple
    dossier_status: str


def put_back_immediate_jobs(root: Path) -> None:
    """One huey per process, pointed at the last app's queue: the other tests' apps expect immediate jobs."""
    again = create_app({"INSTANCE_PATH": str(root / "other"), "JOBS_IMMEDIATE": True})
    db.get_engine(again).dispose()
    assert jobs.huey.immediate


def tiny_perimeter(session):
    """conftest's tiny perimeter beside the product's catalogues (which `evidence init` loads), without its
    mapping: a small dossier to render, and a control for the evidence."""
    catalogue.load_catalogues(session, [TINY_CATALOGUE], "cli:test")
    users = create_role_users(session)
    manager, contributor = (session.get(User, users[role].id) for role in ("manager", "contributor"))
    perimeter = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
        code="iaas-t", name="Socle test", service_types=("IaaS",), framework_key="tiny-1.0"))
    control = controls.create_control(session, contributor, controls.ControlData(
        ref="CTL-AV-01", title="EDR", status="implemented", perimeter_ids=[perimeter.id]))
    return contributor, control


@pytest.fixture(scope="module")
def instance_in_use(tmp_path_factory):
    """An instance as a new process makes it from a shell's umask (022): `evidence init`, evidence uploaded, a
    dossier asked for in the web and waiting in jobs.db (read raw there), then rendered by a consumer."""
    root = tmp_path_factory.mktemp("private")
    instance = root / "instance"
    previous = os.umask(0o022)
    try:
        # Everything in the instance folder: the default database, queue, key, store and part cache.
        app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True, "JOBS_IMMEDIATE": False,
                          "MFA_REQUIRED_ROLES": ()})  # passwords alone, as in the rest of the suite
        assert not jobs.huey.immediate
        result = app.test_cli_runner().invoke(args=["init", "--admin-email", "boss@example.org",
                                                    "--admin-password", PASSWORD])
        assert result.exit_code == 0, result.output
        assert "Warning" not in result.output  # init looked at every file it made: none readable by others
        with app.app_context(), db.session_scope(app) as session:
            contributor, control = tiny_perimeter(session)
            evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
                title="EDR", kind="report", control_ids=[control.id]),
                store=storage.get_store(app), upload=io.BytesIO(b"poste;edr\n"), filename="edr.csv")
        client = app.test_client()
        assert login(client, "manager@example.org").status_code == 302
        token = csrf_token(client, "/dossiers/")
        asked = client.post("/dossiers/", data={"csrf_token": token, "perimeter": "iaas-t", "language": "fr"})
        assert asked.status_code == 302
        assert jobs.huey.pending_count() == 1
        queue = Path(app.config["HUEY_DB"])
        queued = b"".join(path.read_bytes() for path in (queue, queue.with_name(queue.name + "-wal")) if path.exists())
        task = jobs.huey.dequeue()
        args = task.args
        jobs.huey.execute(task)  # what `evidence worker` does with it, outside any request
        with app.app_context(), db.session_scope(app) as session:
            status = session.exec(select(Dossier)).one().status
        yield InstanceInUse(app, instance, queued, args, status)
        db.get_engine(app).dispose()
    finally:
        os.umask(previous)
        put_back_immediate_jobs(root)


def test_no_secret_or_connection_string_reaches_the_queue(instance_in_use):
    app, queued = instance_in_use.app, instance_in_use.queued
    assert len(queued) > 0
    assert app.config["SECRET_KEY"].encode() not in queued
    assert app.config["DATABASE_URL"].encode() not in queued and b"sqlite:" not in queued
    assert b"SECRET_KEY" not in queued and b"DATABASE_URL" not in queued
    assert len(instance_in_use.queued_args) == 1 and isinstance(instance_in_use.queued_args[0], int)  # the id only


def test_the_consumer_renders_with_its_own_settings(instance_in_use):
    assert instance_in_use.dossier_status == "draft"


def test_every_file_under_the_instance_is_its_owners_only(instance_in_use):
    instance = instance_in_use.instance
    seen = {"blobs": 0, "dossier-cache": 0}
    loose = []
    for folder, folders, files in os.walk(instance):
        for name in folders + files:
            path = Path(folder) / name
            mode = stat.S_IMODE(path.lstat().st_mode)
            if path.is_dir():
                expected = (0o700,)
            elif path.parent.name != "tmp" and "blobs" in path.relative_to(instance).parts:
                expected = (0o400,)  # read-only as well
            else:
                expected = (0o600,)
            if mode not in expected:
                loose.append(f"{path.relative_to(instance)} {mode:04o}")
            top = path.relative_to(instance).parts[0]
            if top in seen and path.is_file():
                seen[top] += 1
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert loose == []
    names = {p.name for p in instance.iterdir()}
    assert {"evidence.db", "jobs.db", "secret_key", "blobs", "dossier-cache"} <= names
    assert seen["blobs"] >= 2 and seen["dossier-cache"] >= 1  # the evidence and the dossier; its parts


def test_an_exposed_instance_is_named_at_start_and_fixed_by_init(catalogue_loaded, caplog):
    instance = Path(catalogue_loaded.instance_path)
    instance.chmod(0o755)  # as an older version, or a shell's umask, left it
    config = instance / "config.py"
    config.write_text('ORGANISATION = "Nuage Souverain SAS"\n')
    config.chmod(0o644)
    instance_files.warned.clear()  # this worker may have warned of the same folder at the same mode already
    with caplog.at_level(logging.WARNING):
        app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": catalogue_loaded.config["DATABASE_URL"],
                          "TESTING": True})
    assert f"folder {instance} is readable by group or others (mode 0755)" in caplog.text
    assert f"file {config} is readable by group or others (mode 0644)" in caplog.text
    assert "evidence init --fix-permissions" in caplog.text
    try:
        runner = app.test_cli_runner()
        warned = runner.invoke(args=["init", "--admin-email", "boss@example.org", "--admin-password", PASSWORD])
        assert warned.exit_code == 0, warned.output
        assert f"Warning: folder {instance} is readable by group or others (mode 0755)" in warned.stderr
        assert f"Warning: file {config} is readable by group or others (mode 0644)" in warned.stderr
        assert stat.S_IMODE(instance.stat().st_mode) == 0o755  # told, not changed unasked

        fixed = runner.invoke(args=["init", "--fix-permissions"])
        assert fixed.exit_code == 0, fixed.output
        assert "Permissions: 2 files and folders made private to their owner." in fixed.output
        assert "Warning" not in fixed.stderr
        assert stat.S_IMODE(instance.stat().st_mode) == 0o700 and stat.S_IMODE(config.stat().st_mode) == 0o600
    finally:
        db.get_engine(app).dispose()
