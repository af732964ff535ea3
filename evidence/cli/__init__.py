"""The command line: `evidence …` (also `flask --app evidence …`).

Each command is a thin wrapper over a service function the web views use too. Errors the user can act on
come out as one line on stderr and a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import functools
import getpass
import os
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from evidence import catalogue as referential
from evidence import context
from evidence.core.errors import EvidenceError
from evidence.data import audit
from evidence.data import database as db
from evidence.data.models import ROLES, Perimeter, User
from evidence.dossier import verify_dossiers
from evidence.services import users as auth
from evidence.services.evidence import verify_blobs


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
            raise click.ClickException(str(error)) from None
        except OperationalError as error:
            raise click.ClickException(f"database error: {str(error.orig).strip().splitlines()[0]}") from None

    return wrapper


def evidence_command(group=click, **kwargs):
    """A command that runs inside the application context with friendly errors."""

    def decorate(function):
        return group.command(**kwargs)(with_appcontext(friendly_errors(function)))

    return decorate


def require_schema() -> None:
    engine = context.get_engine()
    try:
        revision = db.current_revision(engine)
    except OperationalError as error:
        raise EvidenceError(f"database unreachable: {str(error.orig).strip().splitlines()[0]}") from None
    if revision is None:
        raise EvidenceError("the database is not initialised: run `evidence init` first")


# --- init -------------------------------------------------------------------------------------------


@evidence_command()
@click.option("--admin-email", help="E-mail of the first admin (asked when missing and a terminal is attached).")
@click.option("--admin-name", default="", help="Display name of the first admin.")
@click.option(
    "--admin-password", envvar="EVIDENCE_ADMIN_PASSWORD",
    help="Password of the first admin (or EVIDENCE_ADMIN_PASSWORD); generated and printed when absent.",
)
@click.option("--demo", is_flag=True, help="Add a fictional provider (users, two perimeters, controls, evidence).")
def init(admin_email, admin_name, admin_password, demo):
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


def _first_admin(session, email, name, password):
    if not email:
        if not sys.stdin.isatty():
            raise EvidenceError("no admin exists yet: give --admin-email (and optionally --admin-password)")
        email = click.prompt("E-mail of the first admin")
    generated = not password
    if generated and sys.stdin.isatty():
        password = click.prompt(
            "Password (empty: generate one)", default="", hide_input=True, confirmation_prompt=True, show_default=False,
        )
        generated = not password
    if generated:
        password = auth.generate_password()
    return auth.create_user(session, cli_actor(), email, name, "admin", password), password, generated


def _load_demo():
    from evidence.data.models import utcnow
    from evidence.services import demo

    with context.session_scope() as session:
        if session.exec(select(Perimeter)).first() is not None:
            click.echo("Demo: perimeters exist already; nothing added.")
            return
        click.echo("Demo: creating the fictional provider…")
        report = demo.load_demo(session, context.get_store(), cli_actor(), utcnow().date())
    config_file = Path(current_app.instance_path) / "config.py"
    if not current_app.config.get("ORGANISATION") and not config_file.exists():
        from evidence.data.files import atomic_write

        # The dossier's cover names the provider; the demo's is fictional.
        atomic_write(config_file, lambda f: f.write(b'ORGANISATION = "Nuage Souverain SAS"\n'))
    click.echo(
        f"Demo: {report.users} users, {report.perimeters} perimeters, {report.controls} controls, "
        f"{report.evidence} evidence items. Every demo user's password (shown once): {report.password}"
    )


# --- serve ------------------------------------------------------------------------------------------


@evidence_command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host, port, workers):
    """Serve the web UI with gunicorn (put a TLS reverse proxy in front in production)."""
    require_schema()
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


# --- users ------------------------------------------------------------------------------------------


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
    require_schema()
    password, generated = _ask_password(password)
    with context.session_scope() as session:
        user = auth.create_user(session, cli_actor(), email, name, role, password)
    click.echo(f"Created {user.email} ({user.role})")
    if generated:
        click.echo(f"Password (shown once): {password}")


@evidence_command(users, name="list")
def users_list():
    """List users."""
    require_schema()
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
    require_schema()
    with context.session_scope() as session:
        user = auth.set_active(session, cli_actor(), auth.get_user(session, email), False)
    click.echo(f"Disabled {user.email}")


@evidence_command(users, name="enable")
@click.argument("email")
def users_enable(email):
    """Enable a disabled user."""
    require_schema()
    with context.session_scope() as session:
        user = auth.set_active(session, cli_actor(), auth.get_user(session, email), True)
    click.echo(f"Enabled {user.email}")


@evidence_command(users, name="set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def users_set_role(email, role):
    """Change a user's role."""
    require_schema()
    with context.session_scope() as session:
        user = auth.set_role(session, cli_actor(), auth.get_user(session, email), role)
    click.echo(f"{user.email} is now {user.role}")


