"""API tokens: created for a service account or a person, listed, revoked, and checked on every API call.

A token is `snc_` followed by 32 random bytes (URL-safe base64); only its SHA-256 is kept, with its first characters
to recognise it in a list. Its secret is shown once, when it is made. The command line and the admin page call
these functions; the API's request hook calls `authenticate`.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Optional, Sequence

from sqlalchemy import or_, update
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError
from evidence.core.rules.api_tokens import ACTIVE, token_status
from evidence.core.rules.token_scope import UNLIMITED, PerimeterScope, narrowed
from evidence.core.vocabulary import API_TOKEN_ROLES, EVALUATOR
from evidence.data import audit
from evidence.data.models import ApiToken, ApiTokenPerimeter, Perimeter, User, utcnow
from evidence.services import reach, users
from evidence.services.perimeters import get_perimeter

SECRET_PREFIX = "snc_"
SHOWN_PREFIX = 12  # "snc_" and 8 characters of the secret: enough to tell tokens apart, far too few to guess it
SERVICE_DOMAIN = "service-account.invalid"  # RFC 2606: no mail can ever reach a service account
LAST_USED_STEP = timedelta(minutes=1)  # last_used_at is written at most once a minute: not one write per call
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


class TokenRefused(EvidenceError):
    """A bearer token that does not authenticate (unknown, revoked, expired, account changed): HTTP 401."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


@dataclass(frozen=True)
class TokenUse:
    """An authenticated API call: the token, the account it acts as, the perimeters it may reach."""

    token: ApiToken
    user: User
    scope: PerimeterScope


@dataclass(frozen=True)
class TokenRow:
    token: ApiToken
    account: User
    perimeters: list[Perimeter]
    status: str


def secret_hash(secret: str) -> str:
    # A plain SHA-256 is enough: the secret has 256 bits of entropy, nothing to try a dictionary on.
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    name = (name or "").strip().lower()
    if not NAME_RE.match(name):
        raise EvidenceError(N_("nom de jeton « %(name)s » : de 1 à 80 minuscules, chiffres, points, tirets ou "
                               "soulignés, en commençant par une lettre ou un chiffre (p. ex. ci-preuves)"),
                            name=name, field="name")
    return name


def create_token(session: Session, actor: audit.Actor, name: str, role: Optional[str] = None, *,
                 user_email: Optional[str] = None, perimeters: Sequence[str] = (), expires_days: Optional[int] = None,
                 default_days: int = 90, now: Optional[datetime] = None) -> IssuedToken:
    """A new token. Without `user_email`, for a service account of its own (a pipeline, a scanner) that carries
    `role`; with it, acting as that person, with exactly that person's role (a `role` that differs is refused).
    `perimeters`: the codes it is limited to (none: every perimeter). It expires after `expires_days` (at least
    1; None: `default_days`, the API_TOKEN_DAYS setting)."""
    now = now or utcnow()
    name = check_name(name)
    if session.exec(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
        raise EvidenceError(N_("un jeton d’API s’appelle déjà « %(name)s »"), name=name, field="name")
    if role is not None and role not in API_TOKEN_ROLES:
        raise EvidenceError(N_("rôle de jeton « %(role)s » : choisissez l’un de : %(roles)s"), role=role,
                            roles=", ".join(API_TOKEN_ROLES), field="role")
    days = default_days if expires_days is None else expires_days
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3660:
        raise EvidenceError(N_("durée de validité « %(days)s » : un nombre de jours de 1 à 3660"), days=days,
                            field="expires_days")
    scope = [get_perimeter(session, code) for code in dict.fromkeys(c.strip() for c in perimeters if c.strip())]
    if user_email:
        account = _person(session, user_email, role)
    else:
        if role is None:
            raise EvidenceError(N_("donnez le rôle du jeton (%(roles)s) ou la personne au nom de laquelle il agit"),
                                roles=", ".join(API_TOKEN_ROLES), field="role")
        if role == EVALUATOR:
            # An evaluator reads only the perimeters granted to him: a service account, granted none, would reach
            # nothing, and the evaluation centre's calls must name the person who makes them.
            raise EvidenceError(N_("un jeton d’évaluateur agit au nom d’un évaluateur : nommez la personne (son "
                                   "compte porte ses périmètres)"), field="user")
        account = _service_account(session, actor, name, role)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=secret_hash(secret), prefix=secret[:SHOWN_PREFIX], role=account.role,
                     user_id=account.id, created_by_id=actor.id if isinstance(actor, User) else None, created_at=now,
                     expires_at=now + timedelta(days=days))
    session.add(token)
    session.flush()
    for perimeter in scope:
        session.add(ApiTokenPerimeter(token_id=token.id, perimeter_id=perimeter.id))
    audit.record(session, actor, "token.create", object_type="api_token", object_id=name, details={
        "role": token.role, "account": account.email, "prefix": token.prefix,
        "perimeters": sorted(p.code for p in scope), "expires_at": token.expires_at.isoformat()})
    session.commit()
    return IssuedToken(token, secret)


