"""Whether an API token may be used now: pure, over the token's and its account's facts.

A token acts as its account with exactly the account's role (services always see `actor.role == token.role`):
a person's token stops working when the person is disabled or changes role, rather than carrying the old rights.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

ACTIVE, REVOKED, EXPIRED, SUSPENDED = "active", "revoked", "expired", "suspended"
TOKEN_STATUSES = (ACTIVE, REVOKED, EXPIRED, SUSPENDED)


def token_status(*, revoked_at: Optional[datetime], expires_at: Optional[datetime], token_role: str,
                 account_role: str, account_active: bool, now: datetime) -> str:
    """active, revoked, expired (its date passed), or suspended (its account was disabled or changed role)."""
    if revoked_at is not None:
        return REVOKED
    if expires_at is not None and now >= expires_at:
        return EXPIRED
    if not account_active or account_role != token_role:
        return SUSPENDED
    return ACTIVE