@evidence_command(users, name="set-password")
@click.argument("email")
@_password_option(True)
def users_set_password(email, password):
    """Set a user's password (their sessions end at once)."""
    require_schema()
    password, generated = _ask_password(password)
    with context.session_scope() as session:
        user = auth.set_password(session, cli_actor(), auth.get_user(session, email), password)
    click.echo(f"Password changed for {user.email}")
    if generated:
        click.echo(f"Password (shown once): {password}")


# --- catalogue --------------------------------------------------------------------------------------


@click.group()
def catalogue():
    """Load the product's catalogues or import CISO Assistant libraries."""


@evidence_command(catalogue, name="load")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
def catalogue_load(files):
    """Load catalogues (default: every controls/*.yaml shipped with the product). Re-loading updates in place."""
    require_schema()
    with context.session_scope() as session:
        reports = referential.load_catalogues(session, files or referential.default_catalogue_paths(), cli_actor())
    for report in reports:
        click.echo(str(report))


@evidence_command(catalogue, name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overlay", metavar="FRAMEWORK",
              help="Add the library's wording as the official text of this loaded framework's matching items.")
def catalogue_import(file, overlay):
    """Import a CISO Assistant library: a framework, an overlay of official text, or a mapping between frameworks."""
    require_schema()
    with context.session_scope() as session:
        report = referential.import_library(session, file, cli_actor(), overlay=overlay)
    click.echo(str(report))


# --- gaps, reminders, export ----------------------------------------------------------------------


def _today():
    from evidence.data.models import utcnow

    clock = current_app.config.get("TODAY")  # tests fix the date
    return clock if clock else utcnow().date()


@evidence_command(name="gaps")
@click.argument("perimeter")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--chapter", help="Only this chapter (e.g. 12).")
def gaps_command(perimeter, output, chapter):
    """List what stands between PERIMETER and qualification. Exit 1 while an applicable exigence is not compliant."""
    require_schema()
    import csv as csv_module
    import json

    from evidence.presentation import labels
    from evidence.services import gaps
    from evidence.services.perimeters import get_perimeter

    with context.session_scope() as session:
        result = gaps.compute(session, get_perimeter(session, perimeter), _today())
        gaps.record_snapshot(session, result)
    rows = [r for r in result.gaps() if not chapter or r.chapter == chapter]
    records = [{
        "ref": r.requirement.ref, "chapter": r.chapter, "kind": r.requirement.kind, "title": r.requirement.title,
        "status": r.status.status, "reasons": list(r.status.reasons),
        "controls": [c.ref for c in r.controls], "owners": sorted({c.owner_email for c in r.controls if c.owner_email}),
    } for r in rows]
    if output == "json":
        readiness = result.readiness
        click.echo(json.dumps({
            "perimeter": result.perimeter.code, "date": result.today.isoformat(),
            "readiness": {"compliant": readiness.compliant, "applicable": readiness.applicable, "percent": readiness.percent},
            "gaps": records,
        }, ensure_ascii=False, indent=2))
    elif output == "csv":
        writer = csv_module.writer(sys.stdout)
        writer.writerow(["ref", "chapter", "kind", "status", "reasons", "controls", "title"])
        for rec in records:
            writer.writerow([rec["ref"], rec["chapter"], rec["kind"], rec["status"], ";".join(rec["reasons"]),
                             ";".join(rec["controls"]), rec["title"]])
    else:
        for rec in records:
            reasons = ", ".join(labels.text(labels.REASON, x) for x in rec["reasons"])
            click.echo(f"{rec['ref']:<10} {labels.text(labels.STATUS, rec['status']):<14} {reasons:<40} {rec['title'][:60]}")
        readiness = result.readiness
        click.echo(f"{result.perimeter.code}: {readiness.percent} % ready ({readiness.compliant}/{readiness.applicable} "
                   f"applicable exigences compliant); {len(result.blocking_gaps())} exigence(s) with a gap"
                   + (f"; {len(records)} gap(s) shown in chapter {chapter}" if chapter else ""))
    blocking = [r for r in result.blocking_gaps() if not chapter or r.chapter == chapter]
    if blocking:
        sys.exit(1)


