"""A plain `pip install .` works: the wheel carries templates, catalogues, static files, migrations and
translations, and the app finds them inside the installed package."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# What `pip install .` reads: a copy of these is built, never the working tree, whose build/ folder may hold
# modules deleted since (setuptools reuses build/lib) and which the build would write into.
SOURCES = ("pyproject.toml", "README.md", "evidence", "templates", "controls")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("setuptools", minversion="77")
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return next(out.glob("*.whl"))


def test_wheel_carries_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "evidence/bundled/templates/web/base.html",
        "evidence/bundled/controls/README.md",
        "evidence/bundled/controls/secnumcloud-3.2.yaml",
        "evidence/static/css/app.css",
        "evidence/data/migrations/env.py",
        "evidence/data/migrations/script.py.mako",
        "evidence/data/common-passwords.txt.gz",  # the password blocklist, read by evidence.core.passwords
        "evidence/data/migrations/versions/0001_initial_schema.py",
        "evidence/catalogue/__init__.py",
        "evidence/web/__init__.py",
        "evidence/translations/en/LC_MESSAGES/messages.mo",
    ):
        assert expected in names, expected
    assert not any(n.startswith(("tests/", "instance/")) for n in names)
    modules = {str(path.relative_to(ROOT)) for path in ROOT.glob("evidence/**/*.py") if "__pycache__" not in path.parts}
    assert {n for n in names if n.startswith("evidence/") and n.endswith(".py")} <= modules  # nothing stale



def test_every_package_is_in_the_wheel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [str(package.relative_to(ROOT)) for package in sorted(ROOT.glob("evidence/**/__init__.py"))
               if str(package.relative_to(ROOT)) not in names]  # a package left out of pyproject.toml's list
    assert missing == []


def test_installed_wheel_serves_pages(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import evidence; from evidence import create_app; from evidence.data import database as db\n"
        "assert evidence.__file__.startswith(%r), evidence.__file__\n"
        "app = create_app(); db.migrate(db.get_engine(app))\n"
        "assert app.template_folder.startswith(%r)\n"
        "r = app.test_client().get('/login'); assert r.status_code == 200, r.status_code\n"
        "assert app.test_client().get('/static/css/app.css').status_code == 200\n"
        "print('ok')\n" % (str(site), str(site))
    )
    env = {**os.environ, "PYTHONPATH": str(site), "EVIDENCE_INSTANCE": str(tmp_path / "instance")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
