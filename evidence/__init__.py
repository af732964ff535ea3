"""SecNumCloud evidence management: the application factory."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask

from evidence import settings

__version__ = "0.1.0"


def create_app(config: dict | None = None) -> Flask:
    instance = Path(config["INSTANCE_PATH"]) if config and "INSTANCE_PATH" in config else settings.instance_path()
    app = Flask(
        __name__,
        instance_path=str(instance),
        instance_relative_config=True,
        template_folder=str(settings.resource_dir("templates")),
        static_folder="static",
    )
    configure(app, config or {})

    from evidence import context, web
    from evidence.data import database as db
    from evidence.data import storage
    from evidence.extensions import babel, csrf, login_manager

    db.init_app(app)
    app.teardown_appcontext(context.close_session)
    storage.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=web.select_locale, default_translation_directories="translations")
    web.init_app(app)

    from evidence.cli import register_commands

    register_commands(app)
    return app


def configure(app: Flask, overrides: dict) -> None:
    app.config.update(settings.DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(settings.from_environment())
    app.config.update(overrides)
    instance = Path(app.instance_path)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = settings.sqlite_url(instance)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.load_secret_key(instance)
    app.config.update(
        SESSION_COOKIE_NAME="evidence_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,  # "remember me" is not offered; Flask-Login may still clear the cookie
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=int(app.config["SESSION_LIFETIME_MINUTES"])),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which has its own lifetime
        BABEL_DEFAULT_LOCALE=app.config["DEFAULT_LOCALE"],
    )
