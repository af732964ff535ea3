"""The current app's database session, engine and evidence store, for the boundaries (web views, CLI
commands, jobs) that run inside a Flask app context. Services never import this: they are handed a session
and a store.

The request's session is opened lazily in `g` and closed at teardown, as in Flask's tutorial.
"""
from __future__ import annotations

from flask import current_app, g
from sqlalchemy.engine import Engine
from sqlmodel import Session

from evidence.data import database, storage


def get_engine() -> Engine:
    return database.get_engine(current_app)


def get_store() -> storage.BlobStore:
    return storage.get_store(current_app)


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = Session(get_engine(), expire_on_commit=False)
    return g.db_session


def close_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def session_scope():
    """A session of its own (CLI, jobs, a view that must not share the request's): closed by the caller's
    `with`, committed by the service it is handed to."""
    return database.session_scope(current_app)


def dossier_settings():
    """What the dossier needs from the current app: its Jinja environment, the organisation, DOSSIER_*."""
    from evidence.dossier.generate import DossierSettings

    return DossierSettings.from_config(current_app.config, current_app.instance_path, current_app.jinja_env)


def dossier_marking() -> str:
    """The marking a dossier carries when the user types none (DOSSIER_MARKING, empty by default)."""
    return current_app.config["DOSSIER_MARKING"] or ""


def admin_approves() -> bool:
    """The ADMIN_APPROVES setting (separation of duties), for the services that judge an approval."""
    from evidence.core import rules

    return rules.duties.admin_approves(current_app.config)


def password_policy():
    """The password policy of the settings (PASSWORD_MIN_LENGTH, PASSWORD_LINK_HOURS), for web and CLI."""
    from evidence.core.passwords import PasswordPolicy

    return PasswordPolicy.from_config(current_app.config)


def approver_functions() -> tuple[str, ...]:
    """The functions a dossier version is approved in (DOSSIER_APPROVER_FUNCTIONS, `;`-separated)."""
    from evidence.core import rules

    return rules.signoff.approver_functions(current_app.config["DOSSIER_APPROVER_FUNCTIONS"])
