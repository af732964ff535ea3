"""The types of the product's settings: each reads an environment variable's text (`parse`) and checks a Python
value from instance/config.py or the caller (`check`); both raise ValueError with what was expected ("an integer"),
which SettingError completes with the variable's name (evidence.settings, the table that uses them).
"""
from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping

from evidence.core.vocabulary import ROLES


class SettingError(ValueError):
    """A setting has a value its type refuses; the message names the variable and the value."""


# --- types ---------------------------------------------------------------------------------------------
# A type reads the environment's text (`parse`) and checks a Python value from instance/config.py or the
# caller (`check`); both raise ValueError with what was expected ("an integer"), which SettingError completes.


class Text:
    label = "text"

    def parse(self, text: str) -> str:
        return text

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("a string")
        return value


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_boolean(text: str) -> bool:
    """The product's one reading of a yes/no text: 1/0, true/false, yes/no, on/off, in any case."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("a boolean (1/0, true/false, yes/no, on/off)")


class Boolean:
    label = "boolean"

    def parse(self, text: str) -> bool:
        return parse_boolean(text)

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError("True or False")
        return value


class Integer:
    def __init__(self, minimum: int | None = None, maximum: int | None = None):
        self.minimum, self.maximum = minimum, maximum
        if maximum is not None:
            self.label = f"integer, {minimum}–{maximum}"
        elif minimum is not None:
            self.label = f"integer ≥ {minimum}"
        else:
            self.label = "integer"

    def parse(self, text: str) -> int:
        try:
            number = int(text.strip())
        except ValueError:
            raise ValueError("an integer") from None
        return self.check(number)

    def check(self, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("an integer")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"an integer of at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"an integer of at most {self.maximum}")
        return value


class FilePath:
    label = "path"

    def parse(self, text: str) -> Path:
        return self.check(text.strip())

    def check(self, value: Any) -> Path:
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise ValueError("a path")
        return Path(value)


URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class Url:
    label = "URL"

    def parse(self, text: str) -> str:
        return self.check(text.strip())

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or not URL.match(value):
            raise ValueError("a URL (scheme://…)")
        return value


SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")


class Schemes:
    """URL schemes, separated by commas or spaces (`https, http`): a tuple of lower-case names."""

    label = "URL schemes"

    def parse(self, text: str) -> tuple[str, ...]:
        return self.check(text)

    def check(self, value: Any) -> tuple[str, ...]:
        words = re.split(r"[\s,;]+", value.strip()) if isinstance(value, str) else value
        if not isinstance(words, (list, tuple)):
            raise ValueError("URL schemes separated by commas (e.g. https, http)")
        schemes = tuple(dict.fromkeys(str(w).strip().lower().removesuffix("://").rstrip(":") for w in words if w))
        if not schemes or not all(SCHEME.match(scheme) for scheme in schemes):
            raise ValueError("URL schemes separated by commas (e.g. https, http)")
        return schemes


class Location(Url):
    """A URL or an absolute path (the evidence store); which URLs are supported is the store's to say."""

    label = "URL or absolute path"

    def check(self, value: Any) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str) and (URL.match(value) or os.path.isabs(value)):
            return value
        raise ValueError("a URL (scheme://…) or an absolute path")


class Choice:
    def __init__(self, *choices: str):
        self.choices = choices
        self.label = " or ".join(f"`{c}`" for c in choices)

    def parse(self, text: str) -> str:
        return self.check(text.strip())

    def check(self, value: Any) -> str:
        if value not in self.choices:
            raise ValueError("one of " + ", ".join(self.choices))
        return value


class Roles:
    """Role names, separated by commas or spaces (`admin, manager`): a tuple; empty text stands for none."""

    label = "roles"

    def parse(self, text: str) -> tuple[str, ...]:
        return self.check(text)

    def check(self, value: Any) -> tuple[str, ...]:
        from evidence.core.vocabulary import ROLES

        words = re.split(r"[\s,;]+", value.strip()) if isinstance(value, str) else value
        if not isinstance(words, (list, tuple, set, frozenset)):
            raise ValueError("role names separated by commas (e.g. admin, manager)")
        roles = tuple(dict.fromkeys(str(w).strip().lower() for w in words if str(w).strip()))
        if not all(role in ROLES for role in roles):
            raise ValueError("role names among " + ", ".join(ROLES) + ", separated by commas")
        return roles


