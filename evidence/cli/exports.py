"""What leaves the instance: `evidence export matrix|bundle`, `evidence verify-bundle` (the dossier's own
commands are in cli/dossiers.py)."""
from __future__ import annotations

from pathlib import Path

import click

from evidence import context
from evidence.cli.common import evidence_command, today
from evidence.core.errors import N_, EvidenceError
from evidence.presentation import messages
from evidence.services.perimeters import get_perimeter


@click.group(name="export")
def export():
    """Export the traceability matrix or the evidence bundle."""


@evidence_command(export, name="matrix")
@click.argument("perimeter")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.xlsx or FILE.csv")
def export_matrix(perimeter, output):
    """Write PERIMETER's traceability matrix (one row per item) to an .xlsx or .csv file."""
    from evidence.exports import matrix as exports
    from evidence.services import gaps

    with context.session_scope() as session:
        result = gaps.compute(session, get_perimeter(session, perimeter), today())
    exports.write_matrix(result, output)
    click.echo(f"Wrote {output} ({len(result.rows)} items)")


@evidence_command(export, name="bundle")
@click.argument("perimeter")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.zip")
@click.option("--dossier-version", type=int, help="Bundle this dossier version (default: the latest approved one).")
@click.option("--draft", is_flag=True, help="Allow a draft version (never the default: a draft is not final).")
def export_bundle(perimeter, output, dossier_version, draft):
    """Write a zip with an approved dossier version (its signed copy when there is one), every evidence file it
    pins and a manifest of SHA-256 hashes."""
    from evidence.dossier.bundle import write_bundle
    from evidence.dossier.generate import bundled_version, offered_pdf

    store = context.get_store()
    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        item = bundled_version(session, target, dossier_version, draft=draft)
        key, _sha256, _size = offered_pdf(item)
        with store.open(key) as source:
            pdf = source.read()
        counts = write_bundle(item.snapshot, pdf, store, output)
        status, signed = item.status, bool(item.signed_storage_key)
    what = {"draft": "DRAFT dossier", "approved": "approved dossier"}.get(status, "dossier")
    click.echo(f"Wrote {output}: {what} {target.code} v{item.number}{' (signed)' if signed else ''} and "
               f"{counts['files']} evidence files ({counts['links']} link(s) listed in the manifest); "
               f"manifest SHA-256 {counts['manifest_sha256']}")


@evidence_command(name="verify-bundle", needs_schema=False)  # offline: the bundle alone, no database
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
def verify_bundle_command(bundle):
    """Re-check an evidence bundle offline against its manifest; exit 1 naming any file that differs."""
    from evidence.dossier.bundle import verify_bundle

    checked, problems = verify_bundle(bundle)
    locale = messages.command_line_locale()
    for problem in problems:
        click.echo(messages.render(problem, locale), err=True)
    if problems:
        raise EvidenceError(N_("%(count)s problème(s) dans %(bundle)s"), count=len(problems), bundle=bundle)
    click.echo(f"{bundle}: {checked} files match the manifest")
