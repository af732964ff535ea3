"""Reminders: evidence that expires soon or has expired, and overdue actions, grouped by owner; sent by mail
when SMTP is configured (EVIDENCE_SMTP_HOST, _PORT, _FROM, _USER, _PASSWORD, _STARTTLS)."""
from __future__ import annotations

import smtplib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Iterator, Mapping, Optional

from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import OPEN_ACTION_STATUSES
from evidence.data.models import Action, Evidence, Perimeter, User


@dataclass
class OwnerReminder:
    owner: Optional[User]
    expired: list[Evidence] = field(default_factory=list)
    expiring: list[Evidence] = field(default_factory=list)
    overdue_actions: list[tuple[Action, str]] = field(default_factory=list)  # (action, perimeter code)

    @property
    def label(self) -> str:
        return f"{self.owner.name} <{self.owner.email}>" if self.owner else "(sans responsable)"


def collect(session: Session, today: date, days: int) -> list[OwnerReminder]:
    horizon = today + timedelta(days=days)
    by_owner: dict[Optional[int], OwnerReminder] = {}
    users = {u.id: u for u in session.exec(select(User))}

    def entry(owner_id):
        if owner_id not in by_owner:
            by_owner[owner_id] = OwnerReminder(users.get(owner_id))
        return by_owner[owner_id]

    for evidence in session.exec(
        select(Evidence).where(Evidence.valid_until.is_not(None), Evidence.valid_until <= horizon,
                               Evidence.status != "rejected").order_by(Evidence.valid_until, Evidence.ref)
    ):
        kind = rules.freshness(evidence.valid_until, today, days)
        (entry(evidence.owner_id).expired if kind == "expired" else entry(evidence.owner_id).expiring).append(evidence)
    for action, code in session.exec(
        select(Action, Perimeter.code).outerjoin(Perimeter, Perimeter.id == Action.perimeter_id)
        .where(Action.status.in_(OPEN_ACTION_STATUSES), Action.due_date.is_not(None))
        .order_by(Action.due_date, Action.id)
    ):
        if rules.action_overdue(action.status, action.due_date, today):
            entry(action.owner_id).overdue_actions.append((action, code or ""))
    return sorted(by_owner.values(), key=lambda r: r.label)


def message_text(reminder: OwnerReminder, today: date) -> str:
    lines = [f"Bonjour {reminder.owner.name if reminder.owner else ''},".replace(" ,", ","), "",
             f"Voici ce qui demande votre attention au {today.isoformat()} :", ""]
    if reminder.expired:
        lines.append("Preuves expirées :")
        lines += [f"  - {e.ref} {e.title} (expirée le {e.valid_until.isoformat()})" for e in reminder.expired]
        lines.append("")
    if reminder.expiring:
        lines.append("Preuves à renouveler bientôt :")
        lines += [f"  - {e.ref} {e.title} (valable jusqu'au {e.valid_until.isoformat()})" for e in reminder.expiring]
        lines.append("")
    if reminder.overdue_actions:
        lines.append("Actions en retard :")
        lines += [f"  - [{code}] {a.title} (échéance {a.due_date.isoformat()})" for a, code in reminder.overdue_actions]
        lines.append("")
    lines.append("— Preuves SecNumCloud")
    return "\n".join(lines)


@contextmanager
def smtp_connection(config: Mapping) -> Iterator[smtplib.SMTP]:
    """The one mail connection of the product (reminders, the digest), from the SMTP_* settings: STARTTLS and the
    login when they are set."""
    host = config.get("SMTP_HOST")
    if not host:
        raise EvidenceError(N_("aucun serveur SMTP n’est configuré : réglez EVIDENCE_SMTP_HOST (et EVIDENCE_SMTP_FROM)"))
    with smtplib.SMTP(host, config["SMTP_PORT"], timeout=30) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USER"]:
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"] or "")
        yield smtp


def mail(config: Mapping, to: str, subject: str, body: str, language: str = "fr") -> EmailMessage:
    """One plain-text message from the configured sender (SMTP_FROM)."""
    message = EmailMessage()
    message["From"] = config["SMTP_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Content-Language"] = language
    message.set_content(body)
    return message


def send(reminders: list[OwnerReminder], config: Mapping, today: date) -> int:
    sent = 0
    with smtp_connection(config) as smtp:
        for reminder in reminders:
            if reminder.owner is None or not reminder.owner.active:
                continue
            subject = (f"[Preuves SecNumCloud] {len(reminder.expired) + len(reminder.expiring)} preuve(s) à renouveler, "
                       f"{len(reminder.overdue_actions)} action(s) en retard")
            smtp.send_message(mail(config, reminder.owner.email, subject, message_text(reminder, today)))
            sent += 1
    return sent
