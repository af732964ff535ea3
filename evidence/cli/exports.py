"""What leaves the instance: `evidence export matrix|bundle|oscal` (oscal in cli/oscal.py), `evidence verify-bundle`
(the dossier's own commands are in cli/dossiers.py)."""
from __future__ import annotations

from pathlib import Path

import click

from evidence import context
from evidence.cli.common import evidence_command, today
from evidence.cli.oscal import export_oscal
from evidence.core.errors import N_, EvidenceError
from evidence.presentation import messages
from evidence.services.perimeters import get_perimeter


@click.group(name="export")
def export():
    """Export the traceability matrix, the evidence bundle or an OSCAL document."""


export.add_command(export_oscal)


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


@evidence_command(name="verify-bundle", needs_schema=False)  # offline: the bundle alone, or with the instance
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--manifest-sha256", "manifest_sha256", metavar="HASH",
              help="The manifest SHA-256 the instance recorded for this dossier version (`evidence export bundle` "
                   "prints it), obtained apart from the bundle: the manifest must have it.")
@click.option("--offline", is_flag=True, help="Do not look the dossier version up in this instance's database.")
def verify_bundle_command(bundle, manifest_sha256, offline):
    """Re-check an evidence bundle: every file against its manifest, the manifest against the hash the bundled
    dossier PDF records and, since the bundle alone proves nothing (its manifest and an unsigned PDF can be
    edited together), against what this instance recorded for that dossier version (when run where its
    database is reachable) or --manifest-sha256; prints what it was checked against; exit 1 on any difference."""
    from evidence.core.errors import Message
    from evidence.dossier.bundle import Vouched, verify_bundle

    notes, unknown = [], []

    def vouched(perimeter, version):
        if manifest_sha256:
            return Vouched(Message(N_("le SHA-256 donné par --manifest-sha256")), manifest_sha256.strip().lower())
        if offline:
            return None
        reachable, record = _instance_record(perimeter, version)
        if not reachable:
            notes.append(Message(N_("la base de cette instance n’est pas joignable : le lot n’a été vérifié que contre "
                                    "lui-même")))
        elif record is None:  # the version the manifest names, which whoever edited it chose
            unknown.append(Message(N_("cette instance n’a aucun enregistrement du dossier %(perimeter)s v%(version)s "
                                      "que nomme le manifeste : le lot ne vient pas d’elle, ou son manifeste a été "
                                      "modifié (hors de l’instance : --manifest-sha256 ou --offline)"),
                                   perimeter=perimeter, version=version))
        return record

    result = verify_bundle(bundle, vouched)
    # An unsigned PDF vouches for nothing: a version this instance never recorded is then a refusal.
    problems = result.problems + ([] if result.signed else unknown)
    notes += unknown if result.signed else []
    locale = messages.command_line_locale()
    for line in result.basis + notes:
        click.echo(f"{bundle}: {messages.render(line, locale)}")
    for problem in problems:
        click.echo(messages.render(problem, locale), err=True)
    if problems:
        raise EvidenceError(N_("%(count)s problème(s) dans %(bundle)s"), count=len(problems), bundle=bundle)
    click.echo(f"{bundle}: {result.checked} files match the manifest")


def _instance_record(perimeter, version):
    """(whether this instance's database is reachable and initialised, what it recorded for the dossier version:
    its manifest SHA-256 and its PDFs, or None when it has no such version)."""
    from sqlmodel import select

    from evidence.core.errors import Message
    from evidence.data import database as db
    from evidence.data.models import Perimeter
    from evidence.dossier import history
    from evidence.dossier.bundle import Vouched

    engine = context.get_engine()
    if not db.database_reachable(engine) or db.current_revision(engine) is None:
        return False, None
    if not isinstance(perimeter, str) or not isinstance(version, int):
        return True, None
    with context.session_scope() as session:
        found = session.exec(select(Perimeter).where(Perimeter.code == perimeter)).first()
        dossier = history.version(session, found, version) if found else None
        if dossier is None or not dossier.manifest_sha256:
            return True, None
        pdfs = frozenset(h for h in (dossier.sha256, dossier.draft_sha256, dossier.signed_sha256) if h)
        return True, Vouched(Message(N_("l’enregistrement du dossier %(perimeter)s v%(version)s dans cette instance"),
                                     perimeter=perimeter, version=version), dossier.manifest_sha256, pdfs)
