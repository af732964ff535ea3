"""Bulk evidence import: a manifest (CSV or XLSX) whose rows name files under a folder, or links.

    evidence import MANIFEST --root DIR [--dry-run] [--atomic] [--report FILE.csv] [--as EMAIL]

Three stages; the first two write nothing:

1. read: the manifest's rows as plain values with their row numbers (`read_manifest`, pure).
2. check: every row is validated against the folder and against what the database knows, loaded once into
   a `Known` snapshot (`validate_row`, pure but for looking at the files), then planned: new evidence, new
   version, unchanged or error (`plan`, pure given a way to hash a file). A file is hashed at this stage only
   when its outcome depends on it: when it has the size of the version it could be identical to.
3. apply: worker threads store the files (hashed while copied, in one pass, by `evidence_items._store`);
   the main thread writes the rows in batches, each row with its audit event attributed to the importing
   user (`_write_batch`). Per-row mode commits batch by batch, and retries a batch the database refuses
   row by row, so that only the faulty row fails: rows land or fail one by one, as if each committed on
   its own, at a fraction of the cost. `--atomic` stores every file first, then writes every row in one
   transaction.

Why batches and not `create_evidence` per row: through the ORM one evidence costs about 2 ms of database
work, twice the whole budget of the 1,000 files per second a bulk import must reach. `_write_batch` makes the
same rows and audit events as `create_evidence` / `add_version` (reference and version numbering, back to
draft on a new version, audit details from `evidence_items._version_details`, `audit.record` for the chain)
with one multi-row INSERT per table and batch; both modes use it.

Idempotence: a row with `ref` is unchanged when the evidence's current version has the same SHA-256 (or
address); a row without `ref` when an evidence with the same title has a current version with the same
SHA-256 (or address). So running a manifest again writes nothing, and completes an interrupted run. (For
this to hold, an evidence may take one new version per manifest, and a row without `ref` never matches an
evidence that another row of the manifest gives a new version.)

Interruptions: a blob is complete, fsynced and linked under its hash before any row refers to it, and rows
commit after; a crash, kill or Ctrl-C at any point leaves at most unreferenced blobs and temporary files,
never a row that points to a missing blob, and loses at most the open batch (200 rows or half a second).
"""
from __future__ import annotations

import csv
import io
import os
import re
import stat
import time
import unicodedata
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Callable, Iterable, Iterator, Optional

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from evidence.core.errors import EvidenceError
from evidence.data import audit, storage
from evidence.data.models import (
    CLASSIFICATIONS,
    EVIDENCE_KINDS,
    Control,
    Evidence,
    EvidenceControl,
    EvidenceRequirement,
    EvidenceVersion,
    Framework,
    Requirement,
    User,
    utcnow,
)
from evidence.exports.matrix import safe_cell
from evidence.services.evidence import (
    EvidenceData,
    _store,
    _version_details,
    can_edit_evidence,
    check_url,
    safe_filename,
)

COLUMNS = ("file", "url", "title", "ref", "kind", "owner", "controls", "requirements", "effective_date",
           "valid_until", "classification", "description")
# With `ref`, a row only brings a new file or address; the evidence's other fields are edited in the app.
METADATA_COLUMNS = ("title", "kind", "owner", "controls", "requirements", "effective_date", "valid_until",
                    "classification", "description")
EXAMPLE_ROW = {
    "file": "rapports/rapport-edr-2025-t2.pdf", "url": "", "title": "Rapport trimestriel EDR", "ref": "",
    "kind": "report", "owner": "rssi@example.org", "controls": "CTL-LOG-01", "requirements": "12.4.a;12.4.b",
    "effective_date": "2025-06-30", "valid_until": "30/06/2026", "classification": "internal",
    "description": "Export de la console EDR, tous les serveurs du périmètre",
}

NEW_EVIDENCE, NEW_VERSION, UNCHANGED, ERROR = "new_evidence", "new_version", "unchanged", "error"
# What became of a planned row when the import ran:
PLANNED, DONE, FAILED, NOT_IMPORTED = "planned", "done", "failed", "not_imported"

MAX_TITLE, MAX_DESCRIPTION = 300, 20_000
BATCH_ROWS = 200  # rows per transaction in per-row mode ...
BATCH_SECONDS = 0.5  # ... or fewer when files are slow to store, so that an interruption loses little
_REF_SPLIT = re.compile(r"[;,\s]+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FRENCH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def default_workers() -> int:
    # Storing a file is mostly waiting for fsync; a few threads overlap it with the database work.
    return max(2, min(4, 2 * (os.cpu_count() or 1)))


# --- 1. reading the manifest (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestRow:
    number: int  # as a spreadsheet shows it: the header is row 1
    values: dict  # column -> str, or date / datetime from an XLSX cell; "" when empty
    extra: tuple = ()  # non-empty cells beyond the last named column


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: object
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}, value {_show(self.value)}: {self.message}"


def _show(value) -> str:
    if isinstance(value, (date, datetime)):
        value = value.isoformat()
    text = str(value)
    return repr(text if len(text) <= 120 else text[:117] + "...")


def read_manifest(path: Path) -> list[ManifestRow]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise EvidenceError(f"{path.name}: a manifest is a .csv or .xlsx file")
    try:
        if suffix == ".xlsx":
            return parse_xlsx(path)
        return parse_csv(path.read_bytes())
    except OSError as error:
        raise EvidenceError(f"cannot read the manifest {path}: {error.strerror or error}") from None


