"""`evidence users …`: user accounts."""
from __future__ import annotations

from contextlib import contextmanager

import click

from evidence import context
from evidence.cli.common import ask_password, cli_actor, evidence_command, today
from evidence.core.errors import N_, EvidenceError
from evidence.core.rules.token_scope import grant_running
from evidence.core.vocabulary import EVALUATOR, SCOPED_ROLES
from evidence.data.models import ROLES
from evidence.services import grants, passwords, second_factors, single_sign_on
from evidence.services import users as auth

# The service's fields as this command's options, so that a refusal names the option to correct.
OPTIONS = {"perimeters": "--perimeter", "until": "--until"}
PERIMETER_HELP = ("A perimeter an auditor or an evaluator reads (repeat for several; an evaluator needs one at least; "
                  "an auditor given none reads every perimeter).")
UNTIL_HELP = "The last day (YYYY-MM-DD) the perimeters given are readable; none: no end."


@click.group()
def users():
    """Manage user accounts."""


def _echo_link(link: passwords.PasswordLink) -> None:
    # No setting says under which address the instance is served, and a command has no request to learn it from.
    click.echo(f"One-time link to choose the password (shown once; expires {link.expires_at:%Y-%m-%d %H:%M} UTC),")
    click.echo(f"to append to this instance's address (e.g. https://evidence.example.org): {link.path}")


@evidence_command(users, name="add")
@click.argument("email")
@click.option("--name", default="", help="Display name (default: the part before @).")
@click.option("--role", type=click.Choice(ROLES), default="contributor", show_default=True)
@click.option("--password", envvar="EVIDENCE_USER_PASSWORD",
              help="A first password (or EVIDENCE_USER_PASSWORD), for scripts: the user must replace it at his first "
                   "login. Without it, a one-time link is printed for the user to choose his own.")
@click.option("--perimeter", "perimeters", multiple=True, metavar="CODE", help=PERIMETER_HELP)
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help=UNTIL_HELP)
def users_add(email, name, role, password, perimeters, until):
    """Create a user: a one-time link to choose the password, or a first password to replace at first login.
    An evaluator (or a scoped auditor) is given his perimeters with --perimeter."""
    until = until.date() if until else None
    with context.session_scope() as session, _naming_options():
        # Checked before the account exists: a refused perimeter leaves no half-made evaluator behind.
        grants.check_new(session, role, email, perimeters, until, today=today())
        if password:
            user = auth.create_user(session, cli_actor(), email, name, role, password, must_change=True,
                                    policy=context.password_policy())
            link = None
        else:
            link = passwords.invite_user(session, cli_actor(), email, name, role, context.password_policy())
            user = link.user
        if perimeters:
            grants.set_grants(session, cli_actor(), user, perimeters, until, today=today())
        granted = _perimeters_words(user, grants.list_for(session, user))
    click.echo(f"Created {user.email} ({user.role})")
    if granted:
        click.echo(granted)
    if link is not None:
        _echo_link(link)
    else:
        click.echo("The user must replace this password at his first login.")


@evidence_command(users, name="list")
def users_list():
    """List users."""
    with context.session_scope() as session:
        rows = auth.list_users(session)
        granted = grants.lines_by_user(session)
    if not rows:
        click.echo("No users.")
        return
    width = max(len(u.email) for u in rows)
    for user in rows:
        state = "active" if user.active else "disabled"
        line = f"{user.email:<{width}}  {user.role:<11}  {state:<8}  {user.name}"
        perimeters = _perimeters_words(user, granted.get(user.id, []))
        click.echo(f"{line}  {perimeters}" if perimeters else line)


@evidence_command(users, name="grant")
@click.argument("email")
@click.option("--perimeter", "perimeters", multiple=True, metavar="CODE",
              help="The perimeters the auditor or evaluator reads from now on, replacing those he had (repeat for "
                   "several; none: an auditor reads every perimeter, an evaluator none).")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help=UNTIL_HELP)
def users_grant(email, perimeters, until):
    """Replace the perimeters an auditor or an evaluator reads (and until when)."""
    with context.session_scope() as session, _naming_options():
        user = auth.get_user(session, email)
        lines = grants.set_grants(session, cli_actor(), user, perimeters, until.date() if until else None,
                                  today=today())
        click.echo(f"{user.email}: {_perimeters_words(user, lines)}")


@contextmanager
def _naming_options():
    """A refusal about a field of the service, named by this command's option (`--perimeter : aucun …`)."""
    try:
        yield
    except EvidenceError as error:
        if error.field in OPTIONS:
            raise EvidenceError(N_("%(option)s : %(problem)s"), option=OPTIONS[error.field], problem=error) from None
        raise


def _perimeters_words(user, lines) -> str:
    """What an auditor or an evaluator reads, as `users list` shows it (the team reads every perimeter: nothing)."""
    if user.role not in SCOPED_ROLES:
        return ""
    if not lines:
        return "perimeters: none" if user.role == EVALUATOR else "perimeters: all"
    day = today()
    return "perimeters: " + ", ".join(
        line.code + (f" until {line.until:%Y-%m-%d}" if line.until else "")
        + ("" if grant_running(line.until, day) else " (ended)") for line in lines)


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
@click.option("--password", envvar="EVIDENCE_USER_PASSWORD",
              help="The password (or EVIDENCE_USER_PASSWORD); asked on a terminal, else generated and printed.")
def users_set_password(email, password):
    """Set a user's password, to be replaced at his next login (their sessions end at once)."""
    password, generated = ask_password(password)
    with context.session_scope() as session:
        user = auth.set_password(session, cli_actor(), auth.get_user(session, email), password, must_change=True,
                                 policy=context.password_policy())
    click.echo(f"Password changed for {user.email}; it must be replaced at the next login.")
    if generated:
        click.echo(f"Password (shown once): {password}")


@evidence_command(users, name="reset-password")
@click.argument("email")
def users_reset_password(email):
    """Print a new one-time link for the user to choose a password (earlier unused links stop working; the
    current password works until the link is used)."""
    with context.session_scope() as session:
        link = passwords.issue_password_link(session, cli_actor(), auth.get_user(session, email), context.password_policy())
    click.echo(f"New link for {link.user.email}.")
    _echo_link(link)


@evidence_command(users, name="mfa-reset")
@click.argument("email")
def users_mfa_reset(email):
    """Delete a user's second factors and recovery codes (a lost phone or key); their sessions end at once and,
    if their role must have a second factor, their next login leads to enrolment."""
    with context.session_scope() as session:
        user = auth.get_user(session, email)
        removed = second_factors.reset_second_factors(session, cli_actor(), user)
    click.echo(f"Second factors reset for {user.email}: {removed['totp']} authenticator app(s), "
               f"{removed['security_keys']} security key(s), {removed['recovery_codes']} recovery code(s) deleted; "
               "their sessions have ended.")


@evidence_command(users, name="sso-unbind")
@click.argument("email")
def users_sso_unbind(email):
    """Unbind a user from the identity provider's identity (the provider re-created the person, a wrong binding):
    their sessions end, their password is void and a one-time link to choose a new one is printed; the next
    single sign-on login binds the account again by its verified e-mail."""
    with context.session_scope() as session:
        user = auth.get_user(session, email)
        issuer = user.oidc_issuer
        link = single_sign_on.unbind(session, cli_actor(), user, context.password_policy())
    click.echo(f"{user.email} is no longer bound to {issuer}; their sessions have ended and their password is void.")
    if link is not None:
        _echo_link(link)
    else:
        click.echo("The account is disabled: enable it, then print a link with `evidence users reset-password`.")
