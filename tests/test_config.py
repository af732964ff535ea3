"""Settings from the instance folder and the environment; the job queue they set up."""
import logging
import re
from datetime import date
from pathlib import Path

import pytest

from evidence import create_app, jobs
from evidence import settings as config
from evidence.data import database as db


def test_environment_overrides_instance_config(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("MAX_CONTENT_LENGTH = 1234\nLOGIN_MAX_FAILURES = 9\n")
    monkeypatch.setenv("EVIDENCE_INSTANCE", str(instance))
    monkeypatch.setenv("EVIDENCE_LOGIN_MAX_FAILURES", "3")
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 1234
    assert app.config["LOGIN_MAX_FAILURES"] == 3
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance / 'evidence.db'}"
    db.get_engine(app).dispose()


def test_secret_key_is_generated_once_and_kept(tmp_path):
    instance = tmp_path / "instance"
    first = config.load_secret_key(instance)
    assert len(first) == 64 and config.load_secret_key(instance) == first
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0


def test_bad_integer_setting_names_the_variable():
    with pytest.raises(ValueError, match="EVIDENCE_LOGIN_MAX_FAILURES must be an integer"):
        config.from_environment({"EVIDENCE_LOGIN_MAX_FAILURES": "many"})


def test_templates_and_catalogue_folders_are_found():
    assert (config.resource_dir("templates") / "web" / "base.html").is_file()
    assert config.resource_dir("controls").is_dir()


