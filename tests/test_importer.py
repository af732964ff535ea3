"""Bulk evidence import: manifest reading, row validation, the plan, per-row and atomic modes, idempotent and
interrupted runs, attribution, template and report."""
from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from evidence import importer
from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import (
    AuditEvent,
    Evidence,
    EvidenceAnswer,
    EvidenceControl,
    EvidencePerimeter,
    EvidenceRequirement,
    EvidenceVersion,
    User,
)
from evidence.importer import apply as import_apply
from evidence.importer import rows as import_rows
from evidence.services import users as auth
from evidence.services.controls import ControlData, create_control
from evidence.services.evidence import (
    EvidenceData,
    LinkedControl,
    LinkedPerimeter,
    LinkedRequirement,
    create_evidence,
)
from evidence.services.perimeters import PerimeterData, create_perimeter
from tests.english import english, refused

from .conftest import PASSWORD

EVIDENCE = str(Path(sys.executable).with_name("evidence"))


# --- helpers -----------------------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list], delimiter: str = ",", bom: bool = False) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8"))
    return path


def write_xlsx(path: Path, rows: list[list]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("notes").append(["not read: only the first sheet is"])
    workbook.save(path)
    return path


def manifest_rows(path: Path) -> list:
    return importer.read_manifest(path)


@pytest.fixture
def env(catalogue_loaded, users, tmp_path):
    """An app with the catalogue, one user per role, a perimeter, two controls (CTL-LOG-01 deployed in the
    perimeter) and a folder of evidence files."""
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        perimeter = create_perimeter(session, manager, PerimeterData(code=PERIMETER, name="IaaS", service_types=("IaaS",)))
        perimeter_id = perimeter.id
        create_control(session, manager, ControlData(ref="CTL-LOG-01", title="Journalisation", status="implemented",
                                                     perimeter_ids=[perimeter_id]))
        create_control(session, manager, ControlData(ref="CTL-OLD-01", title="Ancienne mesure", status="retired"))
    root = tmp_path / "preuves"
    (root / "rapports").mkdir(parents=True)
    (root / "rapports" / "edr-t1.pdf").write_bytes(b"%PDF-1.4 rapport EDR T1")
    (root / "rapports" / "edr-t2.pdf").write_bytes(b"%PDF-1.4 rapport EDR T2 !")
    (root / "journal.log").write_bytes(b"2025-06-30 connexion refusee\n" * 50)
    (root / "Procédure d'accès.txt").write_text("procédure", encoding="utf-8")
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=["import", *map(str, args)])

    return SimpleNamespace(app=app, root=root, tmp=tmp_path, run=run, users=users, perimeter_id=perimeter_id)


PERIMETER = "iaas-fr1"  # the perimeter of `env`: evidence linked to no control deployed in one names it
HEADER = ["file", "url", "title", "ref", "kind", "owner", "controls", "requirements", "perimeters", "effective_date",
          "valid_until", "classification", "description"]


def good_rows() -> list[list]:
    return [
        HEADER,
        ["rapports/edr-t1.pdf", "", "Rapport EDR T1", "", "report", "manager@example.org", "CTL-LOG-01",
         "12.4.a; 12.4.b", "", "2025-03-31", "31/03/2026", "restricted", "Console EDR"],  # its control's perimeter
        ["journal.log", "", "Journal des connexions", "", "", "", "", "", PERIMETER, "", "", "", ""],
        ["", "https://soc.example.internal/tableau", "Tableau SOC", "", "", "", "", "12.4.a", PERIMETER, "", "", "", ""],
        ["Procédure d'accès.txt", "", "Procédure d'accès", "", "procedure", "", "", "", PERIMETER, "", "", "", ""],
    ]


def snapshot(app) -> dict:
    """What an import may change: counts of rows and of stored blobs."""
    with app.app_context(), db.session_scope(app) as session:
        counts = {model.__name__: session.exec(select(func.count()).select_from(model)).one()
                  for model in (Evidence, EvidenceVersion, EvidenceControl, EvidenceRequirement, EvidencePerimeter,
                                EvidenceAnswer, AuditEvent)}
        store = storage.get_store(app)
    counts["blobs"] = sorted(str(p.relative_to(store.root)) for p in store.root.glob("[0-9a-f]*/*/*"))
    return counts


