"""Users, passwords, login throttling and the access rules every route declares."""
from __future__ import annotations

import hashlib
import hmac
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
from evidence.core.passwords import (  # noqa: F401  (validate_password, generate_password: the services' names)
    DEFAULT_POLICY,
    PasswordPolicy,
    PasswordRefused,
    generate_password,
    validate_password,
)
from evidence.core.text import bounded, sort_key
from evidence.core.vocabulary import LOCALES, MAX_NAME, OWNER_ROLES, SCOPED_ROLES
from evidence.data import audit
from evidence.data.models import ROLES, AuditEvent, LoginFailure, User, utcnow
from evidence.services import grants

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


def _unusable_password_hash() -> str:
    """The hash of a password nobody knows: an account whose owner has yet to choose one through his link."""
    return hash_password(secrets.token_urlsafe(32))


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


def create_user(session: Session, actor: audit.Actor, email: str, name: str, role: str,
                password: Optional[str] = None, *, must_change: bool = False,
                policy: PasswordPolicy = DEFAULT_POLICY) -> User:
    """An account with the password given (`must_change`: one someone else chose, replaced at the first login), or
    with none anybody knows (`invite_user` then hands its owner a link to choose one)."""
    user = stage_user(session, actor, email, name, role, password, must_change, policy)
    session.commit()
    return user


def stage_user(session: Session, actor: audit.Actor, email: str, name: str, role: str, password: Optional[str],
               must_change: bool, policy: PasswordPolicy) -> User:
    """create_user's work without the commit, for a service that does more in the same transaction."""
    email = normalise_email(email)
    check_role(role)
    if password is not None:
        validate_password(password, policy, email)
    name = bounded(name, MAX_NAME, N_("Nom"), "name") or email.split("@")[0][:MAX_NAME]
    if find_user(session, email):
        raise UserError(N_("un utilisateur a déjà l’adresse e-mail « %(email)s »"), email=email, field="email")
    user = User(
        email=email, name=name, role=role,
        password_hash=hash_password(password) if password is not None else _unusable_password_hash(),
        session_token=secrets.token_hex(16), must_change_password=must_change and password is not None,
    )
    session.add(user)
    audit.record(session, actor, "user.create", user, {"role": role, "name": user.name})
    return user


def set_role(session: Session, actor: audit.Actor, user: User, role: str) -> User:
    stage_role(session, actor, user, role)
    session.commit()
    return user


def stage_role(session: Session, actor: audit.Actor, user: User, role: str) -> None:
    """set_role's work without the commit (a single sign-on login applies the provider's role in its own
    transaction)."""
    check_role(role)
    if user.role == role:
        return
    _not_oneself(actor, user, N_("vous ne pouvez pas changer votre propre rôle : demandez-le à un autre "
                                 "administrateur"))
    _keep_one_admin(session, user, losing=user.role == "admin")
    old = user.role
    user.role = role
    user.session_token = secrets.token_hex(16)
    session.add(user)
    audit.record(session, actor, "user.role_change", user, {"from": old, "to": role})
    if role not in SCOPED_ROLES:
        grants.drop_all(session, actor, user)  # the team sees every perimeter: a grant kept would wake on a return


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


def set_password(session: Session, actor: audit.Actor, user: User, password: str, *, must_change: bool = False,
                 policy: PasswordPolicy = DEFAULT_POLICY) -> User:
    """Set a password someone other than the user chose (`evidence users set-password`): with `must_change`, the
    user replaces it at his next login, since whoever typed it knows it. His sessions end."""
    validate_password(password, policy, user.email)
    stage_password(session, actor, user, password, must_change)
    session.commit()
    return user


