"""The traceability matrix (XLSX or CSV): one row per item of the perimeter's referential."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from evidence.data.files import atomic_write
from evidence.exports.sheet import safe_cell, styled_xlsx
from evidence.presentation import labels
from evidence.services.gaps import ItemRow, PerimeterStatus

COLUMNS = [
    ("Point", 10), ("Chapitre", 9), ("Nature", 14), ("Intitulé", 48), ("Applicabilité", 14), ("Justification", 36),
    ("Couverture", 14), ("Ce qui manque", 44), ("Mesures", 40), ("Preuves attendues", 52), ("Preuves citées", 52),
    ("Écarts ouverts", 30),
]
STATUS_FILL = {"covered": "D9EFE0", "followed": "D9EFE0", "partly_covered": "FFF1D6", "not_covered": "FDE5E5",
               "not_followed": "FFF1D6", "not_applicable": "EEF1F5"}


def matrix_rows(result: PerimeterStatus) -> list[list[str]]:
    return [_row(row) for row in result.rows]


def _row(row: ItemRow) -> list[str]:
    applicability = row.applicability
    justification = " : ".join(t for t in (labels.basis(applicability), applicability.justification) if t)
    if row.verdict is not None:
        justification = (justification + " | " if justification else "") + (
            f"Verdict du responsable conformité ({labels.text(labels.STATUS, row.verdict.status)}) : "
            f"{row.verdict.justification}")
    states = {e.id: e for e in row.status.entries}
    return [
        row.requirement.ref,
        row.requirement.chapter,
        row.requirement.kind,
        row.requirement.title,
        labels.text(labels.APPLICABILITY, applicability.state),
        justification,
        labels.text(labels.STATUS, row.status.status),
        "\n".join(labels.gap_sentences(row.status, row.requirement, "fr")),
        "\n".join(f"{c.ref} ({c.owner or '—'})" for c in row.controls),
        "\n".join(
            f"{e['id']} {e['text']} — {labels.text(labels.ENTRY_STATE, states[e['id']].state)}"
            + (f" ({', '.join(states[e['id']].proofs)})" if states[e["id"]].proofs else "")
            for e in row.requirement.expected_evidence or [] if e["id"] in states
        ),
        "\n".join(  # only approved, unexpired versions valid for the perimeter are cited as proof
            f"{e.ref} v{e.version} ({', valable jusqu’au ' + e.valid_until.isoformat() if e.valid_until else ''})"
            .replace("(, ", "(").replace(" ()", "")
            for e in row.proofs
        ),
        "\n".join(f"{labels.text(labels.SEVERITY, f.severity)} : {f.text[:120]}" for f in row.findings),
    ]


def matrix_csv(result: PerimeterStatus) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow([name for name, _w in COLUMNS])
    for row in matrix_rows(result):
        writer.writerow([safe_cell(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: spreadsheet software then reads UTF-8


def matrix_xlsx(result: PerimeterStatus) -> bytes:
    names = [name for name, _w in COLUMNS]
    return styled_xlsx("Matrice", COLUMNS, ((row, STATUS_FILL[item.status.status])
                                            for row, item in zip(matrix_rows(result), result.rows)),
                       names.index("Couverture") + 1, f"Matrice de traçabilité — {result.perimeter.code}")


def write_matrix(result: PerimeterStatus, path: Path) -> None:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        from evidence.core.errors import N_, EvidenceError

        raise EvidenceError(N_("%(path)s : la matrice s’écrit en .xlsx ou en .csv"), path=path)
    data = matrix_xlsx(result) if suffix == ".xlsx" else matrix_csv(result)
    atomic_write(path, lambda f: f.write(data))