def parse_csv(data: bytes) -> list[ManifestRow]:
    """UTF-8 with or without a BOM; `,` or `;` between values, whichever the header is written with."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise EvidenceError(f"the manifest is not UTF-8 (line {line}): save it as CSV UTF-8") from None
    delimiter = max((",", ";"), key=lambda d: _header_score(text, d))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _table(enumerate(reader, start=1))
    except csv.Error as error:
        reason = str(error).split(" - ")[0]  # not the advice to the programmer that may follow
        raise EvidenceError(f"the manifest is not valid CSV (line {reader.line_num}): {reason}") from None


def _header_score(text: str, delimiter: str) -> tuple[int, int]:
    """How well `delimiter` splits the first record into known column names (then: into many values)."""
    try:
        records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        names = next((r for r in records if any(c.strip() for c in r)), [])  # blank lines may come first
    except csv.Error:
        return -1, 0
    return sum(_column_name(n) in COLUMNS for n in names), len(names)


def parse_xlsx(path: Path) -> list[ManifestRow]:
    """The first sheet of a workbook; dates may be real date cells."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        raise EvidenceError(f"cannot read {Path(path).name} as an XLSX workbook: {error}") from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # read every row, whatever size the file claims (some tools write it wrong)
        return _table(enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1))
    finally:
        workbook.close()


def _column_name(name) -> str:
    return re.sub(r"[\s-]+", "_", str(name or "").strip().lower())


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", str(value)).strip()


def _table(records: Iterable[tuple[int, list]]) -> list[ManifestRow]:
    """Rows as {column: value} after checking the header (case-insensitive names, no unknown column)."""
    records = iter(records)
    for number, header in records:  # noqa: B007  (number names the header row below)
        if any(_cell(v) != "" for v in header):
            break
    else:
        raise EvidenceError("the manifest is empty: its first row must name the columns")
    names = [_column_name(v) for v in header]
    unknown = [str(v).strip() for v, n in zip(header, names) if n and n not in COLUMNS]
    if unknown:
        raise EvidenceError(f"unknown column(s) {', '.join(map(repr, unknown))} in row {number}; "
                            f"the columns are: {', '.join(COLUMNS)}")
    if duplicates := sorted({n for n in names if n and names.count(n) > 1}):
        raise EvidenceError(f"column(s) {', '.join(duplicates)} appear more than once in row {number}")
    if "file" not in names and "url" not in names:
        raise EvidenceError(f"the manifest needs a file or a url column (row {number} names: "
                            f"{', '.join(filter(None, names))})")
    rows = []
    for number, record in records:
        cells = [_cell(v) for v in record]
        if all(c == "" for c in cells):
            continue
        values = {name: "" for name in names if name}
        extra = []
        for index, value in enumerate(cells):
            if index < len(names) and names[index]:
                values[names[index]] = value
            elif value != "":
                extra.append(value)
        rows.append(ManifestRow(number, values, tuple(extra)))
    return rows


# --- 2. checking and planning ------------------------------------------------------------------------------


@dataclass(eq=False)  # compared by identity: it keys the cache of hashes
class SourceFile:
    name: str  # as the manifest writes it
    path: Path  # resolved, inside the root
    size: int
    identity: tuple[int, int]  # (st_dev, st_ino): the file opened later must be this one
    sha256: Optional[str] = None  # once hashed


def check_file(root: Path, name: str, max_size: Optional[int]) -> SourceFile:
    """The regular, readable file `name` names inside `root` (already resolved); ValueError says why not."""
    relative = name.replace("\\", "/")  # a manifest written on Windows
    if relative.startswith("/") or re.match(r"[A-Za-z]:", relative):
        raise ValueError("an absolute path: give the path relative to --root")
    parts = PurePosixPath(relative).parts
    if ".." in parts:
        raise ValueError("'..' is not allowed: give the path relative to --root")
    if "\x00" in relative or not parts:
        raise ValueError("not a file name")
    path = _existing(root, relative)
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise ValueError("a symbolic link to nothing") from None
    if not real.is_relative_to(root):
        raise ValueError("a symbolic link that leads outside --root")
    info = real.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file")
    if max_size is not None and info.st_size > max_size:
        raise ValueError(f"{info.st_size} bytes: over the upload limit of {max_size} bytes")
    try:
        _open(real).close()
    except OSError as error:
        raise ValueError(f"not readable ({error.strerror or error})") from None
    return SourceFile(name, real, info.st_size, (info.st_dev, info.st_ino))


def _existing(root: Path, relative: str) -> Path:
    # A manifest typed on one system may spell accented names in the other Unicode normal form (macOS: NFD).
    for form in (None, "NFC", "NFD"):
        path = root / (unicodedata.normalize(form, relative) if form else relative)
        if os.path.lexists(path):
            return path
    raise ValueError("no such file under --root")


def _open(path: Path):
    return open(path, "rb")


def parse_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        if _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
        if match := _FRENCH_DATE.fullmatch(value):
            return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        raise ValueError("no such date") from None
    raise ValueError("not a date: write YYYY-MM-DD or DD/MM/YYYY")


def split_refs(value) -> list[str]:
    """References separated by `;` (also `,`, spaces or line breaks), in order, without repeats."""
    return list(dict.fromkeys(r for r in _REF_SPLIT.split(str(value)) if r))


