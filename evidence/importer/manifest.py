"""Stage 1 of an import: the manifest's rows as plain values with their row numbers (pure), and the template."""
from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Iterable

from evidence.core.errors import N_, EvidenceError

COLUMNS = ("file", "url", "title", "ref", "kind", "owner", "controls", "requirements", "perimeters", "answers",
           "effective_date", "valid_until", "document_version", "renewal", "classification", "description")
# With `ref`, a row only brings a new file or address; the evidence's other fields are edited in the app.
METADATA_COLUMNS = ("title", "kind", "owner", "controls", "requirements", "perimeters", "answers", "effective_date",
                    "valid_until", "document_version", "renewal", "classification", "description")
EXAMPLE_ROW = {
    "file": "rapports/rapport-edr-2025-t2.pdf", "url": "", "title": "Rapport trimestriel EDR", "ref": "",
    "kind": "report", "owner": "rssi@example.org", "controls": "CTL-LOG-01", "requirements": "12.4.a;12.4.b",
    "perimeters": "iaas-fr1", "answers": "12.4.a#1",
    "effective_date": "2025-06-30", "valid_until": "30/06/2026", "document_version": "1.0", "renewal": "", "classification": "internal",
    "description": "Export de la console EDR, tous les serveurs du périmètre",
}


@dataclass(frozen=True)
class ManifestLimits:
    """What a manifest may hold (EVIDENCE_MANIFEST_MAX_ROWS, EVIDENCE_MANIFEST_MAX_BYTES), checked before and while
    it is parsed: a small zip can unpack to gigabytes and a million rows, which the import would hold in memory."""

    max_rows: int = 100_000
    max_bytes: int = 50 * 1024 * 1024  # uncompressed
    max_cells: int = 2 * len(COLUMNS)  # per row: every column, and room for notes beside them
    max_cell: int = 32_767  # characters in one cell: a spreadsheet's own limit

    @classmethod
    def from_config(cls, config) -> "ManifestLimits":
        return cls(max_rows=config["MANIFEST_MAX_ROWS"], max_bytes=config["MANIFEST_MAX_BYTES"])


DEFAULT_LIMITS = ManifestLimits()


@dataclass(frozen=True)
class ManifestRow:
    number: int  # as a spreadsheet shows it: the header is row 1
    values: dict  # column -> str, or date / datetime from an XLSX cell; "" when empty
    extra: tuple = ()  # non-empty cells beyond the last named column


def read_manifest(path: Path, limits: ManifestLimits = DEFAULT_LIMITS) -> list[ManifestRow]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise EvidenceError(N_("%(name)s : un manifeste est un fichier .csv ou .xlsx"), name=path.name)
    try:
        size = unpacked_size(path) if suffix == ".xlsx" else path.stat().st_size
        if size > limits.max_bytes:
            raise EvidenceError(N_("%(name)s : le manifeste fait %(size)s octets une fois décompressé, au-delà de la "
                                   "limite de %(limit)s octets (réglage EVIDENCE_MANIFEST_MAX_BYTES) : "
                                   "découpez-le en plusieurs imports"), name=path.name, size=size,
                                limit=limits.max_bytes)
        if suffix == ".xlsx":
            return parse_xlsx(path, limits)
        return parse_csv(path.read_bytes(), limits)
    except ManifestTooLarge as error:  # the file is named: the import may be one of many in a script
        raise EvidenceError(N_("%(name)s : %(reason)s"), name=path.name, reason=error, field=error.field) from None
    except OSError as error:
        raise EvidenceError(N_("impossible de lire le manifeste %(path)s : %(reason)s"), path=path,
                            reason=error.strerror or error) from None


def unpacked_size(path: Path) -> int:
    """The size an XLSX (a zip) declares for its parts once uncompressed, read from its directory before any part
    is inflated. A part that lies about its size cannot inflate past it: zipfile stops at the declared size."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        return path.stat().st_size  # not a zip: openpyxl says so, in its words, when it tries to open it


def parse_csv(data: bytes, limits: ManifestLimits = DEFAULT_LIMITS) -> list[ManifestRow]:
    """UTF-8 with or without a BOM; `,` or `;` between values, whichever the header is written with."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise EvidenceError(N_("le manifeste n’est pas en UTF-8 (ligne %(line)s) : enregistrez-le en CSV UTF-8"),
                            line=line) from None
    delimiter = max((",", ";"), key=lambda d: _header_score(text, d))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _table(enumerate(reader, start=1), limits)
    except csv.Error as error:
        reason = str(error).split(" - ")[0]  # not the advice to the programmer that may follow
        raise EvidenceError(N_("le manifeste n’est pas un CSV valide (ligne %(line)s) : %(reason)s"),
                            line=reader.line_num, reason=reason) from None


def _header_score(text: str, delimiter: str) -> tuple[int, int]:
    """How well `delimiter` splits the first record into known column names (then: into many values)."""
    try:
        records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        names = next((r for r in records if any(c.strip() for c in r)), [])  # blank lines may come first
    except csv.Error:
        return -1, 0
    return sum(_column_name(n) in COLUMNS for n in names), len(names)


