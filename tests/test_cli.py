"""The command line: happy paths and one-line errors.

Most tests run `evidence …` in this process with click's runner, as the script would (a new app per command, the
same environment variables): a new interpreter costs seconds of imports per command. The `script` fixture runs
the installed `evidence` script itself, for what only a real process shows (main's last line of defence).
"""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from evidence import create_app
from evidence.cli import cli
from evidence.data import database as db

from .conftest import PASSWORD, make_app

EVIDENCE = str(Path(sys.executable).with_name("evidence"))


def _environment(tmp_path, database_url, env):
    return {"EVIDENCE_INSTANCE": str(tmp_path / "instance"), "EVIDENCE_DATABASE_URL": database_url,
            "EVIDENCE_DEBUG": None, **(env or {})}


class StderrLog(logging.Handler):
    """Warnings on stderr, as a process shows them (Flask's handler, logging's last resort); under pytest the
    records would otherwise go to its capture alone, out of the one-line checks."""

    def emit(self, record):
        sys.stderr.write(self.format(record) + "\n")


@pytest.fixture
def run(tmp_path, blank_database_url, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def _run(*args, input=None, env=None):
        apps = []

        def load():
            apps.append(create_app())
            return apps[-1]

        # FlaskGroup sets FLASK_RUN_FROM_CLI for its process: None makes the runner put it back as it was.
        environ = {**_environment(tmp_path, blank_database_url, env), "FLASK_RUN_FROM_CLI": None}
        info = ScriptInfo(create_app=load, set_debug_flag=cli.set_debug_flag, load_dotenv_defaults=cli.load_dotenv)
        log = StderrLog(logging.WARNING)
        logging.getLogger().addHandler(log)
        try:
            result = CliRunner().invoke(cli, list(args), input=input, env=environ, prog_name="evidence",
                                        catch_exceptions=False, obj=info)
        finally:
            logging.getLogger().removeHandler(log)
            for app in apps:
                db.get_engine(app).dispose()
        return subprocess.CompletedProcess(["evidence", *args], result.exit_code, result.stdout, result.stderr)

    return _run


@pytest.fixture
def script(tmp_path, blank_database_url):
    def _script(*args, input=None, env=None):
        environ = {key: value for key, value in {**os.environ, **_environment(tmp_path, blank_database_url, env)}.items()
                   if value is not None}
        return subprocess.run(
            [EVIDENCE, *args], capture_output=True, text=True, env=environ, input=input, timeout=120, cwd=tmp_path
        )

    return _script


def assert_one_line_error(result, expected):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]


def test_init_creates_instance_admin_and_is_harmless_to_rerun(run, tmp_path):
    first = run("init", "--admin-email", "Boss@Example.org")
    assert first.returncode == 0, first.stderr
    assert "Admin created: boss@example.org" in first.stdout
    assert "Catalogue secnumcloud-3.2: 278 added" in first.stdout
    password = first.stdout.split("Password (shown once): ")[1].split()[0]
    assert len(password) >= 12
    key = tmp_path / "instance" / "secret_key"
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"

    again = run("init", "--admin-email", "other@example.org")
    assert again.returncode == 0 and "An admin already exists (boss@example.org)" in again.stdout
    assert "Catalogue secnumcloud-3.2: 0 added, 0 updated, 278 unchanged" in again.stdout
    listing = run("users", "list")
    assert listing.stdout.count("@example.org") == 1


@pytest.mark.sqlite_only  # the command's wiring and words; its services run on PostgreSQL elsewhere
def test_users_commands(run):
    assert run("init", "--admin-email", "admin@example.org", "--admin-password", PASSWORD).returncode == 0
    added = run("users", "add", "alice@example.org", "--name", "Alice", "--role", "manager", "--password", PASSWORD)
    assert added.returncode == 0 and "Created alice@example.org (manager)" in added.stdout
    assert run("users", "set-role", "alice@example.org", "auditor").returncode == 0
    assert run("users", "disable", "alice@example.org").returncode == 0
    listing = run("users", "list").stdout
    assert "alice@example.org" in listing and "auditor" in listing and "disabled" in listing
    verified = run("verify", "--audit")
    # 2 catalogue loads at init, the admin, alice, her role change, her disabling
    assert verified.returncode == 0 and "6 events, chain intact" in verified.stdout


USER_COMMAND_ERRORS = [
    (("users", "add", "not-an-email", "--password", PASSWORD), "not a valid e-mail address"),
    (("users", "add", "admin@example.org", "--password", PASSWORD), "already exists"),
    (("users", "add", "bob@example.org", "--password", "short"), "at least 12 characters"),
    (("users", "set-role", "nobody@example.org", "manager"), "no user with e-mail 'nobody@example.org'"),
    (("users", "disable", "admin@example.org"), "last active admin"),
    (("users", "set-role", "admin@example.org", "auditor"), "last active admin"),
]


@pytest.mark.sqlite_only  # the command's wiring and words; its services run on PostgreSQL elsewhere
def test_user_command_errors(run):
    # One instance for every case (none of them changes it): an init costs seconds, a refused command one.
    assert run("init", "--admin-email", "admin@example.org", "--admin-password", PASSWORD).returncode == 0
    for args, message in USER_COMMAND_ERRORS:
        result = run(*args)
        try:
            assert_one_line_error(result, message)
        except AssertionError as failure:
            raise AssertionError(f"evidence {' '.join(args)}: {failure}") from None


@pytest.mark.sqlite_only  # the command's wiring and words; its services run on PostgreSQL elsewhere
def test_init_without_admin_email_and_no_terminal(run):
    assert_one_line_error(run("init", input=""), "give --admin-email")


def test_commands_before_init_say_so(run):
    assert_one_line_error(run("users", "list"), "run `evidence init` first")


