"""`evidence digest send`: the e-mail digest by hand (the job queue sends it on its schedule)."""
from __future__ import annotations

import click
from flask import current_app
from sqlmodel import select

from evidence import context
from evidence.cli.common import evidence_command, today
from evidence.core.errors import N_, EvidenceError
from evidence.data.models import User


@click.group()
def digest():
    """The e-mail digest of what is new or due, per user."""


@evidence_command(digest, name="send")
@click.option("--email", "emails", multiple=True, metavar="EMAIL", help="Only to this user (repeatable).")
def send(emails):
    """Mail each user who has not opted out what is new or due since their last digest (EVIDENCE_SMTP_*)."""
    from evidence.services import digest as digests

    with context.session_scope() as session:
        only = None
        if emails:
            found = dict(session.exec(select(User.email, User.id).where(User.email.in_([e.lower() for e in emails]))).all())
            if missing := [e for e in emails if e.lower() not in found]:
                raise EvidenceError(N_("aucun utilisateur « %(email)s »"), email=", ".join(missing))
            only = list(found.values())
        report = digests.send_digests(session, current_app.config, today(), only=only)
    for email in report.sent:
        click.echo(f"sent to {email}")
    click.echo(f"{len(report.sent)} digest(s) sent, {report.nothing_new} user(s) with nothing new, "
               f"{report.opted_out} opted out.")