@dataclass(frozen=True)
class CurrentVersion:
    number: int
    sha256: Optional[str]
    size: Optional[int]
    url: Optional[str]


@dataclass(frozen=True)
class KnownEvidence:
    id: int
    ref: str
    title: str
    owner_id: Optional[int]
    current: Optional[CurrentVersion]


@dataclass
class Known:
    """What the database holds that the manifest refers to, loaded once (see `load_known`)."""

    users: dict = field(default_factory=dict)  # email -> User (id, role, active)
    controls: dict = field(default_factory=dict)  # ref -> (id, status)
    requirements: dict = field(default_factory=dict)  # lower-case ref -> (id, ref)
    evidence: dict = field(default_factory=dict)  # ref -> KnownEvidence
    by_title: dict = field(default_factory=dict)  # title -> [KnownEvidence]: what a row without ref may repeat


@dataclass
class Entry:
    """A valid row: what to import."""

    number: int
    file: Optional[SourceFile]
    url: str
    evidence: Optional[KnownEvidence]  # the evidence this row adds a version to (column ref)
    data: EvidenceData
    control_refs: list
    requirement_refs: list


def validate_row(row: ManifestRow, known: Known, actor: User, root: Path,
                 max_size: Optional[int]) -> tuple[Optional[Entry], list[RowError]]:
    """The row as an Entry, or every error it has (each naming the row, the column and the value)."""
    errors = []
    values = row.values

    def error(column, message, value=None):
        errors.append(RowError(row.number, column, values.get(column, "") if value is None else value, message))

    def text(column) -> str:
        value = values.get(column, "")
        return value.isoformat() if isinstance(value, (date, datetime)) else value

    if row.extra:
        error("(beyond the last column)", "more values than columns: quote values that contain the separator",
              "; ".join(map(str, row.extra)))
    name, url = text("file"), text("url")
    source = None
    if name and url:
        error("url", "give a file or a url, not both")
    elif not name and not url:
        error("file", "give a file (or a url)")
    elif name:
        try:
            source = check_file(root, name, max_size)
        except ValueError as reason:
            error("file", str(reason))
    else:
        try:
            url = check_url(url)
        except EvidenceError as reason:
            error("url", str(reason))

    evidence = None
    if ref := text("ref").upper():
        evidence = known.evidence.get(ref)
        if evidence is None:
            error("ref", "no such evidence (leave ref empty to create new evidence)")
        elif not can_edit_evidence(actor, evidence):
            error("ref", f"{actor.email} may not add a version to it (a contributor versions only their own evidence)")
        for column in METADATA_COLUMNS:
            if text(column):
                error(column, "a row with a ref only adds a version: leave this column empty "
                              "(edit the evidence in the app)")
        return _entry_or_errors(row, errors, source, url, evidence, EvidenceData(title=""), [], [])

    title = text("title")
    if not title:
        error("title", "new evidence needs a title")
    elif len(title) > MAX_TITLE:
        error("title", f"longer than {MAX_TITLE} characters")
    kind = text("kind") or ("link" if url and not name else "record")
    if kind not in EVIDENCE_KINDS:
        error("kind", f"unknown kind; the kinds are: {', '.join(EVIDENCE_KINDS)}")
    classification = text("classification") or "internal"
    if classification not in CLASSIFICATIONS:
        error("classification", f"unknown classification; the classifications are: {', '.join(CLASSIFICATIONS)}")
    description = text("description")
    if len(description) > MAX_DESCRIPTION:
        error("description", f"longer than {MAX_DESCRIPTION} characters")

    owner_id = actor.id
    if owner := text("owner").lower():
        user = known.users.get(owner)
        if user is None:
            error("owner", "no user with this e-mail")
        elif not user.active:
            error("owner", "this user is disabled")
        elif actor.role == "contributor" and user.id != actor.id:
            error("owner", f"a contributor's evidence is their own: leave owner empty or give {actor.email}")
        else:
            owner_id = user.id

    dates = {}
    for column in ("effective_date", "valid_until"):
        if values.get(column, "") != "":
            try:
                dates[column] = parse_date(values[column])
            except ValueError as reason:
                error(column, str(reason))
    if "effective_date" in dates and "valid_until" in dates and dates["valid_until"] < dates["effective_date"]:
        error("valid_until", f"before the effective date {dates['effective_date'].isoformat()}")

    control_ids, control_refs = [], []
    for control_ref in split_refs(text("controls").upper()):
        found = known.controls.get(control_ref)
        if found is None:
            error("controls", "no such control", control_ref)
        elif found[1] == "retired":
            error("controls", "this control is retired", control_ref)
        else:
            control_ids.append(found[0])
            control_refs.append(control_ref)
    requirement_ids, requirement_refs = [], []
    for requirement_ref in split_refs(text("requirements")):
        found = known.requirements.get(requirement_ref.lower())
        if found is None:
            error("requirements", "no such item in the referential", requirement_ref)
        else:
            requirement_ids.append(found[0])
            requirement_refs.append(found[1])

    data = EvidenceData(
        title=title, kind=kind, description=description, owner_id=owner_id, classification=classification,
        effective_date=dates.get("effective_date"), valid_until=dates.get("valid_until"),
        control_ids=control_ids, requirement_ids=requirement_ids,
    )
    return _entry_or_errors(row, errors, source, url, None, data, control_refs, requirement_refs)


