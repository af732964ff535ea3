"""Evidence as the API shows it: its fields, links and current version in a fixed number of queries for a whole
page, with the content need-to-know withholds left out; and the lookups every evidence view starts with (404 for
what does not exist or lies beyond the token's perimeters)."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func
from sqlmodel import select

from evidence import context as db
from evidence.api.common import Problem, actor, role, scope
from evidence.core.errors import N_, EvidenceError
from evidence.core.rules import evaluation
from evidence.data.models import (
    Control,
    Evidence,
    EvidenceAnswer,
    EvidenceControl,
    EvidencePerimeter,
    EvidenceRequirement,
    EvidenceVersion,
    Perimeter,
    Requirement,
    User,
)
from evidence.services import need_to_know, reach
from evidence.services.evidence import get_evidence

NO_SUCH_EVIDENCE = N_("aucune preuve « %(ref)s »")  # the evidence service's words


def evidence_or_404(ref: str) -> Evidence:
    """The evidence, or 404 when there is none or the token's perimeters do not reach it (not revealed)."""
    session = db.get_session()
    try:
        evidence = get_evidence(session, ref[:60])
    except EvidenceError as error:
        raise Problem(404, error) from None
    if not reach.reaches_evidence(session, scope(), role(), evidence):  # for an evaluator: approved once
        raise Problem(404, NO_SUCH_EVIDENCE, ref=ref[:60])
    return evidence


def scope_of_evidence(session, evidence: Evidence) -> list[int]:
    """The perimeters the evidence is valid for (what a token's perimeters must reach to change it)."""
    return list(session.exec(select(EvidencePerimeter.perimeter_id).where(EvidencePerimeter.evidence_id == evidence.id)))


def readable_evidence(ref: str) -> Evidence:
    """evidence_or_404, and 403 when need-to-know withholds its content from the caller (as the web refuses to
    edit, add a version to or download what one may not read)."""
    evidence = evidence_or_404(ref)
    if not need_to_know.can_read(db.get_session(), actor(), evidence):
        raise Problem(403)
    return evidence


def reachable(query):
    """A query of Evidence limited to what the token's perimeters reach (an evaluator: evidence approved once)."""
    return reach.only_reachable_evidence(query, scope(), role())


def visible(query):
    """A query of EvidenceVersion limited to the versions the caller sees (an evaluator: the approved ones)."""
    if evaluation.sees_work_in_progress(role()):
        return query
    return query.where(EvidenceVersion.approved_at.is_not(None))


def user_ref(user):
    return {"id": user.id, "email": user.email, "name": user.name} if user is not None else None


def version_body(evidence: Evidence, version: EvidenceVersion, author, readable: bool) -> dict:
    from evidence.api import API_ROOT

    has_file = version.storage_key is not None
    return {
        "number": version.number, "sha256": version.sha256, "size": version.size, "media_type": version.media_type,
        "original_filename": version.original_filename if readable else None,
        "url": version.url if readable else None, "note": version.note if readable else "",
        "created_at": version.created_at, "author": user_ref(author), "approved_at": version.approved_at,
        "download": f"{API_ROOT}/evidence/{evidence.ref}/versions/{version.number}/file" if has_file else None,
    }


def describe(session, evidence: list[Evidence]) -> list[dict]:
    """The API's body of each evidence, in seven queries whatever their number."""
    if not evidence:
        return []
    ids = [e.id for e in evidence]
    links = {name: defaultdict(list) for name in ("controls", "requirements", "perimeters", "answers")}
    current_scope = scope()
    for name, query in (
        ("controls", reach.only_reachable_controls(select(EvidenceControl.evidence_id, Control.ref).join(
            Control, Control.id == EvidenceControl.control_id)
         .where(EvidenceControl.evidence_id.in_(ids)), current_scope).order_by(Control.ref)),
        ("requirements", select(EvidenceRequirement.evidence_id, Requirement.ref)
         .join(Requirement, Requirement.id == EvidenceRequirement.requirement_id)
         .where(EvidenceRequirement.evidence_id.in_(ids)).order_by(Requirement.order)),
        ("perimeters", reach.only_reachable_perimeters(select(EvidencePerimeter.evidence_id, Perimeter.code)
         .join(Perimeter, Perimeter.id == EvidencePerimeter.perimeter_id)
         .where(EvidencePerimeter.evidence_id.in_(ids)), current_scope).order_by(Perimeter.code)),
        ("answers", select(EvidenceAnswer.evidence_id, EvidenceAnswer.entry_id)
         .where(EvidenceAnswer.evidence_id.in_(ids)).order_by(EvidenceAnswer.entry_id)),
    ):
        for evidence_id, value in session.exec(query):
            links[name][evidence_id].append(value)
    # The current version: the latest the caller sees (for an evaluator, the last approved one).
    latest = visible(select(EvidenceVersion.evidence_id, func.max(EvidenceVersion.number).label("number"))
                     .where(EvidenceVersion.evidence_id.in_(ids))).group_by(EvidenceVersion.evidence_id).subquery()
    current = {version.evidence_id: (version, author) for version, author in session.exec(
        select(EvidenceVersion, User).join(latest, (latest.c.evidence_id == EvidenceVersion.evidence_id)
                                           & (latest.c.number == EvidenceVersion.number))
        .outerjoin(User, User.id == EvidenceVersion.author_id))}
    owners = {u.id: u for u in session.exec(select(User).where(User.id.in_(
        {e.owner_id for e in evidence if e.owner_id is not None} or {-1})))}
    readable = need_to_know.readable_ids(session, actor(), evidence)
    bodies = []
    for e in evidence:
        can_read = e.id in readable
        version, author = current.get(e.id, (None, None))
        bodies.append({
            "ref": e.ref, "title": e.title, "kind": e.kind, "status": e.status, "classification": e.classification,
            "owner": user_ref(owners.get(e.owner_id)), "effective_date": e.effective_date,
            "valid_until": e.valid_until, "document_version": e.document_version, "renewal": e.renewal,
            "version": e.version, "readable": can_read, "description": e.description if can_read else None,
            "controls": links["controls"][e.id], "requirements": links["requirements"][e.id],
            "perimeters": links["perimeters"][e.id], "answers": links["answers"][e.id],
            "review_comment": e.review_comment, "reviewed_at": e.reviewed_at,
            "current_version": version_body(e, version, author, can_read) if version is not None else None,
            "created_at": e.created_at, "updated_at": e.updated_at,
        })
    return bodies
