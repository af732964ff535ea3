"""Stage 2b of an import: what each checked row will do (pure, given a way to hash a file), and the result."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from evidence.core.errors import N_, Message
from evidence.core.rules.evidence_review import hand_version_refusal
from evidence.importer.manifest import ManifestRow
from evidence.importer.rows import Entry, Known, KnownEvidence, RowError, SourceFile

NEW_EVIDENCE, NEW_VERSION, UNCHANGED, ERROR = "new_evidence", "new_version", "unchanged", "error"
# What became of a planned row when the import ran:
PLANNED, DONE, FAILED, NOT_IMPORTED = "planned", "done", "failed", "not_imported"


@dataclass(eq=False)
class RowOutcome:
    number: int
    action: str  # NEW_EVIDENCE | NEW_VERSION | UNCHANGED | ERROR
    entry: Optional[Entry] = None
    errors: list = field(default_factory=list)  # RowError, or a Message for a failure while importing
    ref: str = ""  # the evidence concerned; for new evidence, known once created
    same_as: Optional[int] = None  # unchanged because an earlier row of the manifest brings the same
    status: str = PLANNED  # PLANNED, then DONE | FAILED | NOT_IMPORTED
    sha256: Optional[str] = None
    values: dict = field(default_factory=dict)  # the row as the manifest writes it

    @property
    def source(self) -> Optional[SourceFile]:
        return self.entry.file if self.entry else None


@dataclass
class ImportResult:
    manifest: str
    outcomes: list[RowOutcome]
    dry_run: bool = False
    atomic: bool = False
    interrupted: bool = False
    problem: Message | str = ""  # why nothing (more) was imported, when it is not one row's fault
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
                    Message(N_("%(ref)s figure déjà à la ligne %(row)s : une ligne par preuve (avec son fichier le "
                               "plus récent)"), ref=ref, row=first_row[ref]),
                )], values=row.values))
                continue
            first_row[ref] = row.number
            if refusal := hand_version_refusal(entry.evidence.kind, ref):
                outcomes.append(RowOutcome(row.number, ERROR, errors=[RowError(
                    row.number, "ref", row.values.get("ref", ""), refusal)], values=row.values))
                continue
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


def files_to_hash(checked, known) -> list[SourceFile]:
    """The files `plan` may need the hash of: those it compares with a version of the same size.

    A dry plan where no two files are ever equal (every row new) compares at least every pair the real plan
    compares, so hashing what it asks for lets the real plan run on known hashes (and the hashing in parallel)."""
    asked: dict[SourceFile, None] = {}

    def record(source: SourceFile) -> str:
        asked[source] = None
        return f"unknown {id(source)}"

    plan(checked, known, record)
    return list(asked)
