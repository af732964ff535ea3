"""Second factors: the TOTP application (enrol, confirm, verify, remove), the single-use recovery codes, the
policy's question (has the account a factor?) and the reset an administrator or the command line makes.

The TOTP secret is encrypted (AES-GCM) under a key derived from SECRET_KEY, bound to its account: a database dump
or a backup alone gives no secret, and a row copied onto another account does not open. Recovery codes are drawn
with 79 bits of randomness and only their SHA-256 is kept: a code that random cannot be found from its hash by
trying candidates, so the slow hash passwords need (Argon2) would only cost each login ten verifications.

Codes count in the login's own throttling (services.users: `throttled`, `failed`, `forgive`): per account and
address, per address, per account; failures are audited (`auth.second_factor_failed`), never with the code. The
login's second step, whatever the factor (a code here, a key in services.security_keys), is throttled and counted
through `second_step_throttled` and `second_step_failed`, and the rule "no factor left, no recovery codes" is
`recovery_codes_after_removal`: written once for both.

A code is spent by a conditional update (the step only moves forward, a recovery code is used only while unused):
two requests racing with the same code cannot both be accepted, whatever each read before.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, or_, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from evidence.core.errors import N_
from evidence.core.rules import second_factor as rule
from evidence.data import audit
from evidence.data.models import RecoveryCode, SecurityKey, TotpFactor, User, utcnow
from evidence.services import users

RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/i/l: read from paper and typed again
RECOVERY_LENGTH = 16  # 16 characters of 31: 79 bits
ISSUER = "SecNumCloud Evidence"  # the name the authenticator application lists the account under
_SEALED_PREFIX = "v1."
THROTTLED = N_("trop d’essais erronés : patientez quelques minutes avant de réessayer")


def current_time() -> datetime:
    """The time codes are judged at: the one seam the tests replace to step through TOTP windows."""
    return utcnow()


# --- The secret at rest --------------------------------------------------------------------------------------


def totp_key(secret_key) -> bytes:
    """The key the TOTP secrets are encrypted with, derived from SECRET_KEY (HKDF-SHA256 with a label of its own,
    as the audit seal key is derived with one: neither key says anything of the other or of SECRET_KEY)."""
    if not secret_key:
        raise ValueError("SECRET_KEY is needed to keep TOTP secrets")
    secret = secret_key if isinstance(secret_key, bytes) else str(secret_key).encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"evidence totp_factor.secret").derive(secret)


def _binding(user: User) -> bytes:
    return f"totp_factor:{user.id}".encode()


def seal_secret(secret: str, user: User, secret_key) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(totp_key(secret_key)).encrypt(nonce, secret.encode(), _binding(user))
    return _SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def open_secret(sealed: str, user: User, secret_key) -> Optional[str]:
    """The secret, or None when it does not open (another SECRET_KEY, another account, a damaged value)."""
    if not isinstance(sealed, str) or not sealed.startswith(_SEALED_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed[len(_SEALED_PREFIX):].encode())
        return AESGCM(totp_key(secret_key)).decrypt(raw[:12], raw[12:], _binding(user)).decode()
    except (InvalidTag, ValueError):
        return None


# --- Enrolment -----------------------------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's recommended length


def provisioning_uri(secret: str, user: User) -> str:
    """The otpauth:// address the QR code carries (the application reads the account name and issuer from it)."""
    return pyotp.TOTP(secret, digits=rule.DIGITS, interval=rule.STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=ISSUER)


def _matching_step(secret: str, code: str, now: datetime, last_used: Optional[int]) -> Optional[int]:
    totp = pyotp.TOTP(secret, digits=rule.DIGITS, interval=rule.STEP_SECONDS)
    matching = [step for step in rule.candidate_steps(now)
                if hmac.compare_digest(totp.generate_otp(step), code)]
    return rule.accepted_step(matching, last_used)


def totp_of(session: Session, user: User) -> Optional[TotpFactor]:
    return session.exec(select(TotpFactor).where(TotpFactor.user_id == user.id)).first()


