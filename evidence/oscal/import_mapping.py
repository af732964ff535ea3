"""An OSCAL 1.2 mapping collection as requirement links between two loaded frameworks.

Each mapping names its source and target catalogs by a resource reference: the framework is the one its prop
`framework` (in the product's namespace) names, else the one whose key its `href` ends with (`…/secnumcloud-3.2.json`,
`#iso27001-2022`); the href is read, never fetched. Each map's sources and targets are control ids of those catalogs
(as the product exports them, `snc-12.4.a`, or as the catalog had them when it was imported, `ac-2.1`), or their
labels. OSCAL's set-theory relationships become the product's (equivalent-to and equal-to: equal, subset-of,
superset-of, intersects-with); `no-relationship` says there is no link and adds none. Links already present keep
their origin and take the document's relationship, as with a CISO Assistant mapping.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Optional

from sqlmodel import Session, select

import evidence.oscal.catalog as catalog
import evidence.oscal.documents as doc
import evidence.oscal.ids as ids
from evidence.catalogue.ciso_assistant import ImportReport
from evidence.catalogue.format import CatalogueError
from evidence.catalogue.load import find_framework
from evidence.core.errors import N_
from evidence.data.models import Framework, Requirement, RequirementLink

RELATIONSHIPS = {"equivalent-to": "equal", "equal-to": "equal", "subset-of": "subset", "superset-of": "superset",
                 "intersects-with": "intersect", "no-relationship": None}


def import_mapping(session: Session, path: Path, data: dict) -> ImportReport:
    """Check the whole collection, then add its links in the caller's transaction."""
    root = doc.Pointer(path, ("mapping-collection",))
    body = doc.mapping(data["mapping-collection"], root)
    doc.uuid(body, root)
    doc.text(doc.mapping(body.get("metadata"), root / "metadata"), "title", root / "metadata", required=True)
    mappings = body.get("mappings")
    if isinstance(mappings, dict):  # OSCAL allows one mapping written as an object
        mappings = [mappings]
    mappings = doc.items(mappings, root / "mappings")
    if not mappings:
        raise CatalogueError(N_("%(where)s : la collection ne contient aucune correspondance"), where=root.where())
    wanted: dict[tuple[int, int], str] = {}
    report: Optional[ImportReport] = None
    for n, raw in enumerate(mappings):
        at = root / "mappings" / n
        raw = doc.mapping(raw, at)
        source = resource_framework(session, raw.get("source-resource"), at / "source-resource")
        target = resource_framework(session, raw.get("target-resource"), at / "target-resource")
        report = report or ImportReport(kind="mapping", framework=f"{source.key} -> {target.key}")
        source_index, target_index = control_index(session, source), control_index(session, target)
        maps = doc.items(raw.get("maps"), at / "maps")
        for m, entry in enumerate(maps):
            here = at / "maps" / m
            entry = doc.mapping(entry, here)
            relationship = doc.token(entry, "relationship", here)
            if relationship not in RELATIONSHIPS:
                raise (here / "relationship").refuse(
                    N_("%(where)s : relation « %(relationship)s » inconnue (attendu : l’une de %(relationships)s)"),
                    relationship=relationship, relationships=", ".join(RELATIONSHIPS))
            sources = _ends(entry, "sources", here, source_index, report)
            targets = _ends(entry, "targets", here, target_index, report)
            if RELATIONSHIPS[relationship] is None:
                continue
            for source_id in sources:
                for target_id in targets:
                    report.matched += 1
                    wanted.setdefault((source_id, target_id), RELATIONSHIPS[relationship])
    _add_links(session, wanted, report)
    return report


def resource_framework(session: Session, raw, at: doc.Pointer) -> Framework:
    raw = doc.mapping(raw, at)
    href = doc.text(raw, "href", at, required=True)
    named = doc.prop_value(doc.props(raw, at), "framework", ours=True)
    candidates = [named] if named else _href_keys(href)
    for key in candidates:
        framework = find_framework(session, key)
        if framework is not None:
            return framework
    raise (at / "href").refuse(N_("%(where)s : aucun référentiel chargé ne correspond à « %(href)s » ; donnez à la "
                                  "ressource une propriété « framework » (espace de noms %(ns)s) portant sa clé, ou "
                                  "importez d’abord ce catalogue"), href=(named or href)[:200], ns=ids.NS)


def _href_keys(href: str) -> list[str]:
    """The framework keys an href may end with: its fragment, or its file name without the extensions."""
    fragment = href.split("#", 1)[1] if "#" in href else ""
    name = PurePosixPath(href.split("#", 1)[0].split("?", 1)[0]).name
    for suffix in (".json", ".yaml", ".yml", ".xml"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    stems = [name, name.removesuffix("_catalog").removesuffix("-catalog")]
    return [k.lower() for k in [fragment, *stems] if k]


def control_index(session: Session, framework: Framework) -> dict[str, int]:
    """OSCAL control id (the export's, or the one the catalog had) and ref → requirement id."""
    rows = list(session.exec(select(Requirement.id, Requirement.ref).where(Requirement.framework_id == framework.id)))
    by_ref = {ref: requirement_id for requirement_id, ref in rows}
    index = {oscal_id: by_ref[ref] for ref, oscal_id in catalog.framework_ids(session, framework).items() if ref in by_ref}
    for ref, requirement_id in by_ref.items():
        index.setdefault("ref:" + ref.casefold(), requirement_id)
    return index


def _ends(entry: dict, name: str, at: doc.Pointer, index: dict[str, int], report: ImportReport) -> list[int]:
    found = []
    ends = doc.items(entry.get(name), at / name)
    if not ends:
        raise CatalogueError(doc.MISSING, where=at.where(), name=name)
    for n, raw in enumerate(ends):
        here = at / name / n
        raw = doc.mapping(raw, here)
        doc.token(raw, "type", here)
        id_ref = doc.text(raw, "id-ref", here, required=True)
        requirement_id = index.get(id_ref) or index.get("ref:" + id_ref.casefold()) \
            or index.get(id_ref.split("_", 1)[0])  # a statement or one of its items: its control
        if requirement_id is None:
            report.unmatched.append(id_ref)
        else:
            found.append(requirement_id)
    return found


def _add_links(session: Session, wanted: dict[tuple[int, int], str], report: ImportReport) -> None:
    present = {(link.source_id, link.target_id): link for link in session.exec(
        select(RequirementLink).where(RequirementLink.source_id.in_({s for s, _t in wanted} or {-1})))}
    for pair, relationship in sorted(wanted.items()):
        link = present.get(pair)
        if link is None:
            session.add(RequirementLink(source_id=pair[0], target_id=pair[1], relationship=relationship,
                                        origin="library"))
            report.links_added += 1
            continue
        report.links_existing += 1
        if link.relationship != relationship:
            link.relationship = relationship
            session.add(link)