def blobs_are_whole(app) -> None:
    """Every file under a final name in the store hashes to that name: nothing half-written is visible."""
    root = storage.get_store(app).root
    for path in root.glob("[0-9a-f]*/*/*"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path


# --- reading the manifest (pure) -----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter, bom", [(",", False), (";", False), (",", True), (";", True)])
def test_csv_either_separator_with_or_without_bom(tmp_path, delimiter, bom):
    path = write_csv(tmp_path / "m.csv", [
        ["File", " TITLE ", "Requirements", "Effective Date"],
        ["a é.pdf", "Preuve; avec séparateur", "12.4.a;12.4.b", "01/02/2025"],
        ["", "", "", ""],  # blank rows are skipped, row numbers still follow the file
        ["b.pdf", "Deux", "", ""],
    ], delimiter=delimiter, bom=bom)
    rows = manifest_rows(path)
    assert [r.number for r in rows] == [2, 4]
    assert rows[0].values == {"file": "a é.pdf", "title": "Preuve; avec séparateur", "requirements": "12.4.a;12.4.b",
                              "effective_date": "01/02/2025"}


def test_blank_lines_before_the_header(tmp_path):
    (row,) = manifest_rows(write_csv(tmp_path / "m.csv", [[], [""], ["file", "title"], ["a.pdf", "A"]], delimiter=";"))
    assert (row.number, row.values) == (4, {"file": "a.pdf", "title": "A"})


def test_xlsx_first_sheet_with_date_and_number_cells(tmp_path):
    path = write_xlsx(tmp_path / "m.xlsx", [
        ["file", "title", "valid_until", "description"],
        ["dossier/é.pdf", 2025, datetime(2026, 6, 30), 12.0],
    ])
    (row,) = manifest_rows(path)
    assert row.number == 2
    assert row.values == {"file": "dossier/é.pdf", "title": "2025", "valid_until": datetime(2026, 6, 30),
                          "description": "12"}


@pytest.mark.parametrize("content, message", [
    (b"file,title,colour\nx,y,z\n", "unknown column(s) 'colour' in row 1; the columns are: file, url, title, ref"),
    (b"file,title,Title\n", "column(s) title appear more than once"),
    (b"title,kind\nx,report\n", "the manifest needs a file or a url column"),
    (b"\n\n", "the manifest is empty"),
    ("file;title\nrapport.pdf;Procédure\n".encode("latin-1"), "the manifest is not UTF-8 (line 2)"),
    (b'file\n"' + b"a" * 200_000 + b'"\n', "the manifest is not valid CSV (line 2): field larger than field limit"),
])
def test_manifest_level_errors(tmp_path, content, message):
    path = tmp_path / "m.csv"
    path.write_bytes(content)
    with refused(EvidenceError, re.escape(message)):
        manifest_rows(path)


def test_other_manifest_types_are_refused(tmp_path):
    with refused(EvidenceError, "a manifest is a .csv or .xlsx file"):
        importer.read_manifest(tmp_path / "m.ods")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with refused(EvidenceError, "cannot read broken.xlsx as an XLSX workbook"):
        importer.read_manifest(tmp_path / "broken.xlsx")


@pytest.mark.parametrize("value, expected", [
    ("2025-06-30", date(2025, 6, 30)), ("30/06/2025", date(2025, 6, 30)), ("1/2/2025", date(2025, 2, 1)),
    (datetime(2025, 6, 30, 0, 0), date(2025, 6, 30)), (date(2025, 6, 30), date(2025, 6, 30)),
])
def test_dates(value, expected):
    assert importer.parse_date(value) == expected


@pytest.mark.parametrize("value, message", [
    ("2025-02-30", "no such date"), ("30/13/2025", "no such date"), ("06/30/25", "write YYYY-MM-DD or DD/MM/YYYY"),
    ("demain", "write YYYY-MM-DD or DD/MM/YYYY"),
])
def test_bad_dates(value, message):
    with refused(ValueError, message):
        importer.parse_date(value)


# --- files under the root (pure but for the folder) ----------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.txt").write_text("ok")
    (root / "Été.txt").write_text("nfc")
    (tmp_path / "secret.txt").write_text("outside")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "inside").symlink_to(root / "sub" / "ok.txt")
    (root / "dangling").symlink_to(root / "nothing")
    (root / "big.bin").write_bytes(b"x" * 101)
    os.mkfifo(root / "fifo")
    return root.resolve()


@pytest.mark.parametrize("name, message", [
    ("/etc/passwd", "an absolute path"),
    ("C:\\preuves\\a.pdf", "an absolute path"),
    ("sub/../../secret.txt", "'..' is not allowed"),
    ("missing.pdf", "no such file under --root"),
    ("escape", "a symbolic link that leads outside --root"),
    ("dangling", "a symbolic link to nothing"),
    ("sub", "not a regular file"),
    ("fifo", "not a regular file"),
    ("big.bin", "101 bytes: over the upload limit of 100 bytes"),
])
def test_file_rules(folder, name, message):
    with refused(ValueError, message):
        importer.check_file(folder, name, 100)


def test_files_that_are_fine(folder):
    assert importer.check_file(folder, "inside", 100).path == folder / "sub" / "ok.txt"
    assert importer.check_file(folder, "sub\\ok.txt", 100).size == 2  # written on Windows
    decomposed = unicodedata.normalize("NFD", "Été.txt")  # typed on a Mac
    assert importer.check_file(folder, decomposed, 100).path.name == "Été.txt"


def test_unreadable_file(folder, monkeypatch):
    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(import_rows, "open_file", refuse)  # tests run as root, whom permissions do not stop
    with refused(ValueError, r"not readable \(Permission denied\)"):
        importer.check_file(folder, "sub/ok.txt", 100)


