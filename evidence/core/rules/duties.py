"""Separation of duties (SecNumCloud 6.2): who approves evidence and dossier versions.

By default an administrator manages accounts and settings and a compliance manager approves: the person who
can create a manager account is not also the one who vouches for the proof. The ADMIN_APPROVES setting gives
the administrators the approvals back, for teams too small to separate the two.
"""
from __future__ import annotations

from typing import Mapping

APPROVERS = ("manager",)  # who approves evidence and dossier versions, whatever the setting
ADMIN = "admin"


def may_approve(role: str, admin_approves: bool = False) -> bool:
    """Whether someone of `role` may approve or reject evidence and approve a dossier version."""
    return role in APPROVERS or (role == ADMIN and bool(admin_approves))


def held_back_admin(role: str, admin_approves: bool = False) -> bool:
    """An administrator the setting keeps from approving: his refusal names the separation of duties."""
    return role == ADMIN and not admin_approves


def admin_approves(config: Mapping) -> bool:
    """The ADMIN_APPROVES setting from a boundary's configuration (the app's config, or any mapping of
    settings): the one place the web and the command line read it before handing it to the services."""
    return bool(config.get("ADMIN_APPROVES", False))
