"""The product's catalogue format (controls/*.yaml), and the field checks that library imports share with it.

Parsing is pure: a file becomes a CatalogueSpec or a CatalogueError naming the file and the entry at fault,
before anything touches the database.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from evidence.core.errors import N_, EvidenceError, Message
from evidence.core.vocabulary import REQUIREMENT_KINDS, SERVICE_TYPES
from evidence.settings import resource_dir

# libyaml's safe loader where PyYAML was built with it (its wheels are): the same documents, parsed eight times
# faster than by the pure-Python one (a catalogue load, which every instance's set-up and many tests make).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_CATALOGUE_BYTES = 20 * 1024 * 1024

# Column sizes: a longer value is refused with its place named (or, for a library's free wording, cut), rather
# than failing in the database.
LIMITS = {"ref": 50, "key": 100, "name": 300, "title": 300, "title_en": 300, "version": 50, "source": 300,
          "locale": 10, "chapter": 20}

ASSESSED_FIELDS = ("kind", "title_en", "summary", "summary_en", "expected_evidence")
ITEM_FIELDS = {"ref", "parent", "kind", "title", "title_en", "summary", "summary_en", "condition", "expected_evidence",
               "service_types", "built_on"}
ENTRY_FIELDS = {"id", "text", "text_en"}
LINK_FIELDS = {"ref", "rationale", "rationale_en"}
MAX_ENTRIES = 20
SECTION_FIELDS = {"ref", "parent", "title", "title_en"}


class CatalogueError(EvidenceError):
    """A catalogue or library file that cannot be loaded; the message names the file and the entry."""


Place = Message | str  # where in a file a value was read: a Message such as « bad.yaml : élément 1.1.a »


def place(message_id: str, **params) -> Message:
    """A place in a catalogue or library file, put into words in the reader's language with the error."""
    return Message(message_id, **params)


@dataclass
class SectionSpec:
    ref: str
    parent: Optional[str]
    title: str
    title_en: str
    order: int
    depth: int = 1


@dataclass(frozen=True)
class ExpectedEvidence:
    """One entry of an item's checklist. Its id (`12.6.c#2`) is written in the file, never derived from the
    position, so that the evidence answering it stays linked when entries are reworded, added or reordered."""

    id: str
    text: str
    text_en: str = ""

    def as_json(self) -> dict:
        return {"id": self.id, "text": self.text, "text_en": self.text_en}


@dataclass(frozen=True)
class LinkSpec:
    """A link to an item of another framework, with why it holds (reviewed links carry their rationale)."""

    ref: str
    rationale: str = ""
    rationale_en: str = ""


@dataclass
class ItemSpec:
    ref: str
    section: str
    chapter: str
    kind: str
    title: str
    title_en: str
    summary: str
    expected_evidence: list[ExpectedEvidence]
    service_types: list[str]
    built_on: list[str]
    links: dict[str, list[LinkSpec]]  # target framework key -> links
    order: int
    summary_en: str = ""
    condition: str = ""  # the situation in which the item applies, when it does not always (FR)
    condition_en: str = ""


@dataclass
class CatalogueSpec:
    path: Path
    key: str
    name: str
    version: str
    locale: str
    source: str
    assessed: bool
    sections: list[SectionSpec]
    items: list[ItemSpec]

    @property
    def link_targets(self) -> set[str]:
        return {key for item in self.items for key in item.links}


def default_catalogue_paths() -> list[Path]:
    return sorted(resource_dir("controls").glob("*.yaml"))


# --- Field checks, shared with the library importer ------------------------------------------------------


