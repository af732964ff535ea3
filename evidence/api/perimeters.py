"""/api/v1/perimeters: the services under qualification, and each one's coverage summary (readiness, exigences by
coverage state, recommendations apart, per chapter), as the perimeter's dashboard computes it (services.gaps).

A token limited to perimeters lists those only; another perimeter answers 404, as if it did not exist. The
lookup below is what every perimeter-scoped resource (findings, actions, dossiers) starts with.
"""
from __future__ import annotations

from flask import request
from marshmallow import fields
from sqlmodel import select

from evidence import context as db
from evidence.api import blueprint, schemas
from evidence.api.common import ETAG_HEADER, Problem, etag, paginate, require_reach, require_write_scope, scope
from evidence.api.errors import PROBLEM_JSON
from evidence.api.gaps import ReadinessSchema
from evidence.api.schemas import PageArgsSchema, ProblemSchema, Schema, page_of
from evidence.core import rules
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import ALL_ROLES
from evidence.data.models import Framework, Perimeter
from evidence.services import gaps, reach
from evidence.services.perimeters import get_perimeter
from evidence.web.clock import request_today

blp = blueprint("perimeters", __name__, "Perimeters: the services under qualification and their coverage")

NO_SUCH_PERIMETER = N_("aucun périmètre « %(code)s »")  # the perimeter service's words
# The perimeter in an address, documented with an example (which Schemathesis' example phase calls too).
CODE = {**schemas.CODE, "example": "iaas-fr1"}


def require_json_object() -> None:
    """A change (PATCH) says what it changes: a request without a JSON object for a body is refused (400), rather
    than read as a change of nothing (the document declares its body required)."""
    if not isinstance(request.get_json(silent=True), dict):
        raise Problem(400, N_("le corps de la requête doit être un objet JSON"))


def refusal(blp, status: int, description: str):
    """Document a refusal this view answers: problem+json (the body checked against ProblemSchema), and when."""
    return blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_JSON, description=description)


def perimeter_or_404(code: str) -> Perimeter:
    """The perimeter by its code (or id), or 404 when there is none or the token's perimeters do not include it."""
    session = db.get_session()
    try:
        perimeter = get_perimeter(session, code[:60])
    except EvidenceError as error:
        raise Problem(404, error) from None
    require_reach([perimeter.id], not_found=Problem(404, NO_SUCH_PERIMETER, code=code[:60]))
    return perimeter


def writable_perimeter(code: str, what: str = "") -> Perimeter:
    """A perimeter a write names in its address: 404 when there is none; 403, naming it, beyond the token's
    perimeters (a write says what it may not touch)."""
    session = db.get_session()
    try:
        perimeter = get_perimeter(session, code[:60])
    except EvidenceError as error:
        raise Problem(404, error) from None
    require_write_scope(session, [perimeter.id], what=what or perimeter.code)
    return perimeter


def reachable_perimeters(query):
    """A query of Perimeter limited to what the token reaches."""
    return reach.only_reachable_perimeters(query, scope())


# --- schemas ------------------------------------------------------------------------------------------------


class PerimeterSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    service_types = fields.List(fields.String(), required=True, metadata={"description": "IaaS, CaaS, PaaS, SaaS"})
    framework = fields.String(required=True, metadata={"description": "the referential's key (secnumcloud-3.2)"})
    built_on = fields.String(allow_none=True, metadata={"description": "the qualified lower layer's code"})
    phase = fields.String(required=True, metadata={
        "description": "preparation, request_filed, under_evaluation, qualified, surveillance, lapsed"})
    evaluation_centre = fields.String(required=True)
    qualification_reference = fields.String(required=True)
    request_filed_on = fields.Date(allow_none=True)
    evaluation_started_on = fields.Date(allow_none=True)
    qualified_on = fields.Date(allow_none=True)
    qualification_expires_on = fields.Date(allow_none=True)
    next_surveillance_on = fields.Date(allow_none=True)
    version = fields.Integer(required=True, metadata={"description": "optimistic lock; the ETag is \"<version>\""})
    updated_at = fields.DateTime(required=True)


class ExigenceCountsSchema(Schema):
    covered = fields.Integer(required=True)
    partly_covered = fields.Integer(required=True)
    not_covered = fields.Integer(required=True)
    not_applicable = fields.Integer(required=True)


class RecommendationCountsSchema(Schema):
    followed = fields.Integer(required=True)
    not_followed = fields.Integer(required=True)
    not_applicable = fields.Integer(required=True)