# --- the settings table ----------------------------------------------------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_configuration_rows() -> list[tuple[str, ...]]:
    """The rows of the table under README.md's "## Configuration", each cell stripped."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines and lines[0].replace(" ", "") == "|setting|type|default|meaning|", lines[:1]
    rows = []
    for line in lines[2:]:  # after the header and the | --- | line
        cells = tuple(cell.strip() for cell in line.strip().strip("|").split(" | "))
        assert len(cells) == 4, line
        rows.append((cells[0].strip("`"), *cells[1:]))
    return rows


def test_readme_configuration_table_is_the_settings_table():
    documented = readme_configuration_rows()
    in_readme = {row[0] for row in documented}
    in_table = {setting.variable for setting in config.SETTINGS}
    assert not in_table - in_readme, f"settings missing from README.md: {sorted(in_table - in_readme)}"
    assert not in_readme - in_table, f"README.md rows that are no setting: {sorted(in_readme - in_table)}"
    expected = "\n".join(f"| `{v}` | {t} | {d} | {m} |" for v, t, d, m in config.documentation())
    assert documented == config.documentation(), f"README.md's table should read:\n{expected}"


def test_every_setting_has_a_meaning_and_a_valid_default():
    for setting in config.SETTINGS:
        assert setting.meaning and setting.name.isupper()
        assert setting.check(setting.default, setting.name) == setting.default
        if setting.default is None:
            assert setting.shown, f"{setting.name}: say what happens when it is unset"


@pytest.mark.parametrize("variable, value, message", [
    ("EVIDENCE_LOGIN_WINDOW_SECONDS", "abc", "EVIDENCE_LOGIN_WINDOW_SECONDS must be an integer, got 'abc'"),
    ("EVIDENCE_SMTP_PORT", "70000", "EVIDENCE_SMTP_PORT must be an integer of at most 65535, got '70000'"),
    ("EVIDENCE_LOGIN_MAX_FAILURES", "0", "EVIDENCE_LOGIN_MAX_FAILURES must be an integer of at least 1, got '0'"),
    ("EVIDENCE_DOSSIER_CACHE", "maybe", "EVIDENCE_DOSSIER_CACHE must be a boolean (1/0, true/false, yes/no, on/off), "
                                        "got 'maybe'"),
    ("EVIDENCE_JOBS_IMMEDIATE", "", "EVIDENCE_JOBS_IMMEDIATE must be a boolean"),
    ("EVIDENCE_DEFAULT_LOCALE", "de", "EVIDENCE_DEFAULT_LOCALE must be one of fr, en, got 'de'"),
    ("EVIDENCE_TODAY", "31/12/2025", "EVIDENCE_TODAY must be a date (YYYY-MM-DD), got '31/12/2025'"),
    ("EVIDENCE_DATABASE_URL", "evidence.db", "EVIDENCE_DATABASE_URL must be a URL"),
    ("EVIDENCE_STORAGE_URL", "relative/blobs", "EVIDENCE_STORAGE_URL must be a URL (scheme://…) or an absolute path"),
])
def test_a_bad_value_names_the_variable(tmp_path, monkeypatch, variable, value, message):
    monkeypatch.setenv("EVIDENCE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv(variable, value)
    with pytest.raises(config.SettingError) as caught:
        create_app()
    assert str(caught.value).startswith(message)


def test_a_bad_value_in_instance_config_names_the_setting_and_the_file(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    monkeypatch.setenv("EVIDENCE_INSTANCE", str(instance))
    for line, message in [("LOGIN_WINDOW_SECONDS = '900'", "LOGIN_WINDOW_SECONDS in "),
                          ("DOSSIER_CACHE = 0", "DOSSIER_CACHE in "),
                          ("DEFAULT_LOCALE = 'de'", "DEFAULT_LOCALE in "),
                          ("SMTP_PORT = True", "SMTP_PORT in ")]:
        (instance / "config.py").write_text(line + "\n")
        with pytest.raises(config.SettingError, match=message + re.escape(str(instance / "config.py")) + " must be"):
            create_app()


def test_a_secret_is_never_echoed(tmp_path):
    with pytest.raises(config.SettingError) as caught:
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": 1234567890123})
    assert "1234567890123" not in str(caught.value) and "SECRET_KEY must be a string" in str(caught.value)


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "Yes", "on", " On "])
def test_a_boolean_accepts_the_documented_true_spellings(text):
    assert config.from_environment({"EVIDENCE_SMTP_STARTTLS": text}) == {"SMTP_STARTTLS": True}
    assert config.parse_boolean(text) is True


@pytest.mark.parametrize("text", ["0", "false", "False", "NO", "off"])
def test_a_boolean_accepts_the_documented_false_spellings(text):
    assert config.from_environment({"EVIDENCE_DOSSIER_CACHE": text}) == {"DOSSIER_CACHE": False}
    assert config.parse_boolean(text) is False


def test_environment_values_arrive_typed(tmp_path, monkeypatch):
    monkeypatch.setenv("EVIDENCE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("EVIDENCE_TODAY", "2025-03-04")
    monkeypatch.setenv("EVIDENCE_DOSSIER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EVIDENCE_DOSSIER_RENDER_WORKERS", "3")
    monkeypatch.setenv("EVIDENCE_SMTP_STARTTLS", "yes")
    monkeypatch.setenv("EVIDENCE_S3_ENDPOINT_URL", "")  # empty: unset
    app = create_app()
    assert app.config["TODAY"] == date(2025, 3, 4)
    assert app.config["DOSSIER_CACHE_DIR"] == tmp_path / "cache"
    assert app.config["DOSSIER_RENDER_WORKERS"] == 3 and app.config["SMTP_STARTTLS"] is True
    assert app.config["S3_ENDPOINT_URL"] is None
    assert app.config["HUEY_DB"] == tmp_path / "instance" / "jobs.db"
    db.get_engine(app).dispose()


def test_an_unknown_variable_is_not_a_setting(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("EVIDENCE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("EVIDENCE_LOGIN_MAX_FAILURE", "3")  # a typo of LOGIN_MAX_FAILURES
    monkeypatch.setenv("EVIDENCE_ADMIN_PASSWORD", "a command's option, not a setting")
    config.warned.discard("EVIDENCE_LOGIN_MAX_FAILURE")
    with caplog.at_level(logging.WARNING, logger="evidence.settings"):
        app = create_app()
    assert "LOGIN_MAX_FAILURE" not in app.config and app.config["LOGIN_MAX_FAILURES"] == 5
    assert "EVIDENCE_LOGIN_MAX_FAILURE is not a setting" in caplog.text and "ADMIN_PASSWORD" not in caplog.text
    assert "ADMIN_PASSWORD" not in app.config
    db.get_engine(app).dispose()


def test_debug_is_read_from_the_environment_alone():
    assert config.debug_requested({"EVIDENCE_DEBUG": "on"}) is True
    assert config.debug_requested({"EVIDENCE_DEBUG": "0"}) is False  # any non-empty value used to mean "on"
    assert config.debug_requested({"EVIDENCE_DEBUG": "sometimes"}) is False  # create_app reports it
    assert config.debug_requested({}) is False
    assert "DEBUG" not in config.from_environment({"EVIDENCE_DEBUG": "1"})


# --- the job queue ---------------------------------------------------------------------------------------


@pytest.fixture
def queued_jobs(monkeypatch):
    """Jobs through a queue rather than at once; afterwards huey is pointed back at immediate jobs, as the
    other tests' apps expect (huey is one per process: the last app created chooses its queue)."""
    monkeypatch.delenv("EVIDENCE_JOBS_IMMEDIATE", raising=False)
    apps = []
    yield apps
    monkeypatch.setenv("EVIDENCE_JOBS_IMMEDIATE", "1")
    monkeypatch.delenv("EVIDENCE_HUEY_DB", raising=False)
    monkeypatch.setattr(jobs, "consuming", False)
    apps.append(create_app())
    for app in apps:
        db.get_engine(app).dispose()
    assert jobs.huey.immediate


