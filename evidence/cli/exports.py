"""What leaves the instance: `evidence dossier`, `evidence export matrix|bundle`, `evidence verify-bundle`."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from evidence import context
from evidence.cli.common import cli_actor, evidence_command, today
from evidence.core.errors import EvidenceError
from evidence.services.perimeters import get_perimeter


@evidence_command(name="dossier")
@click.argument("perimeter")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.pdf")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--attach-evidence", is_flag=True, help="Embed the pinned evidence files (PDF/A-3u).")
@click.option("--classification", default="Diffusion restreinte", show_default=True, help="Marking on every page.")
def dossier_command(perimeter, output, lang, attach_evidence, classification):
    """Render PERIMETER's qualification dossier (a new version, stored and audited) and write it to FILE.pdf."""
    from evidence.data.files import atomic_write
    from evidence.dossier.generate import generate

    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        with click.progressbar(length=100, label="Rendering", show_percent=True, file=sys.stderr) as bar:
            done = [0]

            def progress(percent, _step):
                bar.update(percent - done[0])
                done[0] = percent

            item = generate(session, context.get_store(), cli_actor(), target, lang, attach_evidence,
                            classification, today(), progress, settings=context.dossier_settings())
        with context.get_store().open(item.storage_key) as source:
            data = source.read()
    atomic_write(output, lambda f: f.write(data))
    click.echo(f"Wrote {output}: dossier {target.code} v{item.number}, {item.size} bytes, SHA-256 {item.sha256}")


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
@click.option("--dossier-version", type=int, help="Bundle this existing dossier version (default: render a new one).")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
def export_bundle(perimeter, output, dossier_version, lang):
    """Write a zip with the dossier, every pinned evidence file and a manifest of SHA-256 hashes."""
    from sqlmodel import select

    from evidence.data.models import Dossier
    from evidence.dossier.bundle import write_bundle
    from evidence.dossier.generate import file_name, generate

    store = context.get_store()
    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        if dossier_version:
            item = session.exec(select(Dossier).where(Dossier.perimeter_id == target.id,
                                                      Dossier.number == dossier_version)).first()
            if item is None or item.status != "done":
                raise EvidenceError(f"{target.code} has no rendered dossier version {dossier_version}")
        else:
            item = generate(session, store, cli_actor(), target, lang, False, "", today(),
                            settings=context.dossier_settings())
        with store.open(item.storage_key) as source:
            pdf = source.read()
        counts = write_bundle(item.snapshot, pdf, file_name(target.code, item), store, output)
    click.echo(f"Wrote {output}: dossier {target.code} v{item.number} and {counts['files'] - 1} evidence files "
               f"({counts['links']} link(s) listed in the manifest)")


@evidence_command(name="verify-bundle", needs_schema=False)  # offline: the bundle alone, no database
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
def verify_bundle_command(bundle):
    """Re-check an evidence bundle offline against its manifest; exit 1 naming any file that differs."""
    from evidence.dossier.bundle import verify_bundle

    checked, problems = verify_bundle(bundle)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {bundle}")
    click.echo(f"{bundle}: {checked} files match the manifest")
