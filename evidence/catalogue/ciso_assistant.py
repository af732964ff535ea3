"""Importing CISO Assistant libraries: a framework of its own, an overlay of official text, or a mapping.

A library is validated whole before anything is written, and written in one transaction, so a bad file
changes nothing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from sqlmodel import Session, select

from evidence.catalogue.format import CatalogueError, as_text, clip, fits, place, read_yaml
from evidence.catalogue.load import assign, find_framework
from evidence.core.errors import N_
from evidence.core.vocabulary import LINK_RELATIONSHIPS
from evidence.data import audit
from evidence.data.models import Framework, Requirement, RequirementLink, Section

MAX_LIBRARY_BYTES = 20 * 1024 * 1024
NODE_TEXT_FIELDS = ("ref_id", "name", "description", "parent_urn")


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


def import_library(session: Session, path: Path, actor: audit.Actor, overlay: Optional[str] = None) -> ImportReport:
    """Import one library; `overlay` names a loaded framework whose items receive the library's official text."""
    path = Path(path)
    data, digest = _library(path)
    objects = data["objects"]
    if "requirement_mapping_set" in objects or "requirement_mapping_sets" in objects:
        if overlay:
            raise CatalogueError(N_("%(path)s : --overlay s’applique aux bibliothèques de référentiel, celle-ci est "
                                    "une bibliothèque de correspondances"), path=path)
        report = _import_mapping(session, path, objects)
    elif isinstance(objects.get("framework"), dict):
        framework = objects["framework"]
        nodes = _nodes(path, framework)
        report = _overlay(session, path, nodes, overlay) if overlay else _import_framework(session, path, data, framework, nodes)
    else:
        raise CatalogueError(N_("%(path)s : la bibliothèque ne contient ni « framework » ni "
                                "« requirement_mapping_set »"), path=path)
    details = {"file": path.name, "sha256": digest, "kind": report.kind, "matched": report.matched,
               "added": report.added, "updated": report.updated, "unmatched": len(report.unmatched),
               "links_added": report.links_added}
    audit.record(session, actor, "catalogue.import", object_type="framework", object_id=report.framework, details=details)
    session.commit()
    return report


# --- Reading and checking the library ----------------------------------------------------------------------


def _urn_tail(urn: str, marker: str) -> str:
    """`urn:…:framework:iso27001-2022` → `iso27001-2022`; `urn:…:req_node:iso27001-2022:a.5.1` → `a.5.1`."""
    return urn.split(marker, 1)[1] if marker in urn else urn.rsplit(":", 1)[-1]


