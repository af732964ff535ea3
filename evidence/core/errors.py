"""Refusals the user can act on, as translatable messages.

A message is raised with its id (the French source text, marked with `N_` so that pybabel extracts it) and its
parameters; it is put into words in the reader's language only where it is shown (web, command line, API), by
`evidence.presentation.messages`. Nothing here knows Flask or a locale: `str()` gives the French source.
"""
from __future__ import annotations

from typing import Callable

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a message for the translation catalogue; it is translated where it is shown, not here."""
    return message


def _identity(message: str) -> str:
    return message


class _Parameters(dict):
    """A translation that names a parameter the raising code did not give shows an ellipsis there rather than
    failing the page that reports the refusal."""

    def __missing__(self, name: str) -> str:
        return "…"


class Message:
    """A translatable sentence and its parameters. A parameter may itself be a Message (a reason inside a
    refusal, a field problem inside a row's error): it is put into words in the same language."""

    __slots__ = ("id", "params")

    def __init__(self, message_id: str, /, **params):
        self.id = message_id
        self.params = params

    def render(self, gettext: Gettext = _identity) -> str:
        text = gettext(self.id)
        if not self.params:
            return text
        return text % _Parameters({name: words(value, gettext) for name, value in self.params.items()})

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Message({self.id!r}, **{self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Message) and (self.id, self.params) == (other.id, other.params)

    def __hash__(self) -> int:
        return hash(self.id)


def words(value, gettext: Gettext = _identity) -> str:
    """Any value as text in the reader's language: messages and refusals are translated, the rest as is."""
    if isinstance(value, (Message, EvidenceError)):
        return value.render(gettext)
    if isinstance(value, (list, tuple)):
        return gettext(" ; ").join(words(v, gettext) for v in value)
    return str(value)


class EvidenceError(Exception):
    """A request the product refuses for a reason the user can act on.

    `EvidenceError(N_("aucun élément « %(ref)s » dans le référentiel"), ref=ref, field="requirements")`:
    `field` names the form or file field at fault (the web shows the message beside it)."""

    def __init__(self, message: str | Message, /, *, field: str | None = None, **params):
        self.message = message if isinstance(message, Message) else Message(message, **params)
        self.field = field
        super().__init__(self.message.render())

    def render(self, gettext: Gettext = _identity) -> str:
        return self.message.render(gettext)


class ConflictError(EvidenceError):
    """The object changed since the form was loaded (optimistic locking); nothing was overwritten. Without a label:
    someone else saved it at the very moment this save was being written (the database refused the second)."""

    def __init__(self, label: str | None = None):
        if label is None:
            super().__init__(N_("Quelqu’un d’autre a enregistré la même chose au même moment : son enregistrement "
                                "a été gardé et rien du vôtre n’a été écrit ; rechargez la page et refaites votre "
                                "modification"))
            return
        super().__init__(N_("%(label)s a été modifié par quelqu’un d’autre depuis que vous l’avez ouvert ; "
                            "rechargez-le et refaites votre modification"), label=label)


def check_version(obj, expected) -> None:
    """Refuse to save over a newer version than the one the user's form was loaded with."""
    if expected is not None and obj.version != int(expected):
        label = getattr(obj, "ref", None) or getattr(obj, "code", None) or f"#{obj.id}"
        raise ConflictError(label)