def parse_xlsx(path: Path, limits: ManifestLimits = DEFAULT_LIMITS) -> list[ManifestRow]:
    """The first sheet of a workbook; dates may be real date cells."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        raise EvidenceError(N_("impossible de lire %(name)s comme un classeur XLSX : %(reason)s"),
                            name=Path(path).name, reason=error) from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # read every row, whatever size the file claims (some tools write it wrong)
        return _table(enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1), limits)
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


class ManifestTooLarge(EvidenceError):
    """A manifest past one of its limits (ManifestLimits): `read_manifest` names the file."""


def _bounded(records: Iterable[tuple[int, list]], limits: ManifestLimits):
    """The records, refused as soon as one goes past a limit: before the rest is read, empty rows counted (a
    sheet of a million empty rows costs as much to walk as a full one)."""
    for number, record in records:
        if number > limits.max_rows + 1:  # the header is row 1
            raise ManifestTooLarge(N_("le manifeste a plus de %(limit)s lignes (réglage EVIDENCE_MANIFEST_MAX_ROWS) : "
                                      "découpez-le en plusieurs imports"), limit=limits.max_rows)
        if len(record) > limits.max_cells and any(v not in (None, "") for v in record[limits.max_cells:]):
            raise ManifestTooLarge(N_("ligne %(row)s : plus de %(limit)s cellules remplies ; le manifeste a %(count)s "
                                      "colonnes"), row=number, limit=limits.max_cells, count=len(COLUMNS))
        record = list(record[:limits.max_cells])
        for index, value in enumerate(record):
            if isinstance(value, str) and len(value) > limits.max_cell:
                raise ManifestTooLarge(N_("ligne %(row)s, cellule %(column)s : plus de %(limit)s caractères"),
                                       row=number, column=index + 1, limit=limits.max_cell)
        yield number, record


def _table(records: Iterable[tuple[int, list]], limits: ManifestLimits = DEFAULT_LIMITS) -> list[ManifestRow]:
    """Rows as {column: value} after checking the header (case-insensitive names, no unknown column)."""
    records = _bounded(records, limits)
    for number, header in records:  # noqa: B007  (number names the header row below)
        if any(_cell(v) != "" for v in header):
            break
    else:
        raise EvidenceError(N_("le manifeste est vide : sa première ligne doit nommer les colonnes"))
    names = [_column_name(v) for v in header]
    unknown = [str(v).strip() for v, n in zip(header, names) if n and n not in COLUMNS]
    if unknown:
        raise EvidenceError(N_("colonne(s) inconnue(s) « %(unknown)s » à la ligne %(row)s ; les colonnes sont : "
                               "%(columns)s"), unknown=", ".join(unknown), row=number, columns=", ".join(COLUMNS))
    if duplicates := sorted({n for n in names if n and names.count(n) > 1}):
        raise EvidenceError(N_("colonne(s) %(columns)s présente(s) plus d’une fois à la ligne %(row)s"),
                            columns=", ".join(duplicates), row=number)
    if "file" not in names and "url" not in names:
        raise EvidenceError(N_("le manifeste doit avoir une colonne file ou url (la ligne %(row)s nomme : "
                               "%(names)s)"), row=number, names=", ".join(filter(None, names)))
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


# --- the template --------------------------------------------------------------------------------------------


def write_template(path: Path) -> None:
    """An empty manifest: the header and one example row (CSV with `,` in UTF-8 with a BOM, or XLSX)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise EvidenceError(N_("%(name)s : un modèle est un fichier .csv ou .xlsx"), name=path.name)
    if path.exists():
        raise EvidenceError(N_("%(path)s existe déjà : donnez un autre nom (un modèle ne remplace jamais un "
                               "manifeste)"), path=path)

    def write_csv(binary):
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(COLUMNS)
        writer.writerow([EXAMPLE_ROW[c] for c in COLUMNS])
        text.flush()
        text.detach()

    def write_xlsx(binary):
        from openpyxl import Workbook
        from openpyxl.utils import get_column_letter

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "manifest"
        sheet.append(list(COLUMNS))
        sheet.append([EXAMPLE_ROW[c] for c in COLUMNS])
        for letter, column in zip(map(get_column_letter, range(1, len(COLUMNS) + 1)), COLUMNS):
            sheet.column_dimensions[letter].width = max(14, len(str(EXAMPLE_ROW[column])) + 2)
        sheet.freeze_panes = "A2"
        workbook.save(binary)

    write_output(path, write_xlsx if suffix == ".xlsx" else write_csv)


def write_output(path: Path, write) -> None:
    """Write a file the import produces (template, report) whole or not at all."""
    from evidence.data.files import atomic_write

    try:
        atomic_write(path, write)
    except OSError as error:
        raise EvidenceError(N_("impossible d’écrire %(path)s : %(reason)s"), path=path,
                            reason=error.strerror or error) from None
