"""Loading the product's catalogues into the database.

Every file is parsed before anything is written, and the lot is written in one transaction, so a bad file
changes nothing. Loading upserts by (framework, ref): re-loading a changed catalogue updates rows in place,
keeping their ids and therefore every control, evidence and applicability linked to them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from sqlmodel import Session, select

from evidence.catalogue.format import CatalogueError, CatalogueSpec, LinkSpec, parse_catalogue
from evidence.core.errors import N_
from evidence.data import audit
from evidence.data.models import Framework, Perimeter, Requirement, RequirementLink, Section
from evidence.services.perimeters import restore_disallowed_exclusions


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
    restored: list[str] = field(default_factory=list)  # "perimeter ref": exclusions the referential no longer allows

    def __str__(self) -> str:
        text = (
            f"{self.framework}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged "
            f"({self.sections} sections); links: {self.links_added} added, {self.links_removed} removed"
        )
        if self.not_in_file:
            text += f"; kept though no longer in the file: {', '.join(self.not_in_file)}"
        if self.restored:
            text += (f"; back to applicable (SecNumCloud allows no exclusion of an unconditional requirement, "
                     f"justifications kept in the audit trail): {', '.join(self.restored)}")
        return text


def load_catalogues(session: Session, paths: Iterable[Path], actor: audit.Actor) -> list[LoadReport]:
    specs = _ordered([parse_catalogue(Path(p)) for p in paths])
    reports = [_upsert_catalogue(session, spec) for spec in specs]
    session.flush()
    restored = restore_disallowed_exclusions(session, actor)
    for report in reports:
        report.restored = [r for r in restored if r.split(" ", 1)[0] in _codes_of(session, report.framework)]
    for report in reports:
        audit.record(session, actor, "catalogue.load", object_type="framework", object_id=report.framework, details={
            "file": Path(report.path).name, "added": report.added, "updated": report.updated,
            "links_added": report.links_added, "links_removed": report.links_removed,
        })
    session.commit()
    return reports


def _codes_of(session: Session, framework_key: str) -> set[str]:
    return set(session.exec(select(Perimeter.code).join(Framework, Framework.id == Perimeter.framework_id)
                            .where(Framework.key == framework_key)))


# --- Row helpers, shared with the library importer -------------------------------------------------------------


def find_framework(session: Session, key: str) -> Optional[Framework]:
    return session.exec(select(Framework).where(Framework.key == key)).first()


def assign(row, values: dict) -> bool:
    """Set on `row` the values that differ; whether any did (an unchanged row is reported, not rewritten)."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


# --- Upserts ------------------------------------------------------------------------------------------------------


def _ordered(specs: list[CatalogueSpec]) -> list[CatalogueSpec]:
    """Frameworks that others link to come first, so that link targets exist when links are written."""
    keys = {spec.key for spec in specs}
    if len(keys) != len(specs):
        seen = set()
        for spec in specs:
            if spec.key in seen:
                raise CatalogueError(N_("%(path)s : le référentiel « %(key)s » est défini par deux fichiers"),
                                     path=spec.path, key=spec.key)
            seen.add(spec.key)
    done: list[CatalogueSpec] = []
    pending = list(specs)
    while pending:
        ready = [s for s in pending if not (s.link_targets & keys) - {d.key for d in done} - {s.key}]
        if not ready:
            raise CatalogueError(N_("des catalogues se lient les uns aux autres en cycle : %(keys)s"),
                                 keys=", ".join(s.key for s in pending))
        done += ready
        pending = [s for s in pending if s not in ready]
    return done


def _upsert_catalogue(session: Session, spec: CatalogueSpec) -> LoadReport:
    report = LoadReport(framework=spec.key, path=str(spec.path))
    framework = find_framework(session, spec.key) or Framework(key=spec.key, name=spec.name)
    assign(framework, {"name": spec.name, "version": spec.version, "locale": spec.locale, "source": spec.source,
                       "assessed": spec.assessed, "origin": "catalogue"})
    session.add(framework)
    session.flush()
    report.sections = _upsert_sections(session, framework, spec)
    by_ref = _upsert_items(session, framework, spec, report)
    for target_key in sorted(spec.link_targets):
        added, removed = _link(session, spec, framework, by_ref, target_key)
        report.links_added += added
        report.links_removed += removed
    return report


