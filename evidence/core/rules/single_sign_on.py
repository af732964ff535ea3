"""Single sign-on's judgements on an ID token's claims, already verified (signature, issuer, audience, nonce,
expiry): which e-mail may be trusted, which role the provider's groups give, and whether the provider's login
counts as a second factor. Pure: claims in, values out.

- E-mail: trusted only when the provider says it verified it (`email_verified` true): an unverified address is
  whatever the person typed at the provider, and binding an account by it would hand that account to him.
- Role: the first (group, role) pair of the map whose group the claim names; none, when the claim names none of
  them (the service then refuses the login: the provider withdrew the access, see services.single_sign_on).
- Second factor: the provider's login satisfies the policy when `amr` (RFC 8176 method references) names one of
  the accepted methods or `acr` is one of the accepted levels. Neither claim is required by OpenID Connect; a
  provider that sends none has said nothing about how the user logged in, so the local second factor is asked.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

RoleMap = tuple[tuple[str, str], ...]


def claim_values(value: Any) -> tuple[str, ...]:
    """A claim that is a list of strings or one string (providers send either for groups and `amr`), as a
    tuple of strings; anything else is nothing."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def verified_email(claims: Mapping[str, Any]) -> Optional[str]:
    """The e-mail the provider vouches for, lower-case; None unless `email_verified` is true (a JSON true; the
    text "true" that a few providers send is taken as the same)."""
    email, verified = claims.get("email"), claims.get("email_verified")
    if not isinstance(email, str) or not email.strip():
        return None
    if verified is True or (isinstance(verified, str) and verified.strip().lower() == "true"):
        return email.strip().lower()
    return None


def mapped_role(groups: Any, role_map: RoleMap) -> Optional[str]:
    """The role of the first pair of `role_map` whose group is among `groups` (the claim's value): the map's
    order is the administrator's to choose, so a person in two mapped groups gets a role he can predict."""
    names = set(claim_values(groups))
    for group, role in role_map:
        if group in names:
            return role
    return None


def provider_second_factor(claims: Mapping[str, Any], accepted_amr: tuple[str, ...],
                           accepted_acr: tuple[str, ...]) -> bool:
    """Whether the provider's login was multi-factor, by the claims the administrator accepts as saying so."""
    if set(claim_values(claims.get("amr"))) & set(accepted_amr):
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and acr in accepted_acr


def display_name(claims: Mapping[str, Any]) -> str:
    """The name of an account created at the first login: the provider's `name`, else the given and family
    names, else `preferred_username`; empty when it gives none (the account then takes the e-mail's local part)."""
    for value in (claims.get("name"),
                  " ".join(v for v in (claims.get("given_name"), claims.get("family_name")) if isinstance(v, str)),
                  claims.get("preferred_username")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