def confirm_totp(session: Session, user: User, sealed_secret: str, code: str, *, secret_key,
                 now: Optional[datetime] = None) -> list[str]:
    """Enrol the application whose secret (sealed, as the enrolment page kept it) produced `code`: the factor is
    kept with that code's step as used, ten recovery codes are drawn (returned, to be shown once), and the
    account's other sessions end (they were opened with the password alone). The caller logs this session in
    again under the new session token."""
    now = now or current_time()
    if totp_of(session, user) is not None:
        raise users.UserError(N_("une application d’authentification est déjà enregistrée pour ce compte : "
                                 "retirez-la d’abord pour en enregistrer une autre"))
    secret = open_secret(sealed_secret, user, secret_key)
    if secret is None:
        raise users.UserError(N_("l’enrôlement a expiré : recommencez avec le nouveau code QR"))
    code = rule.normalised_code(code)
    step = _matching_step(secret, code, now, None) if rule.looks_like_totp(code) else None
    if step is None:
        raise users.UserError(N_("ce code ne correspond pas : vérifiez l’heure de votre téléphone et saisissez le "
                                 "code affiché maintenant"), field="code")
    session.add(TotpFactor(user_id=user.id, secret=seal_secret(secret, user, secret_key), confirmed_at=now,
                           last_used_step=step))
    user.session_token = secrets.token_hex(16)
    session.add(user)
    audit.record(session, user, "user.totp_enrolled", user)
    codes = _stage_recovery_codes(session, user, user)
    session.commit()
    return codes


# --- Recovery codes ------------------------------------------------------------------------------------------


def _code_hash(code: str) -> str:
    return hashlib.sha256(rule.normalised_code(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, RECOVERY_LENGTH, 4))


def _stage_recovery_codes(session: Session, actor: audit.Actor, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=_code_hash(code)))
    audit.record(session, actor, "user.recovery_codes_generated", user, {"count": len(codes)})
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    return session.exec(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).one()


def issue_recovery_codes(session: Session, user: User) -> list[str]:
    """Ten recovery codes for an account that has just been given its first factor some other way than the
    application (a security key), to be shown once; the earlier ones, if any, are void. Committed, audited."""
    if not has_second_factor(session, user):
        raise users.UserError(N_("enregistrez d’abord un second facteur"))
    codes = _stage_recovery_codes(session, user, user)
    session.commit()
    return codes


def regenerate_recovery_codes(session: Session, user: User, proof: str, address: str, limits: users.ThrottleLimits,
                              *, secret_key, now: Optional[datetime] = None) -> list[str]:
    """Ten new recovery codes, the earlier ones void; asked with a current code from the application, or the
    password of an account whose factors are security keys only (rule.identity_proofs: a session left open is not
    enough to take the account's way back in)."""
    if not has_second_factor(session, user):
        raise users.UserError(N_("enregistrez d’abord un second facteur"))
    confirm_identity(session, user, proof, address, limits, secret_key=secret_key, now=now, renewing_codes=True)
    codes = _stage_recovery_codes(session, user, user)
    session.commit()
    return codes


# --- The policy's question -----------------------------------------------------------------------------------


def available_factors(session: Session, user: User) -> frozenset[str]:
    """What the account can give as its second factor (rule.METHODS): its application, unused recovery codes,
    security keys. Recovery codes alone are no factor (has_second_factor): they stand in for a lost one."""
    found = set()
    if totp_of(session, user) is not None:
        found.add("totp")
    if session.exec(select(SecurityKey.id).where(SecurityKey.user_id == user.id).limit(1)).first() is not None:
        found.add("webauthn")
    if found and recovery_codes_left(session, user):
        found.add("recovery")
    return frozenset(found)


def users_with_second_factor(session: Session) -> set[int]:
    """The ids of the accounts that have a factor of their own, in two queries (the users page lists them all)."""
    return set(session.exec(select(TotpFactor.user_id)).all()) | set(session.exec(select(SecurityKey.user_id)).all())