# --- row validation (pure: a Known snapshot made by hand) ----------------------------------------------------


def known_snapshot() -> importer.Known:
    users = {
        "alice@example.org": SimpleNamespace(id=1, role="manager", active=True, email="alice@example.org"),
        "bob@example.org": SimpleNamespace(id=2, role="contributor", active=True, email="bob@example.org"),
        "old@example.org": SimpleNamespace(id=3, role="manager", active=False, email="old@example.org"),
    }
    current = importer.CurrentVersion(1, "a" * 64, 10, None)
    return importer.Known(
        users=users, controls={"CTL-LOG-01": LinkedControl(7, "CTL-LOG-01", "implemented"),
                              "CTL-OLD-01": LinkedControl(8, "CTL-OLD-01", "retired")},
        requirements={"12.4.a": LinkedRequirement(70, "12.4.a")},
        perimeters={"iaas-fr1": LinkedPerimeter(5, "iaas-fr1")},
        evidence={"EV-0042": importer.KnownEvidence(42, "EV-0042", "Rapport", 1, current)},
    )


ROW_ERRORS = [
    ({"file": "", "url": ""}, "file", "", "give a file (or a url)"),
    ({"file": "sub/ok.txt", "url": "https://x.example"}, "url", "https://x.example", "give a file or a url, not both"),
    ({"file": "", "url": "ftp://x.example/a"}, "url", "ftp://x.example/a", "only https:// addresses are accepted"),
    ({"file": "nope.txt"}, "file", "nope.txt", "no such file under --root"),
    ({"title": ""}, "title", "", "evidence needs a title"),
    ({"title": "x" * 301}, "title", "x" * 301, "longer than 300 characters"),
    ({"kind": "memo"}, "kind", "memo", "unknown kind 'memo'; the kinds are: policy, procedure"),
    ({"classification": "secret"}, "classification", "secret", "unknown classification"),
    ({"owner": "nobody@example.org"}, "owner", "nobody@example.org", "no such user"),
    ({"owner": "old@example.org"}, "owner", "old@example.org", "this user is disabled"),
    ({"controls": "CTL-LOG-01; CTL-NOPE"}, "controls", "CTL-NOPE", "no control 'CTL-NOPE'"),
    ({"controls": "ctl-old-01"}, "controls", "CTL-OLD-01", "control CTL-OLD-01 is retired"),
    ({"requirements": "12.4.a;99.9.z"}, "requirements", "99.9.z", "has no item '99.9.z'"),
    ({"effective_date": "2025-13-01"}, "effective_date", "2025-13-01", "no such date"),
    ({"valid_until": "bientôt"}, "valid_until", "bientôt", "not a date"),
    ({"effective_date": "2025-06-30", "valid_until": "01/01/2025"}, "valid_until", "01/01/2025",
     "is before the effective date"),
    ({"ref": "EV-9999", "title": "", "perimeters": ""}, "ref", "EV-9999", "no such evidence"),
    ({"ref": "EV-0042", "title": "Rapport", "perimeters": ""}, "title", "Rapport", "a row with a ref only adds a version"),
    ({"ref": "EV-0042", "title": ""}, "perimeters", "iaas-fr1", "a row with a ref only adds a version"),
]


@pytest.mark.parametrize("values, column, value, message", ROW_ERRORS)
def test_each_row_error_names_row_column_and_value(folder, values, column, value, message):
    row = importer.ManifestRow(7, {"file": "sub/ok.txt", "url": "", "title": "Preuve", "perimeters": "iaas-fr1", **values})
    actor = SimpleNamespace(id=1, role="manager", email="alice@example.org")
    entry, errors = importer.validate_row(row, known_snapshot(), actor, folder, 1000)
    assert entry is None
    assert [(e.row, e.column, e.value) for e in errors] == [(7, column, value)]
    assert message in english(errors[0].message)
    assert english(errors[0].text).startswith(f"row 7, column {column}, value {importer.show_value(value)}: ")


def test_more_values_than_columns_is_a_row_error(folder):
    row = importer.ManifestRow(3, {"file": "sub/ok.txt", "title": "Preuve"}, extra=("CTL-LOG-02",))
    actor = SimpleNamespace(id=1, role="manager", email="alice@example.org")
    _entry, errors = importer.validate_row(row, known_snapshot(), actor, folder, None)
    assert english(errors[0].text) == ("row 3, column (beyond the last column), value 'CTL-LOG-02': more values than "
                              "columns: quote values that contain the separator")


