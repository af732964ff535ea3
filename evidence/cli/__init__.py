"""The command line: `evidence …` (also `flask --app evidence …`).

Each command is a thin wrapper over a service function the web views use too, in a module per domain:
instance (init, serve, worker), users, catalogue, applicability, evidence (import, perimeter-document, reminders,
gaps, sovereignty), digest (digest send), dossiers (dossier render|list|approve|diff|sign|render-again), exports (export, verify-bundle)
and ops (backup, restore, verify); cli.common holds what they share. Errors the user can act on come out as one line on stderr and
a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from evidence.cli import (
    applicability,
    catalogue,
    collect,
    collect_run,  # noqa: F401  (adds `run` to the collect group)
    digest,
    dossiers,
    evidence,
    exports,
    instance,
    ops,
    tokens,
    users,
)
from evidence.settings import debug_requested

COMMANDS = (
    instance.init, instance.serve, instance.worker, users.users, catalogue.catalogue, applicability.applicability,
    evidence.import_evidence, evidence.perimeter_document,
    evidence.gaps_command, evidence.reminders_command, digest.digest, dossiers.dossier, evidence.sovereignty_command,
    exports.export, ops.verify, exports.verify_bundle_command, ops.backup_command, ops.restore_command,
    tokens.tokens,  # REST API tokens
    collect.collect,  # automated evidence: evidence collect prowler|run
)
from evidence.cli import campaigns  # noqa: E402  (evaluation campaigns: evidence campaigns add|list|close)

COMMANDS += (campaigns.campaigns_group,)
from evidence.cli import requests as evidence_requests  # noqa: E402  (evidence requests: list|export)

COMMANDS += (evidence_requests.requests,)


def register_commands(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app():
    from evidence import create_app

    return create_app()


cli = FlaskGroup(
    name="evidence", create_app=_create_app, add_default_commands=False, add_version_option=False,
    load_dotenv=False, help="SecNumCloud evidence management.",
)


def main() -> None:
    """Console entry point: unexpected failures become one line too (set EVIDENCE_DEBUG=1 for the traceback)."""
    try:
        cli.main(prog_name="evidence")
    except SystemExit:
        raise
    except Exception as error:  # noqa: BLE001 - the last line of defence of a command-line tool
        if debug_requested():
            raise
        click.echo(f"Error: {type(error).__name__}: {error}".splitlines()[0], err=True)
        sys.exit(1)