def _entry_or_errors(row, errors, source, url, evidence, data, control_refs, requirement_refs):
    if errors:
        return None, errors
    return Entry(row.number, source, url if source is None else "", evidence, data, control_refs, requirement_refs), []


@dataclass(eq=False)
class RowOutcome:
    number: int
    action: str  # NEW_EVIDENCE | NEW_VERSION | UNCHANGED | ERROR
    entry: Optional[Entry] = None
    errors: list = field(default_factory=list)  # RowError, or str for a failure while importing
    ref: str = ""  # the evidence concerned; for new evidence, known once created
    same_as: Optional[int] = None  # unchanged because an earlier row of the manifest brings the same
    status: str = PLANNED  # PLANNED, then DONE | FAILED | NOT_IMPORTED
    sha256: Optional[str] = None
    values: dict = field(default_factory=dict)  # the row as the manifest writes it

    @property
    def source(self) -> Optional[SourceFile]:
        return self.entry.file if self.entry else None


@dataclass(eq=False)
class _Current:
    """The current version of an evidence: from the database, or the new evidence of an earlier row."""

    sha256: Optional[str]
    size: Optional[int]
    url: Optional[str]
    ref: str = ""
    row: Optional[int] = None
    file: Optional[SourceFile] = None

    @classmethod
    def of_database(cls, evidence: KnownEvidence) -> Optional["_Current"]:
        current = evidence.current
        return cls(current.sha256, current.size, current.url, evidence.ref) if current else None

    @classmethod
    def of_entry(cls, entry: Entry) -> "_Current":
        source = entry.file
        return cls(None, source.size if source else None, entry.url or None, "", entry.number, source)


def plan(checked: list[tuple[ManifestRow, Optional[Entry], list]], known: Known,
         digest: Callable[[SourceFile], str]) -> list[RowOutcome]:
    """What each row will do, in manifest order, as if the rows before it were imported.

    `digest` hashes a file; it is called only to compare files of the same size."""
    first_row: dict[str, int] = {}  # evidence ref -> the row that adds a version to it
    by_title: dict[str, list[_Current]] = {}
    # A row without ref never counts as repeating evidence that another row gives a new version: which of
    # the two would hold the file would depend on the order of the rows, and a second run would differ.
    versioned = {entry.evidence.ref for _row, entry, _errors in checked if entry and entry.evidence}
    outcomes = []
    for row, entry, errors in checked:
        if entry is None:
            outcomes.append(RowOutcome(row.number, ERROR, errors=list(errors), values=row.values))
            continue
        if entry.evidence is not None:
            ref = entry.evidence.ref
            if ref in first_row:
                # A second version in the same manifest would make every run add two: not idempotent.
                outcomes.append(RowOutcome(row.number, ERROR, errors=[RowError(
                    row.number, "ref", row.values.get("ref", ""),
                    f"{ref} is in row {first_row[ref]} already: one row per evidence (with its newest file)",
                )], values=row.values))
                continue
            first_row[ref] = row.number
            current = _Current.of_database(entry.evidence)
            if _same(entry, current, digest):
                outcomes.append(RowOutcome(row.number, UNCHANGED, entry, ref=ref, values=row.values))
            else:
                outcomes.append(RowOutcome(row.number, NEW_VERSION, entry, ref=ref, values=row.values))
            continue
        title = entry.data.title
        if title not in by_title:
            by_title[title] = [_Current.of_database(e) for e in known.by_title.get(title, ())
                               if e.current and e.ref not in versioned]
        match = next((c for c in by_title[title] if _same(entry, c, digest)), None)
        if match is not None:
            outcomes.append(RowOutcome(row.number, UNCHANGED, entry, ref=match.ref, same_as=match.row,
                                       values=row.values))
        else:
            outcomes.append(RowOutcome(row.number, NEW_EVIDENCE, entry, values=row.values))
            by_title[title].append(_Current.of_entry(entry))
    return outcomes


def _same(entry: Entry, current: Optional[_Current], digest) -> bool:
    if current is None:
        return False
    if entry.file is None:
        return current.url == entry.url
    if current.url or current.size != entry.file.size:
        return False
    return digest(entry.file) == (current.sha256 or digest(current.file))


def _files_to_hash(checked, known) -> list[SourceFile]:
    """The files `plan` may need the hash of: those it compares with a version of the same size.

    A dry plan where no two files are ever equal (every row new) compares at least every pair the real plan
    compares, so hashing what it asks for lets the real plan run on known hashes (and the hashing in parallel)."""
    asked: dict[SourceFile, None] = {}

    def record(source: SourceFile) -> str:
        asked[source] = None
        return f"unknown {id(source)}"

    plan(checked, known, record)
    return list(asked)


def hash_file(source: SourceFile) -> str:
    with _open_source(source) as stream:
        return storage._hash_stream(stream)


def _open_source(source: SourceFile):
    """The file checked earlier, refusing a different file put in its place since."""
    stream = _open(source.path)
    info = os.fstat(stream.fileno())
    if (info.st_dev, info.st_ino) != source.identity or not stat.S_ISREG(info.st_mode):
        stream.close()
        raise EvidenceError("the file was replaced since it was checked")
    return stream