def test_instance_config_sets_the_queue(tmp_path, monkeypatch, queued_jobs):
    instance = tmp_path / "instance"
    instance.mkdir()
    queue = tmp_path / "elsewhere" / "queue.db"
    (instance / "config.py").write_text(f"HUEY_DB = {str(queue)!r}\nJOBS_IMMEDIATE = False\n")
    monkeypatch.setenv("EVIDENCE_INSTANCE", str(instance))
    app = create_app()
    queued_jobs.append(app)
    assert app.config["HUEY_DB"] == queue and app.config["JOBS_IMMEDIATE"] is False
    assert not jobs.huey.immediate and jobs.huey.storage.filename == str(queue)
    jobs.render_dossier(1)  # queued, not run
    assert jobs.huey.pending_count() == 1 and queue.exists()
    assert not (instance / "jobs.db").exists()
    assert jobs.huey.pending()[0].args == (1,)  # the id only: the consumer has its own settings

    monkeypatch.setenv("EVIDENCE_JOBS_IMMEDIATE", "1")  # the environment comes after instance/config.py
    queued_jobs.append(again := create_app())
    assert again.config["JOBS_IMMEDIATE"] is True and jobs.huey.immediate


def test_the_queue_defaults_to_the_instance_folder(tmp_path, monkeypatch, queued_jobs):
    monkeypatch.setenv("EVIDENCE_INSTANCE", str(tmp_path / "instance"))
    queued_jobs.append(create_app())
    assert jobs.huey.storage.filename == str(tmp_path / "instance" / "jobs.db")


def test_a_consuming_process_keeps_its_queue(tmp_path, monkeypatch, queued_jobs):
    """An app made in a consuming process (`evidence serve`'s web workers): on the same queue that is fine, on
    another it would pull the storage from under the running consumer."""
    monkeypatch.setenv("EVIDENCE_INSTANCE", str(tmp_path / "instance"))
    queued_jobs.append(create_app())
    monkeypatch.setattr(jobs, "consuming", True)
    queued_jobs.append(create_app({"INSTANCE_PATH": str(tmp_path / "instance")}))
    monkeypatch.setenv("EVIDENCE_HUEY_DB", str(tmp_path / "other.db"))
    with pytest.raises(RuntimeError, match="consumes the job queue"):
        create_app()
    assert jobs.huey.storage.filename == str(tmp_path / "instance" / "jobs.db")


def test_worker_refuses_immediate_jobs(app):
    assert jobs.huey.immediate
    with pytest.raises(RuntimeError, match="JOBS_IMMEDIATE is on"):
        jobs.run_consumer()