def test_contributor_rules(folder):
    bob = SimpleNamespace(id=2, role="contributor", email="bob@example.org")
    known = known_snapshot()
    _entry, errors = importer.validate_row(importer.ManifestRow(2, {"file": "sub/ok.txt", "ref": "EV-0042"}),
                                           known, bob, folder, None)
    assert (errors[0].column, "may not add a version to it") == ("ref", "may not add a version to it")
    _entry, errors = importer.validate_row(
        importer.ManifestRow(3, {"file": "sub/ok.txt", "title": "T", "owner": "alice@example.org"}), known, bob, folder, None)
    assert errors[0].column == "owner" and "a contributor's evidence is their own" in english(errors[0].message)
    entry, errors = importer.validate_row(importer.ManifestRow(4, {"file": "sub/ok.txt", "title": "T",
                                                                   "perimeters": "iaas-fr1"}), known, bob, folder, None)
    assert errors == [] and entry.data.values["owner_id"] == 2  # the importing user owns what has no owner


# --- the plan (pure) -----------------------------------------------------------------------------------------


def test_plan_hashes_only_files_it_must_compare(folder, tmp_path):
    (folder / "same.txt").write_bytes(b"0123456789")  # the size of EV-0042's current version
    (folder / "other.txt").write_bytes(b"0123456789")
    (folder / "longer.txt").write_bytes(b"01234567890")
    known = known_snapshot()
    known.by_title = {"Rapport": [known.evidence["EV-0042"]]}
    actor = SimpleNamespace(id=1, role="manager", email="alice@example.org")
    scope = {"perimeters": "iaas-fr1"}
    rows = [
        importer.ManifestRow(2, {"file": "longer.txt", "ref": "EV-0042"}),  # another size: a new version, unhashed
        importer.ManifestRow(3, {"file": "same.txt", "title": "Rapport", **scope}),  # same title and size: compared
        importer.ManifestRow(4, {"file": "other.txt", "title": "Rapport", **scope}),  # same again as row 3: unchanged
        importer.ManifestRow(5, {"url": "https://soc.example/a", "title": "Lien", **scope}),
        importer.ManifestRow(6, {"url": "https://soc.example/a", "title": "Lien", **scope}),  # a repeat of row 5
    ]
    checked = [(row, *importer.validate_row(row, known, actor, folder, None)) for row in rows]
    hashed = []

    def digest(source):
        hashed.append(source.name)
        return {"same.txt": "b" * 64, "other.txt": "b" * 64}[source.name]

    outcomes = importer.plan(checked, known, digest)
    assert [(o.number, o.action, o.ref, o.same_as) for o in outcomes] == [
        (2, "new_version", "EV-0042", None), (3, "new_evidence", "", None), (4, "unchanged", "", 3),
        (5, "new_evidence", "", None), (6, "unchanged", "", 5),
    ]
    assert "longer.txt" not in hashed and set(hashed) == {"same.txt", "other.txt"}
    assert english(importer.describe(outcomes[2])) == "row 4: unchanged: the new evidence of row 3 already has other.txt (10 bytes)"


# --- the command ---------------------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_and_writes_nothing(env):
    rows = good_rows() + [["absent.pdf", "", "Absent", "", "", "", "", "", PERIMETER, "", "", "", ""]]
    manifest = write_csv(env.tmp / "m.csv", rows)
    before = snapshot(env.app)
    result = env.run(manifest, "--root", env.root, "--dry-run")
    assert result.exit_code == 1
    assert "row 2: new evidence 'Rapport EDR T1' from rapports/edr-t1.pdf (23 bytes)" in result.stdout
    assert "row 4: new evidence 'Tableau SOC' from https://soc.example.internal/tableau" in result.stdout
    assert "row 6, column file, value 'absent.pdf': no such file under --root" in result.stderr
    assert "Dry run of m.csv: 4 new evidence, 0 new version(s), 0 unchanged, 1 error(s); nothing written." in result.stdout
    assert snapshot(env.app) == before
    assert env.run(write_csv(env.tmp / "ok.csv", good_rows()), "--root", env.root, "--dry-run").exit_code == 0
    assert snapshot(env.app) == before


