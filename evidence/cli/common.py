"""What every command shares: who acts, one-line errors, the application context and the schema check."""
from __future__ import annotations

import functools
import getpass

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from evidence import context
from evidence.core import clock
from evidence.core.errors import N_, ConflictError, EvidenceError, Message
from evidence.data import database as db
from evidence.presentation import messages


def cli_actor() -> str:
    """How a command-line action appears in the audit trail: the operating-system account that ran it."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def friendly_errors(command):
    """Turn the errors a user can act on into one clear line (click prints it) and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except EvidenceError as error:
            raise click.ClickException(messages.render(error, messages.command_line_locale())) from None
        except OperationalError as error:
            problem = Message(N_("erreur de la base de données : %(detail)s"), detail=_first_line(error))
            raise click.ClickException(messages.render(problem, messages.command_line_locale())) from None
        except StaleDataError:  # a save crossing another one (optimistic locking), as the web and the API say it
            raise click.ClickException(messages.render(ConflictError(), messages.command_line_locale())) from None

    return wrapper


def require_schema() -> None:
    """Refuse to run against a database that is unreachable or was never initialised."""
    engine = context.get_engine()
    try:
        revision = db.current_revision(engine)
    except OperationalError as error:
        raise EvidenceError(N_("base de données injoignable : %(detail)s"), detail=_first_line(error)) from None
    if revision is None:
        raise EvidenceError(N_("la base de données n’est pas initialisée : lancez d’abord `evidence init`"))


def _first_line(error: OperationalError) -> str:
    return str(error.orig).strip().splitlines()[0]


def _schema_checked(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        require_schema()
        return command(*args, **kwargs)

    return wrapper


def evidence_command(group=click, needs_schema: bool = True, **kwargs):
    """A command that runs inside the application context with friendly errors.

    With `needs_schema` (most commands), the database is checked to be initialised before the command runs;
    init (which creates it), restore (which fills an empty one) and the offline commands pass False."""

    def decorate(function):
        body = _schema_checked(function) if needs_schema else function
        return group.command(**kwargs)(with_appcontext(friendly_errors(body)))

    return decorate


def today():
    """The date the rules are evaluated at: today, unless the configuration fixes it (tests do)."""
    return clock.today(current_app.config.get("TODAY"))


def ask_password(password):
    """(password, generated?) from the option, a hidden prompt on a terminal, or one generated as long as the
    password policy asks."""
    import sys

    from evidence.core.passwords import generate_password

    if password:
        return password, False
    if sys.stdin.isatty():
        password = click.prompt("Password (empty: generate one)", default="", hide_input=True,
                                confirmation_prompt=True, show_default=False)
        if password:
            return password, False
    return generate_password(context.password_policy().min_length), True
