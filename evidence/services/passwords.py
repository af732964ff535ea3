"""Choosing one's own password: the one-time link an admin hands over instead of a password (a new account, a
forgotten password) and the account page's change. What a password must be is `evidence.core.passwords`'s."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlmodel import Session, select

from evidence.core.errors import N_
from evidence.core.passwords import DEFAULT_POLICY, PasswordPolicy, validate_password
from evidence.data import audit
from evidence.data.models import PasswordToken, User, utcnow
from evidence.services import users


@dataclass(frozen=True)
class PasswordLink:
    """A one-time link to choose a password: `token` goes in the address and is shown once; only its SHA-256 is
    kept."""

    user: User
    token: str
    expires_at: datetime

    @property
    def path(self) -> str:
        return "/password/set/" + self.token


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_link(session: Session, actor: audit.Actor, user: User, policy: PasswordPolicy) -> PasswordLink:
    now = utcnow()
    # A new link replaces those not used yet: only the last one handed over works.
    for earlier in session.exec(select(PasswordToken).where(PasswordToken.user_id == user.id,
                                                            PasswordToken.used_at.is_(None))):
        earlier.expires_at = min(earlier.expires_at, now)
        session.add(earlier)
    token = secrets.token_urlsafe(32)
    link = PasswordToken(user_id=user.id, token_hash=_token_hash(token), created_at=now,
                         expires_at=now + timedelta(hours=policy.link_hours))
    session.add(link)
    audit.record(session, actor, "user.password_link", user, {"expires_at": link.expires_at.isoformat()})
    return PasswordLink(user, token, link.expires_at)


def invite_user(session: Session, actor: audit.Actor, email: str, name: str, role: str,
                policy: PasswordPolicy = DEFAULT_POLICY) -> PasswordLink:
    """Create an account whose owner chooses his password through a one-time link: the admin who creates it never
    knows a password that works (four eyes stay two people)."""
    user = users.stage_user(session, actor, email, name, role, None, False, policy)
    session.flush()  # the link names the user's id
    link = _new_link(session, actor, user, policy)
    session.commit()
    return link


def issue_password_link(session: Session, actor: audit.Actor, user: User,
                        policy: PasswordPolicy = DEFAULT_POLICY) -> PasswordLink:
    """A new link for an existing account (a forgotten password, an expired link). The current password keeps
    working until the link is used: handing out a link locks nobody out."""
    if not user.active:
        raise users.UserError(N_("le compte de %(email)s est désactivé : réactivez-le d’abord"), email=user.email)
    if user.service_account:
        raise users.UserError(N_("%(email)s est le compte de service d’un jeton d’API : il n’a pas de mot de passe "
                                 "et ne se connecte pas"), email=user.email)
    link = _new_link(session, actor, user, policy)
    session.commit()
    return link


def _valid_link(session: Session, token: str) -> Optional[PasswordToken]:
    if not token or len(token) > 128:
        return None
    link = session.exec(select(PasswordToken).where(PasswordToken.token_hash == _token_hash(token))).first()
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    user = session.get(User, link.user_id)
    return link if user is not None and user.active else None


def password_link_user(session: Session, token: str) -> Optional[User]:
    """The account a link sets the password of; None for an unknown, used or expired link, or a disabled account
    (one answer for all, so that links cannot be told apart by probing)."""
    link = _valid_link(session, token)
    return session.get(User, link.user_id) if link is not None else None


def set_password_with_link(session: Session, token: str, password: str,
                           policy: PasswordPolicy = DEFAULT_POLICY) -> Optional[User]:
    """Set the password the link's owner chose, once: the link is spent and any session of the account ends.
    None when the link does not (or no longer) work."""
    link = _valid_link(session, token)
    if link is None:
        return None
    user = session.get(User, link.user_id)
    validate_password(password, policy, user.email)
    link.used_at = utcnow()
    session.add(link)
    users.stage_password(session, user, user, password, False, by_link=True)
    session.commit()
    return user


def change_own_password(session: Session, user: User, current: str, new: str, address: str,
                        limits: users.ThrottleLimits, policy: PasswordPolicy = DEFAULT_POLICY) -> User:
    """The account page's change: the current password first (a wrong one counts as a failed login, so that a
    borrowed session cannot guess it), then the new one. The account's other sessions end (a new session token:
    the caller logs this session in again with it)."""
    if not _current_password_ok(session, user, current or "", address, limits):
        raise users.UserError(N_("le mot de passe actuel est incorrect"), field="current")
    validate_password(new, policy, user.email)
    if new == current:  # `current` was just checked: no second Argon2 round
        raise users.UserError(N_("le nouveau mot de passe doit être différent de l’actuel"), field="password")
    users.stage_password(session, user, user, new, False)
    session.commit()
    return user


def _current_password_ok(session: Session, user: User, password: str, address: str,
                         limits: users.ThrottleLimits) -> bool:
    # The login's own throttling and failure count (users.py, "Login and throttling"), not a second one: five wrong
    # current passwords from this address throttle this account there, as five wrong logins would.
    address = (address or "unknown")[:64]
    digest = users.typed_email_digest(user.email, limits)
    if users.throttled(session, user, digest, address, limits):
        raise users.UserError(N_("trop de mots de passe erronés : patientez quelques minutes avant de réessayer"),
                              field="current")
    if users.check_password(user, password):
        users.forgive(session, digest, address)
        return True
    users.failed(session, user, user, digest, address, {"reason": "current_password"})
    return False
