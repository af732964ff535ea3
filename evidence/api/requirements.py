"""/api/v1/requirements: the referential's items (the requirement browser's filters), and one item's coverage in
each perimeter assessed against its referential, with the gap reasons as codes and in words — computed as the item
page computes it (services.gaps), so that the page, the gap list and the API cannot disagree.

The referential itself is no perimeter's: every token reads it; the coverage is given for the perimeters the token
reaches only.
"""
from __future__ import annotations

from flask_babel import force_locale
from marshmallow import fields
from sqlmodel import select

from evidence import catalogue
from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import Problem, request_locale, role, scope
from evidence.api.perimeters import reachable_perimeters, refusal
from evidence.api.schemas import PageArgsSchema, Schema, page_of, path_parameter, text
from evidence.core.access import access
from evidence.core.errors import N_
from evidence.core.vocabulary import ALL_ROLES
from evidence.data.models import REQUIREMENT_KINDS, SERVICE_TYPES, Framework, Perimeter, Requirement
from evidence.presentation import labels
from evidence.presentation.sovereignty_words import problem
from evidence.services import gaps
from evidence.web.clock import request_today

blp = blueprint("requirements", __name__, "Requirements: the referential's items and their coverage per perimeter")

NO_SUCH_FRAMEWORK = N_("aucun référentiel « %(key)s » n’est chargé")  # the perimeter service's words
NO_SUCH_ITEM = N_("le référentiel %(key)s ne contient aucun point « %(ref)s »")
# The item in an address, documented with an example (which Schemathesis' example phase calls too).
ITEM = [{**path_parameter("framework", "the referential's key"), "example": "secnumcloud-3.2"},
        {**path_parameter("ref", "the item's ref"), "schema": {"type": "string", "pattern": r"^[^\x00]+$"},
         "example": "12.4.a"}]


class RequirementListArgsSchema(PageArgsSchema):
    framework = text(metadata={"description": "a referential's key; default: the first assessed one "
                                              "(secnumcloud-3.2)"})
    chapter = text(metadata={"description": "a chapter's number (e.g. 12)"})
    kind = text(metadata={"description": "exigence or recommandation"})
    service_type = text(metadata={"description": "IaaS, CaaS, PaaS or SaaS: the items that apply to it"})
    q = text(metadata={"description": "words of the ref, title, summary or expected evidence (accents "
                                      "ignored)"})


class EntrySchema(Schema):
    id = fields.String(required=True, metadata={"description": "stable across rewordings, e.g. 12.6.c#2"})
    text = fields.String(required=True)
    text_en = fields.String(required=True)


class RequirementSchema(Schema):
    framework = fields.String(required=True)
    ref = fields.String(required=True)
    chapter = fields.String(required=True)
    section = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "exigence or recommandation"})
    title = fields.String(required=True)
    title_en = fields.String(required=True)
    service_types = fields.List(fields.String(), required=True, metadata={"description": "empty: every type"})
    conditional = fields.Boolean(required=True, metadata={"description": "applies only in a situation (e.g. IPsec "
                                                                          "in use): may be declared not applicable"})


class EntryStateSchema(Schema):
    id = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "answered, waived, missing, not_approved, expired…"})
    proofs = fields.List(fields.String(), required=True, metadata={"description": "refs of the evidence answering it"})


class CoverageControlSchema(Schema):
    ref = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    statement = fields.String(required=True, metadata={"description": "how the control meets this item"})


