"""Evidence and where a perimeter stands: `evidence import`, `reminders`, `gaps`, `sovereignty`, `perimeter-document`."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app

from evidence import context
from evidence.cli.common import cli_actor, evidence_command, require_schema, today
from evidence.core.vocabulary import PERIMETER_DOCUMENT_ROLES
from evidence.presentation import messages
from evidence.services.perimeters import get_perimeter


# The schema is checked by the command itself: --template and the usage check need no database.
@evidence_command(name="import", needs_schema=False)
@click.argument("manifest", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), help="Folder the manifest's file paths are relative to.")
@click.option("--dry-run", is_flag=True, help="Check every row and print the plan; write nothing.")
@click.option("--atomic", is_flag=True, help="All or nothing: import no row unless every row can be imported.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write the outcome of each row to FILE.csv.")
@click.option("--as", "as_email", metavar="EMAIL", help="User the import is attributed to (default: the sole admin).")
@click.option("--template", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an empty manifest (FILE.csv or FILE.xlsx: the header and one example row) and stop.")
def import_evidence(manifest, root, dry_run, atomic, report, as_email, template):
    """Import evidence in bulk from MANIFEST (CSV or XLSX): files under --root, or links. Safe to run again.

    Exit status 1 when a row is in error (nothing is written for it; with --atomic, nothing at all)."""
    from evidence import importer

    if template:
        importer.write_template(template)
        click.echo(f"Wrote {template}")
        return
    if manifest is None or root is None:
        raise click.UsageError("give MANIFEST and --root DIR (or --template FILE)")
    require_schema()
    progress = ImportProgress() if sys.stderr.isatty() else None  # silent when not on a terminal
    try:
        with context.session_scope() as session:
            actor = importer.resolve_actor(session, as_email)
            result = importer.run_import(
                session, context.get_store(), actor, manifest, root, dry_run=dry_run, atomic=atomic,
                max_size=current_app.config["MAX_CONTENT_LENGTH"], origin=cli_actor(), progress=progress,
                link_schemes=current_app.config["LINK_SCHEMES"],
                limits=importer.ManifestLimits.from_config(current_app.config),
            )
    finally:
        if progress:
            progress.finish()
    locale = messages.command_line_locale()
    if dry_run:
        for outcome in result.outcomes:
            if outcome.action != importer.ERROR:
                click.echo(messages.render(importer.describe(outcome), locale))
    for line in importer.error_lines(result):
        click.echo(messages.render(line, locale), err=True)
    click.echo(messages.render(importer.summary(result), locale))
    if report:
        importer.write_report(report, result, locale)
    if result.interrupted:
        sys.exit(130)
    if result.failed:
        sys.exit(1)


class ImportProgress:
    """Progress bars on stderr, one per stage (checking, importing), showing files and bytes."""

    def __init__(self):
        self.stage, self.bar, self.shown_at = None, None, 0.0

    def __call__(self, stage, files, files_total, done, total):
        import time

        if stage != self.stage:
            self.finish()
            self.stage = stage
            self.bar = click.progressbar(length=max(total, 1), label=stage.capitalize(), file=sys.stderr,
                                         item_show_func=lambda text: text)
        if files == files_total or time.monotonic() - self.shown_at > 0.1:  # redrawing costs: 10 times a second
            self.shown_at = time.monotonic()
            self.bar.update(done - self.bar.pos, f"{files}/{files_total} files, {done / 1e6:.1f}/{total / 1e6:.1f} MB")

    def finish(self):
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None


@evidence_command(name="reminders")
@click.option("--days", default=30, show_default=True, type=click.IntRange(0, 366), help="Horizon for 'expires soon'.")
@click.option("--send", is_flag=True, help="Mail each owner their list (EVIDENCE_SMTP_* settings).")
def reminders_command(days, send):
    """Evidence expiring or expired and overdue actions, by owner."""
    from evidence.services import reminders

    day = today()
    with context.session_scope() as session:
        collected = reminders.collect(session, day, days)
        for reminder in collected:
            click.echo(f"{reminder.label}: {len(reminder.expired)} expired, {len(reminder.expiring)} expiring, "
                       f"{len(reminder.overdue_actions)} overdue action(s)")
            for e in reminder.expired + reminder.expiring:
                click.echo(f"  {e.ref:<9} {e.valid_until.isoformat()}  {e.title[:70]}")
            for action, code in reminder.overdue_actions:
                click.echo(f"  [{code}] {action.due_date.isoformat()}  {action.title[:70]}")
        if not collected:
            click.echo("Nothing to remind.")
        if send:
            sent = reminders.send(collected, current_app.config, day)
            click.echo(f"{sent} mail(s) sent.")


@evidence_command(name="gaps")
@click.argument("perimeter")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--chapter", help="Only this chapter (e.g. 12).")
def gaps_command(perimeter, output, chapter):
    """List what stands between PERIMETER and qualification. Exit 1 while an applicable exigence is not covered."""
    import csv as csv_module
    import json

    from evidence.presentation import labels
    from evidence.services import gaps

    with context.session_scope() as session:
        result = gaps.compute(session, get_perimeter(session, perimeter), today())
        gaps.record_snapshot(session, result)
    def record(r):
        return {
            "ref": r.requirement.ref, "chapter": r.chapter, "kind": r.requirement.kind, "title": r.requirement.title,
            "status": r.status.status, "reasons": list(r.status.reasons),
            "missing": [{"id": e.id, "state": e.state} for e in r.status.unanswered],
            "controls": [c.ref for c in r.controls], "owners": sorted({c.owner_email for c in r.controls if c.owner_email}),
        }

    in_chapter = [r for r in result.gaps() if not chapter or r.chapter == chapter]
    records = [record(r) for r in in_chapter]
    # Recommendations are reported apart: never among the gaps, never in the exit status.
    not_followed = [record(r) for r in result.recommendations_not_followed() if not chapter or r.chapter == chapter]
    if output == "json":
        readiness = result.readiness
        click.echo(json.dumps({
            "perimeter": result.perimeter.code, "date": result.today.isoformat(),
            "readiness": {"covered": readiness.covered, "applicable": readiness.applicable, "percent": readiness.percent},
            "gaps": records,
            "recommendations_not_followed": not_followed,
        }, ensure_ascii=False, indent=2))
    elif output == "csv":
        writer = csv_module.writer(sys.stdout)
        writer.writerow(["ref", "chapter", "kind", "status", "reasons", "controls", "title"])
        for rec in records:
            writer.writerow([rec["ref"], rec["chapter"], rec["kind"], rec["status"], ";".join(rec["reasons"]),
                             ";".join(rec["controls"]), rec["title"]])
    else:
        for rec in records:
            reasons = ", ".join(labels.text(labels.REASON, x) for x in rec["reasons"])
            click.echo(f"{rec['ref']:<10} {labels.text(labels.STATUS, rec['status']):<14} {reasons:<40} {rec['title'][:60]}")
        readiness = result.readiness
        click.echo(f"{result.perimeter.code}: {readiness.percent} % ready ({readiness.covered}/{readiness.applicable} "
                   f"applicable exigences covered); {len(result.gaps())} exigence(s) with a gap; "
                   f"{len(result.recommendations_not_followed())} recommendation(s) not followed (not gaps)"
                   + (f"; {len(records)} gap(s) shown in chapter {chapter}" if chapter else ""))
    if in_chapter:
        sys.exit(1)


@evidence_command(name="sovereignty")
@click.argument("perimeter")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def sovereignty_command(perimeter, output):
    """Run PERIMETER's chapter-19 sovereignty checks; exit 1 when any fails."""
    import json

    from evidence.presentation import labels
    from evidence.presentation import sovereignty_words as words
    from evidence.services import sovereignty

    with context.session_scope() as session:
        results = sovereignty.checks(sovereignty.registers(session, get_perimeter(session, perimeter), today()))
    if output == "json":
        # Codes and raw values for programs, with the sentence in the instance's language beside each problem.
        click.echo(json.dumps([{"requirement": c.requirement, "check": c.name, "passed": c.passed,
                                "problems": [{**p.as_dict(), "text": words.problem(p)} for p in c.problems],
                                "figures": {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in c.figures}}
                               for c in results], ensure_ascii=False, indent=2))
    else:
        for check in results:
            verdict = "pass" if check.passed else "FAIL"
            figures = " ; ".join(words.figure(k, v) for k, v in check.figures)
            click.echo(f"{check.requirement:<7} {verdict:<4} {labels.text(labels.CHECK, check.name)}" + (f"  ({figures})" if figures else ""))
            for problem in check.problems:
                click.echo(f"        - {words.problem(problem)}")
    if not all(check.passed for check in results):
        sys.exit(1)


