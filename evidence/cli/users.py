"""`evidence users …`: user accounts."""
from __future__ import annotations

import sys

import click

from evidence import context
from evidence.cli.common import cli_actor, evidence_command
from evidence.data.models import ROLES
from evidence.services import users as auth


@click.group()
def users():
    """Manage user accounts."""


def _password_option(prompt_when_tty: bool):
    return click.option(
        "--password", envvar="EVIDENCE_USER_PASSWORD",
        help="The password (or EVIDENCE_USER_PASSWORD); generated and printed when absent"
        + (" and no terminal is attached." if prompt_when_tty else "."),
    )


def _ask_password(password):
    """(password, generated?) from the option, a hidden prompt on a terminal, or a generated one."""
    if password:
        return password, False
    if sys.stdin.isatty():
        password = click.prompt("Password (empty: generate one)", default="", hide_input=True,
                                confirmation_prompt=True, show_default=False)
        if password:
            return password, False
    return auth.generate_password(), True


@evidence_command(users, name="add")
@click.argument("email")
@click.option("--name", default="", help="Display name (default: the part before @).")
@click.option("--role", type=click.Choice(ROLES), default="contributor", show_default=True)
@_password_option(True)
def users_add(email, name, role, password):
    """Create a user."""
    password, generated = _ask_password(password)
    with context.session_scope() as session:
        user = auth.create_user(session, cli_actor(), email, name, role, password)
    click.echo(f"Created {user.email} ({user.role})")
    if generated:
        click.echo(f"Password (shown once): {password}")


@evidence_command(users, name="list")
def users_list():
    """List users."""
    with context.session_scope() as session:
        rows = auth.list_users(session)
    if not rows:
        click.echo("No users.")
        return
    width = max(len(u.email) for u in rows)
    for user in rows:
        state = "active" if user.active else "disabled"
        click.echo(f"{user.email:<{width}}  {user.role:<11}  {state:<8}  {user.name}")


@evidence_command(users, name="disable")
@click.argument("email")
def users_disable(email):
    """Disable a user (their sessions end at once)."""
    with context.session_scope() as session:
        user = auth.set_active(session, cli_actor(), auth.get_user(session, email), False)
    click.echo(f"Disabled {user.email}")


@evidence_command(users, name="enable")
@click.argument("email")
def users_enable(email):
    """Enable a disabled user."""
    with context.session_scope() as session:
        user = auth.set_active(session, cli_actor(), auth.get_user(session, email), True)
    click.echo(f"Enabled {user.email}")


@evidence_command(users, name="set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def users_set_role(email, role):
    """Change a user's role."""
    with context.session_scope() as session:
        user = auth.set_role(session, cli_actor(), auth.get_user(session, email), role)
    click.echo(f"{user.email} is now {user.role}")


@evidence_command(users, name="set-password")
@click.argument("email")
@_password_option(True)
def users_set_password(email, password):
    """Set a user's password (their sessions end at once)."""
    password, generated = _ask_password(password)
    with context.session_scope() as session:
        user = auth.set_password(session, cli_actor(), auth.get_user(session, email), password)
    click.echo(f"Password changed for {user.email}")
    if generated:
        click.echo(f"Password (shown once): {password}")
