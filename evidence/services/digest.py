"""The e-mail digest: one mail per user with what is new or due since their last digest, in their language.

Sent by the job queue's periodic task (jobs.send_digests, daily by default: DIGEST_CADENCE, DIGEST_HOUR) and by
`evidence digest send`, through the product's one mail connection (reminders.smtp_connection). A user who opted
out (User.digest off, on the account page), a disabled one, or one with nothing new gets nothing.

What is new: the unread notifications made after the last digest, and the tasks (expiring, expired, overdue,
renewal due) that became due after the day of the last digest, or whose evidence or action changed since. So a
second run reports nothing twice, and a task still waiting is not mailed again every day: the inbox keeps it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Mapping, Optional

from sqlmodel import Session, select

from evidence.core.errors import N_
from evidence.core.vocabulary import LOCALES
from evidence.data.models import User, utcnow
from evidence.presentation import inbox_words, typography
from evidence.services import notifications, reminders
from evidence.services.notifications import InboxItem

SUBJECT = N_("[Preuves SecNumCloud] Votre récapitulatif du %(date)s")
GREETING = N_("Bonjour %(name)s,")
INTRODUCTION = N_("Voici ce qui est nouveau ou à faire depuis votre dernier récapitulatif.")
NEWS = N_("Nouveautés :")
TASKS = N_("À faire :")
CLOSING = N_("Tout cela est aussi dans vos notifications, dans l’application. Pour ne plus recevoir ce "
             "récapitulatif, décochez-le sur la page « Mon compte ».")
SIGNATURE = N_("— Preuves SecNumCloud")


@dataclass
class Digest:
    user: User
    locale: str
    news: list[InboxItem] = field(default_factory=list)
    tasks: list[InboxItem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.news or self.tasks)


@dataclass
class DigestReport:
    sent: list[str] = field(default_factory=list)  # the recipients' e-mail addresses
    opted_out: int = 0
    nothing_new: int = 0


def language(user: User, default: str = "fr") -> str:
    return user.locale if user.locale in LOCALES else default


def is_new(task: InboxItem, user: User) -> bool:
    """A task the last digest did not report: due since a later day, or changed since (nothing sent yet: all)."""
    if user.digest_sent_on is None:
        return True
    if task.due_since is not None and task.due_since > user.digest_sent_on:
        return True
    return bool(user.digest_sent_at and task.changed_at and task.changed_at > user.digest_sent_at)


def collect(session: Session, user: User, today: date, default_locale: str = "fr") -> Digest:
    news = notifications.stored(session, user, since=user.digest_sent_at, unread_only=True, limit=None)
    tasks = [t for t in notifications.tasks(session, user, today) if is_new(t, user)]
    return Digest(user, language(user, default_locale), list(reversed(news)), tasks)


def compose(digest: Digest, today: date) -> tuple[str, str]:
    """The subject and the plain-text body, in the recipient's language."""
    locale = digest.locale

    def say(message_id, **params):
        return inbox_words.text(message_id, locale, **params)

    lines = [say(GREETING, name=digest.user.name or digest.user.email), "", say(INTRODUCTION), ""]
    for heading, items in ((NEWS, digest.news), (TASKS, digest.tasks)):
        if items:
            lines.append(say(heading))
            lines += [f"  - {inbox_words.sentence(item, locale, today)}" for item in items]
            lines.append("")
    lines += [say(CLOSING), "", say(SIGNATURE)]
    return say(SUBJECT, date=typography.long_date(today, locale)), "\n".join(lines)


def send_digests(session: Session, config: Mapping, today: date, *, only: Optional[list[int]] = None) -> DigestReport:
    """Mail every active user who has not opted out and has something new; remember what each was told.

    Each user's mark is committed once their mail is handed to the server: a failure half-way keeps the digests
    already sent from being sent again."""
    report = DigestReport()
    users = session.exec(select(User).where(User.active).order_by(User.id)).all()
    if only is not None:
        users = [u for u in users if u.id in only]
    default_locale = config.get("DEFAULT_LOCALE") or "fr"
    with reminders.smtp_connection(config) as smtp:
        for user in users:
            if not user.digest:
                report.opted_out += 1
                continue
            digest = collect(session, user, today, default_locale)
            if digest.empty:
                report.nothing_new += 1
                continue
            subject, body = compose(digest, today)
            smtp.send_message(reminders.mail(config, user.email, subject, body, digest.locale))
            user.digest_sent_at, user.digest_sent_on = utcnow(), today
            session.add(user)
            session.commit()
            report.sent.append(user.email)
    return report