# --- the database snapshot -----------------------------------------------------------------------------------


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def load_known(session: Session, rows: list[ManifestRow]) -> Known:
    """Users, and the controls, items and evidence the manifest names (by ref, and by title for new rows)."""
    known = Known()
    known.users = {u.email: u for u in session.scalars(select(User))}
    control_refs = sorted({r for row in rows for r in split_refs(str(row.values.get("controls", "")).upper())})
    for chunk in _chunks(control_refs):
        query = select(Control.id, Control.ref, Control.status).where(Control.ref.in_(chunk))
        for control_id, ref, status in session.execute(query):
            known.controls[ref] = (control_id, status)
    # Items of the assessed referential, as the evidence form reads them.
    for requirement_id, ref in session.execute(
        select(Requirement.id, Requirement.ref).join(Framework, Framework.id == Requirement.framework_id)
        .where(Framework.assessed).order_by(Requirement.id.desc())
    ):
        known.requirements[ref.lower()] = (requirement_id, ref)
    refs = sorted({str(row.values.get("ref", "")).strip().upper() for row in rows} - {""})
    titles = sorted({str(row.values.get("title", "")).strip() for row in rows
                     if not str(row.values.get("ref", "")).strip()} - {""})
    for chunk in _chunks(refs):
        for evidence in _evidence_with_current_version(session, Evidence.ref.in_(chunk)):
            known.evidence[evidence.ref] = evidence
    for chunk in _chunks(titles):
        for evidence in _evidence_with_current_version(session, Evidence.title.in_(chunk)):
            known.by_title.setdefault(evidence.title, []).append(evidence)
    return known


def _evidence_with_current_version(session: Session, condition) -> list[KnownEvidence]:
    later = aliased(EvidenceVersion)
    newest = (select(func.max(later.number)).where(later.evidence_id == Evidence.id)
              .correlate(Evidence).scalar_subquery())
    rows = session.execute(
        select(Evidence.id, Evidence.ref, Evidence.title, Evidence.owner_id, EvidenceVersion.number,
               EvidenceVersion.sha256, EvidenceVersion.size, EvidenceVersion.url)
        .outerjoin(EvidenceVersion, (EvidenceVersion.evidence_id == Evidence.id) & (EvidenceVersion.number == newest))
        .where(condition).order_by(Evidence.id)
    )
    return [KnownEvidence(id_, ref, title, owner_id, CurrentVersion(number, sha, size, url) if number else None)
            for id_, ref, title, owner_id, number, sha, size, url in rows]


def resolve_actor(session: Session, email: Optional[str]) -> User:
    """The user the import is attributed to: --as EMAIL, or else the sole active admin."""
    if email:
        user = session.scalars(select(User).where(User.email == email.strip().lower())).first()
        if user is None:
            raise EvidenceError(f"--as {email}: no such user")
        if not user.active:
            raise EvidenceError(f"--as {email}: this account is disabled")
        if not can_edit_evidence(user, None):
            raise EvidenceError(f"--as {email}: an {user.role} may not add evidence")
        return user
    admins = session.scalars(select(User).where(User.role == "admin", User.active).order_by(User.email)).all()
    if len(admins) == 1:
        return admins[0]
    if not admins:
        raise EvidenceError("there is no active admin to attribute the import to: give --as EMAIL")
    raise EvidenceError(f"{len(admins)} admins exist ({', '.join(a.email for a in admins)}): "
                        "say which user imports with --as EMAIL")


# --- 3. applying ---------------------------------------------------------------------------------------------


Progress = Callable[[str, int, int, int, int], None]  # (stage, files done, files in all, bytes done, bytes in all)


@dataclass
class ImportResult:
    manifest: str
    outcomes: list[RowOutcome]
    dry_run: bool = False
    atomic: bool = False
    interrupted: bool = False
    problem: str = ""  # why nothing (more) was imported, when it is not one row's fault
    elapsed: float = 0.0
    files_stored: int = 0
    bytes_stored: int = 0

    def count(self, action: str, status: Optional[str] = None) -> int:
        return sum(1 for o in self.outcomes if o.action == action and (status is None or o.status == status))

    @property
    def errors(self) -> list[RowOutcome]:
        return [o for o in self.outcomes if o.action == ERROR or o.status == FAILED]

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.problem or self.interrupted)


def run_import(session: Session, store, actor: User, manifest: Path, root: Path, *, dry_run: bool = False,
               atomic: bool = False, max_size: Optional[int] = None, origin: str = "",
               progress: Optional[Progress] = None, workers: Optional[int] = None) -> ImportResult:
    """Check every row, then (unless a dry run) import: per row, or all or nothing with `atomic`.

    `origin` (e.g. "cli:alice") is recorded in each audit event beside the user the import is attributed to."""
    started = time.monotonic()
    try:
        root = Path(root).resolve(strict=True)
    except (OSError, RuntimeError):
        raise EvidenceError(f"--root {root}: no such folder") from None
    if not root.is_dir():
        raise EvidenceError(f"--root {root}: not a folder")
    rows = read_manifest(manifest)
    known = load_known(session, rows)
    session.commit()  # the snapshot is taken: hold no transaction while files are read (nothing is written)
    result = ImportResult(Path(manifest).name, [], dry_run=dry_run, atomic=atomic)
    checked = [(row, *validate_row(row, known, actor, root, max_size)) for row in rows]
    workers = workers or default_workers()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="import")
    try:
        checked = _hash_for_plan(pool, checked, known, progress)
        result.outcomes = plan(checked, known, _digest)
        if not dry_run and not (atomic and result.errors):
            if any(o.action in (NEW_EVIDENCE, NEW_VERSION) for o in result.outcomes):
                store.delete_orphan_temporaries()
            _apply(session, store, actor, result, pool, lookahead=8 * workers, max_size=max_size, origin=origin,
                   progress=progress)
    except KeyboardInterrupt:
        # Ctrl-C: the open batch rolls back; what is committed stays, and running the import again completes it.
        session.rollback()
        result.interrupted = True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # files being stored finish; queued ones never start
    if not dry_run:
        _settle(result)
    result.elapsed = time.monotonic() - started
    return result


