"""The traceability matrix (XLSX or CSV): one row per item of the perimeter's referential."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from evidence.data.files import atomic_write
from evidence.presentation import labels
from evidence.services.gaps import ItemRow, PerimeterStatus

COLUMNS = [
    ("Point", 10), ("Chapitre", 9), ("Nature", 14), ("Intitulé", 48), ("Applicabilité", 14), ("Justification", 36),
    ("Statut", 14), ("Raisons", 34), ("Mesures", 40), ("Preuves", 52), ("Écarts ouverts", 30),
]
STATUS_FILL = {"compliant": "D9EFE0", "partial": "FFF1D6", "non_compliant": "FDE5E5", "not_applicable": "EEF1F5"}


def matrix_rows(result: PerimeterStatus) -> list[list[str]]:
    return [_row(row) for row in result.rows]


def _row(row: ItemRow) -> list[str]:
    applicability = row.applicability
    justification = "" if applicability.derived and applicability.justification in ("service_type", "built_on") else applicability.justification
    if row.verdict is not None:
        justification = (justification + " | " if justification else "") + f"Verdict : {row.verdict.justification}"
    return [
        row.requirement.ref,
        row.requirement.chapter,
        row.requirement.kind,
        row.requirement.title,
        labels.text(labels.APPLICABILITY, applicability.state),
        justification,
        labels.text(labels.STATUS, row.status.status),
        ", ".join(labels.text(labels.REASON, r) for r in row.status.reasons),
        "\n".join(f"{c.ref} ({c.owner or '—'})" for c in row.controls),
        "\n".join(
            f"{e.ref} v{e.version or '-'} ({labels.text(labels.EVIDENCE_STATUS, e.status)}{', valable jusqu’au ' + e.valid_until.isoformat() if e.valid_until else ''})"
            for e in row.evidence
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


def safe_cell(value: str) -> str:
    """Cells a spreadsheet would run as a formula (=, +, -, @) are quoted (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def matrix_xlsx(result: PerimeterStatus) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Matrice"[:31]
    sheet.append([name for name, _w in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F3A68")
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    status_column = [name for name, _w in COLUMNS].index("Statut") + 1
    for row, item in zip(matrix_rows(result), result.rows):
        sheet.append([safe_cell(value) for value in row])
        excel_row = sheet.max_row
        for cell in sheet[excel_row]:
            cell.alignment = Alignment(vertical="top", wrap_text=True)
        sheet.cell(excel_row, status_column).fill = PatternFill("solid", fgColor=STATUS_FILL[item.status.status])
    for index, (_name, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{sheet.max_row}"
    workbook.properties.title = f"Matrice de traçabilité — {result.perimeter.code}"
    workbook.properties.creator = "SecNumCloud evidence"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_matrix(result: PerimeterStatus, path: Path) -> None:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        from evidence.core.errors import EvidenceError

        raise EvidenceError(f"{path}: the matrix is written as .xlsx or .csv")
    data = matrix_xlsx(result) if suffix == ".xlsx" else matrix_csv(result)
    atomic_write(path, lambda f: f.write(data))


# --- The evidence bundle ----------------------------------------------------------------------------------

BUNDLE_MANIFEST = "manifest.json"


def _bundle_name(evidence: dict) -> str:
    from evidence.services.evidence import safe_filename

    return f"evidence/{evidence['ref']}-v{evidence['version']}-{safe_filename(evidence['file_name'] or 'file')}"


def write_bundle(snapshot: dict, pdf: bytes, pdf_name: str, store, path: Path) -> dict:
    """A zip for the evaluator: the dossier, every pinned evidence file (once, by evidence ref), and
    manifest.csv / manifest.json giving the SHA-256 of every file and the items each one proves."""
    import hashlib
    import json
    import zipfile

    items_of: dict[str, list[str]] = {}
    for item in snapshot["items"]:
        for ref in item["evidence"]:
            items_of.setdefault(ref, []).append(item["ref"])
    stamp = tuple(int(x) for x in snapshot["today"].split("-")) + (0, 0, 0)  # stable zip entries
    files = [{"path": pdf_name, "sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf), "evidence": None,
              "version": None, "items": []}]

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(zipfile.ZipInfo(pdf_name, stamp), pdf)
            for evidence in snapshot["evidence"]:
                if not evidence.get("storage_key"):
                    continue  # link evidence: the address is in the manifest and the dossier
                name = _bundle_name(evidence)
                digest, size = hashlib.sha256(), 0
                info = zipfile.ZipInfo(name, stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                with store.open(evidence["storage_key"]) as source, archive.open(info, "w", force_zip64=True) as target:
                    while chunk := source.read(1024 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
                        target.write(chunk)
                if digest.hexdigest() != evidence["sha256"]:
                    from evidence.core.errors import EvidenceError

                    raise EvidenceError(f"{evidence['ref']} v{evidence['version']}: the stored file no longer matches "
                                        f"its SHA-256; run `evidence verify`")
                files.append({"path": name, "sha256": evidence["sha256"], "size": size, "evidence": evidence["ref"],
                              "version": evidence["version"], "items": items_of.get(evidence["ref"], [])})
            links = [{"evidence": e["ref"], "version": e["version"], "url": e["url"], "items": items_of.get(e["ref"], [])}
                     for e in snapshot["evidence"] if e.get("url")]
            manifest = {"perimeter": snapshot["perimeter"]["code"], "dossier_version": snapshot.get("number"),
                        "date": snapshot["today"], "files": files, "links": links}
            archive.writestr(zipfile.ZipInfo(BUNDLE_MANIFEST, stamp),
                             json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
            rows = io.StringIO()
            writer = csv.writer(rows)
            writer.writerow(["path", "sha256", "size", "evidence", "version", "items"])
            for entry in files:
                writer.writerow([entry["path"], entry["sha256"], entry["size"], entry["evidence"] or "",
                                 entry["version"] or "", ";".join(entry["items"])])
            archive.writestr(zipfile.ZipInfo("manifest.csv", stamp), rows.getvalue().encode("utf-8"))

    atomic_write(Path(path), write)
    return {"files": len(files), "links": sum(1 for e in snapshot["evidence"] if e.get("url"))}


def verify_bundle(path: Path) -> tuple[int, list[str]]:
    """Re-check a bundle offline: (files checked, problems naming each file that differs, is missing or extra)."""
    import hashlib
    import json
    import zipfile

    from evidence.core.errors import EvidenceError

    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise EvidenceError(f"{path}: not a readable zip file ({error})") from None
    with archive:
        try:
            manifest = json.loads(archive.read(BUNDLE_MANIFEST))
        except KeyError:
            raise EvidenceError(f"{path}: no {BUNDLE_MANIFEST} in the bundle") from None
        except ValueError as error:
            raise EvidenceError(f"{path}: {BUNDLE_MANIFEST} is not valid JSON ({error})") from None
        listed = {entry["path"]: entry for entry in manifest.get("files", [])}
        present = set(archive.namelist()) - {BUNDLE_MANIFEST, "manifest.csv"}
        problems = [f"{name}: in the manifest but missing from the bundle" for name in sorted(set(listed) - present)]
        problems += [f"{name}: in the bundle but not in the manifest" for name in sorted(present - set(listed))]
        for name in sorted(set(listed) & present):
            digest = hashlib.sha256()
            with archive.open(name) as f:
                while chunk := f.read(1024 * 1024):
                    digest.update(chunk)
            if digest.hexdigest() != listed[name]["sha256"]:
                problems.append(f"{name}: SHA-256 differs from the manifest (altered)")
        return len(listed), problems