@evidence_command(name="reminders")
@click.option("--days", default=30, show_default=True, type=click.IntRange(0, 366), help="Horizon for 'expires soon'.")
@click.option("--send", is_flag=True, help="Mail each owner their list (EVIDENCE_SMTP_* settings).")
def reminders_command(days, send):
    """Evidence expiring or expired and overdue actions, by owner."""
    require_schema()
    from evidence.services import reminders

    today = _today()
    with context.session_scope() as session:
        collected = reminders.collect(session, today, days)
        for reminder in collected:
            click.echo(f"{reminder.label}: {len(reminder.expired)} expired, {len(reminder.expiring)} expiring, "
                       f"{len(reminder.overdue_actions)} overdue action(s)")
            for e in reminder.expired + reminder.expiring:
                click.echo(f"  {e.ref:<9} {e.valid_until.isoformat()}  {e.title[:70]}")
            for action, code in reminder.overdue_actions:
                click.echo(f"  [{code}] {action.due_date.isoformat()}  {action.title[:70]}")
        if not collected:
            click.echo("Nothing to remind.")
        if send:
            sent = reminders.send(collected, current_app.config, today)
            click.echo(f"{sent} mail(s) sent.")


@evidence_command(name="dossier")
@click.argument("perimeter")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.pdf")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--attach-evidence", is_flag=True, help="Embed the pinned evidence files (PDF/A-3u).")
@click.option("--classification", default="Diffusion restreinte", show_default=True, help="Marking on every page.")
def dossier_command(perimeter, output, lang, attach_evidence, classification):
    """Render PERIMETER's qualification dossier (a new version, stored and audited) and write it to FILE.pdf."""
    require_schema()
    from evidence import dossier
    from evidence.data.files import atomic_write
    from evidence.services.perimeters import get_perimeter

    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        with click.progressbar(length=100, label="Rendering", show_percent=True, file=sys.stderr) as bar:
            done = [0]

            def progress(percent, _step):
                bar.update(percent - done[0])
                done[0] = percent

            item = dossier.generate(session, context.get_store(), cli_actor(), target, lang, attach_evidence,
                                    classification, _today(), progress)
        with context.get_store().open(item.storage_key) as source:
            data = source.read()
    atomic_write(output, lambda f: f.write(data))
    click.echo(f"Wrote {output}: dossier {target.code} v{item.number}, {item.size} bytes, SHA-256 {item.sha256}")


@evidence_command(name="worker")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 8))
def worker(workers):
    """Run the background job consumer (dossier rendering) on its own, when not using `evidence serve`."""
    require_schema()
    from evidence import jobs

    jobs.huey.create_consumer(workers=workers, worker_type="thread").run()


@click.group(name="export")
def export():
    """Export the traceability matrix or the evidence bundle."""


@evidence_command(export, name="matrix")
@click.argument("perimeter")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.xlsx or FILE.csv")
def export_matrix(perimeter, output):
    """Write PERIMETER's traceability matrix (one row per item) to an .xlsx or .csv file."""
    require_schema()
    from evidence.exports import matrix as exports
    from evidence.services import gaps
    from evidence.services.perimeters import get_perimeter

    with context.session_scope() as session:
        result = gaps.compute(session, get_perimeter(session, perimeter), _today())
    exports.write_matrix(result, output)
    click.echo(f"Wrote {output} ({len(result.rows)} items)")


