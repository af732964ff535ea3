"""`evidence tokens …`: API tokens (create, list, revoke)."""
from __future__ import annotations

import click
from flask import current_app

from evidence import context
from evidence.cli.common import cli_actor, evidence_command
from evidence.core.vocabulary import API_TOKEN_ROLES, SCOPED_ROLES
from evidence.data.models import User
from evidence.services import api_tokens


@click.group()
def tokens():
    """Manage REST API tokens (Authorization: Bearer …)."""


@evidence_command(tokens, name="create")
@click.argument("name")
@click.option("--role", type=click.Choice(API_TOKEN_ROLES), help="The token's role (a service account's; with "
              "--user, it must be the person's own role, the default).")
@click.option("--user", "user_email", metavar="EMAIL", help="Act as this person (with exactly the person's role) "
              "rather than as a service account of its own.")
@click.option("--perimeter", "perimeters", multiple=True, metavar="CODE",
              help="Limit the token to this perimeter (repeat for several; none: every perimeter).")
@click.option("--expires-days", type=int, default=None,
              help="Days until it expires (at least 1; default: the API_TOKEN_DAYS setting).")
def tokens_create(name, role, user_email, perimeters, expires_days):
    """Create the token NAME and print it, once."""
    with context.session_scope() as session:
        issued = api_tokens.create_token(session, cli_actor(), name, role, user_email=user_email,
                                         perimeters=perimeters, expires_days=expires_days,
                                         default_days=current_app.config["API_TOKEN_DAYS"])
        account = session.get(User, issued.token.user_id)
    token = issued.token
    # An auditor's or an evaluator's token is narrowed by his own perimeters too (services.api_tokens.authenticate).
    scope = ", ".join(perimeters) if perimeters else "every perimeter"
    if account.role in SCOPED_ROLES:
        scope += " within the perimeters granted to him"
    click.echo(f"Created token {token.name} ({token.role}, acting as {account.email}; {scope}; "
               f"expires {token.expires_at:%Y-%m-%d})")
    click.echo(issued.secret)
    click.echo("Keep it now: it is not shown again (only its hash is kept).", err=True)


@evidence_command(tokens, name="list")
def tokens_list():
    """List the tokens: name, role, account, perimeters, expiry, last use, status."""
    with context.session_scope() as session:
        rows = api_tokens.list_tokens(session)
    if not rows:
        click.echo("No tokens.")
        return
    width = max(len(row.token.name) for row in rows)
    for row in rows:
        token = row.token
        scope = ",".join(p.code for p in row.perimeters) or "*"
        expires = f"{token.expires_at:%Y-%m-%d}" if token.expires_at else "never"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never used"
        click.echo(f"{token.name:<{width}}  {token.prefix}…  {token.role:<11}  {row.status:<9}  {row.account.email}  "
                   f"perimeters: {scope}  expires: {expires}  last used: {used}")


@evidence_command(tokens, name="revoke")
@click.argument("name")
def tokens_revoke(name):
    """Revoke the token NAME: every call with it is refused from now on."""
    with context.session_scope() as session:
        token = api_tokens.revoke_token(session, cli_actor(), name)
    click.echo(f"Revoked token {token.name}")