def stage_password(session: Session, actor: audit.Actor, user: User, password: str, must_change: bool,
                   by_link: bool = False) -> None:
    """A new password (already validated) in the caller's transaction, audited: the actor says who chose it (the
    user himself, through the account page or a link, or someone else), the details how."""
    user.password_hash = hash_password(password)
    user.session_token = secrets.token_hex(16)  # every session of the account ends, copies of a cookie too
    user.must_change_password = must_change
    user.password_changed_at = utcnow()
    session.add(user)
    details = {"link": True} if by_link else {"must_change": True} if must_change else {}
    audit.record(session, actor, "user.password_change", user, details)


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


NOT_AN_OWNER = N_("%(name)s ne peut pas être responsable : un auditeur ou un évaluateur lit les pièces sans les "
                  "tenir à jour ; choisissez un administrateur, un responsable conformité ou un contributeur")


def can_own(user) -> bool:
    """Whether `user` may be made responsible for a control, evidence or an action: an auditor or an evaluator
    reads and never keeps evidence up to date, so what he owned nobody would."""
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
    per_pair: int  # failures for one typed e-mail from one address
    per_address: int  # failures from one address, whatever was typed
    per_account: int  # failures for one typed e-mail from every address but the account's last login address
    window: timedelta
    secret: str = ""  # the instance secret: keys what login_failure keeps of the typed e-mail


def typed_email_digest(email: str, limits: ThrottleLimits) -> str:
    """What login_failure keeps of a typed e-mail. People type passwords into that field, and throttling only
    compares: a keyed hash, because a plain SHA-256 of "Hunter2" is one dictionary lookup for anyone who reads
    the database or a backup, and the key (derived from the instance secret) is in neither."""
    key = hmac.new(limits.secret.encode(), b"evidence login_failure.email", hashlib.sha256).digest()
    return hmac.new(key, email.encode(), hashlib.sha256).hexdigest()


def last_login_address(session: Session, user: User) -> Optional[str]:
    """Where the account last logged in, from its latest "login" event (the trail is indexed by object)."""
    details = session.exec(
        select(AuditEvent.details).where(AuditEvent.object_type == "user", AuditEvent.object_id == user.email,
                                         AuditEvent.action == "login").order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (details or {}).get("address")


def is_throttled(session: Session, digest: str, address: str, usual: Optional[str], limits: ThrottleLimits) -> bool:
    """Five failures lock the (account, address) pair, not the account: a stranger cannot lock its owner out. The
    per-account limit, for guesses spread over many addresses, spares the owner's usual address (`usual`)."""
    recent = select(func.count()).select_from(LoginFailure).where(LoginFailure.at >= utcnow() - limits.window)
    if session.exec(recent.where(LoginFailure.email == digest, LoginFailure.address == address)).one() >= \
            limits.per_pair:
        return True
    if session.exec(recent.where(LoginFailure.address == address)).one() >= limits.per_address:
        return True
    return address != usual and session.exec(recent.where(LoginFailure.email == digest)).one() >= limits.per_account


def throttling_recorded(session: Session, user: User, address: str, limits: ThrottleLimits) -> bool:
    """Whether this account's throttling from this address is already in the trail for the current window: one
    event says it, and a flood of refused attempts does not grow the permanent trail."""
    recorded = session.exec(
        select(AuditEvent.details).where(AuditEvent.object_type == "user", AuditEvent.object_id == user.email,
                                         AuditEvent.action == "login.throttled",
                                         AuditEvent.at >= utcnow() - limits.window)
    ).all()
    return any((details or {}).get("address") == address for details in recorded)


def prune_login_failures(session: Session, limits: ThrottleLimits) -> None:
    # Failures older than the window count for nothing; deleting them as logins come keeps the table small.
    session.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - limits.window))


@dataclass(frozen=True)
class LoginOutcome:
    user: Optional[User]
    throttled: bool = False
    # The password was right and the account has a second factor: nobody is logged in yet (nothing forgiven, no
    # "login" event); services.second_factors finishes the login once the second factor is given.
    second_factor_due: bool = False
    refusal: Optional[str] = None  # why a right password was refused, when the user can act on it (SSO_ONLY)


