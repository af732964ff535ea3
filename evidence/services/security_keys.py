"""Security keys and passkeys (WebAuthn, with the `webauthn` package) as a second factor: register named keys,
log in with one after the password, rename and remove them.

A ceremony has two steps: options (a fresh challenge the browser hands the key) and the key's answer. The
challenge is kept between them by the caller (the web keeps it in the user's signed session, never trusting
the browser to send it back) as a small `state` dict, which the second step checks: made for this user, less
than CHALLENGE_SECONDS old, and the very challenge the key signed. The expected origin and relying party id
come from the settings (web.security_keys.current_relying_party), never from what the browser says.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Optional

from sqlmodel import Session, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from evidence.core.errors import N_, EvidenceError
from evidence.core.rules.security_keys import CHALLENGE_SECONDS, RelyingParty, counter_regressed
from evidence.core.text import bounded
from evidence.data import audit
from evidence.data.models import SecurityKey, User, utcnow
from evidence.services import second_factors, users

log = logging.getLogger(__name__)

MAX_KEY_NAME = 100  # the column's size
TIMEOUT_MS = 60_000  # what the browser is told to wait for the key
# ES256 first: every security key and passkey provider speaks it; EdDSA and RS256 (Windows Hello) besides.
ALGORITHMS = [COSEAlgorithmIdentifier.ECDSA_SHA_256, COSEAlgorithmIdentifier.EDDSA,
              COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256]
TRANSPORTS = {t.value for t in AuthenticatorTransport}

NOT_VERIFIED = N_("la clé de sécurité n’a pas pu être vérifiée : réessayez, ou utilisez un autre facteur")
CLONED = N_("cette clé de sécurité a donné un compteur de signatures qui recule : une copie de la clé a peut-être "
             "servi ; elle est refusée. Utilisez un autre facteur et prévenez un administrateur")
EXPIRED = N_("la demande faite à la clé de sécurité a expiré : recommencez")


class SecurityKeyError(EvidenceError):
    """A key that cannot be registered, used, renamed or removed."""


# --- reading ---------------------------------------------------------------------------------------------


def list_keys(session: Session, user: User) -> list[SecurityKey]:
    """The user's keys, oldest first (the account page lists them so, the browser is offered them so)."""
    return list(session.exec(select(SecurityKey).where(SecurityKey.user_id == user.id)
                             .order_by(SecurityKey.created_at, SecurityKey.id)))


def own_key(session: Session, user: User, key_id: int) -> SecurityKey:
    """One of the user's keys; someone else's, or none, is refused alike (ids are not to be probed)."""
    key = session.get(SecurityKey, key_id)
    if key is None or key.user_id != user.id:
        raise SecurityKeyError(N_("aucune de vos clés de sécurité ne porte ce numéro"))
    return key


# --- registration ----------------------------------------------------------------------------------------


def user_handle(user: User, secret: str) -> bytes:
    """The account's WebAuthn user handle: stable (a key registered again replaces its own earlier passkey on the
    authenticator rather than piling up), and saying nothing of the account (no e-mail, no row number: the
    WebAuthn specification forbids personal data there): an HMAC of the id under a key derived from the secret."""
    key = hmac.new(secret.encode(), b"evidence webauthn user handle", hashlib.sha256).digest()
    return hmac.new(key, str(user.id).encode(), hashlib.sha256).digest()


def _descriptor(key: SecurityKey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in key.transports or () if t in TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(key.credential_id), transports=transports or None)


def _state(challenge: bytes, user: User, now: Optional[float]) -> dict:
    return {"challenge": bytes_to_base64url(challenge), "user": user.id, "at": int(now if now is not None
                                                                                 else time.time())}


def registration_options(session: Session, user: User, rp: RelyingParty, secret: str,
                         now: Optional[float] = None) -> tuple[str, dict]:
    """What navigator.credentials.create() needs (JSON text) and the state to keep until the answer.

    User verification is preferred, not required: the password already was one factor, and a key without a PIN
    (most USB keys) is a perfectly good second. The keys already registered are excluded, so that the same key is
    not registered twice under two names. No attestation is asked: which vendor made a key is not checked here."""
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_name=user.email, user_id=user_handle(user, secret),
        user_display_name=user.name, challenge=challenge, timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        # A second factor, not a login without password: the key need not keep the account on it (a key's slots
        # for discoverable credentials are few).
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED, user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[_descriptor(key) for key in list_keys(session, user)],
        supported_pub_key_algs=ALGORITHMS,
    )
    return options_to_json(options), _state(challenge, user, now)


