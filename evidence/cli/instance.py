"""The instance itself: `evidence init`, `evidence serve`, `evidence worker`."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from sqlmodel import select

from evidence import catalogue as referential
from evidence import context
from evidence.cli.common import ask_password, cli_actor, evidence_command, today
from evidence.core.errors import N_, EvidenceError
from evidence.data import database as db
from evidence.data import instance_files
from evidence.data.models import Perimeter, User
from evidence.services import users as auth

PERMISSION_WARNINGS = 10  # paths named one by one; an old instance's blobs could be thousands


@evidence_command(needs_schema=False)  # init is what creates the schema
@click.option("--admin-email", help="E-mail of the first admin (asked when missing and a terminal is attached).")
@click.option("--admin-name", default="", help="Display name of the first admin.")
@click.option(
    "--admin-password", envvar="EVIDENCE_ADMIN_PASSWORD",
    help="Password of the first admin (or EVIDENCE_ADMIN_PASSWORD); generated and printed when absent.",
)
@click.option("--demo", is_flag=True, help="Add a fictional provider (users, two perimeters, controls, evidence).")
@click.option("--fix-permissions", is_flag=True,
              help="Make the instance's files and folders readable by their owner only (0600 and 0700), e.g. those "
                   "an older version left readable by group or others.")
def init(admin_email, admin_name, admin_password, demo, fix_permissions):
    """Create the instance, migrate the database, load the catalogues and create the first admin. Safe to run again."""
    app = current_app
    db.migrate(context.get_engine())
    click.echo(f"Instance: {app.instance_path}")
    click.echo(f"Database: {context.get_engine().url.render_as_string(hide_password=True)} (schema up to date)")
    with context.session_scope() as session:
        for report in referential.load_catalogues(session, referential.default_catalogue_paths(), cli_actor()):
            click.echo(f"Catalogue {report}")
    with context.session_scope() as session:
        admin = session.exec(select(User).where(User.role == "admin", User.active)).first()
        if admin is not None:
            click.echo(f"An admin already exists ({admin.email}); no account created.")
        else:
            admin, admin_password, generated = _first_admin(session, admin_email, admin_name, admin_password)
            click.echo(f"Admin created: {admin.email}")
            if generated:
                click.echo(f"Password (shown once): {admin_password}")
    if demo:
        _load_demo()
    _private_files(fix_permissions)


def _private_files(fix: bool) -> None:
    """Every file and folder under the instance's places, last, so that what init just made is looked at too."""
    found = instance_files.exposed(instance_files.app_places(current_app), deep=True)
    if fix and found:
        click.echo(f"Permissions: {instance_files.make_private(found)} files and folders made private to their owner.")
        return
    for item in found[:PERMISSION_WARNINGS]:
        click.echo(f"Warning: {item}", err=True)
    if len(found) > PERMISSION_WARNINGS:
        click.echo(f"Warning: and {len(found) - PERMISSION_WARNINGS} more files or folders like these", err=True)
    if found:
        click.echo("Warning: run `evidence init --fix-permissions` to make them readable by their owner only.",
                   err=True)


def _first_admin(session, email, name, password):
    if not email:
        if not sys.stdin.isatty():
            raise EvidenceError(N_("aucun administrateur n’existe encore : donnez --admin-email (et éventuellement "
                                   "--admin-password)"))
        email = click.prompt("E-mail of the first admin")
    password, generated = ask_password(password)
    # The operator's own account: not one an admin handed over, so no change is asked at its first login.
    return (auth.create_user(session, cli_actor(), email, name, "admin", password, policy=context.password_policy()),
            password, generated)


def _load_demo():
    from evidence.services import demo

    with context.session_scope() as session:
        if session.exec(select(Perimeter)).first() is not None:
            click.echo("Demo: perimeters exist already; nothing added.")
            return
        click.echo("Demo: creating the fictional provider…")
        report = demo.load_demo(session, context.get_store(), cli_actor(), today())
    config_file = Path(current_app.instance_path) / "config.py"
    if not current_app.config.get("ORGANISATION") and not config_file.exists():
        from evidence.data.files import atomic_write

        # The dossier's cover names the provider; the demo's is fictional.
        atomic_write(config_file, lambda f: f.write(b'ORGANISATION = "Nuage Souverain SAS"\n'))
    click.echo(
        f"Demo: {report.users} users, {report.perimeters} perimeters, {report.controls} controls, "
        f"{report.evidence} evidence items. Every demo user's password (shown once): {report.password}"
    )


@evidence_command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host, port, workers):
    """Serve the web UI with gunicorn (put a TLS reverse proxy in front in production)."""
    from gunicorn.app.base import BaseApplication

    instance = current_app.instance_path

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 120)

        def load(self):
            from evidence import create_app

            return create_app({"INSTANCE_PATH": instance})

    from evidence import jobs

    consumer = jobs.start_consumer()  # dossiers render beside the web server, in this (master) process
    click.echo(f"Serving on http://{host}:{port}/ (Ctrl-C to stop)")
    try:
        Server().run()
    finally:
        consumer.stop(graceful=True)


@evidence_command(name="worker")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 8))
def worker(workers):
    """Run the background job consumer (dossier rendering) on its own, when not using `evidence serve`."""
    from evidence import jobs

    jobs.run_consumer(workers)
