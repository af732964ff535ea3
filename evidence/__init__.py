"""SecNumCloud evidence management: the application factory."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from evidence import settings

__version__ = "0.1.0"


def create_app(config: dict | None = None) -> Flask:
    # Before anything is written (the secret key, the database, the queue): what this process creates is its
    # owner's only. A umask is process-wide; set here rather than in the command line's entry point because
    # every way to run the product (evidence serve, worker or any command, a WSGI server importing
    # create_app, the tests) makes its app here, and a process that makes this app exists to run it.
    from evidence.data import instance_files

    instance_files.keep_private()
    instance = Path(config["INSTANCE_PATH"]) if config and "INSTANCE_PATH" in config else settings.instance_path()
    app = Flask(
        __name__,
        instance_path=str(instance),
        instance_relative_config=True,
        template_folder=str(settings.resource_dir("templates")),
        static_folder="static",
    )
    from evidence.web import routing

    app.url_rule_class = routing.Rule  # before any blueprint: see evidence.web.routing
    settings.configure(app, config or {})

    from evidence import context, jobs, web
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
    from evidence import api

    api.init_app(app)  # after the web: the API's error handlers keep the web's pages for every other path
    from evidence.presentation import typography

    typography.register(app)  # dates, sizes, shares in the reader's locale, for pages and the dossier alike
    from evidence.presentation import compiled_templates

    compiled_templates.register(app)
    jobs.init_app(app)
    instance_files.warn_exposed(app)  # e.g. an instance made by an older version, before the umask above

    from evidence.cli import register_commands

    register_commands(app)
    return app

