"""Settings from the instance folder and the environment."""
import pytest

from evidence import create_app
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
