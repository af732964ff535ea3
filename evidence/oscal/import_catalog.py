"""Importing OSCAL: a catalog (JSON or YAML, e.g. NIST SP 800-53 rev. 5 as NIST publishes it) as another
framework, and an OSCAL 1.2 mapping collection as links between loaded frameworks.

A catalog's groups become sections (a group nested in a group, a sub-section), its controls items (an
enhancement nested in a control, an item of the same section), each with its `label` as ref (else its id); the
statement becomes the official wording, its parameters written as NIST prints them ("[Assignment: …]",
"[Selection (one or more): …]"). A catalog this product exported comes back whole: the kind, service types,
condition and expected evidence it carries in the product's namespace, and its statement as our summary.
Withdrawn controls are left out. Like the CISO Assistant importer, the whole document is checked before anything is
written, then written in one transaction and audited; every refusal names the JSON path at fault.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from sqlmodel import Session, select

import evidence.oscal.catalog as exported
import evidence.oscal.documents as doc
import evidence.oscal.ids as ids
from evidence.catalogue.ciso_assistant import ImportReport
from evidence.catalogue.format import (
    DUPLICATE,
    CatalogueError,
    ExpectedEvidence,
    SectionSpec,
    clip,
    expected_entries,
    fits,
)
from evidence.catalogue.load import assign, find_framework
from evidence.core.errors import N_
from evidence.core.vocabulary import REQUIREMENT_KINDS, SERVICE_TYPES
from evidence.data import audit
from evidence.data.models import Framework, Requirement, Section
from evidence.oscal.import_mapping import import_mapping

INSERT = re.compile(r"\{\{\s*insert:\s*param,\s*([^\s}]+)\s*\}\}")
KEY = re.compile(r"[a-z0-9][a-z0-9.\-]*")


@dataclass
class ItemData:
    ref: str
    oscal_id: str
    section: str
    chapter: str
    title: str
    order: int
    kind: str = "exigence"
    summary: str = ""
    official_text: str = ""
    condition: str = ""
    service_types: list = field(default_factory=list)
    built_on: list = field(default_factory=list)
    expected_evidence: list[ExpectedEvidence] = field(default_factory=list)


@dataclass
class CatalogData:
    title: str
    version: str
    language: str
    key: str
    sections: list[SectionSpec] = field(default_factory=list)
    items: list[ItemData] = field(default_factory=list)


def import_oscal(session: Session, path: Path, actor: audit.Actor, key: Optional[str] = None) -> ImportReport:
    """Import one OSCAL document: a catalog as the framework `key` (default: the key the document carries, else
    one made from its title), or a mapping collection as requirement links."""
    path = Path(path)
    data = doc.read(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if "catalog" in data:
        parsed = parse_catalog(path, data, key)
        report = write_framework(session, path, parsed)
        kind = "oscal-catalog"
    elif "mapping-collection" in data:
        report = import_mapping(session, path, data)
        kind = "oscal-mapping"
    else:
        raise CatalogueError(N_("%(path)s : ni « catalog » ni « mapping-collection » au premier niveau (trouvé : "
                                "%(found)s)"), path=path, found=", ".join(sorted(map(str, data))[:5]) or "—")
    audit.record(session, actor, "catalogue.import", object_type="framework", object_id=report.framework, details={
        "file": path.name, "sha256": digest, "kind": kind, "matched": report.matched, "added": report.added,
        "updated": report.updated, "unmatched": len(report.unmatched), "links_added": report.links_added})
    session.commit()
    return report


# --- reading the catalog -------------------------------------------------------------------------------------


def parse_catalog(path: Path, data: dict, key: Optional[str]) -> CatalogData:
    root = doc.Pointer(path, ("catalog",))
    body = doc.mapping(data["catalog"], root)
    doc.uuid(body, root)
    metadata = doc.mapping(body.get("metadata"), root / "metadata")
    found = doc.props(metadata, root / "metadata")
    title = doc.text(metadata, "title", root / "metadata", required=True)
    key = key or doc.prop_value(found, "framework", ours=True) or _key_from(title)
    if not KEY.fullmatch(key) or len(key) > 100:
        raise CatalogueError(N_("%(where)s : la clé « %(key)s » doit s’écrire en minuscules, chiffres, « . » et "
                                "« - »"), where=(root / "metadata").where(), key=key[:100])
    parsed = CatalogData(title=title, version=doc.text(metadata, "version", root / "metadata"),
                         language=doc.prop_value(found, "language", ours=True) or "en", key=key)
    reader = _Reader(path, parsed)
    for n, raw in enumerate(doc.items(body.get("controls"), root / "controls")):
        reader.control(raw, root / "controls" / n, section="", chapter="", params={})
    for n, raw in enumerate(doc.items(body.get("groups"), root / "groups")):
        reader.group(raw, root / "groups" / n, parent=None, chapter=None, depth=1)
    if not parsed.items:
        raise CatalogueError(N_("%(path)s : le catalogue ne contient aucun contrôle"), path=path)
    return parsed


def _key_from(title: str) -> str:
    """A framework key from a title: `NIST Special Publication 800-53…` → `nist-special-publication-800-53…`."""
    slug = re.sub(r"[^a-z0-9.]+", "-", title.lower()).strip("-.")
    return slug[:60].rstrip("-.") or "oscal-catalog"


class _Reader:
    """Walks groups and controls, checking each as it goes and keeping what it found."""

    def __init__(self, path: Path, parsed: CatalogData):
        self.path, self.parsed = path, parsed
        self.ids: dict[str, str] = {}  # OSCAL id -> where it was first seen
        self.refs: set[str] = set()

    def claim(self, value: str, at: doc.Pointer) -> None:
        if value in self.ids:
            raise at.refuse(N_("%(where)s : l’identifiant « %(id)s » est déjà celui de %(other)s"), id=value,
                            other=self.ids[value])
        self.ids[value] = at.text

    def group(self, raw, at: doc.Pointer, parent: Optional[str], chapter: Optional[str], depth: int) -> None:
        raw = doc.mapping(raw, at)
        group_id = doc.token(raw, "id", at, required=False)
        if group_id:
            self.claim(group_id, at / "id")
        found = doc.props(raw, at)
        ref = doc.prop_value(found, "label") or group_id
        if not ref:
            raise CatalogueError(N_("%(where)s : un groupe sans « id » ni propriété « label » ne peut devenir une "
                                    "section"), where=at.where())
        title = fits(doc.text(raw, "title", at, required=True), at.where(), "title")
        if ref != parent:  # a group that bears its parent's label holds that section's own items (our export)
            fits(ref, (at / "props").where() if doc.prop_value(found, "label") else (at / "id").where(), "ref")
            if chapter is None:
                fits(ref, at.where(), "ref", column="chapter")
            if ref in self.refs:
                raise CatalogueError(DUPLICATE, where=at.where())
            self.refs.add(ref)
            self.parsed.sections.append(SectionSpec(ref=ref, parent=parent, title=title, title_en="",
                                                    order=len(self.parsed.sections), depth=depth))
        chapter = chapter or ref
        for n, sub in enumerate(doc.items(raw.get("groups"), at / "groups")):
            self.group(sub, at / "groups" / n, ref, chapter, depth + 1)
        for n, control in enumerate(doc.items(raw.get("controls"), at / "controls")):
            self.control(control, at / "controls" / n, section=ref, chapter=chapter, params={})

    def control(self, raw, at: doc.Pointer, section: str, chapter: str, params: dict) -> None:
        raw = doc.mapping(raw, at)
        control_id = doc.token(raw, "id", at)
        self.claim(control_id, at / "id")
        title = fits(doc.text(raw, "title", at, required=True), at.where(), "title")
        found = doc.props(raw, at)
        params = {**params, **self.parameters(raw, at)}
        children = doc.items(raw.get("controls"), at / "controls")
        if doc.prop_value(found, "status") == "withdrawn":
            return  # a withdrawn control states nothing any more (its enhancements are withdrawn with it)
        ref = doc.prop_value(found, "label") or control_id
        fits(ref, (at / "props").where() if doc.prop_value(found, "label") else (at / "id").where(), "ref")
        if ref in self.refs:
            raise CatalogueError(DUPLICATE, where=at.where())
        self.refs.add(ref)
        kind = doc.prop_value(found, "kind", ours=True) or "exigence"
        if kind not in REQUIREMENT_KINDS:
            raise (at / "props").refuse(N_("%(where)s : type « %(kind)s » inconnu (attendu : %(kinds)s)"), kind=kind,
                                        kinds=", ".join(REQUIREMENT_KINDS))
        limits = {name: doc.prop_values(found, name) for name in ("service-type", "built-on")}
        for value in limits["service-type"] + limits["built-on"]:
            if value not in SERVICE_TYPES:
                raise (at / "props").refuse(N_("%(where)s : type de service « %(value)s » inconnu (attendu : l’un de "
                                               "%(types)s)"), value=value, types=", ".join(SERVICE_TYPES))
        item = ItemData(ref=ref, oscal_id=control_id, section=section, chapter=chapter, title=title,
                        order=len(self.parsed.items), kind=kind, service_types=limits["service-type"],
                        built_on=limits["built-on"])
        self.parts(raw, at, item, params)
        self.parsed.items.append(item)
        for n, child in enumerate(children):
            self.control(child, at / "controls" / n, section, chapter, params)

    def parameters(self, raw: dict, at: doc.Pointer) -> dict[str, str]:
        """param id → how NIST prints it in a statement: "[Assignment: label]", "[Selection (one or more): a; b]"."""
        words = {}
        for n, param in enumerate(doc.items(raw.get("params"), at / "params")):
            here = at / "params" / n
            param = doc.mapping(param, here)
            param_id = doc.token(param, "id", here)
            values = [str(v) for v in param.get("values") or [] if isinstance(v, (str, int, float))]
            select_ = param.get("select") if isinstance(param.get("select"), dict) else None
            if values:
                words[param_id] = ", ".join(values)
            elif select_ is not None:
                choices = [c for c in select_.get("choice") or [] if isinstance(c, str)]
                many = " (one or more)" if select_.get("how-many") == "one-or-more" else ""
                words[param_id] = f"[Selection{many}: {'; '.join(choices)}]"
            else:
                words[param_id] = f"[Assignment: {doc.text(param, 'label', here) or param_id}]"
        return words

    def parts(self, raw: dict, at: doc.Pointer, item: ItemData, params: dict) -> None:
        for n, part in enumerate(doc.items(raw.get("parts"), at / "parts")):
            here = at / "parts" / n
            part = doc.mapping(part, here)
            name, ns = doc.token(part, "name", here), doc.text(part, "ns", here)
            if part.get("id") is not None:
                self.claim(doc.token(part, "id", here), here / "id")
            ours = ns == ids.NS
            if name == "statement" and not ns:
                words = self.flatten(part, here, params)
                summary = doc.prop_value(doc.props(part, here), "wording", ours=True) == exported.SUMMARY
                if summary:
                    item.summary = words
                else:
                    item.official_text = words
            elif ours and name == "official-text":
                item.official_text = self.flatten(part, here, params)
            elif ours and name == "condition":
                item.condition = doc.prose(part, here)
            elif ours and name == "expected-evidence":
                entries = []
                for m, entry in enumerate(doc.items(part.get("parts"), here / "parts")):
                    entry_at = here / "parts" / m
                    entry = doc.mapping(entry, entry_at)
                    label = doc.prop_value(doc.props(entry, entry_at), "label")
                    entries.append({"id": label, "text": doc.prose(entry, entry_at)} if label else doc.prose(entry, entry_at))
                item.expected_evidence = expected_entries(entries, here.where(), item.ref)

    def flatten(self, part: dict, at: doc.Pointer, params: dict) -> str:
        """A statement and its items as lines, each item's label first and indented by its depth."""
        lines: list[str] = []
        stack = [(part, at, -1)]
        while stack:
            current, here, depth = stack.pop()
            label = doc.prop_value(doc.props(current, here), "label")
            words = INSERT.sub(lambda m: params.get(m.group(1), f"[{m.group(1)}]"), doc.prose(current, here))
            line = " ".join(t.strip() for t in (label, words) if t.strip())
            if line:
                lines.append("  " * max(depth, 0) + line)
            children = doc.items(current.get("parts"), here / "parts")
            for n in reversed(range(len(children))):
                child = doc.mapping(children[n], here / "parts" / n)
                if child.get("name") == "item":
                    stack.append((child, here / "parts" / n, depth + 1))
        return "\n".join(lines)


