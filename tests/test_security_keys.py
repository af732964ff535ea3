"""Security keys (WebAuthn) as a second factor: registration, the login's second step, a cloned key betrayed by its
counter, removal; the relying party the keys sign for. A software authenticator (tests/soft_authenticator.py, ES256
with "none" attestation) gives every answer a real key would, and the wrong ones."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from evidence.core.errors import EvidenceError
from evidence.core.rules.security_keys import CHALLENGE_SECONDS, RelyingParty, counter_regressed, relying_party
from evidence.data import database as db
from evidence.data.models import AuditEvent, LoginFailure, RecoveryCode, SecurityKey, User
from evidence.services import second_factors
from evidence.services import security_keys as keys
from evidence.services import users as auth

from .conftest import PASSWORD
from .soft_authenticator import SoftAuthenticator

# SQLite alone: WebAuthn ceremonies; the key rows' SQL is plain (a PostgreSQL run of the login with a key: test_security_keys_web).
pytestmark = pytest.mark.sqlite_only

ORIGIN = "https://evidence.example.org"
RP = RelyingParty("evidence.example.org", "Preuves SecNumCloud", ORIGIN)
SECRET = "test-secret"
ADDRESS = "192.0.2.10"
LIMITS = auth.ThrottleLimits(per_pair=3, per_address=20, per_account=100, window=timedelta(minutes=15), secret=SECRET)


@pytest.fixture
def session(app, users):
    with app.app_context(), db.session_scope(app) as session:
        yield session


def manager(session) -> User:
    return session.exec(select(User).where(User.email == "manager@example.org")).one()


def events(session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def register(session, user, name="YubiKey bureau", authenticator=None, **answer) -> tuple[SecurityKey, SoftAuthenticator]:
    authenticator = authenticator or SoftAuthenticator(ORIGIN, RP.id)
    options, state = keys.registration_options(session, user, RP, SECRET)
    return keys.register_key(session, user, RP, state, authenticator.register(options, **answer), name), authenticator


def log_in_with(session, user, authenticator, **answer) -> keys.KeyOutcome:
    options, state = keys.authentication_options(session, user, RP)
    return keys.authenticate(session, user, RP, state, authenticator.sign(options, **answer), ADDRESS, LIMITS)


# --- registration ----------------------------------------------------------------------------------------------


def test_a_registered_key_is_kept_with_its_public_key_and_audited_without_it(session):
    user = manager(session)
    assert not second_factors.has_second_factor(session, user)
    token = user.session_token
    key, authenticator = register(session, user)
    assert user.session_token != token  # the account's other sessions end
    stored = session.exec(select(SecurityKey)).one()
    assert (stored.user_id, stored.name, stored.credential_id) == (user.id, "YubiKey bureau", authenticator.id)
    assert stored.sign_count == 0 and stored.transports == ["nfc", "usb"]
    assert stored.aaguid == "00112233-4455-6677-8899-aabbccddeeff"
    assert second_factors.has_second_factor(session, user)
    assert "webauthn" in second_factors.available_factors(session, user)
    [event] = events(session, "user.security_key_added")
    assert event.object_id == user.email and event.details["name"] == "YubiKey bureau"
    assert stored.public_key not in str(event.details) and event.details["credential"] == authenticator.id[:16]


@pytest.mark.sqlite_only  # WebAuthn's checks, not SQL
def test_registration_options_exclude_the_keys_already_registered_and_prefer_verification(session):
    import json

    user = manager(session)
    _, first = register(session, user)
    options, state = keys.registration_options(session, user, RP, SECRET)
    parsed = json.loads(options)
    assert [c["id"] for c in parsed["excludeCredentials"]] == [first.id]
    assert parsed["rp"] == {"id": RP.id, "name": RP.name}
    assert parsed["authenticatorSelection"]["userVerification"] == "preferred"
    assert parsed["attestation"] == "none" and parsed["challenge"] == state["challenge"]
    # The user handle is stable for the account and names neither its e-mail nor its number.
    again = json.loads(keys.registration_options(session, user, RP, SECRET)[0])
    assert again["user"]["id"] == parsed["user"]["id"] and user.email not in parsed["user"]["id"]
    assert again["challenge"] != parsed["challenge"]


@pytest.mark.parametrize("wrong", [{"origin": "https://evidence.example.org.evil.example"},
                                   {"origin": "http://evidence.example.org"},
                                   {"rp_id": "example.org"},
                                   {"challenge": b"\x00" * 32}])
@pytest.mark.sqlite_only  # WebAuthn's checks, not SQL
def test_registration_made_for_another_origin_relying_party_or_challenge_is_refused(session, wrong):
    with pytest.raises(EvidenceError) as refused:
        register(session, manager(session), **wrong)
    assert "n’a pas pu être vérifiée" in str(refused.value)
    session.rollback()
    assert count(session, SecurityKey) == 0 and events(session, "user.security_key_added") == []


def test_the_same_key_cannot_be_registered_twice_and_names_are_unique_per_user(session, users):
    user = manager(session)
    _, authenticator = register(session, user)
    with pytest.raises(EvidenceError, match="déjà une clé nommée"):
        register(session, user)  # the name is checked before anything else
    session.rollback()
    with pytest.raises(EvidenceError, match="déjà enregistrée"):
        register(session, user, name="Autre nom", authenticator=authenticator)
    session.rollback()
    with pytest.raises(EvidenceError, match="donnez un nom"):
        register(session, user, name="   ")
    session.rollback()
    other = session.exec(select(User).where(User.email == "admin@example.org")).one()
    register(session, other)  # another account may use the same name
    assert count(session, SecurityKey) == 2


@pytest.mark.sqlite_only  # WebAuthn's checks, not SQL
def test_a_challenge_serves_only_its_user_and_only_for_a_while(session):
    user = manager(session)
    other = session.exec(select(User).where(User.email == "admin@example.org")).one()
    authenticator = SoftAuthenticator(ORIGIN, RP.id)
    options, state = keys.registration_options(session, user, RP, SECRET)
    with pytest.raises(EvidenceError, match="a expiré"):
        keys.register_key(session, other, RP, state, authenticator.register(options), "Volée")
    late = state["at"] + CHALLENGE_SECONDS + 1
    with pytest.raises(EvidenceError, match="a expiré"):
        keys.register_key(session, user, RP, state, authenticator.register(options), "Tardive", now=late)
    for broken in (None, {}, {"challenge": state["challenge"], "user": user.id, "at": "now"}):
        with pytest.raises(EvidenceError, match="a expiré"):
            keys.register_key(session, user, RP, broken, authenticator.register(options), "Cassée")
    session.rollback()
    assert count(session, SecurityKey) == 0


@pytest.mark.parametrize("garbage", [None, "not json", {}, {"id": "x", "rawId": "x", "type": "public-key",
                                                            "response": {"clientDataJSON": "!!", "attestationObject": "??"}}])
@pytest.mark.sqlite_only  # WebAuthn's checks, not SQL
def test_a_malformed_answer_is_refused_in_words(session, garbage):
    user = manager(session)
    _, state = keys.registration_options(session, user, RP, SECRET)
    with pytest.raises(EvidenceError, match="n’a pas pu être vérifiée"):
        keys.register_key(session, user, RP, state, garbage, "Clé")


# --- authentication ------------------------------------------------------------------------------------------


def test_the_key_finishes_the_login_and_its_counter_moves_on(session):
    user = manager(session)
    _, authenticator = register(session, user)
    outcome = log_in_with(session, user, authenticator)
    assert outcome.ok and not outcome.throttled
    stored = session.exec(select(SecurityKey)).one()
    assert stored.sign_count == 1 and stored.last_used_at is not None
    [login] = events(session, "login")
    assert login.details == {"address": ADDRESS, "second_factor": "webauthn", "key": "YubiKey bureau"}
    assert log_in_with(session, user, authenticator).ok
    assert session.exec(select(SecurityKey)).one().sign_count == 2


def test_a_key_without_a_counter_always_sends_zero_and_is_accepted(session):
    user = manager(session)
    _, authenticator = register(session, user)
    for _ in range(2):
        assert log_in_with(session, user, authenticator, counter=0).ok
    assert session.exec(select(SecurityKey)).one().sign_count == 0


@pytest.mark.parametrize("went_back_to", [3, 2])  # below the last value, or the same again
def test_a_counter_that_goes_back_betrays_a_cloned_key_refused_and_audited(session, went_back_to):
    user = manager(session)
    _, authenticator = register(session, user)
    assert log_in_with(session, user, authenticator, counter=3).ok
    copy = SoftAuthenticator(ORIGIN, RP.id)
    copy.private_key, copy.credential_id = authenticator.private_key, authenticator.credential_id  # a clone
    outcome = log_in_with(session, user, copy, counter=went_back_to)
    assert not outcome.ok and outcome.cloned
    assert session.exec(select(SecurityKey)).one().sign_count == 3  # the genuine key's count is kept
    [failure] = events(session, "auth.second_factor_failed")
    assert failure.details == {"address": ADDRESS, "step": "login", "method": "webauthn", "reason": "sign_count",
                               "name": "YubiKey bureau", "stored": 3, "received": went_back_to}
    assert count(session, LoginFailure) == 1
    assert len(events(session, "login")) == 1  # only the genuine key's


@pytest.mark.parametrize("wrong, reason", [({"origin": "https://phishing.example"}, "invalid"),
                                           ({"rp_id": "phishing.example"}, "invalid"),
                                           ({"challenge": b"\x01" * 32}, "invalid")])
@pytest.mark.sqlite_only  # WebAuthn's checks, not SQL
def test_an_answer_for_another_origin_or_challenge_is_refused_counted_and_audited(session, wrong, reason):
    user = manager(session)
    _, authenticator = register(session, user)
    outcome = log_in_with(session, user, authenticator, **wrong)
    assert not outcome.ok and not outcome.cloned
    [failure] = events(session, "auth.second_factor_failed")
    assert failure.details["method"] == "webauthn" and failure.details["reason"] == reason
    assert count(session, LoginFailure) == 1 and events(session, "login") == []
    assert session.exec(select(SecurityKey)).one().last_used_at is None


@pytest.mark.sqlite_only  # WebAuthn's checks, not SQL
def test_a_key_of_another_account_or_a_forged_signature_is_refused(session):
    user = manager(session)
    other = session.exec(select(User).where(User.email == "admin@example.org")).one()
    register(session, user)
    _, others_key = register(session, other)
    assert log_in_with(session, user, others_key).ok is False  # allowed for the admin, not for the manager
    impostor = SoftAuthenticator(ORIGIN, RP.id)
    impostor.credential_id = others_key.credential_id  # the right id, another private key
    assert log_in_with(session, other, impostor).ok is False
    reasons = [e.details["reason"] for e in events(session, "auth.second_factor_failed")]
    assert reasons == ["unknown_key", "invalid"]


def test_failed_keys_are_throttled_like_passwords(session):
    user = manager(session)
    _, authenticator = register(session, user)
    for _ in range(LIMITS.per_pair):
        assert not log_in_with(session, user, authenticator, origin="https://phishing.example").ok
    outcome = log_in_with(session, user, authenticator)  # the right key, too late
    assert outcome.throttled and not outcome.ok
    assert events(session, "login") == [] and len(events(session, "login.throttled")) == 1


@pytest.mark.sqlite_only  # WebAuthn's checks, not SQL
def test_an_expired_challenge_is_refused_without_counting(session):
    user = manager(session)
    _, authenticator = register(session, user)
    options, state = keys.authentication_options(session, user, RP)
    with pytest.raises(EvidenceError, match="a expiré"):
        keys.authenticate(session, user, RP, state, authenticator.sign(options), ADDRESS, LIMITS,
                          now=state["at"] + CHALLENGE_SECONDS + 1)
    assert count(session, LoginFailure) == 0


@pytest.mark.sqlite_only  # WebAuthn's checks, not SQL
def test_no_key_no_authentication_options(session):
    with pytest.raises(EvidenceError, match="aucune clé"):
        keys.authentication_options(session, manager(session), RP)


# --- rename, remove -------------------------------------------------------------------------------------------


def test_a_key_is_renamed_by_its_owner_only(session):
    user = manager(session)
    key, _ = register(session, user)
    register(session, user, name="Téléphone")
    keys.rename_key(session, user, key.id, "  Clé du coffre  ")
    assert session.get(SecurityKey, key.id).name == "Clé du coffre"
    [event] = events(session, "user.security_key_renamed")
    assert event.details["changes"] == {"name": ["YubiKey bureau", "Clé du coffre"]}
    with pytest.raises(EvidenceError, match="déjà une clé nommée"):
        keys.rename_key(session, user, key.id, "Téléphone")
    other = session.exec(select(User).where(User.email == "admin@example.org")).one()
    with pytest.raises(EvidenceError, match="aucune de vos clés"):
        keys.rename_key(session, other, key.id, "À moi")


def test_removal_asks_the_password_and_the_last_factor_takes_the_recovery_codes_along(session):
    user = manager(session)
    first, _ = register(session, user)
    second, _ = register(session, user, name="Téléphone")
    second_factors.issue_recovery_codes(session, user)
    with pytest.raises(EvidenceError, match="incorrect"):
        keys.remove_key(session, user, first.id, "wrong password", ADDRESS, LIMITS, secret_key=SECRET)
    session.rollback()
    assert count(session, SecurityKey) == 2 and len(events(session, "auth.second_factor_failed")) == 1
    other = session.exec(select(User).where(User.email == "admin@example.org")).one()
    with pytest.raises(EvidenceError, match="aucune de vos clés"):
        keys.remove_key(session, other, first.id, PASSWORD, ADDRESS, LIMITS, secret_key=SECRET)
    session.rollback()

    assert keys.remove_key(session, user, first.id, PASSWORD, ADDRESS, LIMITS, secret_key=SECRET) == "YubiKey bureau"
    assert [k.name for k in keys.list_keys(session, user)] == ["Téléphone"]
    assert count(session, RecoveryCode) == 10  # another factor remains: the codes stand in for it
    keys.remove_key(session, user, second.id, PASSWORD, ADDRESS, LIMITS, secret_key=SECRET)
    assert count(session, SecurityKey) == 0 and count(session, RecoveryCode) == 0
    assert not second_factors.has_second_factor(session, user)
    removed = events(session, "user.security_key_removed")
    assert [e.details["name"] for e in removed] == ["YubiKey bureau", "Téléphone"]
    assert "recovery_codes" not in removed[0].details and removed[1].details["recovery_codes"] == 10


def test_an_admin_reset_removes_the_keys(session, users):
    user = manager(session)
    register(session, user)
    admin = session.exec(select(User).where(User.email == "admin@example.org")).one()
    assert second_factors.reset_second_factors(session, admin, user)["security_keys"] == 1
    assert count(session, SecurityKey) == 0


# --- pure rules ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stored, received, regressed", [
    (0, 0, False),  # a key that keeps no counter
    (0, 1, False), (5, 6, False), (5, 1_000, False),
    (5, 5, True), (5, 4, True), (5, 0, True),  # the same value again, or lower: another holder of the key signed
    (4_294_967_294, 4_294_967_295, False),  # a 32-bit counter near its end
])
def test_counter_regression(stored, received, regressed):
    assert counter_regressed(stored, received) is regressed


NAME = "Preuves"


@pytest.mark.parametrize("rp_id, origin, scheme, host, expected", [
    # Configured: the settings win over whatever the request says (a relaying look-alike site's Host header).
    (None, "https://evidence.example.org", "https", "phishing.example",
     RelyingParty("evidence.example.org", NAME, "https://evidence.example.org")),
    (None, "https://Evidence.example.org:8443/some/path", "http", "x",
     RelyingParty("evidence.example.org", NAME, "https://evidence.example.org:8443")),
    ("example.org", "https://evidence.example.org/", "https", "x",
     RelyingParty("example.org", NAME, "https://evidence.example.org")),
    ("evidence.example.org", None, "http", "x", RelyingParty("evidence.example.org", NAME, "https://evidence.example.org")),
    ("other.example", "https://evidence.example.org", "https", "x", None),  # not a parent of the origin's host
    ("ample.org", "https://evidence.example.org", "https", "x", None),  # a suffix, not a parent domain
    (None, "ftp://evidence.example.org", "https", "x", None),
    # Unset: from the request, on localhost only.
    (None, None, "http", "localhost:5123", RelyingParty("localhost", NAME, "http://localhost:5123")),
    (None, None, "http", "app.localhost", RelyingParty("app.localhost", NAME, "http://app.localhost")),
    (None, None, "http", "127.0.0.1:5000", None),  # an address cannot be a relying party id
    (None, None, "https", "evidence.example.org", None),
    (None, None, "http", "localhost.evil.example", None),
])
def test_relying_party(rp_id, origin, scheme, host, expected):
    assert relying_party(rp_id, origin, NAME, scheme, host) == expected