class ChapterReadinessSchema(ReadinessSchema):
    chapter = fields.String(required=True)


class CoverageSummarySchema(Schema):
    """What the perimeter's dashboard shows: the team's claim of coverage ("couvert"), never the evaluation
    centre's conclusion."""

    today = fields.Date(required=True, metadata={"description": "the day the coverage is judged on"})
    readiness = fields.Nested(ReadinessSchema, required=True, metadata={"description": "exigences"})
    counts = fields.Nested(ExigenceCountsSchema, required=True, metadata={"description": "exigences by coverage"})
    gaps = fields.Integer(required=True, metadata={"description": "exigences not (fully) covered"})
    recommendations = fields.Nested(ReadinessSchema, required=True)
    recommendation_counts = fields.Nested(RecommendationCountsSchema, required=True)
    chapters = fields.List(fields.Nested(ChapterReadinessSchema), required=True)


class PerimeterDetailSchema(PerimeterSchema):
    coverage = fields.Nested(CoverageSummarySchema, required=True)


# --- bodies ---------------------------------------------------------------------------------------------------


def describe(session, perimeters: list[Perimeter]) -> list[dict]:
    """The API's body of each perimeter, in two queries whatever their number."""
    keys = dict(session.exec(select(Framework.id, Framework.key).where(
        Framework.id.in_({p.framework_id for p in perimeters} or {-1}))).all())
    lower_ids = {p.built_on_id for p in perimeters if p.built_on_id}
    codes = dict(session.exec(select(Perimeter.id, Perimeter.code).where(Perimeter.id.in_(lower_ids or {-1}))).all())
    return [{
        "code": p.code, "name": p.name, "description": p.description, "service_types": list(p.service_types or []),
        "framework": keys.get(p.framework_id, ""),
        # A lower layer beyond the token's perimeters is named all the same: it is part of this one's description.
        "built_on": codes.get(p.built_on_id), "phase": p.phase, "evaluation_centre": p.evaluation_centre,
        "qualification_reference": p.qualification_reference, "request_filed_on": p.request_filed_on,
        "evaluation_started_on": p.evaluation_started_on, "qualified_on": p.qualified_on,
        "qualification_expires_on": p.qualification_expires_on, "next_surveillance_on": p.next_surveillance_on,
        "version": p.version, "updated_at": p.updated_at,
    } for p in perimeters]


def readiness_body(readiness: rules.Readiness) -> dict:
    return {"covered": readiness.covered, "applicable": readiness.applicable, "percent": readiness.percent}


def coverage_summary(result: gaps.PerimeterStatus) -> dict:
    counts, recommended = result.counts(), result.recommendation_counts()
    return {
        "today": result.today,
        "readiness": readiness_body(result.readiness),
        "counts": {state: counts.get(state, 0) for state in (rules.COVERED, rules.PARTLY_COVERED, rules.NOT_COVERED,
                                                             rules.NOT_APPLICABLE)},
        "gaps": len(result.gaps()),
        "recommendations": readiness_body(result.recommendation_readiness),
        "recommendation_counts": {state: recommended.get(state, 0)
                                  for state in (rules.FOLLOWED, rules.NOT_FOLLOWED, rules.NOT_APPLICABLE)},
        "chapters": [{"chapter": chapter, **readiness_body(readiness)} for chapter, readiness in result.chapters()],
    }


# --- views ------------------------------------------------------------------------------------------------------


@blp.route("/perimeters")
@access(*ALL_ROLES)
@blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(PerimeterSchema))
def list_perimeters(**args):
    """The perimeters, by code; a token limited to perimeters sees its own only."""
    session = db.get_session()
    page = paginate(session, reachable_perimeters(select(Perimeter).order_by(Perimeter.code)), args)
    page["items"] = describe(session, page["items"])
    return page


@blp.route("/perimeters/<code>", parameters=[CODE])
@access(*ALL_ROLES)
@blp.response(200, PerimeterDetailSchema, headers=ETAG_HEADER)
@refusal(blp, 404, "no such perimeter, or beyond the token's perimeters")
def get_perimeter_view(code: str):
    """One perimeter with its coverage summary, as its dashboard computes it; `ETag` is its version."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    body = describe(session, [perimeter])[0]
    body["coverage"] = coverage_summary(gaps.compute(session, perimeter, request_today()))
    return body, 200, {"ETag": etag(perimeter)}