# --- writing the framework -----------------------------------------------------------------------------------


def write_framework(session: Session, path: Path, parsed: CatalogData) -> ImportReport:
    """Upsert the framework, its sections and items by ref (ids kept: controls and evidence linked to an item stay
    linked when the catalog is imported again), in the caller's transaction."""
    framework = find_framework(session, parsed.key)
    if framework is not None and framework.origin != "library":
        raise CatalogueError(N_("%(path)s : le référentiel « %(key)s » vient du catalogue du produit ; importez ce "
                                "catalogue sous une autre clé (--key)"), path=path, key=parsed.key)
    framework = framework or Framework(key=parsed.key, name=clip(parsed.title, "name"))
    assign(framework, {"name": clip(parsed.title, "name"), "version": clip(parsed.version, "version"),
                       "locale": clip(parsed.language, "locale"), "source": clip(parsed.title, "source"),
                       "origin": "library"})
    session.add(framework)
    session.flush()
    sections = {s.ref: s for s in session.exec(select(Section).where(Section.framework_id == framework.id))}
    for spec in parsed.sections:
        row = sections.pop(spec.ref, None) or Section(framework_id=framework.id, ref=spec.ref, title=spec.title)
        assign(row, {"parent_ref": spec.parent, "depth": spec.depth, "title": spec.title, "order": spec.order})
        session.add(row)
    for stale in sections.values():
        session.delete(stale)  # sections carry no user data
    report = ImportReport(kind="framework", framework=parsed.key)
    existing = {r.ref: r for r in session.exec(select(Requirement).where(Requirement.framework_id == framework.id))}
    for item in parsed.items:
        values = {"chapter": clip(item.chapter, "chapter"), "section": item.section, "title": item.title,
                  "summary": item.summary, "official_text": item.official_text, "condition": item.condition,
                  "kind": item.kind, "service_types": item.service_types, "built_on_types": item.built_on,
                  "expected_evidence": [e.as_json() for e in item.expected_evidence],
                  "urns": [ids.OSCAL_URN + item.oscal_id], "order": item.order}
        row = existing.pop(item.ref, None)
        if row is None:
            session.add(Requirement(framework_id=framework.id, ref=item.ref, **values))
            report.added += 1
        elif assign(row, values):
            session.add(row)
            report.updated += 1
        else:
            report.unchanged += 1
    report.matched = report.added + report.updated + report.unchanged
    return report
