"""A framework as an OSCAL catalog: a group per chapter and section, a control per item.

Each control carries the item's ref as its `label`, its kind and service-type limits as props, and parts for the
statement (the product's summary: the wording is ours, marked so), the condition under which it applies, the
expected evidence (one `item` per checklist entry, labelled with its stable id `12.6.c#2`) and, only when it was
imported, the official wording. OSCAL has no translated text: a document speaks one language (French, the
referential's, or English where the catalogue has it).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Optional

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

import evidence.oscal.common as common
import evidence.oscal.ids as ids
from evidence.data.models import AuditEvent, Framework, Requirement, Section
from evidence.presentation import labels

EXPECTED_EVIDENCE = _l("Preuves attendues")
OUR_WORDING = _l("Les intitulés, résumés, conditions et preuves attendues sont rédigés par le produit ; le texte "
                 "officiel n’y figure que s’il a été importé (partie « official-text »).")
# The value of the `wording` prop on a statement that is the product's summary rather than the official text.
SUMMARY = "summary"
CHANGES = ("added", "updated", "links_added", "links_removed")


def framework_ids(session: Session, framework: Framework) -> dict[str, str]:
    """ref → OSCAL id of the framework's sections and items: what the catalog, the SSP and the results share."""
    sections = session.exec(select(Section.ref).where(Section.framework_id == framework.id).order_by(Section.order))
    items = session.exec(select(Requirement.ref, Requirement.urns).where(Requirement.framework_id == framework.id)
                         .order_by(Requirement.order))
    return ids.control_ids(framework.key, [(ref, ()) for ref in sections] + [(ref, urns) for ref, urns in items])


def changed_at(session: Session, framework: Framework) -> datetime:
    """When the framework's content last changed: the last load or import that added or updated something (its
    rows carry no dates of their own), else its first load."""
    events = list(session.exec(
        select(AuditEvent.at, AuditEvent.details).where(
            AuditEvent.object_type == "framework", AuditEvent.object_id == framework.key,
            AuditEvent.action.in_(("catalogue.load", "catalogue.import")))
        .order_by(AuditEvent.seq)))
    changing = [at for at, details in events if any((details or {}).get(k) for k in CHANGES)]
    return common.latest(changing[-1:] or [at for at, _details in events[:1]])


def build(session: Session, framework: Framework, *, organisation: str, lang: str) -> dict:
    """The catalog of `framework` (call under force_locale(lang): the product's words follow it)."""
    sections = list(session.exec(select(Section).where(Section.framework_id == framework.id).order_by(Section.order)))
    items = list(session.exec(select(Requirement).where(Requirement.framework_id == framework.id)
                              .order_by(Requirement.order)))
    oscal_ids = ids.control_ids(framework.key, [(s.ref, ()) for s in sections] + [(r.ref, r.urns) for r in items])
    by_section: dict[str, list[Requirement]] = defaultdict(list)
    for item in items:
        by_section[item.section].append(item)
    children: dict[Optional[str], list[Section]] = defaultdict(list)
    known = {s.ref for s in sections}
    for section in sections:
        children[section.parent_ref if section.parent_ref in known else None].append(section)

    def group(section: Section) -> dict:
        body = {"id": oscal_ids[section.ref], "class": "chapter" if section.depth <= 1 else "section",
                "title": labels.localised(section, "title", lang) or section.ref,
                "props": [{"name": "label", "value": section.ref}]}
        controls = [control(item, oscal_ids[item.ref], lang) for item in by_section.get(section.ref, [])]
        subgroups = [group(child) for child in children.get(section.ref, [])]
        if controls and subgroups:
            # An OSCAL group holds groups or controls, not both: the section's own items go first, in a group of
            # their own that bears the section's label (an import folds it back into the section).
            own = {**body, "id": f"{body['id']}_items", "class": "items", "controls": controls}
            subgroups.insert(0, own)
        common.put(body, "groups", subgroups)
        if not subgroups:
            common.put(body, "controls", controls)
        return body

    party = common.provider_party(organisation)
    title = " ".join(part for part in (framework.name, framework.version) if part)
    body = {
        "metadata": common.metadata(
            title, changed_at(session, framework), framework.version or "1", [party], ["prepared-by"],
            {"prepared-by": [party["uuid"]]},
            meta_props=[common.prop("framework", framework.key), common.prop("language", lang)],
            remarks="\n\n".join(t for t in (framework.source, str(OUR_WORDING) if framework.origin == "catalogue" else "")
                                if t)),
    }
    loose = [control(item, oscal_ids[item.ref], lang) for item in items if item.section not in known]
    common.put(body, "controls", loose)
    common.put(body, "groups", [group(section) for section in children.get(None, [])])
    return common.sealed("catalog", body, framework.key, lang)


def control(item: Requirement, control_id: str, lang: str) -> dict:
    body = {"id": control_id, "title": labels.localised(item, "title", lang) or item.ref}
    body["props"] = common.props(
        {"name": "label", "value": item.ref},
        common.prop("kind", item.kind),
        *[common.prop("service-type", t) for t in item.service_types or ()],
        *[common.prop("built-on", t) for t in item.built_on_types or ()],
    )
    parts = []
    summary = labels.localised(item, "summary", lang)
    if summary:
        parts.append({"id": ids.statement_id(control_id), "name": "statement",
                      "props": [common.prop("wording", SUMMARY)], "prose": summary})
    if item.official_text:
        # Without a summary of ours the official wording is the statement itself; beside one, a part of its own.
        official = {"name": "official-text", "ns": ids.NS} if summary else {"name": "statement"}
        parts.append({"id": f"{control_id}_official" if summary else ids.statement_id(control_id), **official,
                      "prose": item.official_text})
    condition = labels.localised(item, "condition", lang)
    if condition:
        parts.append({"id": f"{control_id}_cnd", "name": "condition", "ns": ids.NS, "prose": condition})
    entries = [{"id": ids.entry_part_id(control_id, entry["id"]), "name": "item",
                "props": [{"name": "label", "value": entry["id"]}], "prose": labels.entry_text(entry, lang)}
               for entry in item.expected_evidence or [] if labels.entry_text(entry, lang)]
    if entries:
        parts.append({"id": f"{control_id}_evd", "name": "expected-evidence", "ns": ids.NS,
                      "title": str(EXPECTED_EVIDENCE), "parts": entries})
    common.put(body, "parts", parts)
    return body