def _hash_for_plan(pool, checked, known, progress):
    """Hash, in parallel, the files the plan compares; a file that cannot be read becomes the row's error."""
    sources = _files_to_hash(checked, known)
    total = sum(s.size for s in sources)
    failed: dict[SourceFile, str] = {}
    done_bytes = 0
    for index, (source, future) in enumerate(zip(sources, [pool.submit(hash_file, s) for s in sources]), start=1):
        try:
            source.sha256 = future.result()
        except (OSError, EvidenceError) as error:
            failed[source] = getattr(error, "strerror", None) or str(error)
        done_bytes += source.size
        if progress:
            progress("checking", index, len(sources), done_bytes, total)
    if not failed:
        return checked
    return [
        (row, None, [RowError(row.number, "file", entry.file.name, f"cannot be read: {failed[entry.file]}")])
        if entry is not None and entry.file in failed else (row, entry, errors)
        for row, entry, errors in checked
    ]


def _digest(source: SourceFile) -> str:
    """The file's hash, computed once (usually already, in parallel, by _hash_for_plan)."""
    if source.sha256 is None:
        source.sha256 = hash_file(source)
    return source.sha256


def _apply(session, store, actor, result, pool, *, lookahead, max_size, origin, progress):
    todo = [o for o in result.outcomes if o.action in (NEW_EVIDENCE, NEW_VERSION)]
    total_bytes = sum(o.source.size for o in todo if o.source)
    done_files = done_bytes = 0
    batch: list[tuple[RowOutcome, object]] = []
    batch_started = time.monotonic()
    writer = _BatchWriter(session, actor, origin)
    with closing(_stored_in_order(pool, store, todo, max_size, lookahead)) as stored:
        for outcome, blob, error in stored:
            done_files += 1
            if error is not None:
                outcome.status, outcome.errors = FAILED, [error]
                if result.atomic:
                    result.problem = f"row {outcome.number} could not be stored"
                    return
            else:
                if blob is not None:
                    result.files_stored += 1
                    result.bytes_stored += blob.size
                    done_bytes += outcome.source.size
                batch.append((outcome, blob))
            if progress:
                progress("importing", done_files, len(todo), done_bytes, total_bytes)
            if not result.atomic and (len(batch) >= BATCH_ROWS or time.monotonic() - batch_started > BATCH_SECONDS):
                writer.write_each(batch)
                batch, batch_started = [], time.monotonic()
    if not result.atomic:
        writer.write_each(batch)
        return
    # Every file is stored: now every row, in one transaction.
    try:
        for start in range(0, len(batch), BATCH_ROWS):
            _write_batch(session, actor, batch[start:start + BATCH_ROWS], origin)
        session.commit()
    except SQLAlchemyError as error:
        session.rollback()
        result.problem = f"database error: {_first_line(error)}"
        return
    for outcome, _blob in batch:
        outcome.status = DONE


def _first_line(error: Exception) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def _stored_in_order(pool, store, todo: list[RowOutcome], max_size,
                     lookahead: int) -> Iterator[tuple[RowOutcome, object, Optional[str]]]:
    """(outcome, stored blob or None for a link, error or None) in manifest order, storing a few files ahead."""
    ahead: deque[tuple[RowOutcome, Optional[Future]]] = deque()
    pending = iter(todo)
    try:
        while True:
            while len(ahead) < lookahead and (outcome := next(pending, None)) is not None:
                source = outcome.source
                ahead.append((outcome, pool.submit(_store_source, store, source, max_size) if source else None))
            if not ahead:
                return
            outcome, future = ahead.popleft()
            if future is None:
                yield outcome, None, None
                continue
            try:
                blob = future.result()
            except (OSError, EvidenceError) as error:
                reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
                yield outcome, None, f"file could not be stored: {reason}"
            else:
                yield outcome, blob, None
    finally:
        for _outcome, future in ahead:  # interrupted: do not start what is queued
            if future is not None:
                future.cancel()


def _store_source(store, source: SourceFile, max_size):
    with _open_source(source) as stream:
        return _store(store, stream, source.name, max_size)


class _BatchWriter:
    """Per-row mode: a batch commits at once; should the database refuse it, each row is retried alone, so
    that only the row at fault fails (as if every row had committed on its own)."""

    def __init__(self, session: Session, actor: User, origin: str):
        self.session, self.actor, self.origin = session, actor, origin

    def write_each(self, batch: list) -> None:
        if not batch:
            return
        try:
            _write_batch(self.session, self.actor, batch, self.origin)
            self.session.commit()
        except SQLAlchemyError as error:
            self.session.rollback()
            if len(batch) > 1:
                for item in batch:
                    self.write_each([item])
                return
            outcome = batch[0][0]
            outcome.status, outcome.errors = FAILED, [f"database error: {_first_line(error)}"]
            if outcome.action == NEW_EVIDENCE:
                outcome.ref = ""
            return
        for outcome, _blob in batch:
            outcome.status = DONE


