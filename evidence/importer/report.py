"""What an import says: one line per planned row, the error lines, the summary, and the CSV report."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

from evidence.exports.matrix import safe_cell
from evidence.importer.manifest import write_output
from evidence.importer.plan import (
    DONE,
    ERROR,
    FAILED,
    NEW_EVIDENCE,
    NEW_VERSION,
    NOT_IMPORTED,
    UNCHANGED,
    ImportResult,
    RowOutcome,
)
from evidence.importer.rows import show_value

REPORT_COLUMNS = ("row", "action", "result", "ref", "file", "url", "sha256", "error")


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
            lines.extend(f"row {outcome.number}, column {column}, value {show_value(value)}: {e}"
                         for e in outcome.errors)
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

    write_output(Path(path), write)


def _plain(value) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)
