"""Looking after the instance's data: `evidence backup`, `evidence restore`, `evidence verify`."""
from __future__ import annotations

from pathlib import Path

import click

from evidence import context
from evidence.cli.common import cli_actor, evidence_command
from evidence.core.errors import N_, EvidenceError
from evidence.ops.backup import BackupError, create_backup
from evidence.ops.restore import restore_backup
from evidence.ops.verify import chain_line, dossier_problem, evidence_problem, verify_instance
from evidence.presentation import messages


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
        raise BackupError(N_("la restauration depuis %(src)s a échoué : %(reason)s"), src=src, reason=error) from None
    click.echo(f"Restored {src} (taken {report.created_at}, revision {report.revision}): "
               f"{sum(report.tables.values())} rows in {len(report.tables)} tables, {report.blobs} stored file(s)")
    if report.migrated_to:
        click.echo(f"Schema migrated from revision {report.revision} to {report.migrated_to}")
    locale = messages.command_line_locale()
    for problem in report.problems:
        click.echo(messages.render(problem, locale), err=True)
    if report.problems:
        raise EvidenceError(N_("restaurée, mais %(count)s problème(s) trouvé(s) : n’utilisez pas cette instance"),
                            count=len(report.problems))
    click.echo(f"Verify: every stored file re-hashed; audit trail: {report.events} events, chain intact; "
               f"head #{report.head_seq} {report.head_hash}")


@evidence_command()
@click.option("--audit", "audit_only", is_flag=True, help="Check only the audit trail's hash chain.")
def verify(audit_only):
    """Re-hash every stored evidence version and check the audit trail's hash chain. Exit 1 on any problem."""
    with context.session_scope() as session:
        report = verify_instance(session, context.get_store(), files=not audit_only)
    locale = messages.command_line_locale()
    if not audit_only:
        for problem in report.evidence_problems:
            click.echo(messages.render(evidence_problem(problem), locale), err=True)
        click.echo(f"Evidence: {report.evidence_checked} stored versions re-hashed, "
                   f"{len(report.evidence_problems)} problem(s)")
        for problem in report.dossier_problems:
            click.echo(messages.render(dossier_problem(problem), locale), err=True)
        click.echo(f"Dossiers: {report.dossiers_checked} stored PDFs re-hashed, "
                   f"{len(report.dossier_problems)} problem(s)")
    if report.chain_problem is not None:
        click.echo(messages.render(chain_line(report.chain_problem), locale), err=True)
    else:
        click.echo(f"Audit trail: {report.events} events, chain intact; head #{report.head_seq} {report.head_hash}")
    if report.problems:
        raise EvidenceError(N_("%(count)s problème(s) trouvé(s)"), count=len(report.problems))
