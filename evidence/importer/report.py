"""What an import says: one line per planned row, the error lines, the summary, and the CSV report.

Each line is a Message, put into the reader's language where it is shown (the command line renders it)."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

from evidence.core.errors import N_, Message
from evidence.exports.sheet import safe_cell
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
from evidence.importer.rows import RowError
from evidence.presentation import messages

REPORT_COLUMNS = ("row", "action", "result", "ref", "file", "url", "sha256", "error")


def describe(outcome: RowOutcome) -> Message:
    """One line of the plan, e.g. `row 4: new version of EV-0042 from rapports/edr.pdf (12,345 bytes)`."""
    entry = outcome.entry
    if outcome.action == ERROR:
        return Message("%(errors)s", errors=[e.text for e in outcome.errors])  # no words of its own to translate
    what = (Message(N_("%(name)s (%(size)s octets)"), name=entry.file.name, size=f"{entry.file.size:,}")
            if entry.file else entry.url)
    if outcome.action == NEW_EVIDENCE:
        return Message(N_("ligne %(row)s : nouvelle preuve « %(title)s » depuis %(what)s"), row=outcome.number,
                       title=entry.data.title, what=what)
    if outcome.action == NEW_VERSION:
        return Message(N_("ligne %(row)s : nouvelle version de %(ref)s depuis %(what)s"), row=outcome.number,
                       ref=outcome.ref, what=what)
    target = outcome.ref or Message(N_("la nouvelle preuve de la ligne %(row)s"), row=outcome.same_as)
    return Message(N_("ligne %(row)s : inchangée : %(target)s a déjà %(what)s"), row=outcome.number, target=target,
                   what=what)


def error_lines(result: ImportResult) -> list[Message]:
    lines = []
    for outcome in result.outcomes:
        if outcome.action == ERROR:
            lines.extend(e.text for e in outcome.errors)
        elif outcome.status == FAILED or (outcome.status == NOT_IMPORTED and outcome.errors):
            column, value = ("file", outcome.source.name) if outcome.source else ("url", outcome.entry.url)
            lines.extend(RowError(outcome.number, column, value, e).text for e in outcome.errors)
    return lines


def summary(result: ImportResult) -> Message:
    errors = len(result.errors)
    counts = {"manifest": result.manifest, "unchanged": result.count(UNCHANGED), "errors": errors}
    if result.interrupted and not result.outcomes:
        return Message(N_("Interrompu pendant la vérification de %(manifest)s ; rien n’a été importé."),
                       manifest=result.manifest)
    if result.dry_run:
        return Message(N_("Essai à blanc de %(manifest)s : %(new)s nouvelle(s) preuve(s), %(versions)s nouvelle(s) "
                          "version(s), %(unchanged)s inchangée(s), %(errors)s erreur(s) ; rien n’a été écrit."),
                       new=result.count(NEW_EVIDENCE), versions=result.count(NEW_VERSION), **counts)
    if result.atomic and result.failed:
        reason = result.problem or (Message(N_("interrompu")) if result.interrupted
                                    else Message(N_("%(errors)s ligne(s) en erreur"), errors=errors))
        return Message(N_("Rien n’a été importé de %(manifest)s (--atomic) : %(reason)s."),
                       manifest=result.manifest, reason=reason)
    done_new, done_versions = result.count(NEW_EVIDENCE, DONE), result.count(NEW_VERSION, DONE)
    seconds = max(result.elapsed, 1e-6)
    line = Message(N_("Importé de %(manifest)s : %(new)s nouvelle(s) preuve(s), %(versions)s nouvelle(s) version(s), "
                      "%(unchanged)s inchangée(s), %(errors)s erreur(s) ; %(files)s fichier(s), %(megabytes)s Mo "
                      "enregistrés en %(seconds)s s (%(rows_per_second)s lignes/s, %(rate)s Mo/s)."),
                   new=done_new, versions=done_versions, files=result.files_stored,
                   megabytes=f"{result.bytes_stored / 1e6:.1f}", seconds=f"{result.elapsed:.1f}",
                   rows_per_second=f"{(done_new + done_versions) / seconds:.0f}",
                   rate=f"{result.bytes_stored / 1e6 / seconds:.1f}", **counts)
    if result.interrupted:
        left = sum(1 for o in result.outcomes if o.status == NOT_IMPORTED)
        return Message(N_("%(summary)s Interrompu : %(left)s ligne(s) non importée(s) ; relancez la même commande "
                          "pour terminer."), summary=line, left=left)
    return line


def write_report(path: Path, result: ImportResult, locale: str = messages.SOURCE_LOCALE) -> None:
    """One line per manifest row: what it does (or would do), what became of it, and why it failed (in
    `locale`, the reader's language)."""

    def reason(error) -> str:
        return messages.render(error.text if isinstance(error, RowError) else error, locale)

    def write(binary):
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(REPORT_COLUMNS)
        for o in result.outcomes:
            status = "planned" if result.dry_run else ("error" if o.action == ERROR else o.status)
            sha256 = o.sha256 or (o.source.sha256 if o.source else None) or ""
            row = [o.number, o.action, status, o.ref, _plain(o.values.get("file", "")),
                   _plain(o.values.get("url", "")), sha256, " | ".join(reason(e) for e in o.errors)]
            # Values come from the manifest: a spreadsheet must not run them as formulas.
            writer.writerow([safe_cell(v) if isinstance(v, str) else v for v in row])
        text.flush()
        text.detach()

    write_output(Path(path), write)


def _plain(value) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)
