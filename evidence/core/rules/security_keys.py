"""Security keys (WebAuthn): which relying party this instance is, and what a key's signature counter says.

Pure: the web layer gives the settings and the request's scheme and host; the service gives the counters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

# How long a challenge handed to the browser stays good: the browser's own timeout is a minute; a person who must
# find the key in a drawer gets a little more, never more than the pending login itself (five minutes).
CHALLENGE_SECONDS = 5 * 60


@dataclass(frozen=True)
class RelyingParty:
    """Who the keys sign for: `id` (a host name, hashed into every signature), the `origin` a browser must report
    (scheme://host[:port]) and the `name` it shows while registering."""

    id: str
    name: str
    origin: str


def is_localhost(host: str) -> bool:
    """`localhost` and its sub-names, which never leave the machine (RFC 6761): a browser treats them as a secure
    context over plain http, and nobody else can answer for them."""
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def origin_of(url: str) -> Optional[str]:
    """scheme://host[:port] of `url` (a path or a trailing slash left out), or None when it has no host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.lower()}"


def within(host: str, rp_id: str) -> bool:
    """Whether a page on `host` may use keys of relying party `rp_id`: the same name or a sub-name of it."""
    host, rp_id = host.lower(), rp_id.lower()
    return host == rp_id or host.endswith("." + rp_id)


def relying_party(rp_id: Optional[str], origin: Optional[str], name: str, request_scheme: str,
                  request_host: str) -> Optional[RelyingParty]:
    """The relying party from the settings (WEBAUTHN_RP_ID, WEBAUTHN_ORIGIN); when neither is set, from the
    request, but only on localhost; None when security keys cannot be offered.

    Why not derive it from any request: the origin a server expects is what makes a key phishing-proof. A
    look-alike site relaying to this one sends its own Host header; an origin taken from that header would be the
    look-alike's, and its users' answers would be accepted. On localhost nobody can stand between browser and
    server, so development and the tests need no setting; production sets WEBAUTHN_ORIGIN (README)."""
    rp_id = (rp_id or "").strip().rstrip(".").lower() or None
    if origin:
        expected = origin_of(origin)
        if expected is None:
            return None
        host = urlsplit(expected).hostname or ""
        rp_id = rp_id or host
        return RelyingParty(rp_id, name, expected) if within(host, rp_id) else None
    if rp_id:
        return RelyingParty(rp_id, name, f"https://{rp_id}")
    expected = origin_of(f"{request_scheme}://{request_host}")
    host = urlsplit(expected).hostname if expected else None
    if not host or not is_localhost(host):
        return None
    return RelyingParty(host, name, expected)


def counter_regressed(stored: int, received: int) -> bool:
    """Whether a key's signature counter betrays a copy (WebAuthn §7.2, step 21): a key that counts must send a
    value above the last one accepted; a value at or below it means another authenticator holds the same private
    key and signed since. A key that keeps no counter sends 0 every time, which says nothing."""
    if stored == 0 and received == 0:
        return False
    return received <= stored
