"""`evidence collect run NAME --perimeter CODE [--source PATH]`: any collector by its name (built in, or installed
through the `evidence.collectors` entry points), through the same service as the API and the schedule
(services.collector_runs). Attached to the `collect` group of cli.collect (imported by cli/__init__)."""
from __future__ import annotations

import inspect
from pathlib import Path

import click
from flask import current_app

from evidence import collectors, context
from evidence.cli.collect import collect, report_lines
from evidence.cli.common import evidence_command, today
from evidence.core.errors import N_, EvidenceError
from evidence.presentation import messages


def scheduled_source(name: str, perimeter: str) -> Path:
    """The path COLLECTOR_SCHEDULE gives the collector for this perimeter (what --source defaults to)."""
    for entry in current_app.config.get("COLLECTOR_SCHEDULE") or ():
        if entry.collector == name and entry.perimeter.lower() == perimeter.strip().lower():
            return Path(entry.path)
    raise EvidenceError(N_("donnez --source : EVIDENCE_COLLECTOR_SCHEDULE ne planifie pas %(collector)s pour le "
                           "périmètre %(code)s"), collector=name, code=perimeter, field="source")


def parse_options(pairs) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise EvidenceError(N_("--option %(option)s : KEY=VALUE attendu"), option=pair, field="option")
        options[key.strip()] = value.strip()
    return options


@evidence_command(group=collect, name="run")
@click.argument("name")
@click.option("--perimeter", "perimeter_code", required=True, metavar="CODE", help="The perimeter it collects for.")
@click.option("--source", type=click.Path(exists=True, path_type=Path),
              help="What the collector reads: a report file or a folder, as it takes (default: the path "
                   "EVIDENCE_COLLECTOR_SCHEDULE gives it for this perimeter).")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE", help="A setting of the collector's own.")
@click.option("--as", "as_email", metavar="EMAIL", help="User the collection is attributed to (default: the sole admin).")
def run_command(name, perimeter_code, source, option_pairs, as_email):
    """Run the collector NAME and record its results as automated evidence of a perimeter: one per subject it
    judges (a Prowler requirement, a host...), created, refreshed by a newer run, or unchanged. Nothing is written
    when the source is refused."""
    from evidence.importer import resolve_actor
    from evidence.services import collector_runs

    source = source or scheduled_source(name, perimeter_code)
    options = parse_options(option_pairs)
    with context.session_scope() as session:
        actor = resolve_actor(session, as_email)
        report = collector_runs.run_collector(session, actor, perimeter_code, name, source, options=options,
                                              store=context.get_store(), today=today(), config=current_app.config)
    locale = messages.command_line_locale()
    for line in report_lines(report):
        click.echo(messages.render(line, locale))


run_command.help = inspect.cleandoc(run_command.help) + "\n\nCollectors: " + ", ".join(collectors.names()) + "."