def _person(session: Session, email: str, role: Optional[str]) -> User:
    person = users.get_user(session, email)
    if person.service_account:
        raise EvidenceError(N_("%(email)s est le compte de service d’un autre jeton : créez un jeton de service "
                               "sans --user"), email=person.email, field="user")
    if not person.active:
        raise EvidenceError(N_("%(email)s est désactivé : un jeton ne peut pas agir en son nom"), email=person.email,
                            field="user")
    if person.role not in API_TOKEN_ROLES:
        raise EvidenceError(N_("%(email)s est administrateur : un jeton d’API n’administre pas ; il porte le rôle "
                               "contributor, manager, auditor ou evaluator"), email=person.email, field="user")
    if role is not None and role != person.role:
        raise EvidenceError(N_("le jeton de %(email)s porte son rôle, %(person_role)s, pas %(role)s : un jeton n’a "
                               "jamais plus de droits que la personne"), email=person.email, person_role=person.role,
                            role=role, field="role")
    return person


def _service_account(session: Session, actor: audit.Actor, name: str, role: str) -> User:
    """The account a service token acts as: it has no password anybody knows and cannot log in to the web."""
    email = f"{name}@{SERVICE_DOMAIN}"
    if users.find_user(session, email) is not None:
        raise EvidenceError(N_("un compte « %(email)s » existe déjà"), email=email, field="name")
    account = User(email=email, name=name, role=role, password_hash=users.hash_password(secrets.token_urlsafe(32)),
                   session_token=secrets.token_hex(16), service_account=True)
    session.add(account)
    audit.record(session, actor, "user.create", account, {"role": role, "name": name, "service_account": True})
    return account


def get_token(session: Session, name: str) -> ApiToken:
    token = session.exec(select(ApiToken).where(ApiToken.name == (name or "").strip().lower())).first()
    if token is None:
        raise EvidenceError(N_("aucun jeton d’API « %(name)s »"), name=name)
    return token


def revoke_token(session: Session, actor: audit.Actor, name: str, *, now: Optional[datetime] = None) -> ApiToken:
    """Revoke a token: from now on every call with it is refused (401). Kept, for the list and the trail."""
    token = get_token(session, name)
    if token.revoked_at is not None:
        raise EvidenceError(N_("le jeton d’API « %(name)s » est déjà révoqué"), name=token.name)
    token.revoked_at = now or utcnow()
    session.add(token)
    audit.record(session, actor, "token.revoke", object_type="api_token", object_id=token.name,
                 details={"prefix": token.prefix})
    session.commit()
    return token


def list_tokens(session: Session, *, now: Optional[datetime] = None) -> list[TokenRow]:
    """Every token with its account and perimeters, by name: three queries whatever their number."""
    now = now or utcnow()
    rows = session.exec(select(ApiToken, User).join(User, User.id == ApiToken.user_id).order_by(ApiToken.name)).all()
    scopes = defaultdict(list)
    for token_id, perimeter in session.exec(
            select(ApiTokenPerimeter.token_id, Perimeter).join(Perimeter, Perimeter.id == ApiTokenPerimeter.perimeter_id)
            .order_by(Perimeter.code)):
        scopes[token_id].append(perimeter)
    return [TokenRow(token, account, scopes[token.id], status_of(token, account, now)) for token, account in rows]


def status_of(token: ApiToken, account: User, now: datetime) -> str:
    return token_status(revoked_at=token.revoked_at, expires_at=token.expires_at, token_role=token.role,
                        account_role=account.role, account_active=account.active, now=now)


def scope_of(session: Session, token: ApiToken) -> PerimeterScope:
    ids = frozenset(session.exec(select(ApiTokenPerimeter.perimeter_id).where(ApiTokenPerimeter.token_id == token.id)))
    return PerimeterScope(ids) if ids else UNLIMITED


MISSING = N_("jeton d’API manquant : envoyez l’en-tête « Authorization: Bearer <jeton> »")
UNKNOWN = N_("jeton d’API inconnu")
REFUSALS = {
    "revoked": N_("le jeton d’API « %(name)s » a été révoqué"),
    "expired": N_("le jeton d’API « %(name)s » a expiré le %(date)s"),
    "suspended": N_("le jeton d’API « %(name)s » ne vaut plus : son compte %(email)s a été désactivé ou a changé "
                    "de rôle"),
}


def authenticate(session: Session, secret: Optional[str], *, now: Optional[datetime] = None,
                 today: Optional[date] = None) -> TokenUse:
    """The call's token, account and scope, or TokenRefused saying why. Notes the use (last_used_at, committed at
    most once a minute per token)."""
    now = now or utcnow()
    if not secret:
        raise TokenRefused(MISSING)
    token = None
    if secret.startswith(SECRET_PREFIX) and len(secret) < 200:
        token = session.exec(select(ApiToken).where(ApiToken.token_hash == secret_hash(secret))).first()
    if token is None:
        raise TokenRefused(UNKNOWN)
    account = session.get(User, token.user_id)
    status = status_of(token, account, now)
    if status != ACTIVE:
        raise TokenRefused(REFUSALS[status], name=token.name, email=account.email,
                           date=token.expires_at.date().isoformat() if token.expires_at else "")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_STEP:
        # Only if no other worker noted it within the minute: concurrent calls make one write, not one each.
        session.execute(update(ApiToken).where(ApiToken.id == token.id, or_(
            ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_STEP)).values(last_used_at=now))
        session.commit()
    # The token's perimeters within its account's grants: an evaluator's token reaches what he reaches, no more,
    # and nothing once his campaign is over.
    return TokenUse(token, account, narrowed(scope_of(session, token), reach.scope_of(session, account, today or now.date())))
