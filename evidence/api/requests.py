"""/api/v1/perimeters/{code}/requests: evidence requests ("demandes de pièces") — list (status, campaign), read,
raise (an evaluator, or a compliance manager logging a centre's request), answer with evidence refs (the team),
accept or reopen (the judging side: rules.evaluation.request_move).

Every write is services.requests' (its checks, words, audit event and notification). An evaluator's token reads
an answer's evidence only once approved: until then the answer shows `under_review` and no ref, as the web page.
"""
from __future__ import annotations

import marshmallow as ma
from flask import request
from marshmallow import fields
from sqlmodel import select

from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import ETAG_HEADER, Problem, actor, etag, expected_version, paginate, scope
from evidence.api.perimeters import CODE, perimeter_or_404, refusal, writable_perimeter
from evidence.api.schemas import PageArgsSchema, Schema, page_of
from evidence.api.schemas import text as text_field
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import ALL_ROLES, COMPLIANCE_ROLES, EVALUATOR, REQUEST_STATUSES, TEAM_ROLES
from evidence.data.models import Control, EvidenceRequest
from evidence.services import requests as service
from evidence.services.perimeters import get_item
from evidence.web.clock import request_today

blp = blueprint("requests", __name__, "Evidence requests: what the evaluation centre asks for, and the answers")

REQUEST_ID = {"in": "path", "name": "request_id", "description": "the request's number", "example": 1}
IF_MATCH_OPTIONAL = {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
                     "description": "the ETag read (\"3\"): refused with 412 if the request changed since"}
RAISERS = (EVALUATOR, *COMPLIANCE_ROLES)


class RequestListArgsSchema(PageArgsSchema):
    status = fields.String(validate=ma.validate.OneOf(REQUEST_STATUSES))
    campaign = fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1), metadata={"description": "a campaign's id"})


class AnswerSchema(Schema):
    evidence = fields.String(allow_none=True, metadata={"description": "the evidence's ref; null: under review, not "
                                                                         "yet visible to an evaluator"})
    title = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True, metadata={"description": "its latest approved version's number"})
    sha256 = fields.String(allow_none=True, metadata={"description": "that version's SHA-256"})
    under_review = fields.Boolean(required=True, metadata={"description": "no version approved yet"})


class RequestSchema(Schema):
    id = fields.Integer(required=True)
    perimeter = fields.String(required=True)
    campaign = fields.Integer(allow_none=True, metadata={"description": "the campaign's id"})
    requirement = fields.String(allow_none=True, metadata={"description": "the item's ref"})
    control = fields.String(allow_none=True, metadata={"description": "the control's ref"})
    text = fields.String(required=True)
    due_date = fields.Date(allow_none=True)
    status = fields.String(required=True, metadata={"enum": list(REQUEST_STATUSES)})
    overdue = fields.Boolean(required=True)
    raised_by = fields.String(allow_none=True, metadata={"description": "the raiser's e-mail"})
    assignee = fields.String(allow_none=True, metadata={"description": "who it waits on (e-mail)"})
    answers = fields.List(fields.Nested(AnswerSchema), required=True)
    accepted_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    version = fields.Integer(required=True, metadata={"description": "optimistic lock; the ETag is \"<version>\""})


class RequestCreateSchema(Schema):
    class Meta:
        unknown = ma.RAISE

    text = text_field(required=True)
    requirement = text_field(allow_none=True, metadata={"description": "the item's ref (e.g. 12.4.a)"})
    control = text_field(allow_none=True, metadata={"description": "the ref of a control deployed in the perimeter"})
    due_date = fields.Date(allow_none=True)


class AnswerBodySchema(Schema):
    class Meta:
        unknown = ma.RAISE

    evidence = fields.List(text_field(), required=True, validate=ma.validate.Length(min=1, max=100),
                           metadata={"description": "refs of evidence valid for the perimeter, e.g. [\"EV-0042\"]"})


