"""The evidence as OSCAL back-matter resources, shared by the SSP and the assessment results (same UUIDs in both).

A resource names the evidence (ref, kind, classification, review status, the version cited and its dates) and links
to its content: a file by the instance's download address with its SHA-256, a link by its address. Need-to-know
holds here as on every other door (services.need_to_know): evidence whose content the reader may not read is
listed by its ref alone, marked withheld, without its title, description, address or hash. The command line runs as
the instance's operator, who holds the files already, and sees everything.

Addresses are relative to the instance's root (`/evidence/EV-0012/versions/3/download`, the route of
web/evidence.py): a document says where the file is without knowing under which host name it is read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable
from urllib.parse import quote

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

import evidence.oscal.common as common
import evidence.oscal.ids as ids
from evidence.data.models import Evidence, EvidenceVersion
from evidence.services import need_to_know

WITHHELD = _l("Contenu réservé : le lecteur de ce document n’a pas le besoin d’en connaître.")


def download_path(ref: str, number: int) -> str:
    return f"/evidence/{quote(ref, safe='')}/versions/{number}/download"


@dataclass
class EvidenceResources:
    resources: list[dict] = field(default_factory=list)
    uuid: dict[str, str] = field(default_factory=dict)  # evidence ref -> resource UUID
    withheld: set[str] = field(default_factory=set)  # refs whose content the reader may not read
    dates: list[datetime] = field(default_factory=list)  # what the resources hold was last changed then

    def link(self, ref: str, answers: Iterable[str] = ()) -> dict:
        """A link from an implementation or an observation to the evidence's resource."""
        answered = ", ".join(answers)
        return common.put({"href": f"#{self.uuid[ref]}", "rel": "reference"}, "text",
                          f"{ref} : {answered}" if answered else ref)


def evidence_resources(session: Session, lines: Iterable, reader, organisation: str) -> EvidenceResources:
    """The resources of the evidence of `lines` (gaps.EvidenceLine: the version each cites), sorted by ref."""
    cited = {}
    for line in lines:
        cited.setdefault(line.ref, line)
    found = EvidenceResources()
    if not cited:
        return found
    rows = list(session.exec(select(Evidence).where(Evidence.ref.in_(sorted(cited)))))
    readable = need_to_know.readable_ids(session, reader, rows)
    versions = {(v.evidence_id, v.number): v for v in session.exec(
        select(EvidenceVersion).where(EvidenceVersion.evidence_id.in_([e.id for e in rows])))}
    for evidence in sorted(rows, key=lambda e: e.ref):
        line = cited[evidence.ref]
        uuid = ids.derived("resource", "evidence", organisation.strip(), evidence.ref)
        found.uuid[evidence.ref] = uuid
        found.dates.append(evidence.updated_at)
        if evidence.id not in readable:
            found.withheld.add(evidence.ref)
            found.resources.append({"uuid": uuid, "title": evidence.ref,
                                    "props": common.props(common.prop("evidence-ref", evidence.ref),
                                                          common.prop("withheld", "true")),
                                    "remarks": str(WITHHELD)})
            continue
        version = versions.get((evidence.id, line.version)) if line.version else None
        resource = {"uuid": uuid, "title": evidence.title}
        common.put(resource, "description", (evidence.description or "").strip())
        resource["props"] = common.props(
            common.prop("evidence-ref", evidence.ref), common.prop("evidence-kind", evidence.kind),
            common.prop("classification", evidence.classification), common.prop("review-status", evidence.status),
            common.prop("version", line.version), common.prop("document-version", evidence.document_version),
            common.prop("effective-date", evidence.effective_date and evidence.effective_date.isoformat()),
            common.prop("valid-until", evidence.valid_until and evidence.valid_until.isoformat()),
        )
        if version is not None:
            found.dates.append(version.created_at)
            if version.url:
                resource["rlinks"] = [{"href": version.url}]
            elif version.storage_key:
                rlink = {"href": download_path(evidence.ref, version.number), "media-type": version.media_type}
                common.put(rlink, "hashes", [{"algorithm": "SHA-256", "value": version.sha256}] if version.sha256 else [])
                resource["rlinks"] = [rlink]
        found.resources.append(resource)
    return found