class CoverageEvidenceSchema(Schema):
    ref = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    version = fields.Integer(allow_none=True, metadata={"description": "the approved version for a proof"})
    sha256 = fields.String(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    freshness = fields.String(required=True, metadata={"description": "valid, expiring or expired"})
    answers = fields.List(fields.String(), required=True)
    proof = fields.Boolean(required=True, metadata={"description": "cited as proof: approved, unexpired, in scope"})


class VerdictSchema(Schema):
    status = fields.String(required=True)
    justification = fields.String(required=True)


class ItemCoverageSchema(Schema):
    """One item in one perimeter: its applicability, coverage, every reason it falls short (code and words) and
    the sentences naming each missing piece, as the gap list writes them."""

    perimeter = fields.String(required=True)
    applicability = fields.String(required=True, metadata={"description": "applicable, not_applicable or inherited"})
    status = fields.String(required=True, metadata={
        "description": "covered, partly_covered, not_covered, not_applicable; followed or not_followed for a "
                       "recommendation"})
    status_words = fields.String(required=True, metadata={"description": "the status in words"})
    computed = fields.String(allow_none=True, metadata={"description": "what the rules alone say, when a verdict or "
                                                                        "a finding changed it"})
    verdict = fields.Nested(VerdictSchema, allow_none=True)
    gap = fields.Boolean(required=True, metadata={"description": "an exigence not (fully) covered"})
    reasons = fields.List(fields.String(), required=True, metadata={
        "description": "the gap reasons' codes: no_control, entry_missing, evidence_expired…"})
    reason_words = fields.List(fields.String(), required=True, metadata={"description": "each reason in words"})
    sentences = fields.List(fields.String(), required=True, metadata={
        "description": "each missing piece in words, as the gap list writes it"})
    notes = fields.List(fields.String(), required=True, metadata={"description": "figures behind a reason"})
    entries = fields.List(fields.Nested(EntryStateSchema), required=True)
    controls = fields.List(fields.Nested(CoverageControlSchema), required=True)
    evidence = fields.List(fields.Nested(CoverageEvidenceSchema), required=True)
    inherited_from = fields.String(allow_none=True, metadata={"description": "the lower layer it takes its coverage "
                                                                              "from"})


class RequirementDetailSchema(RequirementSchema):
    summary = fields.String(required=True)
    summary_en = fields.String(required=True)
    official_text = fields.String(required=True)
    condition = fields.String(required=True)
    condition_en = fields.String(required=True)
    expected_evidence = fields.List(fields.Nested(EntrySchema), required=True)
    coverage = fields.List(fields.Nested(ItemCoverageSchema), required=True, metadata={
        "description": "in each perimeter assessed against this referential that the token reaches"})


# --- bodies ---------------------------------------------------------------------------------------------------


def requirement_body(requirement: Requirement, framework_key: str) -> dict:
    return {"framework": framework_key, "ref": requirement.ref, "chapter": requirement.chapter,
            "section": requirement.section, "kind": requirement.kind, "title": requirement.title,
            "title_en": requirement.title_en or "", "service_types": list(requirement.service_types or []),
            "conditional": bool(requirement.condition)}


def item_coverage(perimeter: Perimeter, row: gaps.ItemRow) -> dict:
    """One row of services.gaps as the API shows it, its words in the reader's language (Accept-Language)."""
    locale = request_locale()
    status = row.status
    with force_locale(locale):  # the labels are lazy: put into words in the reader's language, not the account's
        reason_words = [str(labels.REASON.get(reason, reason)) for reason in status.reasons]
        sentences = labels.gap_sentences(status, row.requirement, locale)
        status_words = str(labels.STATUS.get(status.status, status.status))
        notes = [problem(note) for note in status.notes]
    return {
        "perimeter": perimeter.code, "applicability": row.applicability.state, "status": status.status,
        "status_words": status_words, "computed": status.computed,
        "verdict": {"status": row.verdict.status, "justification": row.verdict.justification} if row.verdict else None,
        "gap": status.is_gap, "reasons": list(status.reasons), "reason_words": reason_words, "sentences": sentences,
        "notes": notes,
        "entries": [{"id": e.id, "state": e.state, "proofs": list(e.proofs)} for e in status.entries],
        "controls": [{"ref": c.ref, "title": c.title, "status": c.status, "statement": c.statement}
                     for c in row.controls],
        "evidence": [{"ref": e.ref, "title": e.title, "status": e.status, "version": e.version, "sha256": e.sha256,
                      "valid_until": e.valid_until, "freshness": e.freshness, "answers": list(e.answers),
                      "proof": e.is_proof} for e in row.evidence],
        "inherited_from": row.lower.code if row.lower is not None else None,
    }


def _framework(session, key: str | None) -> Framework:
    """The referential named, or the first the requirement browser offers (assessed ones first)."""
    query = select(Framework).order_by(Framework.assessed.desc(), Framework.key)
    framework = session.exec(query.where(Framework.key == key[:100]) if key else query).first()
    if framework is None:
        raise Problem(404, NO_SUCH_FRAMEWORK, key=(key or "")[:100])
    return framework


# --- views ------------------------------------------------------------------------------------------------------


@blp.route("/requirements")
@access(*ALL_ROLES)
@blp.arguments(RequirementListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(RequirementSchema))
def list_requirements(**args):
    """The referential's items in its order, with the requirement browser's filters (an unknown kind or service
    type filters nothing, as on the page)."""
    session = db.get_session()
    framework = _framework(session, args.get("framework"))
    items = list(session.exec(select(Requirement).where(Requirement.framework_id == framework.id)
                              .order_by(Requirement.order)))
    if q := (args.get("q") or "").strip()[:200]:
        items = catalogue.search(items, q)
    if chapter := (args.get("chapter") or "")[:20]:
        items = [r for r in items if r.chapter == chapter]
    if args.get("kind") in REQUIREMENT_KINDS:
        items = [r for r in items if r.kind == args["kind"]]
    if args.get("service_type") in SERVICE_TYPES:
        items = [r for r in items if catalogue.applies_to(r, args["service_type"])]
    page, per_page = args["page"], args["per_page"]
    return {"items": [requirement_body(r, framework.key) for r in items[(page - 1) * per_page:page * per_page]],
            "page": page, "per_page": per_page, "total": len(items),
            "pages": max((len(items) + per_page - 1) // per_page, 1)}


@blp.route("/requirements/<framework>/<path:ref>", parameters=ITEM)
@access(*ALL_ROLES)
@blp.response(200, RequirementDetailSchema)
@refusal(blp, 404, "no such referential or item")
def get_requirement(framework: str, ref: str):
    """One item, its expected evidence, and its coverage in each perimeter assessed against its referential (those
    the token reaches): status, gap reasons as codes and in words, controls and evidence."""
    session = db.get_session()
    fw = session.exec(select(Framework).where(Framework.key == framework[:100])).first()
    if fw is None:
        raise Problem(404, NO_SUCH_FRAMEWORK, key=framework[:100])
    requirement = session.exec(select(Requirement).where(Requirement.framework_id == fw.id,
                                                         Requirement.ref == ref[:50])).first()
    if requirement is None:
        raise Problem(404, NO_SUCH_ITEM, key=fw.key, ref=ref[:50])
    body = requirement_body(requirement, fw.key)
    body.update({name: getattr(requirement, name) or "" for name in (
        "summary", "summary_en", "official_text", "condition", "condition_en")})
    body["expected_evidence"] = [{"id": e["id"], "text": e.get("text", ""), "text_en": e.get("text_en", "")}
                                 for e in requirement.expected_evidence or []]
    today = request_today()
    coverage = []
    perimeters = session.exec(reachable_perimeters(select(Perimeter).where(Perimeter.framework_id == fw.id))
                              .order_by(Perimeter.code)).all()
    for perimeter in perimeters:
        result = gaps.for_reader(gaps.compute_items(session, perimeter, {requirement.id}, today), role(), scope())  # evaluator: approved
        row = next((r for r in result.rows if r.requirement.id == requirement.id), None)
        if row is not None:
            coverage.append(item_coverage(perimeter, row))
    body["coverage"] = coverage
    return body