def _write_batch(session: Session, actor: User, batch: list, origin: str) -> None:
    """Insert the batch's rows in the open transaction; the caller commits.

    References and version numbers follow `evidence_items.next_ref` and `_new_version`: the highest id plus
    one, the evidence's highest version number plus one (read here, in the writing transaction)."""
    connection = session.connection()
    now = utcnow()
    author_id = actor.id
    new = [(o, b) for o, b in batch if o.action == NEW_EVIDENCE]
    versions = [(o, b) for o, b in batch if o.action == NEW_VERSION]

    evidence_ids: dict[RowOutcome, int] = {}
    if new:
        highest = connection.execute(select(func.max(Evidence.id))).scalar() or 0
        rows = []
        for offset, (outcome, _blob) in enumerate(new, start=1):
            data = outcome.entry.data
            outcome.ref = f"EV-{highest + offset:04d}"
            rows.append({
                "ref": outcome.ref, "title": data.title.strip()[:MAX_TITLE], "description": data.description.strip(),
                "kind": data.kind, "owner_id": data.owner_id, "classification": data.classification, "status": "draft",
                "review_comment": "", "effective_date": data.effective_date, "valid_until": data.valid_until,
                "version": 1, "created_at": now, "updated_at": now,
            })
        returning = insert(Evidence).returning(Evidence.id, sort_by_parameter_order=True)
        ids = connection.execute(returning, rows).scalars().all()
        evidence_ids = {o: i for (o, _b), i in zip(new, ids)}
        control_rows = [{"evidence_id": evidence_ids[o], "control_id": c}
                        for o, _b in new for c in o.entry.data.control_ids]
        requirement_rows = [{"evidence_id": evidence_ids[o], "requirement_id": r}
                            for o, _b in new for r in o.entry.data.requirement_ids]
        if control_rows:
            connection.execute(insert(EvidenceControl), control_rows)
        if requirement_rows:
            connection.execute(insert(EvidenceRequirement), requirement_rows)

    state = {}  # evidence id -> [status before this batch, highest version number]
    if versions:
        ids = sorted({o.entry.evidence.id for o, _b in versions})
        for chunk in _chunks(ids):
            for evidence_id, status, number in connection.execute(
                select(Evidence.id, Evidence.status, func.max(EvidenceVersion.number))
                .outerjoin(EvidenceVersion, EvidenceVersion.evidence_id == Evidence.id)
                .where(Evidence.id.in_(chunk)).group_by(Evidence.id, Evidence.status)
            ):
                state[evidence_id] = [status, number or 0]
        for outcome, _blob in versions:
            evidence_ids[outcome] = outcome.entry.evidence.id
        # Back to draft: what was approved was the earlier version. `version` is the optimistic-locking counter.
        connection.execute(
            update(Evidence).where(Evidence.id.in_(ids))
            .values(status="draft", updated_at=now, version=Evidence.version + 1)
        )

    version_rows, events = [], []
    for outcome, blob in batch:
        evidence_id = evidence_ids[outcome]
        if outcome.action == NEW_EVIDENCE:
            number, status_before = 1, None
        else:
            status_before, number = state[evidence_id][0], state[evidence_id][1] + 1
            state[evidence_id] = ["draft", number]
        version = SimpleNamespace(
            evidence_id=evidence_id, number=number, author_id=author_id, created_at=now, note="",
            sha256=blob.sha256 if blob else None, size=blob.size if blob else None,
            storage_key=blob.key if blob else None, url=None if blob else outcome.entry.url,
            media_type=blob.media_type if blob else "text/uri-list",
            original_filename=safe_filename(outcome.source.name) if blob else "",
        )
        version_rows.append(vars(version))
        outcome.sha256 = version.sha256
        if outcome.action == NEW_EVIDENCE:
            data, entry = outcome.entry.data, outcome.entry
            details = {"title": data.title.strip()[:MAX_TITLE], "kind": data.kind}
            if entry.control_refs:
                details["controls"] = sorted(entry.control_refs)
            if entry.requirement_refs:
                details["requirements"] = sorted(entry.requirement_refs)
            details.update(_version_details(version))
            events.append(("evidence.create", outcome.ref, details))
        else:
            details = {**_version_details(version), "status_before": status_before}
            events.append(("evidence.version", outcome.ref, details))
    connection.execute(insert(EvidenceVersion), version_rows)
    for _action, _ref, details in events:
        if origin:
            details["via"] = origin
    audit.record_many(session, actor, [(action, Evidence.__tablename__, ref, details) for action, ref, details in events])
    session.flush()


def _settle(result: ImportResult) -> None:
    """Final statuses: unchanged rows are done, rows left planned (interrupted, or --atomic refused) are not
    imported, and a row unchanged because an earlier row brings the same is not imported if that row is not."""
    by_number = {o.number: o for o in result.outcomes}
    for outcome in result.outcomes:
        if outcome.status != PLANNED or outcome.action == ERROR:
            continue
        if outcome.action != UNCHANGED:
            outcome.status = NOT_IMPORTED
            if outcome.action == NEW_EVIDENCE:
                outcome.ref = ""  # its number was rolled back
            continue
        earlier = by_number.get(outcome.same_as) if outcome.same_as else None
        if earlier is not None and earlier.status != DONE:
            outcome.status = NOT_IMPORTED
            outcome.errors = [f"same as row {earlier.number}, which was not imported"]
        else:
            outcome.status = DONE
            outcome.ref = outcome.ref or (earlier.ref if earlier else "")