def check_key_name(session: Session, user: User, name: str, keep: Optional[SecurityKey] = None) -> str:
    name = bounded(name, MAX_KEY_NAME, N_("Nom de la clé"), "name")
    if not name:
        raise SecurityKeyError(N_("donnez un nom à la clé, pour la reconnaître dans la liste (« YubiKey bureau »)"),
                               field="name")
    taken = session.exec(select(SecurityKey.id).where(SecurityKey.user_id == user.id, SecurityKey.name == name)).first()
    if taken is not None and (keep is None or taken != keep.id):
        raise SecurityKeyError(N_("vous avez déjà une clé nommée « %(name)s » : choisissez un autre nom"), name=name,
                               field="name")
    return name


def _expected_challenge(state: Any, user: User, now: Optional[float]) -> bytes:
    """The challenge the state keeps, if it was made for this user and is still fresh."""
    now = now if now is not None else time.time()
    if not isinstance(state, dict) or state.get("user") != user.id or not isinstance(state.get("at"), int) \
            or not 0 <= now - state["at"] <= CHALLENGE_SECONDS or not isinstance(state.get("challenge"), str):
        raise SecurityKeyError(EXPIRED)
    return base64url_to_bytes(state["challenge"])


def _transports(credential: Any) -> list[str]:
    response = credential.get("response") if isinstance(credential, dict) else None
    listed = response.get("transports") if isinstance(response, dict) else None
    return sorted({t for t in listed if t in TRANSPORTS}) if isinstance(listed, list) else []


def register_key(session: Session, user: User, rp: RelyingParty, state: Any, credential: Any, name: str,
                 now: Optional[float] = None) -> SecurityKey:
    """Keep the key whose answer to `state`'s challenge is `credential` (the browser's JSON), under `name`.
    Checked by the webauthn package: the challenge, the origin, the relying party id's hash, the user's presence,
    the algorithm; audited `user.security_key_added`. The account's other sessions end."""
    name = check_key_name(session, user, name)
    challenge = _expected_challenge(state, user, now)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id, expected_origin=rp.origin,
            require_user_verification=False, supported_pub_key_algs=ALGORITHMS)
    except Exception as error:  # any fault of the answer (malformed, wrong origin, wrong challenge): refused alike
        log.info("security key registration refused for %s: %s", user.email, error)
        raise SecurityKeyError(NOT_VERIFIED) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if session.exec(select(SecurityKey.id).where(SecurityKey.credential_id == credential_id)).first() is not None:
        raise SecurityKeyError(N_("cette clé de sécurité est déjà enregistrée"))
    key = SecurityKey(user_id=user.id, name=name, credential_id=credential_id,
                      public_key=bytes_to_base64url(verified.credential_public_key), sign_count=verified.sign_count,
                      transports=_transports(credential), aaguid=verified.aaguid or "")
    session.add(key)
    # A factor added ends the account's other sessions (as the application's enrolment does): one opened with
    # the password alone, or by whoever added the key, does not outlive the change. The caller logs this one in
    # again under the new token.
    user.session_token = secrets.token_hex(16)
    session.add(user)
    audit.record(session, user, "user.security_key_added", user,
                 {"name": name, "credential": credential_id[:16], "aaguid": key.aaguid})
    session.commit()
    return key


# --- authentication (the login's second step) ------------------------------------------------------------


def authentication_options(session: Session, user: User, rp: RelyingParty,
                           now: Optional[float] = None) -> tuple[str, dict]:
    """What navigator.credentials.get() needs (JSON text: the user's keys, a fresh challenge) and the state."""
    keys = list_keys(session, user)
    if not keys:
        raise SecurityKeyError(N_("aucune clé de sécurité n’est enregistrée pour ce compte"))
    challenge = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge, timeout=TIMEOUT_MS, allow_credentials=[_descriptor(k) for k in keys],
        user_verification=UserVerificationRequirement.PREFERRED)
    return options_to_json(options), _state(challenge, user, now)


