"""The product's catalogue format (controls/*.yaml), and the field checks that library imports share with it.

Parsing is pure: a file becomes a CatalogueSpec or a CatalogueError naming the file and the entry at fault,
before anything touches the database.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from evidence.core.errors import EvidenceError
from evidence.core.vocabulary import REQUIREMENT_KINDS, SERVICE_TYPES
from evidence.settings import resource_dir

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


def read_yaml(path: Path, max_bytes: int) -> Any:
    """The file's YAML document; anything unreadable becomes a CatalogueError naming the file."""
    try:
        if path.stat().st_size > max_bytes:
            raise CatalogueError(f"{path}: larger than {max_bytes // (1024 * 1024)} MB")
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise CatalogueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CatalogueError(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError as error:
        raise CatalogueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except RecursionError:
        raise CatalogueError(f"{path}: nested too deeply to be a catalogue or library") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise CatalogueError(f"{path}: not valid YAML{line}: {getattr(error, 'problem', error)}") from None
    if _holds_nul(data):
        # YAML writes it "\\0"; PostgreSQL cannot store it in text (SQLite can): refused alike on both.
        raise CatalogueError(f"{path}: holds a NUL character (\\0), which no text may contain")
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


def as_text(value: Any, where: str, name: str, numbers: bool = False) -> str:
    """`value` as text with its spaces collapsed ("" for nothing), or a CatalogueError naming its place.

    The product's catalogues want references quoted (YAML reads `5.1` as a number and `5.10` as 5.1);
    CISO Assistant libraries write them bare, so `numbers` takes them as they come.
    """
    if value is None or value == "":
        return ""
    if numbers and isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        hint = "" if numbers else " (quote it)"
        raise CatalogueError(f"{where}: field '{name}' must be text{hint}, got {str(value)[:80]!r}")
    return " ".join(value.split())


def fits(text: str, where: str, name: str, column: Optional[str] = None) -> str:
    """`text` if it fits the column of `column` (by default, the column named like the field)."""
    limit = LIMITS.get(column or name)
    if limit and len(text) > limit:
        raise CatalogueError(f"{where}: field '{name}' is longer than {limit} characters")
    return text


def clip(value: Any, column: str) -> str:
    """`value` as text cut to its column: for free wording (a library's names) that is better kept short than refused."""
    return str(value)[:LIMITS[column]]


def text_field(value: Any, where: str, name: str, required: bool = True) -> str:
    if required and (value is None or value == ""):
        raise CatalogueError(f"{where}: missing field '{name}'")
    return fits(as_text(value, where, name), where, name)


def text_list(value: Any, where: str, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogueError(f"{where}: field '{name}' must be a list of non-empty texts")
    return [" ".join(v.split()) for v in value]


# --- The catalogue file --------------------------------------------------------------------------------------


def parse_catalogue(path: Path) -> CatalogueSpec:
    """Read and validate one catalogue file; raise CatalogueError naming the file and the ref at fault."""
    path = Path(path)
    data = read_yaml(path, MAX_CATALOGUE_BYTES)
    if not isinstance(data, dict) or not isinstance(data.get("framework"), dict):
        raise CatalogueError(f"{path}: not a catalogue (expected 'framework', 'sections' and 'items' at the top)")
    fw = data["framework"]
    where = f"{path}: framework"
    key = text_field(fw.get("key"), where, "key")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", key):
        raise CatalogueError(f"{where}: key {key!r} must be lower-case letters, digits, '.' and '-'")
    assessed = bool(fw.get("assessed", False))
    links = fw.get("links") or {}
    if not isinstance(links, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in links.items()):
        raise CatalogueError(f"{where}: 'links' must map an item field to a framework key")
    for section_key in ("sections", "items"):
        if not isinstance(data.get(section_key), list):
            raise CatalogueError(f"{path}: '{section_key}' must be a list")
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


def _unknown_fields(raw: dict, known: set, where: str) -> None:
    if unknown := set(raw) - known:
        raise CatalogueError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")


def _sections(path: Path, raws: list, assessed: bool) -> dict[str, SectionSpec]:
    sections: dict[str, SectionSpec] = {}
    for order, raw in enumerate(raws):
        if not isinstance(raw, dict):
            raise CatalogueError(f"{path}: section #{order + 1} is not a mapping")
        ref = text_field(raw.get("ref"), f"{path}: section #{order + 1}", "ref")
        where = f"{path}: section {ref}"
        _unknown_fields(raw, SECTION_FIELDS, where)
        if ref in sections:
            raise CatalogueError(f"{where}: duplicate ref")
        parent = raw["parent"] if "parent" in raw else _parent_of(ref)
        if parent is not None and not isinstance(parent, str):
            raise CatalogueError(f"{where}: field 'parent' must be text or null")
        if parent is not None and parent not in sections:
            raise CatalogueError(f"{where}: orphan section, its parent {parent!r} is not declared before it")
        if parent is None and len(ref) > LIMITS["chapter"]:
            # A top section is its items' chapter, a shorter column than a section's ref.
            raise CatalogueError(f"{where}: a chapter's ref is longer than {LIMITS['chapter']} characters")
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
            raise CatalogueError(f"{path}: item #{order + 1} is not a mapping")
        ref = text_field(raw.get("ref"), f"{path}: item #{order + 1}", "ref")
        where = f"{path}: item {ref}"
        _unknown_fields(raw, ITEM_FIELDS | set(links), where)
        if ref in items or ref in sections:
            raise CatalogueError(f"{where}: duplicate ref")
        section = raw["parent"] if "parent" in raw else _parent_of(ref)
        if not isinstance(section, str) or section not in sections:
            raise CatalogueError(f"{where}: its section {section!r} is not declared")
        for name in ASSESSED_FIELDS if assessed else ():
            if not raw.get(name):
                raise CatalogueError(f"{where}: missing field '{name}'")
        kind = raw.get("kind", "exigence")
        if kind not in REQUIREMENT_KINDS:
            raise CatalogueError(f"{where}: unknown kind {kind!r} (expected {' or '.join(REQUIREMENT_KINDS)})")
        service_types = text_list(raw.get("service_types"), where, "service_types")
        built_on = text_list(raw.get("built_on"), where, "built_on")
        for value in service_types + built_on:
            if value not in SERVICE_TYPES:
                raise CatalogueError(f"{where}: unknown service type {value!r} (expected one of {', '.join(SERVICE_TYPES)})")
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


def _condition(value: Any, where: str) -> dict:
    if value is None:
        return {"condition": "", "condition_en": ""}
    if not isinstance(value, dict) or set(value) - {"fr", "en"} or not value.get("fr"):
        raise CatalogueError(f"{where}: field 'condition' must be a mapping with 'fr' (and 'en') texts")
    return {"condition": text_field(value["fr"], where, "condition"),
            "condition_en": text_field(value.get("en"), where, "condition", required=False)}


def expected_entries(value: Any, where: str, ref: str) -> list[ExpectedEvidence]:
    """The item's checklist. A plain text entry (older catalogues, libraries) gets the id of its position; a
    mapping names its own id, which must be the item's ref, '#', and a number, once per item."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: field 'expected_evidence' must be a list")
    if len(value) > MAX_ENTRIES:
        raise CatalogueError(f"{where}: field 'expected_evidence' holds more than {MAX_ENTRIES} entries")
    entries: list[ExpectedEvidence] = []
    for number, raw in enumerate(value, start=1):
        if isinstance(raw, str) and raw.strip():
            entry = ExpectedEvidence(f"{ref}#{number}", " ".join(raw.split()))
        elif isinstance(raw, dict) and not set(raw) - ENTRY_FIELDS:
            place = f"{where}: expected_evidence #{number}"
            entry_id = as_text(raw.get("id"), place, "id")
            if not re.fullmatch(re.escape(ref) + r"#[1-9][0-9]{0,2}", entry_id):
                raise CatalogueError(f"{place}: id {entry_id!r} must be '{ref}#' followed by a number")
            entry = ExpectedEvidence(entry_id, bounded(raw.get("text"), place, "text", required=True),
                                     bounded(raw.get("text_en"), place, "text_en"))
        else:
            raise CatalogueError(f"{where}: field 'expected_evidence' must be a list of non-empty texts or of "
                                 f"mappings with 'id', 'text' and 'text_en'")
        if any(e.id == entry.id for e in entries):
            raise CatalogueError(f"{where}: expected evidence id {entry.id!r} is used twice")
        entries.append(entry)
    return entries


MAX_ENTRY_TEXT = 500  # an entry or a rationale: a sentence or two


def bounded(value: Any, where: str, name: str, required: bool = False) -> str:
    text = as_text(value, where, name)
    if required and not text:
        raise CatalogueError(f"{where}: missing field '{name}'")
    if len(text) > MAX_ENTRY_TEXT:
        raise CatalogueError(f"{where}: field '{name}' is longer than {MAX_ENTRY_TEXT} characters")
    return text


def link_list(value: Any, where: str, name: str) -> list[LinkSpec]:
    """Links as refs, or as mappings with the ref and its rationale in French and English."""
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: field '{name}' must be a list")
    links: list[LinkSpec] = []
    for raw in value:
        if isinstance(raw, str) and raw.strip():
            links.append(LinkSpec(raw.strip()))
        elif isinstance(raw, dict) and not set(raw) - LINK_FIELDS and raw.get("ref"):
            place = f"{where}: {name} {raw['ref']}"
            links.append(LinkSpec(as_text(raw["ref"], where, name, numbers=True),
                                  bounded(raw.get("rationale"), place, "rationale"),
                                  bounded(raw.get("rationale_en"), place, "rationale_en")))
        else:
            raise CatalogueError(f"{where}: field '{name}' must list refs, or mappings with 'ref', 'rationale' "
                                 f"and 'rationale_en'")
    return links