# --- import -----------------------------------------------------------------------------------------


@evidence_command(name="import")
@click.argument("manifest", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), help="Folder the manifest's file paths are relative to.")
@click.option("--dry-run", is_flag=True, help="Check every row and print the plan; write nothing.")
@click.option("--atomic", is_flag=True, help="All or nothing: import no row unless every row can be imported.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write the outcome of each row to FILE.csv.")
@click.option("--as", "as_email", metavar="EMAIL", help="User the import is attributed to (default: the sole admin).")
@click.option("--template", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an empty manifest (FILE.csv or FILE.xlsx: the header and one example row) and stop.")
def import_evidence(manifest, root, dry_run, atomic, report, as_email, template):
    """Import evidence in bulk from MANIFEST (CSV or XLSX): files under --root, or links. Safe to run again.

    Exit status 1 when a row is in error (nothing is written for it; with --atomic, nothing at all)."""
    from evidence import importer

    if template:
        importer.write_template(template)
        click.echo(f"Wrote {template}")
        return
    if manifest is None or root is None:
        raise click.UsageError("give MANIFEST and --root DIR (or --template FILE)")
    require_schema()
    progress = _ImportProgress() if sys.stderr.isatty() else None  # silent when not on a terminal
    try:
        with context.session_scope() as session:
            actor = importer.resolve_actor(session, as_email)
            result = importer.run_import(
                session, context.get_store(), actor, manifest, root, dry_run=dry_run, atomic=atomic,
                max_size=current_app.config["MAX_CONTENT_LENGTH"], origin=cli_actor(), progress=progress,
            )
    finally:
        if progress:
            progress.finish()
    if dry_run:
        for outcome in result.outcomes:
            if outcome.action != importer.ERROR:
                click.echo(importer.describe(outcome))
    for line in importer.error_lines(result):
        click.echo(line, err=True)
    click.echo(importer.summary(result))
    if report:
        importer.write_report(report, result)
    if result.interrupted:
        sys.exit(130)
    if result.failed:
        sys.exit(1)


class _ImportProgress:
    """Progress bars on stderr, one per stage (checking, importing), showing files and bytes."""

    def __init__(self):
        self.stage, self.bar, self.shown_at = None, None, 0.0

    def __call__(self, stage, files, files_total, done, total):
        import time

        if stage != self.stage:
            self.finish()
            self.stage = stage
            self.bar = click.progressbar(length=max(total, 1), label=stage.capitalize(), file=sys.stderr,
                                         item_show_func=lambda text: text)
        if files == files_total or time.monotonic() - self.shown_at > 0.1:  # redrawing costs: 10 times a second
            self.shown_at = time.monotonic()
            self.bar.update(done - self.bar.pos, f"{files}/{files_total} files, {done / 1e6:.1f}/{total / 1e6:.1f} MB")

    def finish(self):
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None


@evidence_command(export, name="bundle")
@click.argument("perimeter")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.zip")
@click.option("--dossier-version", type=int, help="Bundle this existing dossier version (default: render a new one).")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
def export_bundle(perimeter, output, dossier_version, lang):
    """Write a zip with the dossier, every pinned evidence file and a manifest of SHA-256 hashes."""
    require_schema()
    from sqlmodel import select as sql_select

    from evidence import dossier
    from evidence.data.models import Dossier
    from evidence.exports import matrix as exports
    from evidence.services.perimeters import get_perimeter

    store = context.get_store()
    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        if dossier_version:
            item = session.exec(sql_select(Dossier).where(Dossier.perimeter_id == target.id,
                                                          Dossier.number == dossier_version)).first()
            if item is None or item.status != "done":
                raise EvidenceError(f"{target.code} has no rendered dossier version {dossier_version}")
        else:
            item = dossier.generate(session, store, cli_actor(), target, lang, False, "", _today())
        with store.open(item.storage_key) as source:
            pdf = source.read()
        counts = exports.write_bundle(item.snapshot, pdf, dossier.file_name(target.code, item), store, output)
    click.echo(f"Wrote {output}: dossier {target.code} v{item.number} and {counts['files'] - 1} evidence files "
               f"({counts['links']} link(s) listed in the manifest)")


@evidence_command(name="verify-bundle")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
def verify_bundle_command(bundle):
    """Re-check an evidence bundle offline against its manifest; exit 1 naming any file that differs."""
    from evidence.exports import matrix as exports

    checked, problems = exports.verify_bundle(bundle)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {bundle}")
    click.echo(f"{bundle}: {checked} files match the manifest")


@evidence_command(name="sovereignty")
@click.argument("perimeter")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def sovereignty_command(perimeter, output):
    """Run PERIMETER's chapter-19 sovereignty checks; exit 1 when any fails."""
    require_schema()
    import json

    from evidence.presentation import labels
    from evidence.services import sovereignty
    from evidence.services.perimeters import get_perimeter

    with context.session_scope() as session:
        results = sovereignty.checks(sovereignty.registers(session, get_perimeter(session, perimeter)))
    if output == "json":
        click.echo(json.dumps([{"requirement": c.requirement, "check": c.name, "passed": c.passed,
                                "problems": list(c.problems), "figures": dict(c.figures)} for c in results],
                              ensure_ascii=False, indent=2))
    else:
        for check in results:
            verdict = "pass" if check.passed else "FAIL"
            figures = ", ".join(f"{k}={v}" for k, v in check.figures)
            click.echo(f"{check.requirement:<7} {verdict:<4} {labels.text(labels.CHECK, check.name)}" + (f"  ({figures})" if figures else ""))
            for problem in check.problems:
                click.echo(f"        - {problem}")
    if not all(check.passed for check in results):
        sys.exit(1)


# --- verify -----------------------------------------------------------------------------------------


@evidence_command()
@click.option("--audit", "audit_only", is_flag=True, help="Check only the audit trail's hash chain.")
def verify(audit_only):
    """Re-hash every stored evidence version and check the audit trail's hash chain. Exit 1 on any problem."""
    require_schema()
    problems = []
    with context.session_scope() as session:
        if not audit_only:
            checked, blob_problems = verify_blobs(session, context.get_store())
            for problem in blob_problems:
                click.echo(f"Evidence {problem}", err=True)
            problems += blob_problems
            click.echo(f"Evidence: {checked} stored versions re-hashed, {len(blob_problems)} problem(s)")
            checked, dossier_problems = verify_dossiers(session, context.get_store())
            for problem in dossier_problems:
                click.echo(f"Dossier {problem}", err=True)
            problems += dossier_problems
            click.echo(f"Dossiers: {checked} stored PDFs re-hashed, {len(dossier_problems)} problem(s)")
        count, chain_problem = audit.verify(session)
        head = session.get(audit.AuditHead, 1)
    if chain_problem is not None:
        click.echo(f"Audit trail: {chain_problem}", err=True)
        problems.append(str(chain_problem))
    else:
        click.echo(f"Audit trail: {count} events, chain intact; head #{head.seq} {head.hash}")
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) found")


def register_commands(app: Flask) -> None:
    from evidence.ops.backup import backup_command, restore_command

    for command in (init, serve, worker, users, catalogue, import_evidence, gaps_command, reminders_command,
                    dossier_command, sovereignty_command, export, verify, verify_bundle_command, backup_command,
                    restore_command):
        app.cli.add_command(command)


def _create_app():
    from evidence import create_app

    return create_app()


cli = FlaskGroup(
    name="evidence", create_app=_create_app, add_default_commands=False, add_version_option=False,
    load_dotenv=False, help="SecNumCloud evidence management.",
)


def main() -> None:
    """Console entry point: unexpected failures become one line too (set EVIDENCE_DEBUG=1 for the traceback)."""
    try:
        cli.main(prog_name="evidence")
    except SystemExit:
        raise
    except Exception as error:  # noqa: BLE001 - the last line of defence of a command-line tool
        if os.environ.get("EVIDENCE_DEBUG"):
            raise
        click.echo(f"Error: {type(error).__name__}: {error}".splitlines()[0], err=True)
        sys.exit(1)