# An account bound to the identity provider while OIDC_PASSWORD_LOGIN is off: told only once the password is right
# (nobody learns from the login form which accounts exist), and counted as a failure all the same.
SSO_ONLY = N_("Ce compte se connecte par l’authentification unique de votre organisation : utilisez le bouton "
              "« Se connecter avec … » sous le formulaire.")


def attempt_login(session: Session, email: str, password: str, address: str, limits: ThrottleLimits, *,
                  sso_only: bool = False) -> LoginOutcome:
    """Check a login. Every failure is counted (login_failure keeps a keyed hash of what was typed); the audit
    trail records failures and throttling only for an existing account, under that account's own e-mail, so the
    text of a mistyped field — often a password — is kept nowhere. `sso_only`: accounts bound to the identity
    provider (password_login false) may not log in with a password (single sign-on on, OIDC_PASSWORD_LOGIN off)."""
    email = (email or "").strip().lower()[:254]
    address = (address or "unknown")[:64]
    digest = typed_email_digest(email, limits)
    user = find_user(session, email)
    if throttled(session, user, digest, address, limits):
        return LoginOutcome(None, throttled=True)
    prune_login_failures(session, limits)  # first, so that every writer takes these rows' locks in one order
    if not check_password(user, password) or not user.active or user.service_account:
        # A service account (an API token's) acts through its token only: it never logs in to the web.
        failed(session, None, user, digest, address, {} if user is None or user.active else {"reason": "disabled"})
        return LoginOutcome(None)
    if sso_only and not user.password_login:
        failed(session, None, user, digest, address, {"reason": "sso_only"})
        return LoginOutcome(None, refusal=SSO_ONLY)
    from evidence.services.second_factors import has_second_factor  # that module builds on this one

    if has_second_factor(session, user):
        # Forgiving now would hand whoever knows the password a fresh set of code guesses at every retry.
        session.commit()  # a rehashed password, if any
        return LoginOutcome(user, second_factor_due=True)
    finish_login(session, user, address, limits)
    return LoginOutcome(user)


def finish_login(session: Session, user: User, address: str, limits: ThrottleLimits, details: Optional[dict] = None) -> None:
    """The login succeeded (the password, and the second factor when the account has one): recorded, committed."""
    address = (address or "unknown")[:64]
    user.last_login_at = utcnow()
    session.add(user)
    forgive(session, typed_email_digest(user.email, limits), address)
    audit.record(session, user, "login", user, {"address": address, **(details or {})})
    session.commit()


def throttled(session: Session, user: Optional[User], digest: str, address: str, limits: ThrottleLimits) -> bool:
    """Whether this account (`digest`, what was typed) is throttled from `address`; for an existing account the
    throttling is recorded, once a window. The login and the account page's current-password check both ask."""
    if not is_throttled(session, digest, address, user and last_login_address(session, user), limits):
        return False
    if user is not None and not throttling_recorded(session, user, address, limits):
        audit.record(session, None, "login.throttled", user, {"address": address})
        session.commit()
    return True


def failed(session: Session, actor: audit.Actor, user: Optional[User], digest: str, address: str,
           details: dict, action: str = "login.failed") -> None:
    """A wrong password (or second-factor code: `action`) counted and, for an existing account, audited;
    committed."""
    session.add(LoginFailure(email=digest, address=address))
    if user is not None:
        audit.record(session, actor, action, user, {"address": address, **details})
    session.commit()


def forgive(session: Session, digest: str, address: str) -> None:
    """The owner's typos from this address are forgiven, not the failures from elsewhere: forgiving those would
    hand an attacker a fresh set of guesses every time the owner logs in, and reset the per-account count."""
    session.execute(delete(LoginFailure).where(LoginFailure.email == digest, LoginFailure.address == address))


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
    if user is None or not user.active or user.service_account or not secrets.compare_digest(user.session_token, token):
        return None
    return user