# --- output: lines, report, template -------------------------------------------------------------------------

_LABELS = {NEW_EVIDENCE: "new evidence", NEW_VERSION: "new version", UNCHANGED: "unchanged", ERROR: "error"}


def describe(outcome: RowOutcome) -> str:
    """One line of the plan, e.g. `row 4: new version of EV-0042 from rapports/edr.pdf (12,345 bytes)`."""
    entry = outcome.entry
    if outcome.action == ERROR:
        return "; ".join(str(e) for e in outcome.errors)
    what = f"{entry.file.name} ({entry.file.size:,} bytes)" if entry.file else entry.url
    if outcome.action == NEW_EVIDENCE:
        return f"row {outcome.number}: new evidence {entry.data.title!r} from {what}"
    if outcome.action == NEW_VERSION:
        return f"row {outcome.number}: new version of {outcome.ref} from {what}"
    target = outcome.ref or f"the new evidence of row {outcome.same_as}"
    return f"row {outcome.number}: unchanged: {target} already has {what}"


def error_lines(result: ImportResult) -> list[str]:
    lines = []
    for outcome in result.outcomes:
        if outcome.action == ERROR:
            lines.extend(str(e) for e in outcome.errors)
        elif outcome.status == FAILED or (outcome.status == NOT_IMPORTED and outcome.errors):
            column, value = ("file", outcome.source.name) if outcome.source else ("url", outcome.entry.url)
            lines.extend(f"row {outcome.number}, column {column}, value {_show(value)}: {e}" for e in outcome.errors)
    return lines


def summary(result: ImportResult) -> str:
    errors = len(result.errors)
    if result.interrupted and not result.outcomes:
        return f"Interrupted while checking {result.manifest}; nothing imported."
    if result.dry_run:
        return (f"Dry run of {result.manifest}: {result.count(NEW_EVIDENCE)} new evidence, "
                f"{result.count(NEW_VERSION)} new version(s), {result.count(UNCHANGED)} unchanged, "
                f"{errors} error(s); nothing written.")
    if result.atomic and result.failed:
        reason = result.problem or ("interrupted" if result.interrupted else f"{errors} row(s) in error")
        return f"Nothing imported from {result.manifest} (--atomic): {reason}."
    done_new, done_versions = result.count(NEW_EVIDENCE, DONE), result.count(NEW_VERSION, DONE)
    seconds = max(result.elapsed, 1e-6)
    line = (f"Imported from {result.manifest}: {done_new} new evidence, {done_versions} new version(s), "
            f"{result.count(UNCHANGED)} unchanged, {errors} error(s); {result.files_stored} file(s), "
            f"{result.bytes_stored / 1e6:.1f} MB stored in {result.elapsed:.1f} s "
            f"({(done_new + done_versions) / seconds:.0f} rows/s, {result.bytes_stored / 1e6 / seconds:.1f} MB/s).")
    if result.interrupted:
        left = sum(1 for o in result.outcomes if o.status == NOT_IMPORTED)
        line += f" Interrupted: {left} row(s) not imported; run the same command again to complete."
    return line


REPORT_COLUMNS = ("row", "action", "result", "ref", "file", "url", "sha256", "error")


def write_report(path: Path, result: ImportResult) -> None:
    """One line per manifest row: what it does (or would do), what became of it, and why it failed."""

    def write(binary):
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(REPORT_COLUMNS)
        for o in result.outcomes:
            status = "planned" if result.dry_run else ("error" if o.action == ERROR else o.status)
            sha256 = o.sha256 or (o.source.sha256 if o.source else None) or ""
            row = [o.number, o.action, status, o.ref, _plain(o.values.get("file", "")),
                   _plain(o.values.get("url", "")), sha256, " | ".join(str(e) for e in o.errors)]
            # Values come from the manifest: a spreadsheet must not run them as formulas.
            writer.writerow([safe_cell(v) if isinstance(v, str) else v for v in row])
        text.flush()
        text.detach()

    _write_file(Path(path), write)


def _write_file(path: Path, write) -> None:
    from evidence.data.files import atomic_write

    try:
        atomic_write(path, write)
    except OSError as error:
        raise EvidenceError(f"cannot write {path}: {error.strerror or error}") from None


def _plain(value) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def write_template(path: Path) -> None:
    """An empty manifest: the header and one example row (CSV with `,` in UTF-8 with a BOM, or XLSX)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise EvidenceError(f"{path.name}: a template is a .csv or .xlsx file")
    if path.exists():
        raise EvidenceError(f"{path} exists already: give another name (a template never replaces a manifest)")

    def write_csv(binary):
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(COLUMNS)
        writer.writerow([EXAMPLE_ROW[c] for c in COLUMNS])
        text.flush()
        text.detach()

    def write_xlsx(binary):
        from openpyxl import Workbook

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "manifest"
        sheet.append(list(COLUMNS))
        sheet.append([EXAMPLE_ROW[c] for c in COLUMNS])
        for letter, column in zip("ABCDEFGHIJKL", COLUMNS):
            sheet.column_dimensions[letter].width = max(14, len(str(EXAMPLE_ROW[column])) + 2)
        sheet.freeze_panes = "A2"
        workbook.save(binary)

    _write_file(path, write_xlsx if suffix == ".xlsx" else write_csv)
