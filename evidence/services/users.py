"""Users, passwords, login throttling and the access rules every route declares."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, delete, func, or_
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError
from evidence.core.text import sort_key
from evidence.core.vocabulary import LOCALES, OWNER_ROLES
from evidence.data import audit
from evidence.data.models import ROLES, LoginFailure, User, utcnow

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_dummy_hashes: dict[tuple, str] = {}


def _dummy_hash() -> str:
    """Verified when the e-mail is unknown, so that a wrong address costs as long as a wrong password: made once
    per set of hashing parameters, on first use (hashing at import would cost every command a tenth of a second)."""
    parameters = (_hasher.time_cost, _hasher.memory_cost, _hasher.parallelism, _hasher.hash_len)
    if parameters not in _dummy_hashes:
        _dummy_hashes[parameters] = _hasher.hash(secrets.token_hex(16))
    return _dummy_hashes[parameters]

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 12


class UserError(EvidenceError):
    """A request about users that cannot be carried out."""


# --- Passwords ---------------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: Optional[User], password: str) -> bool:
    if user is None:
        try:
            _hasher.verify(_dummy_hash(), password)
        except VerificationError:
            pass
        return False
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(N_("le mot de passe doit comporter au moins %(n)s caractères"), n=MIN_PASSWORD_LENGTH,
                        field="password")


def generate_password() -> str:
    return secrets.token_urlsafe(15)


# --- User services (one transaction each, audited; the CLI and the admin pages both call them) -------


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise UserError(N_("« %(email)s » n’est pas une adresse e-mail valide"), email=email, field="email")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(N_("rôle « %(role)s » inconnu ; choisissez l’un de : %(roles)s"), role=role,
                        roles=", ".join(ROLES), field="role")
    return role


def find_user(session: Session, email: str) -> Optional[User]:
    return session.exec(select(User).where(User.email == email.strip().lower())).first()


def get_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise UserError(N_("aucun utilisateur n’a l’adresse e-mail « %(email)s »"), email=email.strip().lower())
    return user


def create_user(session: Session, actor: audit.Actor, email: str, name: str, role: str, password: str) -> User:
    email = normalise_email(email)
    check_role(role)
    validate_password(password)
    name = (name or "").strip() or email.split("@")[0]
    if find_user(session, email):
        raise UserError(N_("un utilisateur a déjà l’adresse e-mail « %(email)s »"), email=email, field="email")
    user = User(
        email=email, name=name[:200], role=role, password_hash=hash_password(password),
        session_token=secrets.token_hex(16),
    )
    session.add(user)
    audit.record(session, actor, "user.create", user, {"role": role, "name": user.name})
    session.commit()
    return user


def set_role(session: Session, actor: audit.Actor, user: User, role: str) -> User:
    check_role(role)
    if user.role == role:
        return user
    _not_oneself(actor, user, N_("vous ne pouvez pas changer votre propre rôle : demandez-le à un autre "
                                 "administrateur"))
    _keep_one_admin(session, user, losing=user.role == "admin")
    old = user.role
    user.role = role
    user.session_token = secrets.token_hex(16)
    session.add(user)
    audit.record(session, actor, "user.role_change", user, {"from": old, "to": role})
    session.commit()
    return user


def set_active(session: Session, actor: audit.Actor, user: User, active: bool) -> User:
    if user.active == active:
        return user
    if not active:
        _not_oneself(actor, user, N_("vous ne pouvez pas désactiver votre propre compte : demandez-le à un autre "
                                     "administrateur"))
        _keep_one_admin(session, user, losing=user.role == "admin")
    user.active = active
    user.session_token = secrets.token_hex(16)
    session.add(user)
    audit.record(session, actor, "user.enable" if active else "user.disable", user)
    session.commit()
    return user


def set_password(session: Session, actor: audit.Actor, user: User, password: str) -> User:
    validate_password(password)
    user.password_hash = hash_password(password)
    user.session_token = secrets.token_hex(16)
    session.add(user)
    audit.record(session, actor, "user.password_change", user)
    session.commit()
    return user


def _keep_one_admin(session: Session, user: User, losing: bool) -> None:
    if not losing:
        return
    admins = session.exec(
        select(func.count()).select_from(User).where(User.role == "admin", User.active, User.id != user.id)
    ).one()
    if admins == 0:
        raise UserError(N_("%(email)s est le dernier administrateur actif : nommez d’abord un autre administrateur"),
                        email=user.email)


def is_oneself(actor: audit.Actor, user: User) -> bool:
    """Whether the actor is the user: the pages do not offer what `_not_oneself` refuses."""
    return isinstance(actor, User) and actor.id == user.id


def _not_oneself(actor: audit.Actor, user: User, message: str) -> None:
    # An admin who disables or demotes himself is logged out on the spot, or loses the page he stands on,
    # with nobody's second look: such a change is asked of another admin (the command line, run by the
    # instance's operator, is not a user and may).
    if is_oneself(actor, user):
        raise UserError(message)


def list_users(session: Session) -> list[User]:
    """Every account, by name as a French reader orders names ("Élodie" among the E)."""
    return sorted(session.exec(select(User)), key=lambda u: (sort_key(u.name), u.email))


# --- Owners ----------------------------------------------------------------------------------------------


NOT_AN_OWNER = N_("%(name)s ne peut pas être responsable : un auditeur lit sans rien modifier ; choisissez un "
                  "administrateur, un responsable conformité ou un contributeur")


def can_own(user) -> bool:
    """Whether `user` may be made responsible for a control, evidence or an action: an auditor reads and never
    writes, so what he owned nobody would keep up to date."""
    return user.role in OWNER_ROLES


def check_owner(user, *, kept_id: Optional[int] = None, field: str = "owner") -> None:
    """Refuse to make `user` an owner who cannot own (the owner an object already has is not judged again: a
    role changed since does not block editing the rest)."""
    if user.id != kept_id and not can_own(user):
        raise UserError(NOT_AN_OWNER, name=user.name, field=field)


def possible_owners(session: Session, keep_id: Optional[int] = None) -> list[User]:
    """The people an owner list offers: active users of a role that can own, and the current owner `keep_id`
    whatever he has become; by name, as a French reader orders names."""
    rows = session.exec(select(User).where(or_(
        and_(User.active, User.role.in_(OWNER_ROLES)), User.id == (keep_id if keep_id is not None else -1))))
    return sorted(rows, key=lambda u: (sort_key(u.name), u.email))


# --- Preferences -----------------------------------------------------------------------------------------


def set_locale(session: Session, user: User, locale: str) -> User:
    """Keep the user's language on the account, so that it follows him to the next login and any browser.
    Not audited: a reading preference changes nothing the audit trail answers for."""
    if locale not in LOCALES:
        raise UserError(N_("langue « %(locale)s » inconnue ; choisissez l’une de : %(locales)s"), locale=locale,
                        locales=", ".join(LOCALES))
    if user.locale != locale:
        user.locale = locale
        session.add(user)
        session.commit()
    return user


# --- Login and throttling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottleLimits:
    per_account: int
    per_address: int
    window: timedelta


def is_throttled(session: Session, email: str, address: str, limits: ThrottleLimits) -> bool:
    since = utcnow() - limits.window
    by_account = session.exec(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.email == email, LoginFailure.at >= since)
    ).one()
    if by_account >= limits.per_account:
        return True
    by_address = session.exec(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.address == address, LoginFailure.at >= since)
    ).one()
    return by_address >= limits.per_address


@dataclass(frozen=True)
class LoginOutcome:
    user: Optional[User]
    throttled: bool = False


def attempt_login(session: Session, email: str, password: str, address: str, limits: ThrottleLimits) -> LoginOutcome:
    """Check a login; records the failure, the throttling or the success in the audit trail."""
    email = (email or "").strip().lower()[:254]
    address = (address or "unknown")[:64]
    if is_throttled(session, email, address, limits):
        audit.record(session, None, "login.throttled", object_type="user", object_id=email, details={"address": address})
        session.commit()
        return LoginOutcome(None, throttled=True)
    user = find_user(session, email)
    if not check_password(user, password) or not user.active:
        session.add(LoginFailure(email=email, address=address))
        details = {"address": address}
        if user is not None and not user.active:
            details["reason"] = "disabled"
        audit.record(session, None, "login.failed", object_type="user", object_id=email, details=details)
        session.commit()
        return LoginOutcome(None)
    user.last_login_at = utcnow()
    session.add(user)
    # A success clears the account's failures, so that a user who finally remembers is not locked later.
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    audit.record(session, user, "login", user, {"address": address})
    session.commit()
    return LoginOutcome(user)


def logout(session: Session, user: User) -> None:
    # A new token invalidates every session cookie issued to this user, including copies of this one.
    user.session_token = secrets.token_hex(16)
    session.add(user)
    audit.record(session, user, "logout", user)
    session.commit()


def load_user(session: Session, session_id: str) -> Optional[User]:
    user_id, _, token = (session_id or "").partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active or not secrets.compare_digest(user.session_token, token):
        return None
    return user
