"""`evidence export oscal`: the referential as an OSCAL catalog, a perimeter's SSP, assessment results and POA&M."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app

from evidence import context
from evidence.cli.common import evidence_command, today
from evidence.core.vocabulary import LOCALES
from evidence.oscal import DEFAULT_FRAMEWORK, MODELS, OSCAL_VERSION, export
from evidence.services.perimeters import get_perimeter


@evidence_command(name="oscal")
@click.argument("perimeter", required=False)
@click.option("--model", required=True, type=click.Choice(MODELS),
              help="catalog (the referential; no PERIMETER needed), ssp, assessment-results or poam.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="FILE.json (default: stdout)")
@click.option("--framework", "framework_key", metavar="KEY",
              help=f"The framework of the catalog (default: PERIMETER's, else {DEFAULT_FRAMEWORK}).")
@click.option("--lang", type=click.Choice(LOCALES), default="fr", show_default=True,
              help="The language of the text (OSCAL holds one per document).")
def export_oscal(perimeter, model, output, framework_key, lang):
    """Write an OSCAL document (JSON, OSCAL 1.2.1): the catalog of a framework, or PERIMETER's system security
    plan, assessment results or plan of action and milestones. Unchanged data gives the same bytes."""
    with context.session_scope() as session:
        target = get_perimeter(session, perimeter) if perimeter else None
        # The command line acts as the instance's operator, who holds the files already: nothing is withheld.
        result = export(session, model, perimeter=target, framework_key=framework_key,
                        organisation=current_app.config.get("ORGANISATION") or "", lang=lang, reader=None,
                        today=today())
    if output is None:
        sys.stdout.buffer.write(result.data)
        sys.stdout.flush()
        return
    output.write_bytes(result.data)
    click.echo(f"Wrote {output} (OSCAL {OSCAL_VERSION} {model}, {len(result.data)} bytes)")
