"""A perimeter's reference documents and architecture diagrams, designated from its evidence.

The documents an evaluator asks for first (REFERENCE_DOCUMENTS: the security policy, the risk assessment and its
method...) and the diagrams the dossier embeds (ARCHITECTURE_DIAGRAM) are pieces of evidence like any other: a
designation only says which evidence plays which part. The web page and the command line both come here, so that
the same designation gets the same answer whichever way it comes.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import func
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import (
    ARCHITECTURE_DIAGRAM,
    DIAGRAM_MEDIA_TYPES,
    PERIMETER_DOCUMENT_ROLES,
    REFERENCE_DOCUMENTS,
)
from evidence.data import audit
from evidence.data.models import (
    Evidence,
    EvidencePerimeter,
    EvidenceVersion,
    Perimeter,
    PerimeterDocument,
    User,
    utcnow,
)

# The item of SecNumCloud 3.2 that asks for each reference document (checked against controls/secnumcloud-3.2.yaml;
# the labels the pages and the dossier print, presentation.labels.REFERENCE_DOCUMENT, name the same items). The
# architecture diagrams answer no single item.
ROLE_ITEMS = {
    "security_policy": "5.2.a",
    "risk_assessment": "5.3",
    "extra_eu_law_risk": "5.3.d",
    "network_map": "13.1.a",
    "continuity_plan": "17.1.a",
    "continuity_tests": "17.3.a",
    "audit_programme": "18.2.1.a",
    "passi_audit": "18.2.2.a",
    "service_agreement": "19.1.a",
}
assert set(ROLE_ITEMS) == set(REFERENCE_DOCUMENTS)

MAX_NOTE = 300  # PerimeterDocument.note's column: a word on the document ("méthode EBIOS RM"), not a summary
# What a PNG or a JPEG file starts with: the media type recorded at upload is believed only when the bytes agree.
IMAGE_SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
assert set(IMAGE_SIGNATURES) == set(DIAGRAM_MEDIA_TYPES)


def listed(session: Session, perimeter: Perimeter) -> list[tuple[PerimeterDocument, Evidence]]:
    """The perimeter's designations with their evidence, in the order of PERIMETER_DOCUMENT_ROLES, then by
    position (the diagrams' order) and designation."""
    rows = session.exec(
        select(PerimeterDocument, Evidence).join(Evidence, Evidence.id == PerimeterDocument.evidence_id)
        .where(PerimeterDocument.perimeter_id == perimeter.id)
    ).all()
    order = {role: n for n, role in enumerate(PERIMETER_DOCUMENT_ROLES)}
    return sorted(rows, key=lambda row: (order.get(row[0].role, len(order)), row[0].position, row[0].id))


def by_role(session: Session, perimeter: Perimeter) -> dict[str, list[tuple[PerimeterDocument, Evidence]]]:
    """Every role (missing ones with an empty list), each with its designations."""
    found = {role: [] for role in PERIMETER_DOCUMENT_ROLES}
    for document, evidence in listed(session, perimeter):
        found.setdefault(document.role, []).append((document, evidence))
    return found


def _current_version(session: Session, evidence: Evidence) -> Optional[EvidenceVersion]:
    return session.exec(select(EvidenceVersion).where(EvidenceVersion.evidence_id == evidence.id)
                        .order_by(EvidenceVersion.number.desc())).first()


def check_diagram(session: Session, store, evidence: Evidence) -> None:
    """An architecture diagram is a PNG or a JPEG file: by its current version's media type and by its first
    bytes (a file renamed .png is not an image). The dossier re-reads and re-encodes it anyway."""
    version = _current_version(session, evidence)
    if version is None or not version.storage_key:
        raise EvidenceError(N_("%(ref)s : un schéma d’architecture est un fichier PNG ou JPEG, pas un lien"),
                            ref=evidence.ref, field="evidence")
    if version.media_type not in DIAGRAM_MEDIA_TYPES:
        raise EvidenceError(N_("%(ref)s : un schéma d’architecture est une image PNG ou JPEG (sa version "
                               "actuelle est de type « %(type)s »)"), ref=evidence.ref,
                            type=version.media_type or "?", field="evidence")
    if store is None:
        raise EvidenceError(N_("le magasin des preuves est nécessaire pour vérifier le contenu d’un schéma"))
    with store.open(version.storage_key) as stream:
        head = stream.read(16)
    if not head.startswith(IMAGE_SIGNATURES[version.media_type]):
        raise EvidenceError(N_("%(ref)s : sa version actuelle n’est pas une image %(type)s (son contenu ne commence "
                               "pas comme tel)"), ref=evidence.ref, type=version.media_type, field="evidence")


def designate(session: Session, actor: audit.Actor, perimeter: Perimeter, role: str, evidence: Evidence,
              note: str = "", *, store=None) -> PerimeterDocument:
    """Designate `evidence` as one of the perimeter's `role` documents (audited "perimeter.document.designate").

    The evidence must be valid for the perimeter (it proves nothing elsewhere); a diagram must be a PNG or JPEG
    file (`store` reads its first bytes). Designating it again only changes the note."""
    if role not in PERIMETER_DOCUMENT_ROLES:
        raise EvidenceError(N_("rôle de document « %(role)s » inconnu (l’un de : %(roles)s)"), role=role,
                            roles=", ".join(PERIMETER_DOCUMENT_ROLES), field="role")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise EvidenceError(N_("la note dépasse %(n)s caractères"), n=MAX_NOTE, field="note")
    valid_here = session.exec(select(EvidencePerimeter).where(
        EvidencePerimeter.evidence_id == evidence.id, EvidencePerimeter.perimeter_id == perimeter.id)).first()
    if valid_here is None:
        raise EvidenceError(N_("%(ref)s n’est pas valable pour le périmètre %(code)s : seules les preuves du "
                               "périmètre peuvent être l’un de ses documents"), ref=evidence.ref, code=perimeter.code,
                            field="evidence")
    if role == ARCHITECTURE_DIAGRAM:
        check_diagram(session, store, evidence)
    document = session.exec(select(PerimeterDocument).where(
        PerimeterDocument.perimeter_id == perimeter.id, PerimeterDocument.role == role,
        PerimeterDocument.evidence_id == evidence.id)).first()
    if document is not None:
        if document.note == note:
            return document
        details = {"role": role, "evidence": evidence.ref, "note": [document.note, note]}
        document.note = note
    else:
        highest = session.exec(select(func.max(PerimeterDocument.position)).where(
            PerimeterDocument.perimeter_id == perimeter.id, PerimeterDocument.role == role)).one()
        document = PerimeterDocument(perimeter_id=perimeter.id, role=role, evidence_id=evidence.id, note=note,
                                     position=(highest + 1) if highest is not None else 0)
        details = {"role": role, "evidence": evidence.ref, "note": note}
    document.designated_by_id = actor.id if isinstance(actor, User) else None
    document.designated_at = utcnow()
    session.add(document)
    audit.record(session, actor, "perimeter.document.designate", perimeter, details)
    session.commit()
    return document


def remove(session: Session, actor: audit.Actor, perimeter: Perimeter, role: str, evidence: Evidence) -> None:
    """Withdraw a designation (audited "perimeter.document.remove"); the evidence itself stays."""
    document = session.exec(select(PerimeterDocument).where(
        PerimeterDocument.perimeter_id == perimeter.id, PerimeterDocument.role == role,
        PerimeterDocument.evidence_id == evidence.id)).first()
    if document is None:
        raise EvidenceError(N_("%(ref)s n’est pas désignée dans ce rôle (%(role)s) pour %(code)s"), ref=evidence.ref,
                            role=role, code=perimeter.code)
    session.delete(document)
    audit.record(session, actor, "perimeter.document.remove", perimeter,
                 {"role": role, "evidence": evidence.ref, "note": document.note})
    session.commit()