class ReopenBodySchema(Schema):
    class Meta:
        unknown = ma.RAISE

    reason = text_field(required=True, metadata={"description": "why the answer does not do"})


def describe(perimeter, rows: list) -> list[dict]:
    today = request_today()
    return [{
        "id": r.request.id, "perimeter": perimeter.code, "campaign": r.request.campaign_id,
        "requirement": r.requirement.ref if r.requirement else None, "control": r.control.ref if r.control else None,
        "text": r.request.text, "due_date": r.request.due_date, "status": r.request.status,
        "overdue": service.overdue(r.request, today), "raised_by": r.raised_by.email if r.raised_by else None,
        "assignee": r.assignee.email if r.assignee else None,
        "answers": [{"evidence": a.evidence.ref if a.visible else None, "title": a.evidence.title if a.visible else None,
                     "version": a.version.number if a.visible and a.version else None,
                     "sha256": a.version.sha256 if a.visible and a.version else None,
                     "under_review": a.version is None} for a in r.answers],
        "accepted_at": r.accepted_at, "created_at": r.request.created_at, "updated_at": r.request.updated_at,
        "version": r.request.version,
    } for r in rows]


def _one(perimeter, item: EvidenceRequest) -> dict:
    return describe(perimeter, [service.row(db.get_session(), perimeter, item, actor().role)])[0]


def request_or_404(perimeter, request_id: int) -> EvidenceRequest:
    try:
        return service.get_request(db.get_session(), perimeter, request_id)
    except EvidenceError as error:
        raise Problem(404, error) from None


def _expected():
    return expected_version() if request.headers.get("If-Match") else None


