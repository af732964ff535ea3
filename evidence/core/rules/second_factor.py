"""The second factor's rules: who must have one, whether a session satisfies the policy, and when a TOTP code
counts (RFC 6238: one code per 30-second step; a step once accepted is never accepted again).

Pure: the web layer and services.second_factors give the facts (the role, the factors the account has, what the
session was logged in with, the time) and act on the answer.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Optional

# What a session can have been logged in with, beyond the password: session["second_factor"] holds one of them.
# "sso": the identity provider said it asked for more than a password (OIDC_MFA_AMR / OIDC_MFA_ACR).
METHODS = ("totp", "recovery", "webauthn", "sso")

STEP_SECONDS = 30  # RFC 6238's default, what every authenticator application uses
WINDOW = 1  # a step before and after the current one are accepted too: clocks drift, people type slowly
DIGITS = 6
PENDING_LOGIN_SECONDS = 5 * 60  # how long the second step waits after the right password

# What enforce_access does with a request (see `session_state`).
SATISFIED = "satisfied"
ENROL = "enrol"  # the account must have a factor and has none: enrolment, nothing else
LOG_IN_AGAIN = "log_in_again"  # the account has a factor this session was not logged in with


def required(role: str, required_roles: Iterable[str], *, service_account: bool = False) -> bool:
    """Whether an account of `role` must log in with a second factor (MFA_REQUIRED_ROLES). A service account
    (the identity of an API token) never logs in to the web: the policy is not its to meet."""
    return not service_account and role in tuple(required_roles)


def session_state(is_required: bool, has_factor: bool, session_method: Optional[str]) -> str:
    """What a logged-in session of a user may do under the policy.

    A session logged in with a second factor satisfies it. Otherwise, for a role that must have one: an account
    without a factor is sent to enrolment; one that has a factor (enrolled since, from another browser) logs in
    again and gives it. A role that need not have one is left alone."""
    if session_method in METHODS or not is_required:
        return SATISFIED
    return LOG_IN_AGAIN if has_factor else ENROL


def time_step(at: datetime) -> int:
    """The TOTP time step of an aware datetime."""
    return int(at.timestamp()) // STEP_SECONDS


def candidate_steps(at: datetime) -> tuple[int, ...]:
    """The steps whose code is accepted at `at`: the current one first, then its neighbours within WINDOW."""
    now = time_step(at)
    return (now, *(now + shift for distance in range(1, WINDOW + 1) for shift in (-distance, distance)))


def accepted_step(matching: Iterable[int], last_used: Optional[int]) -> Optional[int]:
    """The step a code is accepted for, among the candidate steps it matches: the latest one after the last step
    accepted before (`last_used`). None: refused, because it matches none, or only steps already used (a replay,
    or a code older than one already given)."""
    fresh = [step for step in matching if last_used is None or step > last_used]
    return max(fresh) if fresh else None


def normalised_code(text: str) -> str:
    """A typed code without the spaces and dashes people add ("123 456", "abcd-efgh"), in lower case."""
    return "".join(ch for ch in (text or "") if not ch.isspace() and ch != "-").lower()


def looks_like_totp(code: str) -> bool:
    return len(code) == DIGITS and code.isdigit()


def identity_proofs(has_totp: bool, *, renewing_codes: bool = False) -> frozenset[str]:
    """What proves, from an open session, that the account's owner is at the keyboard before a change to its
    factors: "totp" (a current code of the application) and/or "password".

    Removing a factor takes either. Renewing the recovery codes (the way back into the account) takes the
    application's code when the account has one: the password alone, with a session left open, would hand that way
    in to whoever learnt it. An account whose factors are security keys only gives its password (a fresh one:
    throttled and audited like a login); asking a key's signature there would need a WebAuthn ceremony of its own
    on the account page, and the password already proves more than the open session does."""
    if not has_totp:
        return frozenset({"password"})
    return frozenset({"totp"}) if renewing_codes else frozenset({"totp", "password"})


def pending_login_expired(started_at: int, now: int) -> bool:
    """A login waiting for its second step lapses after PENDING_LOGIN_SECONDS (and one from the future is not
    trusted either)."""
    return not (0 <= now - started_at < PENDING_LOGIN_SECONDS)
