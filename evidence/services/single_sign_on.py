"""Single sign-on (OpenID Connect) logins: the account that an ID token's claims stand for — found by the
provider's identity (issuer and subject), else by the e-mail the provider verified (the identity is then bound to
it), else created when the settings allow — its role following the provider's groups; every login and every
refusal audited. The claims reach this module verified (signature, issuer, audience, nonce, expiry: Authlib, in
web.single_sign_on); nothing here trusts the browser.

Choices, and why:
- A mapped role is the provider's at every login (a change is audited as any role change, by the provider): the
  provider is where access is granted and withdrawn. A user whose groups name none of the mapped ones is refused,
  not left with the role he had: being taken out of every group is how the provider withdraws access, and a kept
  role would outlive it. Without a map, roles are managed here and the provider only authenticates.
- An e-mail binds an existing account only when the provider verified it, and only an account bound to no other
  identity: otherwise whoever controls an unverified address at the provider would take the account.
- Failures are counted in the login throttling (login_failure, by client address): each refusal is audited, and
  the count bounds how much one client can make the trail grow.
- Unbinding (an administrator, the command line: `unbind`) frees the account for another identity (the provider
  re-created the person, a wrong binding). It voids the account's password and hands out a one-time link instead:
  a password that no longer opened the account while it was bound (or was never chosen by its owner) must not open
  it again by surprise; password login comes back only through the link, chosen by the owner.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Mapping, NoReturn, Optional

from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError
from evidence.core.passwords import DEFAULT_POLICY, PasswordPolicy
from evidence.core.rules import single_sign_on as rules
from evidence.data import audit
from evidence.data.models import LoginFailure, User, utcnow
from evidence.services import passwords, users
from evidence.services.second_factors import has_second_factor

MAX_SUBJECT = 255  # OpenID Connect Core 2: a `sub` is at most 255 ASCII characters


class SsoRefused(EvidenceError):
    """A single sign-on login refused; `reason` is the code the audit trail records."""

    def __init__(self, reason: str, message, **params):
        super().__init__(message, **params)
        self.reason = reason


# The refusals, by the reason code the trail records (what the user reads is beside it).
REFUSALS = {
    "unknown_user": N_("Aucun compte n’est ouvert ici pour %(who)s : demandez à un administrateur de le créer, "
                       "puis reconnectez-vous."),
    "email_unverified": N_("Votre identité chez le fournisseur n’est liée à aucun compte ici, et le fournisseur "
                           "n’a pas vérifié votre adresse e-mail : elle ne peut pas servir à trouver votre compte. "
                           "Demandez à un administrateur."),
    "disabled": N_("Le compte %(who)s est désactivé : demandez à un administrateur de le réactiver."),
    "bound_elsewhere": N_("Le compte %(who)s est déjà lié à une autre identité chez le fournisseur : demandez à un "
                          "administrateur."),
    "no_role": N_("Votre compte chez le fournisseur n’appartient à aucun des groupes qui donnent accès à cette "
                  "application : demandez à y être ajouté."),
    "last_admin": N_("%(who)s est le dernier administrateur actif : le fournisseur ne lui donne plus ce rôle, mais "
                     "un autre administrateur doit d’abord être nommé. Connexion refusée."),
    "invalid_token": N_("La réponse du fournisseur d’identité n’a pas pu être vérifiée : connexion refusée. "
                        "Recommencez ; si cela se reproduit, prévenez un administrateur."),
    "state": N_("Cette réponse du fournisseur d’identité ne correspond à aucune connexion en cours dans ce "
                "navigateur (elle a déjà servi ou elle a expiré) : recommencez la connexion."),
    "provider_error": N_("Le fournisseur d’identité a refusé ou interrompu la connexion (%(error)s)."),
    "unavailable": N_("Le fournisseur d’identité ne répond pas : réessayez dans quelques minutes."),
}


@dataclass(frozen=True)
class Provider:
    """What the settings say of the provider and of the accounts it opens."""

    issuer: str
    role_claim: str = "groups"
    role_map: rules.RoleMap = ()
    create_users: bool = False
    mfa_amr: tuple[str, ...] = ()
    mfa_acr: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        """Who the trail names for what the provider decides (a created account, a role it gives)."""
        return f"sso:{self.issuer}"[:254]


@dataclass(frozen=True)
class SsoLogin:
    user: User
    second_factor: bool  # the provider's login was multi-factor (amr/acr): it satisfies the second-factor policy
    # It was not, and the account has a local second factor: asked next, as after a password (nobody is logged in
    # before it is given).
    second_factor_due: bool = False


def provider_from_config(config: Mapping[str, Any]) -> Optional[Provider]:
    """The provider the settings describe, or None when single sign-on is not configured."""
    if not (config.get("OIDC_ISSUER") and config.get("OIDC_CLIENT_ID")):
        return None
    return Provider(issuer=config["OIDC_ISSUER"], role_claim=config["OIDC_ROLE_CLAIM"],
                    role_map=tuple(config["OIDC_ROLE_MAP"]), create_users=config["OIDC_CREATE_USERS"],
                    mfa_amr=tuple(config["OIDC_MFA_AMR"]), mfa_acr=tuple(config["OIDC_MFA_ACR"]))


def _digest(limits: users.ThrottleLimits) -> str:
    # One key for every SSO failure in login_failure: what counts is the client address (per pair, per address).
    return users.typed_email_digest("sso:", limits)


def is_throttled(session: Session, address: str, limits: users.ThrottleLimits) -> bool:
    """Whether this client has failed too many SSO logins (or passwords) lately: answered before anything else."""
    return users.is_throttled(session, _digest(limits), (address or "unknown")[:64], None, limits)


def refuse(session: Session, provider: Provider, reason: str, address: str, limits: users.ThrottleLimits, *,
           user: Optional[User] = None, claims: Optional[Mapping[str, Any]] = None,
           details: Optional[dict] = None, **params) -> NoReturn:
    """Record the refusal (a counted failure and an `auth.sso_refused` event, committed) and raise it."""
    session.rollback()  # nothing the refused login staged is kept
    address = (address or "unknown")[:64]
    recorded = {"issuer": provider.issuer, "reason": reason, "address": address, **(details or {})}
    if claims:
        if isinstance(claims.get("sub"), str):
            recorded["subject"] = claims["sub"][:MAX_SUBJECT]
        email = rules.verified_email(claims)
        if email and user is None:
            recorded["email"] = email[:254]  # who asked, for the administrator who would open the account
    session.add(LoginFailure(email=_digest(limits), address=address))
    audit.record(session, None, "auth.sso_refused", user, recorded)
    session.commit()
    raise SsoRefused(reason, REFUSALS[reason], **params)


def sign_in(session: Session, claims: Mapping[str, Any], provider: Provider, address: str,
            limits: users.ThrottleLimits, *, policy: PasswordPolicy = DEFAULT_POLICY) -> SsoLogin:
    """The account these verified claims stand for, bound, created or updated as the settings say; audited
    (`auth.sso_login`, with the provider's authentication methods, never a token). Raises SsoRefused."""
    address = (address or "unknown")[:64]

    def no(reason, user=None, **params) -> NoReturn:
        refuse(session, provider, reason, address, limits, user=user, claims=claims, **params)

    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT:
        no("invalid_token")
    email = rules.verified_email(claims)
    user = session.exec(select(User).where(User.oidc_issuer == provider.issuer, User.oidc_subject == subject)).first()
    bind = user is None
    if user is None and email:
        user = users.find_user(session, email)
        if user is not None and user.oidc_subject is not None:
            no("bound_elsewhere", user, who=user.email)
    if user is not None and (not user.active or getattr(user, "service_account", False)):
        no("disabled", user, who=user.email)
    if user is None and isinstance(claims.get("email"), str) and not email:
        no("email_unverified")
    if user is None and not (provider.create_users and email):
        no("unknown_user", who=email or subject)
    role = rules.mapped_role(claims.get(provider.role_claim), provider.role_map) if provider.role_map else None
    if provider.role_map and role is None:
        no("no_role", user)
    if user is None:
        try:
            user = users.stage_user(session, provider.actor, email, rules.display_name(claims), role, None, False,
                                    policy)
        except EvidenceError:
            no("unknown_user", who=email)  # an address this product refuses (too long, malformed)
    elif role is not None:
        try:
            users.stage_role(session, provider.actor, user, role)
        except users.UserError:  # the last active administrator: the role is not taken from him silently
            no("last_admin", user, who=user.email)
    if bind:
        # From now on the provider's identity finds the account; its password no longer opens it (unless
        # OIDC_PASSWORD_LOGIN allows): the provider is where this person's access is managed.
        user.oidc_issuer, user.oidc_subject, user.password_login = provider.issuer, subject, False
        session.add(user)
        audit.record(session, provider.actor, "user.sso_bind", user, {"issuer": provider.issuer, "subject": subject})
    second_factor = rules.provider_second_factor(claims, provider.mfa_amr, provider.mfa_acr)
    due = not second_factor and has_second_factor(session, user)
    details = {"issuer": provider.issuer, "subject": subject, "address": address, "mfa": second_factor,
               "amr": list(rules.claim_values(claims.get("amr")))[:20]}
    if isinstance(claims.get("acr"), str):
        details["acr"] = claims["acr"][:100]
    if due:
        details["second_factor_due"] = True  # the "login" event follows once it is given (second_factors)
    else:
        user.last_login_at = utcnow()
        session.add(user)
    audit.record(session, user, "auth.sso_login", user, details)
    session.commit()
    return SsoLogin(user, second_factor, due)


def unbind(session: Session, actor: audit.Actor, user: User,
           policy: PasswordPolicy = DEFAULT_POLICY) -> Optional[passwords.PasswordLink]:
    """Take the account's binding to the provider's identity away: the next single sign-on login finds it again
    only by a verified e-mail (and binds it anew), its sessions end, its password is void and a one-time link to
    choose a new one is returned (None for a disabled account: its link comes once it is enabled again, with
    `evidence users reset-password`). Audited `user.sso_unbind` with the identity it had; committed once."""
    if user.oidc_subject is None:
        raise users.UserError(N_("le compte de %(email)s n’est lié à aucune identité chez un fournisseur"),
                              email=user.email)
    if users.is_oneself(actor, user):
        raise users.UserError(N_("vous ne pouvez pas délier votre propre compte : demandez-le à un autre "
                                 "administrateur"))
    audit.record(session, actor, "user.sso_unbind", user, {"issuer": user.oidc_issuer, "subject": user.oidc_subject})
    user.oidc_issuer = user.oidc_subject = None
    # Void, not merely closed: whatever password the account had comes back nowhere (see the module's choices).
    user.password_hash = users.hash_password(secrets.token_urlsafe(32))
    user.password_login, user.must_change_password = True, False
    user.session_token = secrets.token_hex(16)  # every session of the account ends, copies of a cookie too
    session.add(user)
    if not user.active:
        session.commit()
        return None
    return passwords.issue_password_link(session, actor, user, policy)  # commits the unbinding with the link
