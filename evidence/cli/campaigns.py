"""`evidence campaigns …`: a perimeter's evaluation campaigns (add, list, close)."""
from __future__ import annotations

import click

from evidence import context
from evidence.cli.common import cli_actor, evidence_command, today
from evidence.core.vocabulary import CAMPAIGN_KINDS
from evidence.services import campaigns
from evidence.services.perimeters import get_perimeter, list_perimeters

DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.group(name="campaigns")
def campaigns_group():
    """Evaluation campaigns: an evaluation centre's initial evaluation, surveillance audit or renewal."""


@evidence_command(campaigns_group, name="add")
@click.option("--perimeter", "code", required=True, metavar="CODE", help="The perimeter evaluated.")
@click.option("--kind", type=click.Choice(CAMPAIGN_KINDS), required=True, help="What the evaluation is.")
@click.option("--centre", required=True, metavar="NAME", help="The evaluation centre's name.")
@click.option("--from", "starts_on", type=DAY, required=True, metavar="YYYY-MM-DD", help="Its first day.")
@click.option("--to", "ends_on", type=DAY, required=True, metavar="YYYY-MM-DD",
              help="Its last day: the access granted for it ends the day after.")
def campaigns_add(code, kind, centre, starts_on, ends_on):
    """Open a campaign on a perimeter (its phase follows: under evaluation, or surveillance)."""
    with context.session_scope() as session:
        perimeter = get_perimeter(session, code)
        campaign = campaigns.create_campaign(session, cli_actor(), perimeter, campaigns.CampaignData(
            kind=kind, centre=centre, starts_on=starts_on.date(), ends_on=ends_on.date()))
        click.echo(f"Campaign {campaign.id} opened on {perimeter.code}: {campaign.kind}, {campaign.centre}, "
                   f"{campaign.starts_on:%Y-%m-%d} to {campaign.ends_on:%Y-%m-%d} (phase: {perimeter.phase})")


@evidence_command(campaigns_group, name="list")
@click.option("--perimeter", "code", metavar="CODE", help="Only this perimeter's (default: every perimeter).")
def campaigns_list(code):
    """The campaigns: number, perimeter, kind, centre, dates, running or closed, evaluators granted."""
    with context.session_scope() as session:
        chosen = [get_perimeter(session, code)] if code else list_perimeters(session)
        lines = []
        for perimeter in chosen:
            for campaign in campaigns.list_for(session, perimeter):
                names = ", ".join(u.email for u in campaigns.evaluators_of(session, campaign)) or "none"
                state = f"closed {campaign.closed_at:%Y-%m-%d}" if campaign.closed_at else "running"
                lines.append(f"{campaign.id:>4}  {perimeter.code}  {campaign.kind:<14}  {campaign.centre}  "
                             f"{campaign.starts_on:%Y-%m-%d} to {campaign.ends_on:%Y-%m-%d}  {state}  "
                             f"evaluators: {names}")
    click.echo("\n".join(lines) if lines else "No campaigns.")


@evidence_command(campaigns_group, name="close")
@click.option("--perimeter", "code", required=True, metavar="CODE")
@click.argument("number", type=int)
def campaigns_close(code, number):
    """Close campaign NUMBER: the access granted for it ends today."""
    with context.session_scope() as session:
        perimeter = get_perimeter(session, code)
        campaign = campaigns.close_campaign(session, cli_actor(), campaigns.get_campaign(session, perimeter, number),
                                            today())
        click.echo(f"Campaign {campaign.id} of {perimeter.code} closed")
