"""Reading an OSCAL document (JSON or YAML) and checking its shape, every refusal naming the JSON path at fault
(`catalog.groups[2].controls[0].id`).

Nothing here follows a link: an `import-profile`, a back-matter `rlink` or a mapping's resource `href` is read as
text, never fetched (the product makes no outbound call).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import evidence.oscal.ids as ids
from evidence.catalogue.format import MISSING, CatalogueError, place, read_yaml, reading
from evidence.core.errors import N_

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # NIST SP 800-53 rev. 5, the largest catalog there is, is about 10 MB
UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[1-5][0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}")

NOT_A_MAPPING = N_("%(where)s : doit être un objet (un dictionnaire)")
NOT_TEXT = N_("%(where)s : doit être du texte")
NOT_A_LIST = N_("%(where)s : doit être une liste")
NOT_A_TOKEN = N_("%(where)s : « %(value)s » n’est pas un identifiant OSCAL (une lettre ou « _ », puis des lettres, "
                 "des chiffres, « . », « - » ou « _ »)")


@dataclass(frozen=True)
class Pointer:
    """Where a value sits in the document, written as a JSON path: `catalog.groups[2].controls[0].id`."""

    path: Path
    steps: tuple = ()

    def __truediv__(self, step) -> "Pointer":
        return Pointer(self.path, self.steps + (step,))

    @property
    def text(self) -> str:
        out = ""
        for step in self.steps:
            out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
        return out or "$"

    def where(self):
        return place(N_("%(path)s : %(pointer)s"), path=self.path, pointer=self.text)

    def refuse(self, message: str, **params) -> CatalogueError:
        return CatalogueError(message, where=self.where(), **params)


def read(path: Path) -> dict:
    """The document's data: JSON for a `.json` file (its errors give the line), YAML otherwise."""
    path = Path(path)
    too_deep = N_("%(path)s : imbriqué trop profondément pour être un document OSCAL")
    if path.suffix.lower() != ".json":
        data = read_yaml(path, MAX_DOCUMENT_BYTES, too_deep)
    else:
        with reading(path, MAX_DOCUMENT_BYTES, too_deep):
            source = path.read_bytes().decode("utf-8")
            if "\\u0000" in source.lower():  # JSON writes NUL so; PostgreSQL cannot store it in text (SQLite can)
                raise CatalogueError(N_("%(path)s : contient un caractère NUL (\\0), qu’aucun texte ne peut contenir"),
                                     path=path)
            try:
                data = json.loads(source)
            except json.JSONDecodeError as error:
                raise CatalogueError(N_("%(path)s : JSON invalide (ligne %(line)s, colonne %(column)s) : %(problem)s"),
                                     path=path, line=error.lineno, column=error.colno, problem=error.msg) from None
    if not isinstance(data, dict):
        raise CatalogueError(N_("%(path)s : pas un document OSCAL (un objet au premier niveau attendu)"), path=path)
    return data


# --- shape checks --------------------------------------------------------------------------------------------


def mapping(value: Any, at: Pointer, required: bool = True) -> dict:
    if value is None and not required:
        return {}
    if value is None:
        raise CatalogueError(MISSING, where=Pointer(at.path, at.steps[:-1]).where(), name=at.steps[-1])
    if not isinstance(value, dict):
        raise at.refuse(NOT_A_MAPPING)
    return value


def items(value: Any, at: Pointer) -> list:
    """A list (OSCAL JSON writes lists; a missing one is empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise at.refuse(NOT_A_LIST)
    return value


def text(owner: dict, name: str, at: Pointer, required: bool = False) -> str:
    """The text `owner[name]` with its spaces collapsed ("" when absent and not required)."""
    value = owner.get(name)
    if value is None or value == "":
        if required:
            raise CatalogueError(MISSING, where=at.where(), name=name)
        return ""
    if not isinstance(value, str):
        raise (at / name).refuse(NOT_TEXT)
    return " ".join(value.split())


def prose(owner: dict, at: Pointer) -> str:
    """A markup text (prose, description), its lines kept."""
    value = owner.get("prose")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise (at / "prose").refuse(NOT_TEXT)
    return value.strip()


def token(owner: dict, name: str, at: Pointer, required: bool = True) -> str:
    value = text(owner, name, at, required)
    if value and not ids.is_token(value):
        raise (at / name).refuse(NOT_A_TOKEN, value=value[:80])
    return value


def uuid(owner: dict, at: Pointer) -> str:
    value = text(owner, "uuid", at, required=True)
    if not UUID.fullmatch(value):
        raise (at / "uuid").refuse(N_("%(where)s : « %(value)s » n’est pas un UUID"), value=value[:80])
    return value


def props(owner: dict, at: Pointer) -> list[tuple[str, Optional[str], str]]:
    """(name, namespace, value) of each prop."""
    found = []
    for n, raw in enumerate(items(owner.get("props"), at / "props")):
        here = at / "props" / n
        raw = mapping(raw, here)
        found.append((token(raw, "name", here), text(raw, "ns", here) or None, text(raw, "value", here, required=True)))
    return found


def prop_value(found: list, name: str, ours: bool = False) -> str:
    """The first value of prop `name` (OSCAL's own, or with `ours` the product's namespace)."""
    return next((value for n, ns, value in found if n == name and (ns == ids.NS if ours else ns in (None, ""))), "")


def prop_values(found: list, name: str) -> list[str]:
    return [value for n, ns, value in found if n == name and ns == ids.NS]