@click.group(name="perimeter-document")
def perimeter_document():
    """Designate a perimeter's reference documents and architecture diagrams from its evidence."""


@evidence_command(perimeter_document, name="set")
@click.argument("perimeter")
@click.argument("role", type=click.Choice(PERIMETER_DOCUMENT_ROLES))
@click.argument("evidence_ref")
@click.option("--note", default="", help="A word on the document, e.g. the risk method (EBIOS RM).")
def perimeter_document_set(perimeter, role, evidence_ref, note):
    """Designate EVIDENCE_REF (valid for PERIMETER) as its ROLE document (audited, attributed to the command line)."""
    from evidence.services import perimeter_documents
    from evidence.services.evidence import get_evidence

    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        evidence = get_evidence(session, evidence_ref)
        perimeter_documents.designate(session, cli_actor(), target, role, evidence, note, store=context.get_store())
        click.echo(f"{target.code} {role}: {evidence.ref}")


@evidence_command(perimeter_document, name="remove")
@click.argument("perimeter")
@click.argument("role", type=click.Choice(PERIMETER_DOCUMENT_ROLES))
@click.argument("evidence_ref")
def perimeter_document_remove(perimeter, role, evidence_ref):
    """Withdraw EVIDENCE_REF as PERIMETER's ROLE document (the evidence itself stays)."""
    from evidence.services import perimeter_documents
    from evidence.services.evidence import get_evidence

    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        evidence = get_evidence(session, evidence_ref)
        perimeter_documents.remove(session, cli_actor(), target, role, evidence)
        click.echo(f"{target.code} {role}: {evidence.ref} removed")


@evidence_command(perimeter_document, name="list")
@click.argument("perimeter")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def perimeter_document_list(perimeter, output):
    """Every document role of PERIMETER with the evidence designated for it ("missing" when none is)."""
    import json

    from evidence.services import perimeter_documents

    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        records = [{"role": role, "item": perimeter_documents.ROLE_ITEMS.get(role),
                    "documents": [{"evidence": e.ref, "title": e.title, "status": e.status,
                                   "document_version": e.document_version, "note": d.note} for d, e in rows]}
                   for role, rows in perimeter_documents.by_role(session, target).items()]
    if output == "json":
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    for record in records:
        head = f"{record['role']:<18} {record['item'] or '':<9}"
        if not record["documents"]:
            click.echo(f"{head} missing")
        for document in record["documents"]:
            version = f" v{document['document_version']}" if document["document_version"] else ""
            note = f" ({document['note']})" if document["note"] else ""
            click.echo(f"{head} {document['evidence']:<9} {document['status']:<9} {document['title'][:50]}{version}{note}")
