"""/api/v1/perimeters/{code}/gaps: what stands between a perimeter and qualification, as `evidence gaps` and the
gap list say it (services.gaps.compute), each reason as a code and in words."""
from __future__ import annotations

from marshmallow import fields

from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import Problem, request_locale, require_reach, role, say, scope
from evidence.api.schemas import CODE, Schema
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import ALL_ROLES
from evidence.presentation import labels
from evidence.services import gaps
from evidence.services.perimeters import get_perimeter
from evidence.web.clock import request_today

blp = blueprint("gaps", __name__, "Gaps: what stands between a perimeter and qualification")

NO_SUCH_PERIMETER = N_("aucun périmètre « %(code)s »")  # the perimeters service's words


class MissingEntrySchema(Schema):
    id = fields.String(required=True, metadata={"description": "expected evidence id, e.g. 12.6.c#2"})
    state = fields.String(required=True)


class GapSchema(Schema):
    ref = fields.String(required=True)
    chapter = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "exigence or recommandation"})
    title = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "not_covered, partly_covered…"})
    status_words = fields.String(required=True)
    reasons = fields.List(fields.String(), required=True, metadata={"description": "the gap reasons' codes"})
    sentences = fields.List(fields.String(), required=True, metadata={"description": "each gap in words"})
    missing = fields.List(fields.Nested(MissingEntrySchema), required=True)
    controls = fields.List(fields.String(), required=True)
    owners = fields.List(fields.String(), required=True)


class ReadinessSchema(Schema):
    covered = fields.Integer(required=True)
    applicable = fields.Integer(required=True)
    percent = fields.Integer(required=True)


class GapsSchema(Schema):
    perimeter = fields.String(required=True)
    date = fields.Date(required=True)
    readiness = fields.Nested(ReadinessSchema, required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "exigences by coverage"})
    gaps = fields.List(fields.Nested(GapSchema), required=True)
    recommendations_not_followed = fields.List(fields.Nested(GapSchema), required=True)


@blp.route("/perimeters/<code>/gaps", parameters=[CODE])
@access(*ALL_ROLES)
@blp.response(200, GapsSchema)
def perimeter_gaps(code: str):
    """Every applicable exigence not (fully) covered, with its reasons; recommendations not followed apart (never
    gaps). The readiness summary is the dashboard's."""
    session = db.get_session()
    try:
        perimeter = get_perimeter(session, code[:60])
    except EvidenceError as error:
        raise Problem(404, error) from None
    require_reach([perimeter.id], not_found=Problem(404, NO_SUCH_PERIMETER, code=code[:60]))
    result = gaps.for_reader(gaps.compute(session, perimeter, request_today()), role(), scope())  # evaluator: approved
    locale = request_locale()
    readiness = result.readiness
    return {
        "perimeter": perimeter.code, "date": result.today,
        "readiness": {"covered": readiness.covered, "applicable": readiness.applicable, "percent": readiness.percent},
        "counts": dict(result.counts()),
        "gaps": [gap_record(row, locale) for row in result.gaps()],
        "recommendations_not_followed": [gap_record(row, locale) for row in result.recommendations_not_followed()],
    }


def gap_record(row, locale: str) -> dict:
    return {
        "ref": row.requirement.ref, "chapter": row.chapter, "kind": row.requirement.kind,
        "title": labels.localised(row.requirement, "title", locale), "status": row.status.status,
        "status_words": say(labels.STATUS.get(row.status.status, row.status.status)),
        "reasons": list(row.status.reasons), "sentences": labels.gap_sentences(row.status, row.requirement, locale),
        "missing": [{"id": e.id, "state": e.state} for e in row.status.unanswered],
        "controls": [c.ref for c in row.controls],
        "owners": sorted({c.owner_email for c in row.controls if c.owner_email}),
    }
