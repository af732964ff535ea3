"""`evidence applicability …`: a perimeter's statement of applicability, read, decided, imported."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import click

from evidence import context
from evidence.cli.common import cli_actor, evidence_command
from evidence.core import rules
from evidence.core.errors import N_, EvidenceError
from evidence.presentation import labels
from evidence.services import perimeters as perimeter_service

MAX_IMPORT_BYTES = 2 * 1024 * 1024


@click.group()
def applicability():
    """Read or decide which items of the referential apply to a perimeter."""


@evidence_command(applicability, name="show")
@click.argument("perimeter")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def applicability_show(perimeter, output):
    """The statement of applicability of PERIMETER: each item, its applicability and why."""
    with context.session_scope() as session:
        rows = perimeter_service.statement_of_applicability(session, perimeter_service.get_perimeter(session, perimeter))
        records = [{
            "ref": r.requirement.ref, "kind": r.requirement.kind, "applicability": r.applicability.state,
            "basis": r.applicability.basis, "derived": r.applicability.derived,
            "justification": r.applicability.justification or labels.basis(r.applicability),
            "conditional": bool(r.requirement.condition),
        } for r in rows]
    if output == "json":
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
    elif output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(records[0]) if records else ["ref"])
        writer.writeheader()
        writer.writerows(records)
    else:
        for rec in records:
            click.echo(f"{rec['ref']:<10} {rec['kind']:<15} {rec['applicability']:<15} {rec['justification'][:70]}")


@evidence_command(applicability, name="set")
@click.argument("perimeter")
@click.argument("ref")
@click.argument("state", type=click.Choice(rules.APPLICABILITY_STATES))
@click.option("--justification", default="", help="Why (required for not_applicable and inherited).")
def applicability_set(perimeter, ref, state, justification):
    """Decide the applicability of item REF in PERIMETER (audited, attributed to the command line)."""
    with context.session_scope() as session:
        target = perimeter_service.get_perimeter(session, perimeter)
        item = perimeter_service.get_item(session, target, ref)
        perimeter_service.set_applicability(session, cli_actor(), target, item, state, justification)
    click.echo(f"{target.code} {ref}: {state}")


@evidence_command(applicability, name="import")
@click.argument("perimeter")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def applicability_import(perimeter, file):
    """Apply decisions from a CSV file (columns ref, state, justification): all of them, or none if one is refused."""
    if file.stat().st_size > MAX_IMPORT_BYTES:
        raise EvidenceError(N_("%(path)s : plus de %(megabytes)s Mo"), path=file,
                            megabytes=MAX_IMPORT_BYTES // (1024 * 1024))
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise EvidenceError(N_("%(path)s : pas du texte UTF-8"), path=file) from None
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if first.count(";") > first.count(",") else ",")
    missing = {"ref", "state"} - {name.strip() for name in reader.fieldnames or ()}
    if missing:
        raise EvidenceError(N_("%(path)s : colonne(s) manquante(s) %(columns)s (attendues : ref, state, "
                               "justification)"), path=file, columns=", ".join(sorted(missing)))
    lines = [perimeter_service.ApplicabilityLine(n, row.get("ref") or "", row.get("state") or "",
                                                 row.get("justification") or "")
             for n, row in enumerate(reader, start=2)]
    with context.session_scope() as session:
        target = perimeter_service.get_perimeter(session, perimeter)
        count = perimeter_service.import_applicability(session, cli_actor(), target, lines)
    click.echo(f"{target.code}: {count} decision(s) applied from {file.name}")
