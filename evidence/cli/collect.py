"""Automated evidence from the command line: `evidence collect prowler FILE --perimeter CODE` (and, by the
collector interface, `evidence collect run NAME`). Each command reads and checks its input before anything is
written, then calls the one collection service (services.collection.record_collected)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from flask import current_app

from evidence import context
from evidence.cli.common import evidence_command, today
from evidence.core.errors import N_, Message
from evidence.presentation import messages


@click.group(name="collect")
def collect():
    """Automated evidence: record a collector's results (a scanner's report...) for a perimeter."""


OUTCOME = {"created": N_("créée"), "refreshed": N_("actualisée (nouvelle version)"), "unchanged": N_("inchangée")}
RESULT = {"passed": N_("réussi"), "failed": N_("en échec"), "partly": N_("en partie en échec")}


def report_lines(report, grouped=None) -> list[Message]:
    """A collection's outcome in words: one line per subject, its failing and muted checks, what was left out."""
    lines = [Message(N_("%(source)s → périmètre %(code)s : %(created)s créée(s), %(refreshed)s actualisée(s), "
                        "%(unchanged)s inchangée(s)"), source=report.source, code=report.perimeter,
                     created=report.created, refreshed=report.refreshed, unchanged=report.unchanged)]
    for line in report.lines:
        counts = line.counts
        lines.append(Message(N_("  %(subject)s : %(ref)s %(outcome)s ; %(result)s (%(passed)s réussi(s), %(failed)s "
                                "en échec, %(muted)s en sourdine, %(manual)s manuel(s))"),
                             subject=line.subject, ref=line.ref, outcome=Message(OUTCOME[line.outcome]),
                             result=Message(RESULT[line.result]), passed=counts.passed, failed=counts.failed,
                             muted=counts.muted, manual=counts.manual))
        if line.older:
            lines.append(Message(N_("    le passage enregistré est plus récent que celui du rapport : gardé")))
        if line.stale:
            lines.append(Message(N_("    passage trop ancien : il ne compte plus comme preuve depuis le %(day)s"),
                                 day=(line.expires_on + timedelta(days=1)).isoformat()))
        if line.reopened:
            lines.append(Message(N_("    ce qu’elle prouve a changé : elle repasse en brouillon pour être revue")))
        lines += [Message(N_("    en échec : %(check)s, %(resource)s : %(status)s"), check=f.check,
                          resource=f.resource_name or f.resource, status=f.status) for f in line.failing]
        lines += [Message(N_("    en sourdine (exception acceptée) : %(check)s, %(resource)s"), check=f.check,
                          resource=f.resource_name or f.resource) for f in line.muted]
    if grouped is not None and grouped.left_out:
        lines.append(Message(N_("Non reprises (la table de correspondance n’y trouve rien que Prowler prouve) : "
                                "%(ids)s"), ids=", ".join(grouped.left_out)))
    if grouped is not None and grouped.manual:
        lines.append(Message(N_("Sans contrôle automatique chez Prowler (à prouver à la main) : %(ids)s"),
                             ids=", ".join(grouped.manual)))
    return lines


@evidence_command(group=collect, name="prowler")
@click.argument("report_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--perimeter", "perimeter_code", required=True, metavar="CODE", help="The perimeter the scan is of.")
@click.option("--as", "as_email", metavar="EMAIL", help="User the collection is attributed to (default: the sole admin).")
def prowler_command(report_file, perimeter_code, as_email):
    """Record a Prowler SecNumCloud 3.2 report (FILE: its *.ocsf.json, or its secnumcloud_3.2_aws|azure|gcp
    compliance CSV) as automated evidence of a perimeter: one per Prowler requirement, created, refreshed by a
    newer run, or unchanged. Nothing is written when the file is refused."""
    from evidence.collectors import prowler
    from evidence.importer import resolve_actor
    from evidence.services import collection
    from evidence.services.perimeters import get_perimeter

    grouped = prowler.group(prowler.read(report_file))  # everything read and checked before the transaction
    with context.session_scope() as session:
        perimeter = get_perimeter(session, perimeter_code)
        actor = resolve_actor(session, as_email)
        result = collection.record_collected(
            session, actor, perimeter, prowler.NAME, grouped.report.source, grouped.collected,
            store=context.get_store(), today=today(), max_size=current_app.config["MAX_CONTENT_LENGTH"],
            ttl_days=collection.configured_ttl(prowler.NAME, current_app.config,
                                              prowler.ProwlerCollector.default_ttl_days))
    locale = messages.command_line_locale()
    for line in report_lines(result, grouped):
        click.echo(messages.render(line, locale))