def has_second_factor(session: Session, user: User) -> bool:
    """Whether the account has a factor of its own (an application or a security key): then the login asks for
    it after the password, and the policy is met once it is given."""
    return bool(available_factors(session, user) - {"recovery"})


# --- Checking a code -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeOutcome:
    ok: bool
    method: Optional[str] = None  # "totp" or "recovery": what the session was logged in with
    throttled: bool = False


def _digest(user: User, limits: users.ThrottleLimits) -> str:
    return users.typed_email_digest(user.email, limits)


def client_address(address: Optional[str]) -> str:
    return (address or "unknown")[:64]  # what login_failure and the trail keep of it


def second_step_throttled(session: Session, user: User, address: str, limits: users.ThrottleLimits) -> bool:
    """Whether the account is throttled from this address: asked before any second factor is judged (a code, a
    key's answer, a proof before a change), as before a password."""
    return users.throttled(session, user, _digest(user, limits), client_address(address), limits)


def second_step_failed(session: Session, actor: audit.Actor, user: User, address: str,
                       limits: users.ThrottleLimits, details: dict) -> None:
    """A refused second factor, counted in the login throttling and audited `auth.second_factor_failed` with
    `details` (the step, the method, a reason: never what was typed); committed."""
    users.failed(session, actor, user, _digest(user, limits), client_address(address), details,
                 action="auth.second_factor_failed")


def _check_totp(session: Session, user: User, code: str, secret_key, now: datetime) -> bool:
    factor = totp_of(session, user)
    secret = factor and open_secret(factor.secret, user, secret_key)
    if not secret:
        return False
    step = _matching_step(secret, code, now, factor.last_used_step)
    if step is None:
        return False
    # This step and the earlier ones are spent: the same code is refused again. Conditional, in the database:
    # a request that read the factor before another one spent this step is refused, not accepted twice.
    spent = session.execute(
        update(TotpFactor).where(TotpFactor.id == factor.id, or_(TotpFactor.last_used_step.is_(None),
                                                                 TotpFactor.last_used_step < step))
        .values(last_used_step=step).execution_options(synchronize_session=False)).rowcount
    if spent != 1:
        return False
    set_committed_value(factor, "last_used_step", step)
    return True


def _use_recovery_code(session: Session, user: User, code: str, now: datetime) -> bool:
    # One conditional update: the code is spent only if still unused (two requests racing with it: one wins).
    spent = session.execute(
        update(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None),
                                   RecoveryCode.code_hash == _code_hash(code))
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if not spent:
        return False
    audit.record(session, user, "user.recovery_code_used", user, {"remaining": recovery_codes_left(session, user)})
    return True


def _check_code(session: Session, user: User, code: str, secret_key, now: datetime) -> Optional[str]:
    """The method `code` was accepted as (a six-digit code is the application's; anything else a recovery code),
    staged in the caller's transaction; None when refused."""
    code = rule.normalised_code(code)
    if rule.looks_like_totp(code):
        return "totp" if _check_totp(session, user, code, secret_key, now) else None
    if len(code) == RECOVERY_LENGTH:
        return "recovery" if _use_recovery_code(session, user, code, now) else None
    return None


def verify_login_code(session: Session, user: User, code: str, address: str, limits: users.ThrottleLimits, *,
                   secret_key, now: Optional[datetime] = None) -> CodeOutcome:
    """The login's second step, after the right password: a code from the application or a recovery code. A
    wrong one counts as a failed login (and is audited, without the code); the right one finishes the login."""
    now = now or current_time()
    address = client_address(address)
    if second_step_throttled(session, user, address, limits):
        return CodeOutcome(False, throttled=True)
    method = _check_code(session, user, code, secret_key, now) if user.active else None
    if method is None:
        tried = "totp" if rule.looks_like_totp(rule.normalised_code(code)) else "recovery"  # what it looked like
        second_step_failed(session, None, user, address, limits, {"step": "login", "method": tried})
        return CodeOutcome(False)
    users.finish_login(session, user, address, limits, {"second_factor": method})
    return CodeOutcome(True, method)