def test_import_lands_good_rows_reports_bad_ones_and_a_rerun_changes_nothing(env):
    rows = good_rows() + [
        ["journal.log", "", "Erreurs", "", "report", "nobody@example.org", "CTL-NOPE", "", "", "", "", "", ""],
    ]
    manifest = write_csv(env.tmp / "m.csv", rows)
    report = env.tmp / "report.csv"
    result = env.run(manifest, "--root", env.root, "--report", report)
    assert result.exit_code == 1, result.output
    assert "row 6, column owner, value 'nobody@example.org': no such user" in result.stderr
    assert "row 6, column controls, value 'CTL-NOPE': no control 'CTL-NOPE'" in result.stderr
    assert "Imported from m.csv: 4 new evidence, 0 new version(s), 0 unchanged, 1 error(s); 3 file(s)" in result.stdout
    assert "Importing" not in result.output  # no progress bar when not on a terminal

    with env.app.app_context(), db.session_scope(env.app) as session:
        first = session.exec(select(Evidence).where(Evidence.ref == "EV-0001")).one()
        assert (first.title, first.kind, first.classification, first.status) == (
            "Rapport EDR T1", "report", "restricted", "draft")
        assert first.owner_id == env.users["manager"].id
        assert (first.effective_date, first.valid_until) == (date(2025, 3, 31), date(2026, 3, 31))
        links = select(func.count()).select_from(EvidenceRequirement).where(EvidenceRequirement.evidence_id == first.id)
        assert session.exec(links).one() == 2
        version = session.exec(select(EvidenceVersion).where(EvidenceVersion.evidence_id == first.id)).one()
        assert (version.number, version.media_type, version.original_filename, version.author_id) == (
            1, "application/pdf", "edr-t1.pdf", env.users["admin"].id)
        assert version.sha256 == hashlib.sha256(b"%PDF-1.4 rapport EDR T1").hexdigest()
        journal = session.exec(select(Evidence).where(Evidence.title == "Journal des connexions")).one()
        assert journal.owner_id == env.users["admin"].id and journal.kind == "record"  # defaults
        link = session.exec(select(Evidence).where(Evidence.title == "Tableau SOC")).one()
        assert link.kind == "link"
        procedure = session.exec(
            select(EvidenceVersion).where(EvidenceVersion.original_filename == "Procédure d'accès.txt")).one()
        assert procedure.size == len("procédure".encode())
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence.create").order_by(AuditEvent.seq)).all()
        assert [e.object_id for e in events] == ["EV-0001", "EV-0002", "EV-0003", "EV-0004"]
        assert {(e.actor, e.actor_id) for e in events} == {("admin@example.org", env.users["admin"].id)}
        assert all(e.details["via"].startswith("cli:") for e in events)  # who ran the command, beside whom it is for
        assert events[0].details["controls"] == ["CTL-LOG-01"] and events[0].details["requirements"] == ["12.4.a", "12.4.b"]
    with open(report, encoding="utf-8-sig", newline="") as f:
        lines = list(csv.DictReader(f))
    assert [(r["row"], r["action"], r["result"], r["ref"]) for r in lines] == [
        ("2", "new_evidence", "done", "EV-0001"), ("3", "new_evidence", "done", "EV-0002"),
        ("4", "new_evidence", "done", "EV-0003"), ("5", "new_evidence", "done", "EV-0004"), ("6", "error", "error", ""),
    ]
    assert lines[4]["file"] == "journal.log" and "no such user" in lines[4]["error"]
    assert lines[0]["sha256"] == hashlib.sha256(b"%PDF-1.4 rapport EDR T1").hexdigest()
    assert runner_verify(env) == 0

    before = snapshot(env.app)
    again = env.run(write_csv(env.tmp / "m.csv", good_rows()), "--root", env.root)
    assert again.exit_code == 0, again.output
    assert "0 new evidence, 0 new version(s), 4 unchanged, 0 error(s); 0 file(s)" in again.stdout
    assert snapshot(env.app) == before


def runner_verify(env) -> int:
    return env.app.test_cli_runner().invoke(args=["verify"]).exit_code


def test_new_versions_by_ref(env):
    with env.app.app_context(), db.session_scope(env.app) as session:
        manager = session.get(User, env.users["manager"].id)
        scope = [env.perimeter_id]
        create_evidence(session, manager, EvidenceData(title="Rapport EDR", kind="report", perimeter_ids=scope),
                        store=storage.get_store(env.app), upload=io.BytesIO(b"%PDF-1.4 rapport EDR T1"), filename="t1.pdf")
        create_evidence(session, manager, EvidenceData(title="SOC", kind="link", perimeter_ids=scope),
                        url="https://soc.example/v1")
        evidence = session.exec(select(Evidence).where(Evidence.ref == "EV-0001")).one()
        evidence.status = "approved"
        session.add(evidence)
        session.commit()
    unchanged = write_csv(env.tmp / "same.csv", [["ref", "file"], ["ev-0001", "rapports/edr-t1.pdf"]])
    result = env.run(unchanged, "--root", env.root, "--as", "manager@example.org")
    assert result.exit_code == 0 and "0 new evidence, 0 new version(s), 1 unchanged" in result.stdout
    manifest = write_csv(env.tmp / "m.csv", [
        ["ref", "file", "url", "title", "perimeters"],
        ["EV-0001", "rapports/edr-t2.pdf", "", "", ""],
        ["EV-0002", "", "https://soc.example/v2", "", ""],
        ["EV-0001", "journal.log", "", "", ""],  # two versions in one manifest: a second run would add two again
        ["", "rapports/edr-t1.pdf", "", "Rapport EDR", PERIMETER],  # EV-0001's file and title, but EV-0001 changes above
    ])
    result = env.run(manifest, "--root", env.root, "--as", "manager@example.org")
    assert result.exit_code == 1
    assert ("row 4, column ref, value 'EV-0001': EV-0001 is in row 2 already: one row per evidence "
            "(with its newest file)") in result.stderr
    assert "1 new evidence, 2 new version(s), 0 unchanged, 1 error(s)" in result.stdout
    with env.app.app_context(), db.session_scope(env.app) as session:
        evidence = session.exec(select(Evidence).where(Evidence.ref == "EV-0001")).one()
        assert evidence.status == "draft" and evidence.version > 1  # what was approved was the earlier file
        versions = session.exec(select(EvidenceVersion.evidence_id, EvidenceVersion.number, EvidenceVersion.url)
                                .order_by(EvidenceVersion.evidence_id, EvidenceVersion.number)).all()
        assert [(n, u) for _e, n, u in versions] == [
            (1, None), (2, None), (1, "https://soc.example/v1"), (2, "https://soc.example/v2"), (1, None)]
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "evidence.version", AuditEvent.object_id == "EV-0001")).one()
        assert event.actor == "manager@example.org" and event.details["status_before"] == "approved"
        assert event.details["file"] == "edr-t2.pdf" and event.details["version"] == 2
    again = env.run(manifest, "--root", env.root, "--as", "manager@example.org")
    assert "0 new evidence, 0 new version(s), 3 unchanged, 1 error(s)" in again.stdout