# Commands that run on a database that is not initialised yet: init creates the schema, restore fills an empty
# instance, verify-bundle reads a zip offline. Every other command checks the schema before doing anything.
NO_SCHEMA_NEEDED = {"init", "restore", "verify-bundle"}


def _leaf_commands(group, path=()):
    import click

    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*path, name))
        else:
            yield (*path, name), command


def _required_values(path, command, tmp_path):
    """Arguments and required options filled with harmless values, so that only the schema check can object."""
    import click

    args = []
    for param in command.params:
        if not param.required:
            continue
        if isinstance(param.type, click.Choice):
            value = param.type.choices[0]
        elif isinstance(param.type, click.types.IntParamType):  # a dossier version
            value = "1"
        elif isinstance(param.type, click.DateTime):  # a campaign's dates
            value = "2026-01-01"
        elif isinstance(param.type, click.Path) and param.type.exists:  # click checks it before the command runs
            value = str(tmp_path / "existing.csv")
            (tmp_path / "existing.csv").write_text("ref;state;justification\n", encoding="utf-8")
        else:
            value = str(tmp_path / "x")
        args += [value] if isinstance(param, click.Argument) else [param.opts[-1], value]
    if path == ("import",):  # MANIFEST and --root are optional only for --template
        args += [str(tmp_path / "x.csv"), "--root", str(tmp_path)]
    return args


def test_every_command_but_a_few_checks_the_schema_first(tmp_path, blank_database_url):
    app = make_app(tmp_path / "instance", blank_database_url)
    runner = app.test_cli_runner()
    checked = set()
    for path, command in _leaf_commands(app.cli):
        if path == ("init",):
            continue  # it would create the schema (the tests above run it)
        result = runner.invoke(args=[*path, *_required_values(path, command, tmp_path)])
        if path[-1] in NO_SCHEMA_NEEDED:
            assert "run `evidence init` first" not in result.output, path
            continue
        assert result.exit_code == 1 and "the database is not initialised: run `evidence init` first" in result.output, \
            (path, result.output)
        checked.add(" ".join(path))
    assert {"serve", "worker", "import", "backup", "verify", "gaps", "users list", "export bundle",
            "applicability show", "applicability set", "applicability import"} <= checked
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.csv").exists()  # nothing written
    # The one command that needs the database only in one of its modes still works without it.
    template = runner.invoke(args=["import", "--template", str(tmp_path / "manifest.csv")])
    assert template.exit_code == 0 and (tmp_path / "manifest.csv").is_file()


@pytest.mark.sqlite_only  # the command's wiring and words; its services run on PostgreSQL elsewhere
def test_unknown_role_is_a_usage_error(run):
    result = run("users", "set-role", "a@example.org", "god")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "'god' is not one of" in result.stderr


def test_unreachable_database(run):
    result = run("users", "list", env={"EVIDENCE_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"})
    assert_one_line_error(result, "database unreachable")


@pytest.mark.sqlite_only  # the command's wiring and words; its services run on PostgreSQL elsewhere
def test_bad_setting_is_one_line(script):
    result = script("users", "list", env={"EVIDENCE_MAX_CONTENT_LENGTH": "lots"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "EVIDENCE_MAX_CONTENT_LENGTH must be an integer" in result.stderr


@pytest.mark.sqlite_only  # the command's wiring and words; its services run on PostgreSQL elsewhere
def test_flask_entry_point_has_the_same_commands():
    flask = str(Path(sys.executable).with_name("flask"))
    environ = {**os.environ, "EVIDENCE_INSTANCE": "/nonexistent-instance-for-help"}
    result = subprocess.run([flask, "--app", "evidence", "users", "--help"], capture_output=True, text=True, env=environ)
    assert result.returncode == 0 and "set-role" in result.stdout


@pytest.mark.sqlite_only  # the command's wiring and words; its services run on PostgreSQL elsewhere
def test_catalogue_commands(run, tmp_path):
    assert run("init", "--admin-email", "admin@example.org", "--admin-password", PASSWORD).returncode == 0
    loaded = run("catalogue", "load")
    assert loaded.returncode == 0 and "secnumcloud-3.2: 0 added, 0 updated, 278 unchanged" in loaded.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("framework: {key: x, name: X}\nsections: []\nitems:\n- {ref: 1.a, title: T}\n")
    assert_one_line_error(run("catalogue", "load", str(bad)), "bad.yaml: item 1.a: its section '1' is not declared")
    assert_one_line_error(run("catalogue", "import", str(tmp_path / "none.yaml")), "none.yaml: no such file")
    fixture = Path(__file__).parent / "fixtures" / "mini-framework.yaml"
    imported = run("catalogue", "import", str(fixture))
    assert imported.returncode == 0 and "framework mini-2024: 3 added" in imported.stdout


@pytest.mark.sqlite_only  # the demo on PostgreSQL is built for every demo test by conftest's seeded templates
def test_init_with_demo_builds_a_living_provider(run, monkeypatch):
    # The blob store fsyncs each of the demo's hundreds of files and folders (seconds on a busy disk), which
    # only a power cut would show, and nothing here cuts the power: this test reads what was written.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    result = run("init", "--admin-email", "admin@example.org", "--demo")
    assert result.returncode == 0, result.stderr
    assert "Demo: 9 users, 2 perimeters, 60 controls, 362 evidence items" in result.stdout  # 8 automated (Prowler)
    verified = run("verify")
    assert verified.returncode == 0, verified.stderr
    assert "352 stored versions re-hashed, 0 problem(s)" in verified.stdout  # 10 of the 362 are links
    again = run("init", "--demo")
    assert again.returncode == 0 and "Demo: perimeters exist already; nothing added." in again.stdout