WRONG_PROOF = {
    frozenset({"totp", "password"}): N_("mot de passe ou code incorrect"),
    frozenset({"totp"}): N_("code incorrect"),
    frozenset({"password"}): N_("le mot de passe actuel est incorrect"),
}


def confirm_identity(session: Session, user: User, proof: str, address: str, limits: users.ThrottleLimits, *,
                     secret_key, now: Optional[datetime] = None, renewing_codes: bool = False) -> str:
    """Before a change to the account's factors from an open session: the proof rule.identity_proofs asks (a
    current code from the application, the account's password) shows its owner is at the keyboard; returns which
    was given. Staged, not committed; a wrong proof is counted and audited like a wrong login (committed) and
    refused; throttling refuses too."""
    now = now or current_time()
    address = client_address(address)
    if second_step_throttled(session, user, address, limits):
        raise users.UserError(THROTTLED, field="proof")
    accepted = rule.identity_proofs(totp_of(session, user) is not None, renewing_codes=renewing_codes)
    code = rule.normalised_code(proof)
    if "totp" in accepted and rule.looks_like_totp(code) and _check_totp(session, user, code, secret_key, now):
        return "totp"
    # Six digits are a code where a code is taken (a password that short is refused by the password policy).
    if "password" in accepted and not ("totp" in accepted and rule.looks_like_totp(code)) \
            and users.check_password(user, proof or ""):
        return "password"
    tried = "totp" if "totp" in accepted and rule.looks_like_totp(code) else "password"
    second_step_failed(session, user, user, address, limits, {"step": "confirm", "method": tried})
    raise users.UserError(WRONG_PROOF[accepted], field="proof")


# --- Removal and reset ---------------------------------------------------------------------------------------


def remove_totp(session: Session, user: User, proof: str, address: str, limits: users.ThrottleLimits, *,
                secret_key, now: Optional[datetime] = None) -> None:
    """The account's owner removes his application, with his password or a current code. When no factor of his
    own remains, his recovery codes go too (they would stand in for nothing)."""
    factor = totp_of(session, user)
    if factor is None:
        raise users.UserError(N_("aucune application d’authentification n’est enregistrée pour ce compte"))
    confirm_identity(session, user, proof, address, limits, secret_key=secret_key, now=now)
    session.delete(factor)
    session.flush()
    audit.record(session, user, "user.totp_removed", user, recovery_codes_after_removal(session, user))
    session.commit()


def delete_recovery_codes(session: Session, user: User) -> int:
    """Delete every recovery code of the account (staged); returns how many there were."""
    return session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id)).rowcount


def recovery_codes_after_removal(session: Session, user: User) -> dict:
    """After one of the account's factors was removed (staged and flushed): when no factor of its own remains, its
    recovery codes go too (they stand in for a factor, not for none; a new factor draws new ones). Returns what
    the removal's audit event adds: {"recovery_codes": n} when they went, else nothing."""
    if has_second_factor(session, user):
        return {}
    return {"recovery_codes": delete_recovery_codes(session, user)}


def reset_second_factors(session: Session, actor: audit.Actor, user: User) -> dict:
    """An administrator's or the command line's reset (a lost phone, a departed key): every factor and recovery
    code of the account is deleted and its sessions end; under the policy, its next login leads to enrolment.
    Returns (and audits) what was deleted, as counts."""
    if users.is_oneself(actor, user):
        raise users.UserError(N_("vous ne pouvez pas réinitialiser vos propres seconds facteurs : demandez-le à un "
                                 "autre administrateur"))
    removed = {
        "totp": session.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id)).rowcount,
        "security_keys": session.execute(delete(SecurityKey).where(SecurityKey.user_id == user.id)).rowcount,
        "recovery_codes": delete_recovery_codes(session, user),
    }
    user.session_token = secrets.token_hex(16)  # every session of the account ends, copies of a cookie too
    session.add(user)
    audit.record(session, actor, "user.mfa_reset", user, removed)
    session.commit()
    return removed
