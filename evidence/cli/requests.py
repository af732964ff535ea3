"""`evidence requests list|export --perimeter CODE`: a perimeter's evidence requests ("demandes de pièces"), on the
terminal or as the XLSX working sheet the request list's page offers (services.requests, exports.requests)."""
from __future__ import annotations

from pathlib import Path

import click

from evidence import context
from evidence.cli.common import evidence_command, today
from evidence.core.vocabulary import REQUEST_STATUSES
from evidence.services import requests as service
from evidence.services.perimeters import get_perimeter


@click.group(name="requests")
def requests():
    """A perimeter's evidence requests (asked by the evaluation centre): list them, export the working sheet."""


@evidence_command(requests, name="list")
@click.option("--perimeter", required=True, help="The perimeter's code (or id).")
@click.option("--status", type=click.Choice(REQUEST_STATUSES), help="Only the requests in this status.")
def list_requests(perimeter, status):
    """One line per request: number, status, due date, item or control, who raised it, answers."""
    day = today()
    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        rows = service.rows(session, target, None, status=status)
        if not rows:
            click.echo(f"{target.code}: no evidence request")
        for row in rows:
            item = row.request
            late = " OVERDUE" if service.overdue(item, day) else ""
            answers = ", ".join(f"{a.evidence.ref}" + (f" v{a.version.number}" if a.version else " (under review)")
                                for a in row.answers) or "-"
            raiser = (row.raised_by.email if row.raised_by else "-")
            click.echo(f"#{item.id}\t{item.status}{late}\t{item.due_date.isoformat() if item.due_date else '-'}\t"
                       f"{row.subject or '-'}\t{raiser}\t{answers}\t{item.text.splitlines()[0][:80] if item.text else ''}")


@evidence_command(requests, name="export")
@click.option("--perimeter", required=True, help="The perimeter's code (or id).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.xlsx")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True, help="The sheet's language.")
@click.option("--status", type=click.Choice(REQUEST_STATUSES), help="Only the requests in this status.")
def export_requests(perimeter, output, lang, status):
    """Write the perimeter's evidence requests, one row each with their answers (ref, version, SHA-256), to .xlsx."""
    from evidence.exports import requests as sheet

    day = today()
    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        rows = service.rows(session, target, None, status=status)
        sheet.write_requests(rows, target, lang, day, output)
        click.echo(f"Wrote {output} ({len(rows)} requests)")
