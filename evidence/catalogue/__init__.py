"""The referential: the product's catalogues (controls/*.yaml) and CISO Assistant library imports.

Both paths validate the whole input first and then write in one transaction, so a bad file changes nothing.
Loading upserts by (framework, ref): re-loading a changed catalogue updates rows in place, keeping their ids
and therefore every control, evidence and applicability linked to them.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from sqlmodel import Session, select

from evidence.core.errors import EvidenceError
from evidence.data import audit
from evidence.data.models import (
    LINK_RELATIONSHIPS,
    REQUIREMENT_KINDS,
    SERVICE_TYPES,
    Framework,
    Requirement,
    RequirementLink,
    Section,
)
from evidence.settings import resource_dir

MAX_LIBRARY_BYTES = 20 * 1024 * 1024


class CatalogueError(EvidenceError):
    """A catalogue or library file that cannot be loaded; the message names the file and the entry."""


# --- The product's catalogue format --------------------------------------------------------------------


@dataclass
class SectionSpec:
    ref: str
    parent: Optional[str]
    title: str
    title_en: str
    order: int
    depth: int = 1


@dataclass
class ItemSpec:
    ref: str
    section: str
    chapter: str
    kind: str
    title: str
    title_en: str
    summary: str
    expected_evidence: list[str]
    service_types: list[str]
    built_on: list[str]
    links: dict[str, list[str]]  # target framework key -> refs
    order: int


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


ASSESSED_FIELDS = ("kind", "title_en", "summary", "expected_evidence")
ITEM_FIELDS = {"ref", "parent", "kind", "title", "title_en", "summary", "expected_evidence", "service_types", "built_on"}
SECTION_FIELDS = {"ref", "parent", "title", "title_en"}


def default_catalogue_paths() -> list[Path]:
    return sorted(resource_dir("controls").glob("*.yaml"))


def _read_yaml(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_LIBRARY_BYTES:
            raise CatalogueError(f"{path}: larger than {MAX_LIBRARY_BYTES // (1024 * 1024)} MB")
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
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


# Column sizes: a longer value is refused with its place named, rather than failing in the database.
LIMITS = {"ref": 50, "key": 100, "name": 300, "title": 300, "title_en": 300, "version": 50, "source": 300}


def _text(value: Any, where: str, name: str, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise CatalogueError(f"{where}: missing field '{name}'")
        return ""
    if not isinstance(value, str):
        raise CatalogueError(f"{where}: field '{name}' must be text (quote it), got {str(value)[:80]!r}")
    text = " ".join(value.split())
    _fits(text, where, name)
    return text


def _fits(text: str, where: str, name: str) -> str:
    limit = LIMITS.get(name)
    if limit and len(text) > limit:
        raise CatalogueError(f"{where}: field '{name}' is longer than {limit} characters")
    return text


def _text_list(value: Any, where: str, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogueError(f"{where}: field '{name}' must be a list of non-empty texts")
    return [" ".join(v.split()) for v in value]


def _parent_of(ref: str) -> Optional[str]:
    return ref.rsplit(".", 1)[0] if "." in ref else None


def parse_catalogue(path: Path) -> CatalogueSpec:
    """Read and validate one catalogue file; raise CatalogueError naming the file and the ref at fault."""
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("framework"), dict):
        raise CatalogueError(f"{path}: not a catalogue (expected 'framework', 'sections' and 'items' at the top)")
    fw = data["framework"]
    where = f"{path}: framework"
    key = _text(fw.get("key"), where, "key")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", key):
        raise CatalogueError(f"{where}: key {key!r} must be lower-case letters, digits, '.' and '-'")
    assessed = bool(fw.get("assessed", False))
    links = fw.get("links") or {}
    if not isinstance(links, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in links.items()):
        raise CatalogueError(f"{where}: 'links' must map an item field to a framework key")
    for section_key in ("sections", "items"):
        if not isinstance(data.get(section_key), list):
            raise CatalogueError(f"{path}: '{section_key}' must be a list")

    sections: dict[str, SectionSpec] = {}
    for order, raw in enumerate(data["sections"]):
        if not isinstance(raw, dict):
            raise CatalogueError(f"{path}: section #{order + 1} is not a mapping")
        ref = _text(raw.get("ref"), f"{path}: section #{order + 1}", "ref")
        where = f"{path}: section {ref}"
        if unknown := set(raw) - SECTION_FIELDS:
            raise CatalogueError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        if ref in sections:
            raise CatalogueError(f"{where}: duplicate ref")
        parent = raw["parent"] if "parent" in raw else _parent_of(ref)
        if parent is not None and not isinstance(parent, str):
            raise CatalogueError(f"{where}: field 'parent' must be text or null")
        if parent is not None and parent not in sections:
            raise CatalogueError(f"{where}: orphan section, its parent {parent!r} is not declared before it")
        sections[ref] = SectionSpec(
            ref=ref, parent=parent, title=_text(raw.get("title"), where, "title"),
            title_en=_text(raw.get("title_en"), where, "title_en", required=assessed), order=order,
            depth=sections[parent].depth + 1 if parent else 1,
        )

    items: dict[str, ItemSpec] = {}
    for order, raw in enumerate(data["items"]):
        if not isinstance(raw, dict):
            raise CatalogueError(f"{path}: item #{order + 1} is not a mapping")
        ref = _text(raw.get("ref"), f"{path}: item #{order + 1}", "ref")
        where = f"{path}: item {ref}"
        if unknown := set(raw) - ITEM_FIELDS - set(links):
            raise CatalogueError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
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
        service_types = _text_list(raw.get("service_types"), where, "service_types")
        built_on = _text_list(raw.get("built_on"), where, "built_on")
        for value in service_types + built_on:
            if value not in SERVICE_TYPES:
                raise CatalogueError(f"{where}: unknown service type {value!r} (expected one of {', '.join(SERVICE_TYPES)})")
        evidence = _text_list(raw.get("expected_evidence"), where, "expected_evidence")
        chapter = section
        while sections[chapter].parent:
            chapter = sections[chapter].parent
        items[ref] = ItemSpec(
            ref=ref, section=section, chapter=chapter, kind=kind,
            title=_text(raw.get("title"), where, "title"),
            title_en=_text(raw.get("title_en"), where, "title_en", required=False),
            summary=_text(raw.get("summary"), where, "summary", required=False),
            expected_evidence=evidence, service_types=service_types, built_on=built_on,
            links={links[f]: _text_list(raw.get(f), where, f) for f in links if raw.get(f)},
            order=order,
        )
    return CatalogueSpec(
        path=path, key=key, name=_text(fw.get("name"), f"{path}: framework", "name"),
        version=_fits(str(fw.get("version") or ""), f"{path}: framework", "version"), locale=str(fw.get("locale") or "fr")[:10],
        source=_text(fw.get("source"), f"{path}: framework", "source", required=False),
        assessed=assessed, sections=list(sections.values()), items=list(items.values()),
    )


@dataclass
class LoadReport:
    framework: str
    path: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    sections: int = 0
    links_added: int = 0
    links_removed: int = 0
    not_in_file: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.framework}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged "
            f"({self.sections} sections); links: {self.links_added} added, {self.links_removed} removed"
        )
        if self.not_in_file:
            text += f"; kept though no longer in the file: {', '.join(self.not_in_file)}"
        return text


def _ordered(specs: list[CatalogueSpec]) -> list[CatalogueSpec]:
    """Frameworks that others link to come first, so that link targets exist when links are written."""
    keys = {spec.key for spec in specs}
    if len(keys) != len(specs):
        seen = set()
        for spec in specs:
            if spec.key in seen:
                raise CatalogueError(f"{spec.path}: framework {spec.key!r} is defined by two files")
            seen.add(spec.key)
    done: list[CatalogueSpec] = []
    pending = list(specs)
    while pending:
        ready = [s for s in pending if not (s.link_targets & keys) - {d.key for d in done} - {s.key}]
        if not ready:
            raise CatalogueError("catalogues link to each other in a cycle: " + ", ".join(s.key for s in pending))
        done += ready
        pending = [s for s in pending if s not in ready]
    return done


def load_catalogues(session: Session, paths: Iterable[Path], actor: audit.Actor) -> list[LoadReport]:
    specs = _ordered([parse_catalogue(Path(p)) for p in paths])
    reports = [_upsert_catalogue(session, spec) for spec in specs]
    for report in reports:
        audit.record(session, actor, "catalogue.load", object_type="framework", object_id=report.framework, details={
            "file": Path(report.path).name, "added": report.added, "updated": report.updated,
            "links_added": report.links_added, "links_removed": report.links_removed,
        })
    session.commit()
    return reports


def _framework(session: Session, key: str) -> Optional[Framework]:
    return session.exec(select(Framework).where(Framework.key == key)).first()


def _assign(row, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _upsert_catalogue(session: Session, spec: CatalogueSpec) -> LoadReport:
    report = LoadReport(framework=spec.key, path=str(spec.path))
    framework = _framework(session, spec.key) or Framework(key=spec.key, name=spec.name)
    _assign(framework, {"name": spec.name, "version": spec.version, "locale": spec.locale, "source": spec.source,
                        "assessed": spec.assessed, "origin": "catalogue"})
    session.add(framework)
    session.flush()

    existing_sections = {s.ref: s for s in session.exec(select(Section).where(Section.framework_id == framework.id))}
    for s in spec.sections:
        row = existing_sections.pop(s.ref, None) or Section(framework_id=framework.id, ref=s.ref, title=s.title)
        _assign(row, {"parent_ref": s.parent, "depth": s.depth, "title": s.title, "title_en": s.title_en, "order": s.order})
        session.add(row)
    for stale in existing_sections.values():
        session.delete(stale)  # sections carry no user data
    report.sections = len(spec.sections)

    existing = {r.ref: r for r in session.exec(select(Requirement).where(Requirement.framework_id == framework.id))}
    by_ref: dict[str, Requirement] = {}
    for item in spec.items:
        row = existing.pop(item.ref, None)
        values = {
            "chapter": item.chapter, "section": item.section, "title": item.title, "title_en": item.title_en,
            "summary": item.summary, "kind": item.kind, "service_types": item.service_types,
            "built_on_types": item.built_on, "expected_evidence": item.expected_evidence, "order": item.order,
        }
        if row is None:
            row = Requirement(framework_id=framework.id, ref=item.ref, **values)
            report.added += 1
        elif _assign(row, values):
            report.updated += 1
        else:
            report.unchanged += 1
        session.add(row)
        by_ref[item.ref] = row
    # An item dropped from the file may still carry controls and evidence: keep it, and say so.
    report.not_in_file = sorted(existing)
    session.flush()

    for target_key in spec.link_targets:
        target = _framework(session, target_key)
        if target is None:
            raise CatalogueError(f"{spec.path}: links point to framework {target_key!r}, which is not loaded")
        targets = {r.ref: r.id for r in session.exec(select(Requirement).where(Requirement.framework_id == target.id))}
        wanted = set()
        for item in spec.items:
            for ref in item.links.get(target_key, []):
                if ref not in targets:
                    raise CatalogueError(f"{spec.path}: item {item.ref}: {target_key} has no {ref!r}")
                wanted.add((by_ref[item.ref].id, targets[ref]))
        report.links_added, report.links_removed = _sync_links(session, framework.id, target.id, wanted)
    return report


def _sync_links(session: Session, source_fw: int, target_fw: int, wanted: set[tuple[int, int]]) -> tuple[int, int]:
    source_ids = select(Requirement.id).where(Requirement.framework_id == source_fw)
    target_ids = select(Requirement.id).where(Requirement.framework_id == target_fw)
    present = {
        (link.source_id, link.target_id): link
        for link in session.exec(
            select(RequirementLink).where(
                RequirementLink.source_id.in_(source_ids), RequirementLink.target_id.in_(target_ids),
            )
        )
    }
    added = 0
    for pair in wanted - set(present):
        session.add(RequirementLink(source_id=pair[0], target_id=pair[1], relationship="intersect"))
        added += 1
    removed = 0
    for pair in set(present) - wanted:
        if present[pair].origin == "catalogue":  # links a user imported from a mapping library stay
            session.delete(present[pair])
            removed += 1
    return added, removed


# --- CISO Assistant libraries ----------------------------------------------------------------------------


@dataclass
class ImportReport:
    kind: str  # framework | overlay | mapping
    framework: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    matched: int = 0
    folded: int = 0
    unmatched: list[str] = field(default_factory=list)
    links_added: int = 0
    links_existing: int = 0

    def __str__(self) -> str:
        if self.kind == "mapping":
            text = (f"mapping {self.framework}: {self.matched} mappings matched, {len(self.unmatched)} unmatched; "
                    f"links: {self.links_added} added, {self.links_existing} already present")
        elif self.kind == "overlay":
            text = (f"overlay on {self.framework}: {self.matched} items matched ({self.updated} updated, "
                    f"{self.unchanged} unchanged), {self.folded} sub-items folded into their item, "
                    f"{len(self.unmatched)} unmatched")
        else:
            text = f"framework {self.framework}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged"
        if self.unmatched:
            shown = ", ".join(self.unmatched[:20]) + (" …" if len(self.unmatched) > 20 else "")
            text += f" (unmatched: {shown})"
        return text


def _urn_tail(urn: str, marker: str) -> str:
    """`urn:…:framework:iso27001-2022` → `iso27001-2022`; `urn:…:req_node:iso27001-2022:a.5.1` → `a.5.1`."""
    return urn.split(marker, 1)[1] if marker in urn else urn.rsplit(":", 1)[-1]


def _library(path: Path) -> tuple[dict, str]:
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("objects"), dict):
        raise CatalogueError(f"{path}: not a CISO Assistant library (no 'objects' mapping at the top)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return data, digest


def _nodes(path: Path, framework: dict) -> list[dict]:
    nodes = framework.get("requirement_nodes")
    if not isinstance(nodes, list) or not nodes:
        raise CatalogueError(f"{path}: framework has no 'requirement_nodes' list")
    seen = set()
    for n, node in enumerate(nodes, start=1):
        if not isinstance(node, dict) or not isinstance(node.get("urn"), str) or not node["urn"]:
            raise CatalogueError(f"{path}: requirement node #{n} has no 'urn'")
        if node["urn"] in seen:
            raise CatalogueError(f"{path}: requirement node #{n}: duplicate urn {node['urn']}")
        for name in ("ref_id", "name", "description", "parent_urn"):
            if node.get(name) is not None and not isinstance(node[name], (str, int, float)):
                raise CatalogueError(f"{path}: requirement node #{n} ({node['urn']}): '{name}' must be text")
        # Checked before the node itself is known: a node cannot be its own parent (nor loop back later).
        if node.get("parent_urn") and node["parent_urn"] not in seen:
            raise CatalogueError(f"{path}: requirement node #{n} ({node['urn']}): parent {node['parent_urn']} comes later or is missing")
        if len(str(node.get("ref_id") or "")) > LIMITS["ref"]:
            raise CatalogueError(f"{path}: requirement node #{n} ({node['urn'][:80]}): ref_id longer than {LIMITS['ref']} characters")
        seen.add(node["urn"])
    return nodes


def _node_text(node: dict) -> str:
    return str(node.get("description") or node.get("name") or "").strip()


def import_library(session: Session, path: Path, actor: audit.Actor, overlay: Optional[str] = None) -> ImportReport:
    path = Path(path)
    data, digest = _library(path)
    objects = data["objects"]
    if "requirement_mapping_set" in objects or "requirement_mapping_sets" in objects:
        if overlay:
            raise CatalogueError(f"{path}: --overlay applies to framework libraries, this is a mapping library")
        report = _import_mapping(session, path, objects)
    elif isinstance(objects.get("framework"), dict):
        framework = objects["framework"]
        nodes = _nodes(path, framework)
        report = _overlay(session, path, nodes, overlay) if overlay else _import_framework(session, path, data, framework, nodes)
    else:
        raise CatalogueError(f"{path}: the library holds neither a 'framework' nor a 'requirement_mapping_set'")
    details = {"file": path.name, "sha256": digest, "kind": report.kind, "matched": report.matched,
               "added": report.added, "updated": report.updated, "unmatched": len(report.unmatched),
               "links_added": report.links_added}
    audit.record(session, actor, "catalogue.import", object_type="framework", object_id=report.framework, details=details)
    session.commit()
    return report


def _children(nodes: list[dict]) -> dict[str, list[dict]]:
    children: dict[str, list[dict]] = {}
    for node in nodes:
        children.setdefault(node.get("parent_urn") or "", []).append(node)
    return children


def _overlay(session: Session, path: Path, nodes: list[dict], key: str) -> ImportReport:
    framework = _framework(session, key)
    if framework is None:
        raise CatalogueError(f"{path}: --overlay {key}: no such framework is loaded")
    report = ImportReport(kind="overlay", framework=key)
    requirements = {r.ref: r for r in session.exec(select(Requirement).where(Requirement.framework_id == framework.id))}
    children = _children(nodes)

    def descendants(node):
        """Every node below `node`, depth first, with its depth (a loop, so that deep trees cannot overflow)."""
        stack = [(child, 0) for child in reversed(children.get(node["urn"], []))]
        while stack:
            child, depth = stack.pop()
            yield child, depth
            stack.extend((grandchild, depth + 1) for grandchild in reversed(children.get(child["urn"], [])))

    folded_urns: set[str] = set()
    for node in nodes:
        ref = str(node.get("ref_id") or "").strip()
        requirement = requirements.get(ref)
        if requirement is None:
            continue
        report.matched += 1
        lines = [_node_text(node)]
        urns = [node["urn"]]
        for child, depth in descendants(node):
            lines.append("  " * depth + "- " + " ".join(_node_text(child).split()))
            urns.append(child["urn"])
            folded_urns.add(child["urn"])
        text = "\n".join(line for line in lines if line.strip())
        if _assign(requirement, {"official_text": text, "urns": urns}):
            report.updated += 1
            session.add(requirement)
        else:
            report.unchanged += 1
    report.folded = len(folded_urns)
    matched_refs = {str(n.get("ref_id") or "").strip() for n in nodes} & set(requirements)
    report.unmatched = [
        str(n.get("ref_id") or n["urn"].rsplit(":", 1)[-1]) for n in nodes
        if n.get("assessable") and n["urn"] not in folded_urns and str(n.get("ref_id") or "").strip() not in matched_refs
    ]
    return report


def _import_framework(session: Session, path: Path, data: dict, fw: dict, nodes: list[dict]) -> ImportReport:
    if not isinstance(fw.get("urn"), str):
        raise CatalogueError(f"{path}: framework has no 'urn'")
    key = _fits(_urn_tail(fw["urn"], ":framework:"), f"{path}: framework urn", "key")
    framework = _framework(session, key)
    if framework is not None and framework.origin != "library":
        raise CatalogueError(
            f"{path}: framework {key!r} comes from the product's catalogue; use --overlay {key} to add its official text"
        )
    framework = framework or Framework(key=key, name=key)
    _assign(framework, {
        "name": str(fw.get("name") or data.get("name") or key)[:300], "version": str(data.get("version") or "")[:50],
        "locale": str(data.get("locale") or "fr")[:10], "source": str(data.get("provider") or data.get("urn") or "")[:300],
        "origin": "library",
    })
    session.add(framework)
    session.flush()
    report = ImportReport(kind="framework", framework=key)
    by_urn = {n["urn"]: n for n in nodes}

    def ref_of(node):
        return str(node.get("ref_id") or "").strip() or node["urn"].rsplit(":", 1)[-1]

    def section_of(node):
        parent = by_urn.get(node.get("parent_urn") or "")
        while parent is not None and parent.get("assessable"):
            parent = by_urn.get(parent.get("parent_urn") or "")
        return parent

    def chapter_of(node):
        while node.get("parent_urn") in by_urn:
            node = by_urn[node["parent_urn"]]
        return node

    sections = {s.ref: s for s in session.exec(select(Section).where(Section.framework_id == framework.id))}
    requirements = {r.ref: r for r in session.exec(select(Requirement).where(Requirement.framework_id == framework.id))}
    seen_refs: set[str] = set()
    for order, node in enumerate(nodes):
        ref = ref_of(node)
        if ref in seen_refs:
            ref = node["urn"].rsplit(":", 1)[-1]  # two nodes with one ref_id: fall back to the URN's tail
        if ref in seen_refs:
            raise CatalogueError(f"{path}: two requirement nodes share the reference {ref[:80]!r}")
        _fits(ref, f"{path}: node {node['urn'][:80]}", "ref")
        seen_refs.add(ref)
        title = " ".join(str(node.get("name") or _node_text(node)).split())[:300] or ref
        if not node.get("assessable"):
            parent = section_of(node)
            row = sections.pop(ref, None) or Section(framework_id=framework.id, ref=ref, title=title)
            _assign(row, {"parent_ref": ref_of(parent) if parent else None, "depth": _depth(node.get("depth")),
                          "title": title, "order": order})
            session.add(row)
            continue
        section = section_of(node)
        values = {
            "chapter": ref_of(chapter_of(node))[:20], "section": ref_of(section) if section else "",
            "title": title, "official_text": _node_text(node), "urns": [node["urn"]], "order": order,
        }
        row = requirements.get(ref)
        if row is None:
            session.add(Requirement(framework_id=framework.id, ref=ref, **values))
            report.added += 1
        elif _assign(row, values):
            session.add(row)
            report.updated += 1
        else:
            report.unchanged += 1
    report.matched = report.added + report.updated + report.unchanged
    return report


def _depth(value) -> int:
    return value if isinstance(value, int) and 0 <= value <= 100 else 1


def _import_mapping(session: Session, path: Path, objects: dict) -> ImportReport:
    sets = objects.get("requirement_mapping_sets") or [objects.get("requirement_mapping_set")]
    if not isinstance(sets, list) or not all(isinstance(s, dict) for s in sets):
        raise CatalogueError(f"{path}: 'requirement_mapping_set' must be a mapping")
    report: Optional[ImportReport] = None
    for mapping_set in sets:
        ends = []
        for end in ("source_framework_urn", "target_framework_urn"):
            urn = mapping_set.get(end)
            if not isinstance(urn, str):
                raise CatalogueError(f"{path}: mapping set has no '{end}'")
            framework = _framework(session, _urn_tail(urn, ":framework:"))
            if framework is None:
                raise CatalogueError(f"{path}: unknown framework {_urn_tail(urn, ':framework:')!r} ({end}); load or import it first")
            ends.append(framework)
        source, target = ends
        rows = mapping_set.get("requirement_mappings")
        if not isinstance(rows, list):
            raise CatalogueError(f"{path}: mapping set has no 'requirement_mappings' list")
        report = report or ImportReport(kind="mapping", framework=f"{source.key} -> {target.key}")
        source_index, target_index = _urn_index(session, source), _urn_index(session, target)
        wanted: dict[tuple[int, int], str] = {}
        for n, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise CatalogueError(f"{path}: mapping #{n} is not a mapping")
            relationship = row.get("relationship") or "intersect"
            if relationship not in LINK_RELATIONSHIPS:
                raise CatalogueError(f"{path}: mapping #{n}: unknown relationship {relationship!r} (expected one of {', '.join(LINK_RELATIONSHIPS)})")
            src, dst = row.get("source_requirement_urn"), row.get("target_requirement_urn")
            if not isinstance(src, str) or not isinstance(dst, str):
                raise CatalogueError(f"{path}: mapping #{n}: needs 'source_requirement_urn' and 'target_requirement_urn'")
            source_id, target_id = _resolve(source_index, src), _resolve(target_index, dst)
            if source_id is None or target_id is None:
                report.unmatched.append(src if source_id is None else dst)
                continue
            report.matched += 1
            wanted.setdefault((source_id, target_id), relationship)
        present = {
            (link.source_id, link.target_id): link
            for link in session.exec(select(RequirementLink).where(
                RequirementLink.source_id.in_({s for s, _ in wanted} or {-1}),
            ))
        }
        for pair, relationship in wanted.items():
            if pair in present:
                report.links_existing += 1
                if present[pair].relationship != relationship:
                    present[pair].relationship = relationship
                    session.add(present[pair])
            else:
                session.add(RequirementLink(source_id=pair[0], target_id=pair[1], relationship=relationship, origin="library"))
                report.links_added += 1
    return report


def _urn_index(session: Session, framework: Framework) -> dict[str, int]:
    """URN (or URN tail, case-insensitive) → requirement id, for matching library nodes to rows."""
    index: dict[str, int] = {}
    for requirement in session.exec(select(Requirement).where(Requirement.framework_id == framework.id)):
        index.setdefault("ref:" + requirement.ref.casefold(), requirement.id)
        for urn in requirement.urns or []:
            index[urn] = requirement.id
    return index


def _resolve(index: dict[str, int], urn: str) -> Optional[int]:
    return index.get(urn) or index.get("ref:" + urn.rsplit(":", 1)[-1].casefold())


# --- Browsing and search (pure) ---------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower-case without accents, so that « securite » finds « sécurité »."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def searchable_text(requirement: Requirement) -> str:
    return fold(" ".join([
        requirement.ref, requirement.title, requirement.title_en, requirement.summary, requirement.official_text,
        " ".join(requirement.expected_evidence or []),
    ]))


def search(requirements: Iterable[Requirement], query: str) -> list[Requirement]:
    """Requirements whose text holds every word of the query."""
    words = fold(query).split()
    return [r for r in requirements if all(w in searchable_text(r) for w in words)]


def applies_to(requirement: Requirement, service_type: str) -> bool:
    return not requirement.service_types or service_type in requirement.service_types


@dataclass
class TreeNode:
    section: Section
    children: list["TreeNode"] = field(default_factory=list)
    items: list[Requirement] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items) + sum(child.count for child in self.children)


def build_tree(sections: list[Section], requirements: list[Requirement]) -> list[TreeNode]:
    """Chapters → sections → items, keeping only the branches that hold at least one of `requirements`."""
    nodes = {s.ref: TreeNode(s) for s in sections}
    roots = []
    for section in sections:
        parent = nodes.get(section.parent_ref) if section.parent_ref else None
        (parent.children if parent else roots).append(nodes[section.ref])
    for requirement in requirements:
        if requirement.section in nodes:
            nodes[requirement.section].items.append(requirement)

    def prune(branch: list[TreeNode]) -> list[TreeNode]:
        kept = []
        for node in branch:
            node.children = prune(node.children)
            if node.count:
                kept.append(node)
        return kept

    return prune(roots)