@contextmanager
def reading(path: Path, max_bytes: int, too_deep: str):
    """What can go wrong opening any document the product reads (a catalogue, a library, an OSCAL document), as a
    CatalogueError naming the file: too large, absent, a folder, not UTF-8, nested past Python's limit (`too_deep`:
    the sentence that says what the document should have been)."""
    try:
        if path.stat().st_size > max_bytes:
            raise CatalogueError(N_("%(path)s : plus de %(megabytes)s Mo"), path=path,
                                 megabytes=max_bytes // (1024 * 1024))
        yield
    except FileNotFoundError:
        raise CatalogueError(N_("%(path)s : aucun fichier de ce nom"), path=path) from None
    except IsADirectoryError:
        raise CatalogueError(N_("%(path)s : est un dossier, pas un fichier"), path=path) from None
    except UnicodeDecodeError as error:
        raise CatalogueError(N_("%(path)s : pas du texte UTF-8 (%(reason)s à l’octet %(byte)s)"), path=path,
                             reason=error.reason, byte=error.start) from None
    except RecursionError:
        raise CatalogueError(too_deep, path=path) from None


def read_yaml(path: Path, max_bytes: int,
              too_deep: str = N_("%(path)s : imbriqué trop profondément pour être un catalogue ou une bibliothèque")) -> Any:
    """The file's YAML document; anything unreadable becomes a CatalogueError naming the file."""
    with reading(path, max_bytes, too_deep):
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.load(f, Loader=SAFE_LOADER)
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            problem = getattr(error, "problem", error)
            if where:
                raise CatalogueError(N_("%(path)s : YAML invalide (ligne %(line)s) : %(problem)s"), path=path,
                                     line=where.line + 1, problem=problem) from None
            raise CatalogueError(N_("%(path)s : YAML invalide : %(problem)s"), path=path, problem=problem) from None
    if _holds_nul(data):
        # YAML writes it "\\0"; PostgreSQL cannot store it in text (SQLite can): refused alike on both.
        raise CatalogueError(N_("%(path)s : contient un caractère NUL (\\0), qu’aucun texte ne peut contenir"),
                             path=path)
    return data


def _holds_nul(data: Any) -> bool:
    """Whether a text anywhere in the document, key or value, holds NUL. A loop, for documents nest deep; each
    list or mapping seen once, for YAML aliases share them (and may make one hold itself)."""
    stack, seen = [data], set()
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif id(value) in seen:
            continue
        elif isinstance(value, dict):
            seen.add(id(value))
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            seen.add(id(value))
            stack.extend(value)
    return False


def as_text(value: Any, where: Place, name: str, numbers: bool = False) -> str:
    """`value` as text with its spaces collapsed ("" for nothing), or a CatalogueError naming its place.

    The product's catalogues want references quoted (YAML reads `5.1` as a number and `5.10` as 5.1);
    CISO Assistant libraries write them bare, so `numbers` takes them as they come.
    """
    if value is None or value == "":
        return ""
    if numbers and isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        if numbers:
            raise CatalogueError(N_("%(where)s : le champ « %(name)s » doit être du texte, trouvé %(value)s"),
                                 where=where, name=name, value=repr(str(value)[:80]))
        raise CatalogueError(N_("%(where)s : le champ « %(name)s » doit être du texte (mettez-le entre "
                                "guillemets), trouvé %(value)s"), where=where, name=name, value=repr(str(value)[:80]))
    return " ".join(value.split())


def fits(text: str, where: Place, name: str, column: Optional[str] = None) -> str:
    """`text` if it fits the column of `column` (by default, the column named like the field)."""
    limit = LIMITS.get(column or name)
    if limit and len(text) > limit:
        raise CatalogueError(TOO_LONG, where=where, name=name, limit=limit)
    return text


def clip(value: Any, column: str) -> str:
    """`value` as text cut to its column: for free wording (a library's names) that is better kept short than refused."""
    return str(value)[:LIMITS[column]]


TOO_LONG = N_("%(where)s : le champ « %(name)s » dépasse %(limit)s caractères")
MISSING = N_("%(where)s : champ « %(name)s » manquant")
NOT_A_LIST = N_("%(where)s : le champ « %(name)s » doit être une liste")


def text_field(value: Any, where: Place, name: str, required: bool = True) -> str:
    if required and (value is None or value == ""):
        raise CatalogueError(MISSING, where=where, name=name)
    return fits(as_text(value, where, name), where, name)


def text_list(value: Any, where: Place, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogueError(N_("%(where)s : le champ « %(name)s » doit être une liste de textes non vides"),
                             where=where, name=name)
    return [" ".join(v.split()) for v in value]


# --- The catalogue file --------------------------------------------------------------------------------------


def parse_catalogue(path: Path) -> CatalogueSpec:
    """Read and validate one catalogue file; raise CatalogueError naming the file and the ref at fault."""
    path = Path(path)
    data = read_yaml(path, MAX_CATALOGUE_BYTES)
    if not isinstance(data, dict) or not isinstance(data.get("framework"), dict):
        raise CatalogueError(N_("%(path)s : pas un catalogue (« framework », « sections » et « items » attendus "
                                "au premier niveau)"), path=path)
    fw = data["framework"]
    where = place(N_("%(path)s : référentiel"), path=path)
    key = text_field(fw.get("key"), where, "key")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", key):
        raise CatalogueError(N_("%(where)s : la clé « %(key)s » doit s’écrire en minuscules, chiffres, « . » et "
                                "« - »"), where=where, key=key)
    assessed = bool(fw.get("assessed", False))
    links = fw.get("links") or {}
    if not isinstance(links, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in links.items()):
        raise CatalogueError(N_("%(where)s : « links » doit associer un champ d’élément à une clé de référentiel"),
                             where=where)
    for section_key in ("sections", "items"):
        if not isinstance(data.get(section_key), list):
            raise CatalogueError(N_("%(path)s : « %(name)s » doit être une liste"), path=path, name=section_key)
    sections = _sections(path, data["sections"], assessed)
    items = _items(path, data["items"], sections, links, assessed)
    return CatalogueSpec(
        path=path, key=key, name=text_field(fw.get("name"), where, "name"),
        version=fits(str(fw.get("version") or ""), where, "version"), locale=clip(fw.get("locale") or "fr", "locale"),
        source=text_field(fw.get("source"), where, "source", required=False),
        assessed=assessed, sections=list(sections.values()), items=items,
    )


def _parent_of(ref: str) -> Optional[str]:
    return ref.rsplit(".", 1)[0] if "." in ref else None


def _unknown_fields(raw: dict, known: set, where: Place) -> None:
    if unknown := set(raw) - known:
        raise CatalogueError(N_("%(where)s : champ(s) inconnu(s) %(fields)s"), where=where,
                             fields=", ".join(sorted(map(str, unknown))))


DUPLICATE = N_("%(where)s : référence en double")


def _sections(path: Path, raws: list, assessed: bool) -> dict[str, SectionSpec]:
    sections: dict[str, SectionSpec] = {}
    for order, raw in enumerate(raws):
        if not isinstance(raw, dict):
            raise CatalogueError(N_("%(path)s : la section n° %(number)s n’est pas un dictionnaire"), path=path,
                                 number=order + 1)
        ref = text_field(raw.get("ref"), place(N_("%(path)s : section n° %(number)s"), path=path, number=order + 1),
                         "ref")
        where = place(N_("%(path)s : section %(ref)s"), path=path, ref=ref)
        _unknown_fields(raw, SECTION_FIELDS, where)
        if ref in sections:
            raise CatalogueError(DUPLICATE, where=where)
        parent = raw["parent"] if "parent" in raw else _parent_of(ref)
        if parent is not None and not isinstance(parent, str):
            raise CatalogueError(N_("%(where)s : le champ « parent » doit être du texte ou null"), where=where)
        if parent is not None and parent not in sections:
            raise CatalogueError(N_("%(where)s : section orpheline, son parent « %(parent)s » n’est pas déclaré "
                                    "avant elle"), where=where, parent=parent)
        if parent is None and len(ref) > LIMITS["chapter"]:
            # A top section is its items' chapter, a shorter column than a section's ref.
            raise CatalogueError(N_("%(where)s : la référence d’un chapitre dépasse %(limit)s caractères"),
                                 where=where, limit=LIMITS["chapter"])
        sections[ref] = SectionSpec(
            ref=ref, parent=parent, title=text_field(raw.get("title"), where, "title"),
            title_en=text_field(raw.get("title_en"), where, "title_en", required=assessed), order=order,
            depth=sections[parent].depth + 1 if parent else 1,
        )
    return sections


def _items(path: Path, raws: list, sections: dict[str, SectionSpec], links: dict[str, str],
           assessed: bool) -> list[ItemSpec]:
    items: dict[str, ItemSpec] = {}
    for order, raw in enumerate(raws):
        if not isinstance(raw, dict):
            raise CatalogueError(N_("%(path)s : l’élément n° %(number)s n’est pas un dictionnaire"), path=path,
                                 number=order + 1)
        ref = text_field(raw.get("ref"), place(N_("%(path)s : élément n° %(number)s"), path=path, number=order + 1),
                         "ref")
        where = place(N_("%(path)s : élément %(ref)s"), path=path, ref=ref)
        _unknown_fields(raw, ITEM_FIELDS | set(links), where)
        if ref in items or ref in sections:
            raise CatalogueError(DUPLICATE, where=where)
        section = raw["parent"] if "parent" in raw else _parent_of(ref)
        if not isinstance(section, str) or section not in sections:
            raise CatalogueError(N_("%(where)s : sa section « %(section)s » n’est pas déclarée"), where=where,
                                 section=section)
        for name in ASSESSED_FIELDS if assessed else ():
            if not raw.get(name):
                raise CatalogueError(MISSING, where=where, name=name)
        kind = raw.get("kind", "exigence")
        if kind not in REQUIREMENT_KINDS:
            raise CatalogueError(N_("%(where)s : type « %(kind)s » inconnu (attendu : %(kinds)s)"), where=where,
                                 kind=kind, kinds=", ".join(REQUIREMENT_KINDS))
        service_types = text_list(raw.get("service_types"), where, "service_types")
        built_on = text_list(raw.get("built_on"), where, "built_on")
        for value in service_types + built_on:
            if value not in SERVICE_TYPES:
                raise CatalogueError(N_("%(where)s : type de service « %(value)s » inconnu (attendu : l’un de "
                                        "%(types)s)"), where=where, value=value, types=", ".join(SERVICE_TYPES))
        chapter = section
        while sections[chapter].parent:
            chapter = sections[chapter].parent
        items[ref] = ItemSpec(
            ref=ref, section=section, chapter=chapter, kind=kind,
            title=text_field(raw.get("title"), where, "title"),
            title_en=text_field(raw.get("title_en"), where, "title_en", required=False),
            summary=text_field(raw.get("summary"), where, "summary", required=False),
            summary_en=text_field(raw.get("summary_en"), where, "summary_en", required=False),
            expected_evidence=expected_entries(raw.get("expected_evidence"), where, ref),
            service_types=service_types, built_on=built_on,
            links={links[f]: link_list(raw.get(f), where, f) for f in links if raw.get(f)},
            order=order,
            **_condition(raw.get("condition"), where),
        )
    return list(items.values())


def _condition(value: Any, where: Place) -> dict:
    if value is None:
        return {"condition": "", "condition_en": ""}
    if not isinstance(value, dict) or set(value) - {"fr", "en"} or not value.get("fr"):
        raise CatalogueError(N_("%(where)s : le champ « condition » doit être un dictionnaire avec les textes "
                                "« fr » (et « en »)"), where=where)
    return {"condition": text_field(value["fr"], where, "condition"),
            "condition_en": text_field(value.get("en"), where, "condition", required=False)}


def expected_entries(value: Any, where: Place, ref: str) -> list[ExpectedEvidence]:
    """The item's checklist. A plain text entry (older catalogues, libraries) gets the id of its position; a
    mapping names its own id, which must be the item's ref, '#', and a number, once per item."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogueError(NOT_A_LIST, where=where, name="expected_evidence")
    if len(value) > MAX_ENTRIES:
        raise CatalogueError(N_("%(where)s : le champ « expected_evidence » compte plus de %(max)s entrées"),
                             where=where, max=MAX_ENTRIES)
    entries: list[ExpectedEvidence] = []
    for number, raw in enumerate(value, start=1):
        if isinstance(raw, str) and raw.strip():
            entry = ExpectedEvidence(f"{ref}#{number}", " ".join(raw.split()))
        elif isinstance(raw, dict) and not set(raw) - ENTRY_FIELDS:
            at = place(N_("%(where)s : expected_evidence n° %(number)s"), where=where, number=number)
            entry_id = as_text(raw.get("id"), at, "id")
            if not re.fullmatch(re.escape(ref) + r"#[1-9][0-9]{0,2}", entry_id):
                raise CatalogueError(N_("%(where)s : l’identifiant « %(id)s » doit être « %(ref)s# » suivi d’un nombre"),
                                     where=at, id=entry_id, ref=ref)
            entry = ExpectedEvidence(entry_id, bounded(raw.get("text"), at, "text", required=True),
                                     bounded(raw.get("text_en"), at, "text_en"))
        else:
            raise CatalogueError(N_("%(where)s : le champ « expected_evidence » doit être une liste de textes non "
                                    "vides ou de dictionnaires avec « id », « text » et « text_en »"), where=where)
        if any(e.id == entry.id for e in entries):
            raise CatalogueError(N_("%(where)s : l’identifiant de preuve attendue « %(id)s » est utilisé deux fois"),
                                 where=where, id=entry.id)
        entries.append(entry)
    return entries


MAX_ENTRY_TEXT = 500  # an entry or a rationale: a sentence or two


def bounded(value: Any, where: Place, name: str, required: bool = False) -> str:
    text = as_text(value, where, name)
    if required and not text:
        raise CatalogueError(MISSING, where=where, name=name)
    if len(text) > MAX_ENTRY_TEXT:
        raise CatalogueError(TOO_LONG, where=where, name=name, limit=MAX_ENTRY_TEXT)
    return text


def link_list(value: Any, where: Place, name: str) -> list[LinkSpec]:
    """Links as refs, or as mappings with the ref and its rationale in French and English."""
    if not isinstance(value, list):
        raise CatalogueError(NOT_A_LIST, where=where, name=name)
    links: list[LinkSpec] = []
    for raw in value:
        if isinstance(raw, str) and raw.strip():
            links.append(LinkSpec(raw.strip()))
        elif isinstance(raw, dict) and not set(raw) - LINK_FIELDS and raw.get("ref"):
            at = place(N_("%(where)s : %(name)s %(ref)s"), where=where, name=name, ref=raw["ref"])
            links.append(LinkSpec(as_text(raw["ref"], where, name, numbers=True),
                                  bounded(raw.get("rationale"), at, "rationale"),
                                  bounded(raw.get("rationale_en"), at, "rationale_en")))
        else:
            raise CatalogueError(N_("%(where)s : le champ « %(name)s » doit lister des références, ou des "
                                    "dictionnaires avec « ref », « rationale » et « rationale_en »"),
                                 where=where, name=name)
    return links