def _library(path: Path) -> tuple[dict, str]:
    data = read_yaml(path, MAX_LIBRARY_BYTES)
    if not isinstance(data, dict) or not isinstance(data.get("objects"), dict):
        raise CatalogueError(N_("%(path)s : pas une bibliothèque CISO Assistant (pas de dictionnaire « objects » au "
                                "premier niveau)"), path=path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return data, digest


def _nodes(path: Path, framework: dict) -> list[dict]:
    nodes = framework.get("requirement_nodes")
    if not isinstance(nodes, list) or not nodes:
        raise CatalogueError(N_("%(path)s : le référentiel n’a pas de liste « requirement_nodes »"), path=path)
    seen = set()
    for n, node in enumerate(nodes, start=1):
        if not isinstance(node, dict) or not isinstance(node.get("urn"), str) or not node["urn"]:
            raise CatalogueError(N_("%(path)s : le nœud d’exigence n° %(number)s n’a pas d’« urn »"), path=path,
                                 number=n)
        where = place(N_("%(path)s : nœud d’exigence n° %(number)s (%(urn)s)"), path=path, number=n,
                      urn=node["urn"][:80])
        if node["urn"] in seen:
            raise CatalogueError(N_("%(path)s : nœud d’exigence n° %(number)s : urn %(urn)s en double"), path=path,
                                 number=n, urn=node["urn"])
        texts = {name: as_text(node.get(name), where, name, numbers=True) for name in NODE_TEXT_FIELDS}
        # Checked before the node itself is known: a node cannot be its own parent (nor loop back later).
        if node.get("parent_urn") and node["parent_urn"] not in seen:
            raise CatalogueError(N_("%(where)s : le parent %(parent)s vient plus loin ou manque"), where=where,
                                 parent=node["parent_urn"])
        fits(texts["ref_id"], where, "ref_id", column="ref")
        seen.add(node["urn"])
    return nodes


def _node_text(node: dict) -> str:
    return str(node.get("description") or node.get("name") or "").strip()


def _children(nodes: list[dict]) -> dict[str, list[dict]]:
    children: dict[str, list[dict]] = {}
    for node in nodes:
        children.setdefault(node.get("parent_urn") or "", []).append(node)
    return children


def _depth(value) -> int:
    return value if isinstance(value, int) and 0 <= value <= 100 else 1


# --- The three kinds of import -----------------------------------------------------------------------------------


def _overlay(session: Session, path: Path, nodes: list[dict], key: str) -> ImportReport:
    """Each node whose ref_id is an item of `key` becomes that item's official text, its sub-nodes folded in as bullets."""
    framework = find_framework(session, key)
    if framework is None:
        raise CatalogueError(N_("%(path)s : --overlay %(key)s : aucun référentiel chargé de ce nom"), path=path,
                             key=key)
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
        if assign(requirement, {"official_text": text, "urns": urns}):
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
    """The library's framework as a framework of origin "library": non-assessable nodes are sections, the rest items."""
    if not isinstance(fw.get("urn"), str):
        raise CatalogueError(N_("%(path)s : le référentiel n’a pas d’« urn »"), path=path)
    key = fits(_urn_tail(fw["urn"], ":framework:"), place(N_("%(path)s : urn du référentiel"), path=path), "key")
    framework = find_framework(session, key)
    if framework is not None and framework.origin != "library":
        raise CatalogueError(N_("%(path)s : le référentiel « %(key)s » vient du catalogue du produit ; utilisez "
                                "--overlay %(key)s pour lui ajouter son texte officiel"), path=path, key=key)
    framework = framework or Framework(key=key, name=key)
    assign(framework, {
        "name": clip(fw.get("name") or data.get("name") or key, "name"), "version": clip(data.get("version") or "", "version"),
        "locale": clip(data.get("locale") or "fr", "locale"),
        "source": clip(data.get("provider") or data.get("urn") or "", "source"), "origin": "library",
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
            raise CatalogueError(N_("%(path)s : deux nœuds d’exigence partagent la référence « %(ref)s »"), path=path,
                                 ref=ref[:80])
        fits(ref, place(N_("%(path)s : nœud %(urn)s"), path=path, urn=node["urn"][:80]), "ref")
        seen_refs.add(ref)
        title = clip(" ".join(str(node.get("name") or _node_text(node)).split()), "title") or ref
        if not node.get("assessable"):
            parent = section_of(node)
            row = sections.pop(ref, None) or Section(framework_id=framework.id, ref=ref, title=title)
            assign(row, {"parent_ref": ref_of(parent) if parent else None, "depth": _depth(node.get("depth")),
                         "title": title, "order": order})
            session.add(row)
            continue
        section = section_of(node)
        values = {
            "chapter": clip(ref_of(chapter_of(node)), "chapter"), "section": ref_of(section) if section else "",
            "title": title, "official_text": _node_text(node), "urns": [node["urn"]], "order": order,
        }
        row = requirements.get(ref)
        if row is None:
            session.add(Requirement(framework_id=framework.id, ref=ref, **values))
            report.added += 1
        elif assign(row, values):
            session.add(row)
            report.updated += 1
        else:
            report.unchanged += 1
    report.matched = report.added + report.updated + report.unchanged
    return report


def _import_mapping(session: Session, path: Path, objects: dict) -> ImportReport:
    """Links between two loaded frameworks; links already present keep their origin and take the library's relationship."""
    sets = objects.get("requirement_mapping_sets") or [objects.get("requirement_mapping_set")]
    if not isinstance(sets, list) or not all(isinstance(s, dict) for s in sets):
        raise CatalogueError(N_("%(path)s : « requirement_mapping_set » doit être un dictionnaire"), path=path)
    report: Optional[ImportReport] = None
    for mapping_set in sets:
        source, target = (_mapped_framework(session, path, mapping_set, end)
                          for end in ("source_framework_urn", "target_framework_urn"))
        rows = mapping_set.get("requirement_mappings")
        if not isinstance(rows, list):
            raise CatalogueError(N_("%(path)s : l’ensemble de correspondances n’a pas de liste « requirement_mappings »"),
                                 path=path)
        report = report or ImportReport(kind="mapping", framework=f"{source.key} -> {target.key}")
        source_index, target_index = _urn_index(session, source), _urn_index(session, target)
        wanted: dict[tuple[int, int], str] = {}
        for n, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise CatalogueError(N_("%(path)s : la correspondance n° %(number)s n’est pas un dictionnaire"),
                                     path=path, number=n)
            relationship = row.get("relationship") or "intersect"
            if relationship not in LINK_RELATIONSHIPS:
                raise CatalogueError(N_("%(path)s : correspondance n° %(number)s : relation « %(relationship)s » "
                                        "inconnue (attendu : l’une de %(relationships)s)"), path=path, number=n,
                                     relationship=relationship, relationships=", ".join(LINK_RELATIONSHIPS))
            src, dst = row.get("source_requirement_urn"), row.get("target_requirement_urn")
            if not isinstance(src, str) or not isinstance(dst, str):
                raise CatalogueError(N_("%(path)s : correspondance n° %(number)s : « source_requirement_urn » et "
                                        "« target_requirement_urn » sont nécessaires"), path=path, number=n)
            source_id, target_id = _resolve(source_index, src), _resolve(target_index, dst)
            if source_id is None or target_id is None:
                report.unmatched.append(src if source_id is None else dst)
                continue
            report.matched += 1
            wanted.setdefault((source_id, target_id), relationship)
        _add_links(session, wanted, report)
    return report


def _mapped_framework(session: Session, path: Path, mapping_set: dict, end: str) -> Framework:
    urn = mapping_set.get(end)
    if not isinstance(urn, str):
        raise CatalogueError(N_("%(path)s : l’ensemble de correspondances n’a pas de « %(end)s »"), path=path, end=end)
    key = _urn_tail(urn, ":framework:")
    framework = find_framework(session, key)
    if framework is None:
        raise CatalogueError(N_("%(path)s : référentiel « %(key)s » inconnu (%(end)s) ; chargez-le ou importez-le "
                                "d’abord"), path=path, key=key, end=end)
    return framework


def _add_links(session: Session, wanted: dict[tuple[int, int], str], report: ImportReport) -> None:
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
