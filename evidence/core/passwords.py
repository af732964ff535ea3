"""What a password must be: long enough (ASVS 4.0.3 V2.1.1: 12 characters at least), not among the most common
ones, and not the account's own address. The one `validate_password` every way of setting a password calls (the
account page, the set-password link, the command line, `evidence init`), through the user services. A pure rule:
the list it consults is a file shipped in the package, read once."""
from __future__ import annotations

import gzip
import re
import secrets
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Mapping, Optional

from evidence.core.errors import N_, EvidenceError

DEFAULT_MIN_LENGTH = 12
DEFAULT_LINK_HOURS = 72
# Argon2 hashes anything, but a megabyte typed into a form is no password: the web forms stop at the same length.
MAX_LENGTH = 1024

# The 100,000 most common passwords of SecLists' "10 million password list" (see common-passwords.md beside the
# file), lower-cased, one a line. Shipped with the product: the check never asks anything outside.
BLOCKLIST_FILE = "common-passwords.txt.gz"
# Digits and symbols people add at the end to pass a rule ("password1234", "soleil2024!"): taken off before the
# list is consulted, so that a common word with a suffix is as common as the word.
_SUFFIX = re.compile(r"[\W\d_]+$")

_blocklist: Optional[frozenset[str]] = None
_loading = threading.Lock()


class PasswordRefused(EvidenceError):
    """A password that does not meet the policy."""


@dataclass(frozen=True)
class PasswordPolicy:
    """The instance's settings about passwords: PASSWORD_MIN_LENGTH and PASSWORD_LINK_HOURS."""

    min_length: int = DEFAULT_MIN_LENGTH
    link_hours: int = DEFAULT_LINK_HOURS

    @classmethod
    def from_config(cls, config: Mapping) -> "PasswordPolicy":
        """The one place the settings are read (the web views and the commands hand the result to the services)."""
        return cls(min_length=config.get("PASSWORD_MIN_LENGTH", DEFAULT_MIN_LENGTH),
                   link_hours=config.get("PASSWORD_LINK_HOURS", DEFAULT_LINK_HOURS))


DEFAULT_POLICY = PasswordPolicy()


def common_passwords() -> frozenset[str]:
    """The shipped list, read once per process on first use (a command that sets no password never pays for it)."""
    global _blocklist
    if _blocklist is None:
        with _loading:
            if _blocklist is None:
                data = resources.files("evidence.data").joinpath(BLOCKLIST_FILE).read_bytes()
                _blocklist = frozenset(gzip.decompress(data).decode("utf-8").split("\n")) - {""}
    return _blocklist


def is_common(password: str) -> bool:
    """Whether the password, in lower case, is in the list, as it is or without its trailing digits and symbols."""
    lowered = password.lower()
    listed = common_passwords()
    return lowered in listed or _SUFFIX.sub("", lowered) in listed


def validate_password(password: str, policy: PasswordPolicy = DEFAULT_POLICY, email: str = "") -> None:
    """Refuse a password that is too short, too long, common, or the account's own address; the refusal names the
    reason and never repeats the password."""
    password = password or ""
    if len(password) < policy.min_length:
        raise PasswordRefused(N_("le mot de passe doit comporter au moins %(n)s caractères"), n=policy.min_length,
                              field="password")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(N_("le mot de passe ne doit pas dépasser %(n)s caractères"), n=MAX_LENGTH,
                              field="password")
    if is_common(password):
        raise PasswordRefused(N_("ce mot de passe fait partie des mots de passe les plus répandus (même suivi de "
                                 "chiffres ou de symboles) : choisissez-en un autre, par exemple une phrase de "
                                 "plusieurs mots"), field="password")
    if email and _SUFFIX.sub("", password.lower()) in _own_words(email):
        raise PasswordRefused(N_("le mot de passe ne doit pas reprendre votre adresse e-mail ni votre identifiant"),
                              field="password")


def _own_words(email: str) -> set[str]:
    """What an attacker who knows the address tries first: the address and the part before @."""
    email = email.strip().lower()
    return {email, _SUFFIX.sub("", email.split("@")[0])} - {""}


def generate_password(min_length: int = DEFAULT_MIN_LENGTH) -> str:
    """A random password (the demo's, `evidence init`'s first admin's): at least 120 bits, never in the list,
    and as long as the policy's minimum (token_urlsafe gives 4 characters for every 3 bytes)."""
    return secrets.token_urlsafe(max(15, -(-min_length * 3 // 4)))