@pytest.mark.parametrize("kind", ["csv-comma", "csv-semicolon-bom", "xlsx"])
def test_manifest_formats_and_non_ascii_names(env, kind):
    (env.root / "Élément d’audit — 2025.pdf").write_bytes(b"%PDF-1.4 audit")
    (env.root / "日本語.txt").write_text("ok", encoding="utf-8")
    rows = [
        ["File", "Title", "Valid_Until", "Requirements", "Perimeters"],
        ["Élément d’audit — 2025.pdf", "Audit « interne »", "31/12/2026", "12.4.a", PERIMETER],
        ["日本語.txt", "Fichier non latin", date(2026, 1, 31) if kind == "xlsx" else "2026-01-31", "", PERIMETER.upper()],
    ]
    if kind == "xlsx":
        manifest = write_xlsx(env.tmp / "m.xlsx", rows)
    else:
        manifest = write_csv(env.tmp / "m.csv", rows, delimiter=";" if "semicolon" in kind else ",", bom="bom" in kind)
    result = env.run(manifest, "--root", env.root)
    assert result.exit_code == 0, result.output
    with env.app.app_context(), db.session_scope(env.app) as session:
        found = session.exec(select(Evidence.title, Evidence.valid_until, EvidenceVersion.original_filename)
                             .join(EvidenceVersion, EvidenceVersion.evidence_id == Evidence.id).order_by(Evidence.id)).all()
    assert found == [("Audit « interne »", date(2026, 12, 31), "Élément d’audit — 2025.pdf"),
                     ("Fichier non latin", date(2026, 1, 31), "日本語.txt")]


def test_atomic_is_all_or_nothing(env):
    before = snapshot(env.app)
    bad = write_csv(env.tmp / "bad.csv", good_rows() + [["absent.pdf", "", "X", "", "", "", "", "", PERIMETER, "", "", "", ""]])
    result = env.run(bad, "--root", env.root, "--atomic")
    assert result.exit_code == 1
    assert "Nothing imported from bad.csv (--atomic): 1 row(s) in error." in result.stdout
    assert snapshot(env.app) == before
    good = write_csv(env.tmp / "good.csv", good_rows())
    result = env.run(good, "--root", env.root, "--atomic")
    assert result.exit_code == 0 and "4 new evidence" in result.stdout
    assert snapshot(env.app)["Evidence"] == 4


def test_atomic_rolls_back_when_a_file_cannot_be_stored(env, monkeypatch):
    real = import_apply.store_source

    def failing(store, source, max_size):
        if source.name == "journal.log":
            raise OSError(5, "Input/output error")
        return real(store, source, max_size)

    monkeypatch.setattr(import_apply, "store_source", failing)
    before = snapshot(env.app)
    result = env.run(write_csv(env.tmp / "m.csv", good_rows()), "--root", env.root, "--atomic")
    assert result.exit_code == 1
    assert "row 3, column file, value 'journal.log': file could not be stored: Input/output error" in result.stderr
    assert "Nothing imported from m.csv (--atomic): row 3 could not be stored." in result.stdout
    after = snapshot(env.app)
    assert {k: v for k, v in after.items() if k != "blobs"} == {k: v for k, v in before.items() if k != "blobs"}
    blobs_are_whole(env.app)  # files stored before the failure stay as unreferenced blobs, whole


def test_per_row_mode_isolates_a_row_the_database_refuses(env, monkeypatch):
    real = import_apply.write_batch

    def refusing(session, actor, batch, origin):
        if any(outcome.number == 3 for outcome, _blob in batch):
            raise IntegrityError("INSERT", {}, Exception("simulated constraint violation"))
        return real(session, actor, batch, origin)

    monkeypatch.setattr(import_apply, "write_batch", refusing)
    result = env.run(write_csv(env.tmp / "m.csv", good_rows()), "--root", env.root)
    assert result.exit_code == 1
    assert "row 3, column file, value 'journal.log': database error: simulated constraint violation" in result.stderr
    assert "3 new evidence, 0 new version(s), 0 unchanged, 1 error(s)" in result.stdout
    with env.app.app_context(), db.session_scope(env.app) as session:
        assert sorted(session.exec(select(Evidence.title))) == ["Procédure d'accès", "Rapport EDR T1", "Tableau SOC"]