def _answering_key(session: Session, user: User, credential: Any) -> Optional[SecurityKey]:
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    if not isinstance(credential_id, str) or len(credential_id) > 1400:
        return None
    return session.exec(select(SecurityKey).where(SecurityKey.user_id == user.id,
                                                  SecurityKey.credential_id == credential_id)).first()


def verify_assertion(session: Session, user: User, rp: RelyingParty, state: Any, credential: Any,
                     now: Optional[float] = None) -> tuple[Optional[SecurityKey], Optional[str], dict]:
    """Judge a key's answer: (the key, None, {}) when it holds, else (the key if known, the reason, the details to
    audit). Writes nothing: the caller counts the failure (throttling) or records the use."""
    challenge = _expected_challenge(state, user, now)
    key = _answering_key(session, user, credential)
    if key is None:
        return None, "unknown_key", {}
    try:
        # The package's own counter check runs before the signature's and cannot tell a copy from garbage: it is
        # given 0, and the counter is judged below, once the signature proves the key's private key signed.
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id, expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(key.public_key), credential_current_sign_count=0,
            require_user_verification=False)
    except Exception as error:
        log.info("security key assertion refused for %s: %s", user.email, error)
        return key, "invalid", {"name": key.name}
    if counter_regressed(key.sign_count, verified.new_sign_count):
        return key, "sign_count", {"name": key.name, "stored": key.sign_count, "received": verified.new_sign_count}
    key.sign_count = verified.new_sign_count
    return key, None, {}


@dataclass(frozen=True)
class KeyOutcome:
    ok: bool
    key: Optional[SecurityKey] = None
    throttled: bool = False
    cloned: bool = False  # the signature held but the counter went back: a copy of the key signed


def authenticate(session: Session, user: User, rp: RelyingParty, state: Any, credential: Any, address: str,
                 limits: users.ThrottleLimits, now: Optional[float] = None) -> KeyOutcome:
    """The login's second step with a key. A refused answer counts in the login's own throttling and is audited
    (`auth.second_factor_failed`, method webauthn, with the reason: unknown key, invalid answer, or a counter that
    went back, which betrays a cloned key); the right one finishes the login (audited `login`), committed. A
    challenge that expired is refused without counting: nobody guessed anything."""
    address = second_factors.client_address(address)
    if second_factors.second_step_throttled(session, user, address, limits):
        return KeyOutcome(False, throttled=True)
    key, reason, details = verify_assertion(session, user, rp, state, credential, now)
    if reason is not None or not user.active:
        second_factors.second_step_failed(
            session, None, user, address, limits,
            {"step": "login", "method": "webauthn", "reason": reason or "disabled", **details})
        return KeyOutcome(False, key=key, cloned=reason == "sign_count")
    key.last_used_at = utcnow()
    session.add(key)
    users.finish_login(session, user, address, limits, {"second_factor": "webauthn", "key": key.name})
    return KeyOutcome(True, key=key)


# --- rename, remove --------------------------------------------------------------------------------------


def rename_key(session: Session, user: User, key_id: int, name: str) -> SecurityKey:
    key = own_key(session, user, key_id)
    name = check_key_name(session, user, name, keep=key)
    if name != key.name:
        audit.record(session, user, "user.security_key_renamed", user,
                     {"changes": {"name": [key.name, name]}, "credential": key.credential_id[:16]})
        key.name = name
        session.add(key)
        session.commit()
    return key


def remove_key(session: Session, user: User, key_id: int, proof: str, address: str, limits: users.ThrottleLimits,
               *, secret_key, now=None) -> str:
    """The owner removes one of his keys, with his password or a current code from his application
    (second_factors.confirm_identity: a wrong one counts as a failed login). When no factor of his own remains,
    his recovery codes go too, as when the application is removed. Audited; returns the key's name."""
    key = own_key(session, user, key_id)
    second_factors.confirm_identity(session, user, proof, address, limits, secret_key=secret_key, now=now)
    name = key.name
    session.delete(key)
    session.flush()
    details = {"name": name, "credential": key.credential_id[:16],
               **second_factors.recovery_codes_after_removal(session, user)}
    audit.record(session, user, "user.security_key_removed", user, details)
    session.commit()
    return name
