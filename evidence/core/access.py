"""Who may call a view: every route declares its roles, and a route that declares none is refused.

Pure: the web layer reads the rule that these decorators attach (see `evidence.web.enforce_access`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from evidence.core.vocabulary import ROLES

PUBLIC = "public"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class AccessRule:
    """Who may call a view: `read` roles for GET/HEAD, `write` roles for every other method."""

    read: frozenset
    write: frozenset

    def allows(self, role: str, method: str) -> bool:
        return role in (self.read if method in READ_METHODS else self.write)


def access(*roles: str, write: Optional[Iterable[str]] = None):
    """Declare the roles allowed on a view. `write` narrows the roles allowed to POST (default: `roles`).

    The app refuses any route that declares no rule, so forgetting this decorator locks a page rather than
    opening it.
    """
    for role in (*roles, *(write or ())):
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
    rule = AccessRule(frozenset(roles), frozenset(write if write is not None else roles))

    def decorate(view):
        view.access_rule = rule
        return view

    return decorate


def public(view):
    view.access_rule = PUBLIC
    return view