@blp.route("/perimeters/<code>/requests", parameters=[CODE])
@access(*ALL_ROLES)
@blp.arguments(RequestListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(RequestSchema))
@refusal(blp, 404, "no such perimeter, or beyond the token's perimeters")
def list_requests(code: str, **args):
    """The perimeter's requests, newest first, with their answers as the token's role may see them."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    query = select(EvidenceRequest.id)  # the page's ids (one count, one page); rows() reads the rest.where(EvidenceRequest.perimeter_id == perimeter.id)
    if args.get("status") in REQUEST_STATUSES:
        query = query.where(EvidenceRequest.status == args["status"])
    if args.get("campaign"):
        query = query.where(EvidenceRequest.campaign_id == args["campaign"])
    page = paginate(session, query.order_by(EvidenceRequest.id.desc()), args)
    page["items"] = describe(perimeter, service.rows(session, perimeter, actor().role, ids=page["items"]))
    return page


@blp.route("/perimeters/<code>/requests", methods=["POST"], parameters=[CODE])
@access(*RAISERS)
@blp.arguments(RequestCreateSchema, example={"requirement": "12.4.a", "text": "La dernière revue des accès à "
                                             "privilèges, signée.", "due_date": "2026-07-15"})
@blp.response(201, RequestSchema, headers={"Location": {"schema": {"type": "string"}}, **ETAG_HEADER})
@refusal(blp, 403, "the role, or the token's perimeters, do not allow it")
@refusal(blp, 422, "a field is refused: `errors` names it")
def raise_request_view(body: dict, code: str):
    """Ask for evidence on an item and/or a control of the perimeter (its owner is notified)."""
    session = db.get_session()
    perimeter = writable_perimeter(code)
    requirement_id = control_id = None
    if (ref := (body.get("requirement") or "").strip()[:50]):
        try:
            requirement_id = get_item(session, perimeter, ref).id
        except EvidenceError as error:
            raise EvidenceError(error.message, field="requirement") from None
    if (control_ref := (body.get("control") or "").strip()[:60]):
        control_id = session.exec(select(Control.id).where(Control.ref == control_ref.upper())).first()
        if control_id is None:
            raise EvidenceError(N_("cette mesure n’est pas déployée dans le périmètre %(code)s"), code=perimeter.code,
                                field="control")
    item = service.raise_request(session, actor(), perimeter, service.RequestData(
        text=body["text"], requirement_id=requirement_id, control_id=control_id, due_date=body.get("due_date")),
        request_today())
    return _one(perimeter, item), 201, {
        "Location": f"{blp.url_prefix}/perimeters/{perimeter.code}/requests/{item.id}", "ETag": etag(item)}


@blp.route("/perimeters/<code>/requests/<int:request_id>", parameters=[CODE, REQUEST_ID])
@access(*ALL_ROLES)
@blp.response(200, RequestSchema, headers=ETAG_HEADER)
@refusal(blp, 404, "no such perimeter or request")
def get_request(code: str, request_id: int):
    perimeter = perimeter_or_404(code)
    item = request_or_404(perimeter, request_id)
    return _one(perimeter, item), 200, {"ETag": etag(item)}


@blp.route("/perimeters/<code>/requests/<int:request_id>/answer", methods=["POST"], parameters=[CODE, REQUEST_ID])
@access(*TEAM_ROLES)
@blp.doc(parameters=[IF_MATCH_OPTIONAL])
@blp.arguments(AnswerBodySchema, example={"evidence": ["EV-0042"]})
@blp.response(200, RequestSchema, headers=ETAG_HEADER)
@refusal(blp, 403, "the role, or the token's perimeters, do not allow it")
@refusal(blp, 404, "no such perimeter or request")
@refusal(blp, 412, "If-Match names an older version")
@refusal(blp, 422, "refused: the status, or evidence not valid for the perimeter (`errors` names it)")
def answer_request(body: dict, code: str, request_id: int):
    """Answer with existing evidence of the perimeter (the raiser is notified; an evaluator sees it once approved)."""
    perimeter = writable_perimeter(code)
    item = request_or_404(perimeter, request_id)
    service.answer(db.get_session(), actor(), item, body["evidence"], expected_version=_expected(), scope=scope())
    return _one(perimeter, item), 200, {"ETag": etag(item)}


@blp.route("/perimeters/<code>/requests/<int:request_id>/accept", methods=["POST"], parameters=[CODE, REQUEST_ID])
@access(*RAISERS)
@blp.doc(parameters=[IF_MATCH_OPTIONAL])
@blp.response(200, RequestSchema, headers=ETAG_HEADER)
@refusal(blp, 403, "the role, the judging side, or the token's perimeters do not allow it")
@refusal(blp, 404, "no such perimeter or request")
@refusal(blp, 412, "If-Match names an older version")
@refusal(blp, 422, "the status does not allow it")
def accept_request(code: str, request_id: int):
    """Accept the answer (the side that raised it: an evaluator's request, an evaluator)."""
    perimeter = writable_perimeter(code)
    item = request_or_404(perimeter, request_id)
    service.accept(db.get_session(), actor(), item, expected_version=_expected())
    return _one(perimeter, item), 200, {"ETag": etag(item)}


@blp.route("/perimeters/<code>/requests/<int:request_id>/reopen", methods=["POST"], parameters=[CODE, REQUEST_ID])
@access(*RAISERS)
@blp.doc(parameters=[IF_MATCH_OPTIONAL])
@blp.arguments(ReopenBodySchema, example={"reason": "La revue fournie date de 2025 ; il faut celle de 2026."})
@blp.response(200, RequestSchema, headers=ETAG_HEADER)
@refusal(blp, 403, "the role, the judging side, or the token's perimeters do not allow it")
@refusal(blp, 404, "no such perimeter or request")
@refusal(blp, 412, "If-Match names an older version")
@refusal(blp, 422, "the status does not allow it, or no reason was given")
def reopen_request(body: dict, code: str, request_id: int):
    """Send the request back to the team, saying why (the assignee is notified)."""
    perimeter = writable_perimeter(code)
    item = request_or_404(perimeter, request_id)
    service.reopen(db.get_session(), actor(), item, body["reason"], request_today(), expected_version=_expected())
    return _one(perimeter, item), 200, {"ETag": etag(item)}
