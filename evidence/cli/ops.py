"""Looking after the instance's data: `evidence backup`, `evidence restore`, `evidence verify`."""
from __future__ import annotations

from pathlib import Path

import click

from evidence import context
from evidence.cli.common import cli_actor, evidence_command
from evidence.ops.backup import BackupError, create_backup
from evidence.ops.restore import restore_backup
from evidence.ops.verify import verify_instance


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@evidence_command(name="backup")
@click.argument("dest", type=click.Path(path_type=Path))
def backup_command(dest):
    """Write a consistent backup (database, every stored file, a manifest of SHA-256 hashes) to the new folder DEST."""
    report = create_backup(context.get_engine(), context.get_store(), dest)
    click.echo(f"Wrote {report.path}: {report.backend} database (revision {report.revision}), {report.blobs} "
               f"stored file(s), {_megabytes(report.bytes)}; audit head #{report.audit_seq} {report.audit_hash}")


@evidence_command(name="restore", needs_schema=False)  # into an empty instance, initialised or not
@click.argument("src", type=click.Path(path_type=Path))
def restore_command(src):
    """Restore the backup SRC into this instance, which must be empty; then check it as `evidence verify` does."""
    try:
        report = restore_backup(context.get_engine(), context.get_store(), src, cli_actor())
    except OSError as error:
        raise BackupError(f"restore from {src} failed: {error}") from None
    click.echo(f"Restored {src} (taken {report.created_at}, revision {report.revision}): "
               f"{sum(report.tables.values())} rows in {len(report.tables)} tables, {report.blobs} stored file(s)")
    if report.migrated_to:
        click.echo(f"Schema migrated from revision {report.revision} to {report.migrated_to}")
    for problem in report.problems:
        click.echo(problem, err=True)
    if report.problems:
        raise click.ClickException(f"restored, but {len(report.problems)} problem(s) found: do not use this instance")
    click.echo(f"Verify: every stored file re-hashed; audit trail: {report.events} events, chain intact; "
               f"head #{report.head_seq} {report.head_hash}")


@evidence_command()
@click.option("--audit", "audit_only", is_flag=True, help="Check only the audit trail's hash chain.")
def verify(audit_only):
    """Re-hash every stored evidence version and check the audit trail's hash chain. Exit 1 on any problem."""
    with context.session_scope() as session:
        report = verify_instance(session, context.get_store(), files=not audit_only)
    if not audit_only:
        for problem in report.evidence_problems:
            click.echo(f"Evidence {problem}", err=True)
        click.echo(f"Evidence: {report.evidence_checked} stored versions re-hashed, "
                   f"{len(report.evidence_problems)} problem(s)")
        for problem in report.dossier_problems:
            click.echo(f"Dossier {problem}", err=True)
        click.echo(f"Dossiers: {report.dossiers_checked} stored PDFs re-hashed, "
                   f"{len(report.dossier_problems)} problem(s)")
    if report.chain_problem is not None:
        click.echo(f"Audit trail: {report.chain_problem}", err=True)
    else:
        click.echo(f"Audit trail: {report.events} events, chain intact; head #{report.head_seq} {report.head_hash}")
    if report.problems:
        raise click.ClickException(f"{len(report.problems)} problem(s) found")