def test_interrupted_import_then_rerun_completes(env, monkeypatch):
    """Ctrl-C (or a crash) in the middle: committed batches stay, the open one rolls back, a re-run completes."""
    for i in range(12):
        (env.root / f"export-{i:02d}.json").write_text(f'{{"n": {i}}}')
    rows = [["file", "title", "perimeters"]] + [[f"export-{i:02d}.json", f"Export {i}", PERIMETER] for i in range(12)]
    manifest = write_csv(env.tmp / "m.csv", rows)
    monkeypatch.setattr(import_apply, "BATCH_ROWS", 4)
    real, calls = import_apply.write_batch, []

    def crashing(session, actor, batch, origin):
        calls.append(len(batch))
        real(session, actor, batch, origin)  # written, not yet committed...
        if len(calls) == 2:
            raise KeyboardInterrupt  # ...when the user presses Ctrl-C

    monkeypatch.setattr(import_apply, "write_batch", crashing)
    before = snapshot(env.app)
    result = env.run(manifest, "--root", env.root, "--report", env.tmp / "report.csv")
    assert result.exit_code == 130
    assert "Imported from m.csv: 4 new evidence" in result.stdout
    assert "Interrupted: 8 row(s) not imported; run the same command again to complete." in result.stdout
    with open(env.tmp / "report.csv", encoding="utf-8-sig") as f:
        assert [r["result"] for r in csv.DictReader(f)] == ["done"] * 4 + ["not_imported"] * 8
    after = snapshot(env.app)
    assert (after["Evidence"], after["AuditEvent"] - before["AuditEvent"]) == (4, 4)
    assert runner_verify(env) == 0
    blobs_are_whole(env.app)

    monkeypatch.setattr(import_apply, "write_batch", real)
    again = env.run(manifest, "--root", env.root)
    assert again.exit_code == 0, again.output
    assert "8 new evidence, 0 new version(s), 4 unchanged, 0 error(s)" in again.stdout
    assert runner_verify(env) == 0
    with env.app.app_context(), db.session_scope(env.app) as session:
        assert sorted(session.exec(select(Evidence.title))) == sorted(f"Export {i}" for i in range(12))


def test_files_that_cannot_be_made_durable_fail_their_rows(env, monkeypatch):
    """A batch's files are fsynced before its rows commit: when that fails (a disk error), the rows of every file
    it covers (here, being tiny, all were stored before the first sync) and of every later one fail; none names a
    blob that may be lost, the link row stays, and a re-run completes."""
    for i in range(12):
        (env.root / f"export-{i:02d}.json").write_text(f'{{"n": {i}}}')
    rows = [["file", "url", "title", "perimeters"]] + [
        [f"export-{i:02d}.json", "", f"Export {i}", PERIMETER] for i in range(12)] + [
        ["", "https://soc.example.internal/tableau", "Tableau SOC", PERIMETER]]
    manifest = write_csv(env.tmp / "m.csv", rows)
    monkeypatch.setattr(import_apply, "BATCH_ROWS", 4)
    monkeypatch.setattr(import_apply, "BATCH_SECONDS", 60)
    real, calls = storage.LocalBlobStore._settle, []

    def failing(store, written, each=map, syncfs=None):
        calls.append(len(written))
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error")
        real(store, written, each, syncfs)

    monkeypatch.setattr(storage.LocalBlobStore, "_settle", failing)
    result = env.run(manifest, "--root", env.root, "--report", env.tmp / "report.csv")
    assert result.exit_code == 1
    assert len(calls) == 1  # after a failed sync, the batch refuses every later one without trying
    with open(env.tmp / "report.csv", encoding="utf-8-sig") as f:
        assert [r["result"] for r in csv.DictReader(f)] == ["failed"] * 12 + ["done"]
    assert "Input/output error" in result.stderr
    assert runner_verify(env) == 0

    monkeypatch.setattr(storage.LocalBlobStore, "_settle", real)
    again = env.run(manifest, "--root", env.root)
    assert again.exit_code == 0, again.output
    assert "12 new evidence, 0 new version(s), 1 unchanged, 0 error(s)" in again.stdout
    assert runner_verify(env) == 0