def _upsert_sections(session: Session, framework: Framework, spec: CatalogueSpec) -> int:
    existing = {s.ref: s for s in session.exec(select(Section).where(Section.framework_id == framework.id))}
    for s in spec.sections:
        row = existing.pop(s.ref, None) or Section(framework_id=framework.id, ref=s.ref, title=s.title)
        assign(row, {"parent_ref": s.parent, "depth": s.depth, "title": s.title, "title_en": s.title_en, "order": s.order})
        session.add(row)
    for stale in existing.values():
        session.delete(stale)  # sections carry no user data
    return len(spec.sections)


def _upsert_items(session: Session, framework: Framework, spec: CatalogueSpec,
                  report: LoadReport) -> dict[str, Requirement]:
    existing = {r.ref: r for r in session.exec(select(Requirement).where(Requirement.framework_id == framework.id))}
    by_ref: dict[str, Requirement] = {}
    for item in spec.items:
        row = existing.pop(item.ref, None)
        values = {
            "chapter": item.chapter, "section": item.section, "title": item.title, "title_en": item.title_en,
            "summary": item.summary, "summary_en": item.summary_en, "condition": item.condition,
            "condition_en": item.condition_en, "kind": item.kind, "service_types": item.service_types,
            "built_on_types": item.built_on, "expected_evidence": [e.as_json() for e in item.expected_evidence],
            "order": item.order,
        }
        if row is None:
            row = Requirement(framework_id=framework.id, ref=item.ref, **values)
            report.added += 1
        elif assign(row, values):
            report.updated += 1
        else:
            report.unchanged += 1
        session.add(row)
        by_ref[item.ref] = row
    # An item dropped from the file may still carry controls and evidence: keep it, and say so.
    report.not_in_file = sorted(existing)
    session.flush()
    return by_ref


def _link(session: Session, spec: CatalogueSpec, framework: Framework, by_ref: dict[str, Requirement],
          target_key: str) -> tuple[int, int]:
    """Make the links from `spec` to `target_key` those the file names; (added, removed)."""
    target = find_framework(session, target_key)
    if target is None:
        raise CatalogueError(N_("%(path)s : des liens visent le référentiel « %(key)s », qui n’est pas chargé"),
                             path=spec.path, key=target_key)
    targets = {r.ref: r.id for r in session.exec(select(Requirement).where(Requirement.framework_id == target.id))}
    wanted: dict[tuple[int, int], LinkSpec] = {}
    for item in spec.items:
        for link in item.links.get(target_key, []):
            if link.ref not in targets:
                raise CatalogueError(N_("%(path)s : élément %(ref)s : %(key)s n’a pas d’élément « %(target)s »"),
                                     path=spec.path, ref=item.ref, key=target_key, target=link.ref)
            wanted[(by_ref[item.ref].id, targets[link.ref])] = link
    return _sync_links(session, framework.id, target.id, wanted)


def _sync_links(session: Session, source_fw: int, target_fw: int,
                wanted: dict[tuple[int, int], LinkSpec]) -> tuple[int, int]:
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
    for pair, spec in wanted.items():
        link = present.get(pair)
        if link is None:
            link = RequirementLink(source_id=pair[0], target_id=pair[1], relationship="intersect")
            added += 1
        # A link a mapping library brought in keeps its origin (a reload may not remove it) and gains the review.
        assign(link, {"rationale": spec.rationale, "rationale_en": spec.rationale_en})
        session.add(link)
    removed = 0
    for pair in set(present) - set(wanted):
        if present[pair].origin == "catalogue":  # links a user imported from a mapping library stay
            session.delete(present[pair])
            removed += 1
    return added, removed
