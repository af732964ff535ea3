"""`evidence catalogue …`: the product's catalogues, CISO Assistant libraries and OSCAL documents."""
from __future__ import annotations

from pathlib import Path

import click

from evidence import catalogue as referential
from evidence import context
from evidence.cli.common import cli_actor, evidence_command


@click.group()
def catalogue():
    """Load the product's catalogues or import CISO Assistant libraries."""


@evidence_command(catalogue, name="load")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
def catalogue_load(files):
    """Load catalogues (default: every controls/*.yaml shipped with the product). Re-loading updates in place."""
    with context.session_scope() as session:
        reports = referential.load_catalogues(session, files or referential.default_catalogue_paths(), cli_actor())
    for report in reports:
        click.echo(str(report))


@evidence_command(catalogue, name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overlay", metavar="FRAMEWORK",
              help="Add the library's wording as the official text of this loaded framework's matching items.")
def catalogue_import(file, overlay):
    """Import a CISO Assistant library: a framework, an overlay of official text, or a mapping between frameworks."""
    with context.session_scope() as session:
        report = referential.import_library(session, file, cli_actor(), overlay=overlay)
    click.echo(str(report))


@evidence_command(catalogue, name="import-oscal")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", metavar="KEY", help="The key of the framework a catalog becomes (default: the key the catalog "
                                            "carries, else one made from its title).")
def catalogue_import_oscal(file, key):
    """Import an OSCAL document (JSON or YAML): a catalog as a framework, or a mapping collection as links between
    loaded frameworks. No link in it is followed."""
    from evidence.oscal import import_oscal

    with context.session_scope() as session:
        report = import_oscal(session, file, cli_actor(), key=key)
    click.echo(str(report))