def test_killed_import_leaves_nothing_half_done(env, database_url):
    """kill -9 of a real `evidence import` midway; then `evidence verify` passes and a re-run completes."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the process test runs once, on SQLite; the simulated interruption covers both databases")
    count = 1500
    bulk = env.root / "bulk"
    bulk.mkdir()
    for i in range(count):
        (bulk / f"log-{i:04d}.txt").write_bytes(b"%d " % i * (1 + i % 40))
    manifest = write_csv(env.tmp / "bulk.csv",
                         [["file", "title", "perimeters"]] + [[f"bulk/log-{i:04d}.txt", f"Journal {i}", PERIMETER]
                                                              for i in range(count)])
    # The same instance secret as the test app's: it keys the audit trail's seals.
    environ = {**os.environ, "EVIDENCE_INSTANCE": env.app.instance_path, "EVIDENCE_DATABASE_URL": database_url,
               "EVIDENCE_SECRET_KEY": env.app.config["SECRET_KEY"]}
    command = [EVIDENCE, "import", str(manifest), "--root", str(env.root)]
    database = database_url.removeprefix("sqlite:///")

    def imported() -> int:
        with sqlite3.connect(database, timeout=10) as connection:
            return connection.execute("SELECT count(*) FROM evidence").fetchone()[0]

    process = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while imported() == 0 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    landed = imported()
    assert 0 < landed < count, "the import was not caught midway"

    verify = subprocess.run([EVIDENCE, "verify"], env=environ, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    blobs_are_whole(env.app)
    again = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{count - landed} new evidence, 0 new version(s), {landed} unchanged, 0 error(s)" in again.stdout
    assert imported() == count
    assert subprocess.run([EVIDENCE, "verify"], env=environ, capture_output=True).returncode == 0


def test_attribution_rules(env):
    manifest = write_csv(env.tmp / "m.csv", [["file", "title", "perimeters"], ["journal.log", "Journal", PERIMETER]])
    assert env.run(manifest, "--root", env.root, "--dry-run").exit_code == 0  # the sole admin: no --as needed
    for email, message in [
        ("ghost@example.org", "--as ghost@example.org: no such user"),
        ("auditor@example.org", "--as auditor@example.org: an auditor may not add evidence"),
    ]:
        result = env.run(manifest, "--root", env.root, "--as", email)
        assert result.exit_code == 1 and message in result.stderr
    with env.app.app_context(), db.session_scope(env.app) as session:
        auth.create_user(session, None, "second-admin@example.org", "Second", "admin", PASSWORD)
        auth.set_active(session, None, auth.get_user(session, "manager@example.org"), False)
    result = env.run(manifest, "--root", env.root)
    assert result.exit_code == 1
    assert ("2 admins exist (admin@example.org, second-admin@example.org): say which user imports with --as EMAIL"
            in result.stderr)
    result = env.run(manifest, "--root", env.root, "--as", "manager@example.org")
    assert result.exit_code == 1 and "--as manager@example.org: this account is disabled" in result.stderr
    result = env.run(manifest, "--root", env.root, "--as", "Contributor@Example.org")
    assert result.exit_code == 0, result.output
    with env.app.app_context(), db.session_scope(env.app) as session:
        evidence = session.exec(select(Evidence)).one()
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence.create")).one()
        assert evidence.owner_id == env.users["contributor"].id and event.actor == "contributor@example.org"


def test_usage_errors(env):
    result = env.run(env.tmp / "m.csv")
    assert result.exit_code == 2 and "give MANIFEST and --root DIR (or --template FILE)" in result.output
    result = env.run(write_csv(env.tmp / "m.csv", [["file"], ["x"]]), "--root", env.tmp / "nowhere")
    assert result.exit_code == 1 and "no such folder" in result.stderr
    result = env.run(env.tmp / "m.csv", "--root", env.root, "--dry-run", "--report", env.tmp / "no" / "r.csv")
    assert result.exit_code == 1 and "Dry run of m.csv" in result.stdout
    assert f"cannot write {env.tmp / 'no' / 'r.csv'}: No such file or directory" in result.stderr


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_template(env, suffix):
    path = env.tmp / f"modèle{suffix}"
    result = env.run("--template", path)
    assert result.exit_code == 0 and f"Wrote {path}" in result.stdout
    if suffix == ".csv":
        assert path.read_bytes().startswith(
            b"\xef\xbb\xbffile,url,title,ref,kind,owner,controls,requirements,perimeters,answers,effective_date,")
    else:
        assert load_workbook(path).worksheets[0]["A1"].value == "file"
    (row,) = importer.read_manifest(path)  # the template reads back as a manifest: the header and one example
    assert list(row.values) == list(importer.COLUMNS)
    assert row.values["file"] == "rapports/rapport-edr-2025-t2.pdf"
    assert env.run("--template", env.tmp / "x.ods").exit_code == 1
    again = env.run("--template", path)
    assert again.exit_code == 1 and "exists already" in again.stderr


def test_the_xlsx_template_sizes_every_column(tmp_path):
    from openpyxl.utils import get_column_letter

    path = tmp_path / "modèle.xlsx"
    importer.write_template(path)
    sheet = load_workbook(path).worksheets[0]
    widths = {column: sheet.column_dimensions[get_column_letter(i)].width
              for i, column in enumerate(importer.COLUMNS, start=1)}
    assert widths == {c: max(14, len(str(importer.EXAMPLE_ROW[c])) + 2) for c in importer.COLUMNS}
