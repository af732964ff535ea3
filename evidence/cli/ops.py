"""Looking after the instance's data: `evidence backup`, `evidence restore`, `evidence verify`."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app

from evidence import context
from evidence.cli.common import cli_actor, evidence_command
from evidence.core.errors import N_, EvidenceError
from evidence.data import audit
from evidence.ops.backup import BackupError, create_backup
from evidence.ops.manifest import manifest_key
from evidence.ops.restore import restore_backup
from evidence.ops.verify import chain_line, dossier_problem, evidence_problem, verify_instance
from evidence.presentation import messages


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@evidence_command(name="backup")
@click.argument("dest", type=click.Path(path_type=Path))
def backup_command(dest):
    """Write a consistent backup (database, every stored file, a manifest of SHA-256 hashes) to the new folder DEST.

    The manifest is authenticated with a key derived from this instance's secret key (instance/secret_key), which
    is not in the backup: keep a copy of that file apart from the backups; restoring on another machine needs it."""
    report = create_backup(context.get_engine(), context.get_store(), dest, manifest_key(current_app.config["SECRET_KEY"]))
    click.echo(f"Wrote {report.path}: {report.backend} database (revision {report.revision}), {report.blobs} "
               f"stored file(s), {_megabytes(report.bytes)}; audit head #{report.audit_seq} {report.audit_hash}")


@evidence_command(name="restore", needs_schema=False)  # into an empty instance, initialised or not
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--force-unverified", is_flag=True,
              help="Disaster recovery only (the secret key is lost): restore even though the backup's manifest is "
                   "not authenticated by this instance's key. The files must still match the manifest and the database "
                   "must still have exactly the schema the migrations create; the restore is recorded as forced in "
                   "the audit trail.")
def restore_command(src, force_unverified):
    """Restore the backup SRC into this instance, which must be empty; then check it as `evidence verify` does.

    The backup's manifest must be authenticated by this instance's secret key: on a new machine, copy the
    instance/secret_key file of the instance that made the backup first (or set EVIDENCE_SECRET_KEY to it).
    The database must have exactly the schema the migrations create (no trigger, view or function of unknown
    origin): otherwise nothing is restored."""
    try:
        report = restore_backup(context.get_engine(), context.get_store(), src, cli_actor(),
                                key=manifest_key(current_app.config["SECRET_KEY"]), force_unverified=force_unverified)
    except OSError as error:
        raise BackupError(N_("la restauration depuis %(src)s a échoué : %(reason)s"), src=src, reason=error) from None
    locale = messages.command_line_locale()
    if report.unverified is not None:
        click.echo(messages.render(report.unverified, locale), err=True)
        click.echo("Restored WITHOUT an authenticated manifest (--force-unverified), recorded in the audit trail",
                   err=True)
    click.echo(f"Restored {src} (taken {report.created_at}, revision {report.revision}): "
               f"{sum(report.tables.values())} rows in {len(report.tables)} tables, {report.blobs} stored file(s)")
    if report.migrated_to:
        click.echo(f"Schema migrated from revision {report.revision} to {report.migrated_to}")
    for problem in report.problems:
        click.echo(messages.render(problem, locale), err=True)
    if report.problems:
        raise EvidenceError(N_("restaurée, mais %(count)s problème(s) trouvé(s) : n’utilisez pas cette instance"),
                            count=len(report.problems))
    click.echo(f"Verify: every stored file re-hashed; audit trail: {report.events} events, chain intact; "
               f"head #{report.head_seq} {report.head_hash}")


@evidence_command()
@click.option("--audit", "audit_only", is_flag=True, help="Check only the audit trail's hash chain and seals.")
@click.option("--export-head", "export_head", is_flag=False, flag_value="-", default=None, metavar="[FILE]",
              help="Print (or write to FILE) the sealed audit head as JSON, to keep outside the instance.")
@click.option("--head", "kept_head", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Check that the audit chain still holds this head exported earlier with --export-head.")
def verify(audit_only, export_head, kept_head):
    """Re-hash every stored evidence version and dossier, compare them with the audit trail, and check the audit
    trail's hash chain and seals. Exit 1 on any problem."""
    checkpoint = _read_head(kept_head) if kept_head is not None else None
    with context.session_scope() as session:
        report = verify_instance(session, context.get_store(), files=not audit_only, checkpoint=checkpoint)
        head = audit.export_head(session, audit.seal_key_for(session)) if export_head is not None else None
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
    if not report.seals_checked:
        click.echo("Audit seals: not checked (this instance has no SECRET_KEY)", err=True)
    elif report.chain_problem is None:
        click.echo(f"Audit seals: intact (key {report.key_id})"
                   + (f"; {report.sealed_elsewhere} event(s) before the forced restore sealed by another key "
                      f"(their hashes checked)" if report.sealed_elsewhere else ""))
    if checkpoint is not None and report.chain_problem is None:
        click.echo(f"Kept head #{checkpoint.get('seq')} {checkpoint.get('hash')}: held by the chain")
    if report.problems:
        raise EvidenceError(N_("%(count)s problème(s) trouvé(s)"), count=len(report.problems))
    if head is not None:
        text = json.dumps(head, indent=2) + "\n"
        if export_head == "-":
            click.echo(text, nl=False)
        else:
            Path(export_head).write_text(text, encoding="utf-8")
            click.echo(f"Audit head #{head['seq']} written to {export_head}: keep it outside the instance")


def _read_head(path: Path) -> dict:
    """A head kept by --export-head: {"seq", "hash", ...}."""
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
        int(head["seq"]), str(head["hash"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EvidenceError(N_("--head %(path)s : pas une tête de journal exportée par --export-head (%(reason)s)"),
                            path=path, reason=error) from None
    return head