class Day:
    label = "date (YYYY-MM-DD)"

    def parse(self, text: str) -> date:
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise ValueError("a date (YYYY-MM-DD)") from None

    def check(self, value: Any) -> date:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ValueError("a datetime.date")
        return value


# Single sign-on's types (OIDC_SCOPES, OIDC_MFA_AMR, OIDC_ROLE_MAP).


class Words:
    """Words separated by commas or spaces (`openid email profile`): a tuple, in the order given, without repeats;
    `required`: words the tuple must hold."""

    def __init__(self, *required: str, example: str = "a, b"):
        self.required, self.example = required, example
        self.label = "words"

    def parse(self, text: str) -> tuple[str, ...]:
        return self.check(text)

    def check(self, value: Any) -> tuple[str, ...]:
        words = re.split(r"[\s,;]+", value.strip()) if isinstance(value, str) else value
        if not isinstance(words, (list, tuple)) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"words separated by commas (e.g. {self.example})")
        words = tuple(dict.fromkeys(w.strip() for w in words if w.strip()))
        missing = [w for w in self.required if w not in words]
        if missing:
            raise ValueError(f"words separated by commas including {', '.join(missing)} (e.g. {self.example})")
        return words


class RoleMap:
    """`group=role` pairs separated by commas (`grc-admins=admin, grc-managers=manager`), or a dict in
    instance/config.py: a tuple of (group, role) pairs in the order given (the first pair whose group a user has
    gives his role), every role one of the product's."""

    label = "group=role pairs"
    EXAMPLE = "grc-admins=admin, grc-managers=manager"

    def parse(self, text: str) -> tuple[tuple[str, str], ...]:
        pairs = []
        for entry in re.split(r"[,;\n]+", text):
            if not entry.strip():
                continue
            group, equals, role = entry.rpartition("=")  # a group name may hold "=", a role never does
            if not equals or not group.strip():
                raise ValueError(f"group=role pairs separated by commas (e.g. {self.EXAMPLE})")
            pairs.append((group.strip(), role.strip()))
        return self.check(tuple(pairs))

    def check(self, value: Any) -> tuple[tuple[str, str], ...]:
        if isinstance(value, str):
            return self.parse(value)
        if isinstance(value, Mapping):
            value = tuple(value.items())
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
                for pair in value):
            raise ValueError(f"group=role pairs separated by commas (e.g. {self.EXAMPLE})")
        unknown = sorted({role for _, role in value if role not in ROLES})
        if unknown:
            raise ValueError(f"group=role pairs whose roles are among {', '.join(ROLES)} (not {', '.join(unknown)})")
        groups = [group for group, _ in value]
        if len(set(groups)) != len(groups):
            raise ValueError(f"group=role pairs naming each group once (e.g. {self.EXAMPLE})")
        return tuple((group, role) for group, role in value)


# Automated evidence's type (COLLECTOR_TTL).


class DaysByName:
    """`name=days` pairs separated by commas (`prowler=7, tls-ssh=30`), or a dict in instance/config.py."""

    label = "name=days pairs"
    EXPECTED = "name=days pairs, each at least 1 day (e.g. prowler=7, tls-ssh=30)"

    def parse(self, text: str) -> dict[str, int]:
        pairs = [entry.partition("=") for entry in re.split(r"[,;\n]+", text) if entry.strip()]
        if not all(equals and name.strip() and days.strip().isdigit() for name, equals, days in pairs):
            raise ValueError(self.EXPECTED)
        return self.check({name.strip(): int(days) for name, _equals, days in pairs})

    def check(self, value: Any) -> dict[str, int]:
        if isinstance(value, str):
            return self.parse(value)
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and k and type(v) is int and v >= 1
                                                     for k, v in value.items()):
            raise ValueError(self.EXPECTED)
        return dict(value)


# Scheduled collections' type (COLLECTOR_SCHEDULE).


class CollectorSchedule:
    """`collector:perimeter:path@cadence` entries separated by commas (or a list of them in instance/config.py), each
    collector one the product has, built in or installed: rules.collector_schedule.schedule_of."""

    label = "collector:perimeter:path@cadence entries"

    def parse(self, text: str) -> tuple:
        return self.check(text)

    def check(self, value: Any) -> tuple:
        from evidence import collectors
        from evidence.core.rules.collector_schedule import schedule_of

        return schedule_of(value, collectors.names())
