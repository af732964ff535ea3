"""/api/v1/perimeters/{code}/findings: what the evaluation centre raised on a perimeter — list (the findings
page's filters), read, record (managers), update (managers, PATCH of the fields given).

Every write is services.findings' (its checks, its words, its audit event, the notification of the item's control
owners). A finding has no version column: a PATCH takes no If-Match, as the web form sends none.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields
from sqlmodel import select

from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import Problem, actor, paginate
from evidence.api.perimeters import CODE, perimeter_or_404, refusal, require_json_object, writable_perimeter
from evidence.api.schemas import PageArgsSchema, Schema, page_of
from evidence.api.schemas import text as text_field  # a finding has a field named `text`
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import ALL_ROLES, COMPLIANCE_ROLES, EVALUATOR, OPEN_FINDING_STATUSES
from evidence.data.models import (
    FINDING_SEVERITIES,
    FINDING_STATUSES,
    ActionFinding,
    Evidence,
    EvidenceVersion,
    Finding,
    Requirement,
    User,
)
from evidence.services import findings as finding_service
from evidence.services.findings import FindingData, create_finding, finding_overdue, update_finding
from evidence.services.perimeters import get_item
from evidence.web.clock import request_today

blp = blueprint("findings", __name__, "Findings: what the evaluation centre raised on a perimeter")

FINDING = {"in": "path", "name": "finding_id", "description": "the finding's number", "example": 1}

NO_SUCH_FINDING = N_("%(code)s n’a pas de constat n° %(id)s")


class FindingListArgsSchema(PageArgsSchema):
    severity = text_field(metadata={"description": "major, minor or observation"})
    open = fields.Boolean(truthy={"true"}, falsy={"false"}, metadata={"description": "true: open or answered, not closed"})


class FindingSchema(Schema):
    id = fields.Integer(required=True)
    perimeter = fields.String(required=True)
    requirement = fields.String(allow_none=True, metadata={"description": "the item's ref"})
    severity = fields.String(required=True, metadata={"description": "major, minor or observation"})
    status = fields.String(required=True, metadata={"description": "open, answered or closed"})
    text = fields.String(required=True)
    response = fields.String(required=True, metadata={"description": "the provider's response"})
    raised_on = fields.Date(allow_none=True)
    due_date = fields.Date(allow_none=True)
    overdue = fields.Boolean(required=True)
    actions = fields.List(fields.Integer(), required=True, metadata={"description": "ids of the actions answering it"})
    raised_by = fields.String(allow_none=True, metadata={"description": "the evaluator who raised it in place (e-mail); "
                                                         "null: typed in by the team from the centre's report"})
    campaign = fields.Integer(allow_none=True, metadata={"description": "the campaign's number"})
    evidence = fields.List(fields.Nested(lambda: PinnedVersionSchema()), required=True,
                           metadata={"description": "the evidence versions the evaluator looked at"})
    closed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class PinnedVersionSchema(Schema):
    class Meta:
        unknown = ma.RAISE

    ref = text_field(required=True, metadata={"description": "the evidence's ref"})
    version = fields.Integer(required=True, metadata={"description": "its version number (an approved one)"})
    sha256 = fields.String(dump_only=True, allow_none=True)


class FindingRaiseSchema(Schema):
    """A finding raised in place on an item, with the approved evidence versions looked at."""

    class Meta:
        unknown = ma.RAISE

    requirement = text_field(required=True, metadata={"description": "the item's ref (e.g. 12.4.a)"})
    severity = text_field(required=True, metadata={"enum": list(FINDING_SEVERITIES)})
    text = text_field(required=True)
    due_date = fields.Date(allow_none=True)
    evidence = fields.List(fields.Nested(PinnedVersionSchema), load_default=list)


class FindingFieldsSchema(Schema):
    """A finding's fields as the form names them; the item by its ref. The service judges the values."""

    class Meta:
        unknown = ma.RAISE

    severity = text_field(metadata={"enum": list(FINDING_SEVERITIES)})
    text = text_field()
    requirement = text_field(allow_none=True, metadata={"description": "the item's ref (e.g. 12.4.a); empty: none"})
    raised_on = fields.Date(allow_none=True)
    due_date = fields.Date(allow_none=True)
    response = text_field()
    status = text_field(metadata={"enum": list(FINDING_STATUSES)})


class FindingCreateSchema(FindingFieldsSchema):
    severity = text_field(required=True, metadata={"enum": list(FINDING_SEVERITIES)})
    text = text_field(required=True)


def requirement_id(session, perimeter, ref, field: str = "requirement") -> int | None:
    """The item a finding (or an action) names, by its ref in the perimeter's referential (the form's lookup and
    words, beside `field`)."""
    ref = (ref or "").strip()[:50]
    if not ref:
        return None
    try:
        return get_item(session, perimeter, ref).id
    except EvidenceError as error:
        raise EvidenceError(error.message, field=field) from None


def finding_or_404(perimeter, finding_id: int) -> Finding:
    finding = db.get_session().get(Finding, finding_id)
    if finding is None or finding.perimeter_id != perimeter.id:
        raise Problem(404, NO_SUCH_FINDING, code=perimeter.code, id=finding_id)
    return finding


def describe(session, perimeter, findings: list[Finding]) -> list[dict]:
    """The API's body of each finding, in two queries whatever their number."""
    ids = [f.id for f in findings]
    refs = dict(session.exec(select(Requirement.id, Requirement.ref).where(Requirement.id.in_(
        {f.requirement_id for f in findings if f.requirement_id} or {-1}))).all())
    actions: dict[int, list[int]] = {}
    for action_id, finding_id in session.exec(select(ActionFinding.action_id, ActionFinding.finding_id)
                                              .where(ActionFinding.finding_id.in_(ids or [-1]))
                                              .order_by(ActionFinding.action_id)):
        actions.setdefault(finding_id, []).append(action_id)
    today = request_today()
    people = dict(session.exec(select(User.id, User.email).where(User.id.in_(
        {f.raised_by_id for f in findings if f.raised_by_id} or {-1}))).all())
    pinned = finding_service.pinned_versions(session, ids)
    return [{
        "id": f.id, "perimeter": perimeter.code, "requirement": refs.get(f.requirement_id), "severity": f.severity,
        "status": f.status, "text": f.text, "response": f.response, "raised_on": f.raised_on, "due_date": f.due_date,
        "overdue": finding_overdue(f, today), "actions": actions.get(f.id, []), "created_at": f.created_at,
        "raised_by": people.get(f.raised_by_id), "campaign": f.campaign_id, "closed_at": f.closed_at,
        "evidence": [{"ref": e.ref, "version": v.number, "sha256": v.sha256} for e, v in pinned.get(f.id, [])],
        "updated_at": f.updated_at,
    } for f in findings]


@blp.route("/perimeters/<code>/findings", parameters=[CODE])
@access(*ALL_ROLES)
@blp.arguments(FindingListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(FindingSchema))
@refusal(blp, 404, "no such perimeter, or beyond the token's perimeters")
def list_findings(code: str, **args):
    """The perimeter's findings in the findings page's order (status, severity, id), with its filters."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    query = select(Finding).where(Finding.perimeter_id == perimeter.id)
    if args.get("severity") in FINDING_SEVERITIES:
        query = query.where(Finding.severity == args["severity"])
    if args.get("open"):
        query = query.where(Finding.status.in_(OPEN_FINDING_STATUSES))
    page = paginate(session, query.order_by(Finding.status, Finding.severity, Finding.id), args)
    page["items"] = describe(session, perimeter, page["items"])
    return page


@blp.route("/perimeters/<code>/findings", methods=["POST"], parameters=[CODE])
@access(*COMPLIANCE_ROLES)
@blp.arguments(FindingCreateSchema, example={
    "severity": "minor", "requirement": "12.4.a", "text": "La politique antimalware n’a pas été revue depuis 2025.",
    "raised_on": "2026-06-10", "due_date": "2026-07-31"})
@blp.response(201, FindingSchema, headers={"Location": {"schema": {"type": "string"}}})
@refusal(blp, 403, "the role, or the token's perimeters, do not allow it")
@refusal(blp, 422, "a field is refused: `errors` names it")
def create_finding_view(body: dict, code: str):
    """Record a finding (the owners of the item's controls are notified, as from the findings page)."""
    session = db.get_session()
    perimeter = writable_perimeter(code)
    finding = create_finding(session, actor(), perimeter, FindingData(
        severity=body["severity"], text=body["text"],
        requirement_id=requirement_id(session, perimeter, body.get("requirement")), raised_on=body.get("raised_on"),
        due_date=body.get("due_date"), response=body.get("response", ""), status=body.get("status", "open")))
    return describe(session, perimeter, [finding])[0], 201, {
        "Location": f"{blp.url_prefix}/perimeters/{perimeter.code}/findings/{finding.id}"}


@blp.route("/perimeters/<code>/findings/<int:finding_id>", parameters=[CODE, FINDING])
@access(*ALL_ROLES)
@blp.response(200, FindingSchema)
@refusal(blp, 404, "no such perimeter or finding")
def get_finding(code: str, finding_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    return describe(session, perimeter, [finding_or_404(perimeter, finding_id)])[0]


@blp.route("/perimeters/<code>/findings/<int:finding_id>", methods=["PATCH"], parameters=[CODE, FINDING])
@access(*COMPLIANCE_ROLES, EVALUATOR)
@blp.arguments(FindingFieldsSchema, example={"status": "answered", "response": "Politique revue le 2026-06-20 (EV-0119 v2)."})
@blp.response(200, FindingSchema)
@refusal(blp, 404, "no such perimeter or finding")
@refusal(blp, 422, "a field is refused: `errors` names it")
def patch_finding(body: dict, code: str, finding_id: int):
    """Change the fields given (the others stay): the provider's response, the status, the due date… An
    evaluator's finding: its words by an evaluator, the response by the team (409 otherwise)."""
    require_json_object()
    session = db.get_session()
    perimeter = writable_perimeter(code)
    finding = finding_or_404(perimeter, finding_id)
    kept = describe(session, perimeter, [finding])[0]
    update_finding(session, actor(), finding, FindingData(
        severity=body.get("severity", finding.severity), text=body.get("text", finding.text),
        requirement_id=requirement_id(session, perimeter, body["requirement"]) if "requirement" in body
        else finding.requirement_id,
        raised_on=body.get("raised_on", kept["raised_on"]), due_date=body.get("due_date", kept["due_date"]),
        response=body.get("response", finding.response), status=body.get("status", finding.status)))
    return describe(session, perimeter, [finding])[0]


def _pinned_ids(session, body: dict) -> list[int]:
    """The version ids of the evidence versions named by ref and number (unknown ones refused by name)."""
    found = []
    for entry in body.get("evidence") or []:
        version_id = session.exec(select(EvidenceVersion.id).join(Evidence, Evidence.id == EvidenceVersion.evidence_id)
                                  .where(Evidence.ref == entry["ref"], EvidenceVersion.number == entry["version"])).first()
        if version_id is None:
            raise EvidenceError(N_("aucune version %(version)s de la preuve « %(ref)s »"), version=entry["version"],
                                ref=entry["ref"], field="evidence")
        found.append(version_id)
    return found


@blp.route("/perimeters/<code>/findings/raise", methods=["POST"], parameters=[CODE])
@access(*COMPLIANCE_ROLES, EVALUATOR)
@blp.arguments(FindingRaiseSchema, example={
    "requirement": "12.4.a", "severity": "minor", "text": "Revue des accès du 2e trimestre non signée.",
    "evidence": [{"ref": "EV-0042", "version": 2}]})
@blp.response(201, FindingSchema, headers={"Location": {"schema": {"type": "string"}}})
@refusal(blp, 403, "the role, or the token's perimeters, do not allow it")
@refusal(blp, 422, "a field is refused: `errors` names it")
def raise_finding_view(body: dict, code: str):
    """Raise a finding in place on an item, today, in the running campaign, pinning the approved evidence
    versions looked at (as the item's page does); raised by an evaluator, only an evaluator closes it."""
    session = db.get_session()
    perimeter = writable_perimeter(code)
    try:
        requirement = get_item(session, perimeter, body["requirement"])
    except EvidenceError as error:
        raise EvidenceError(error.message, field="requirement") from None
    finding = finding_service.raise_finding(session, actor(), perimeter, requirement, finding_service.RaisedFinding(
        severity=body["severity"], text=body["text"], version_ids=_pinned_ids(session, body),
        due_date=body.get("due_date")), request_today())
    return describe(session, perimeter, [finding])[0], 201, {
        "Location": f"{blp.url_prefix}/perimeters/{perimeter.code}/findings/{finding.id}"}


@blp.route("/perimeters/<code>/findings/<int:finding_id>/close", methods=["POST"], parameters=[CODE, FINDING])
@access(*COMPLIANCE_ROLES, EVALUATOR)
@blp.response(200, FindingSchema)
@refusal(blp, 404, "no such perimeter or finding")
@refusal(blp, 409, "the rules refuse it: an evaluator's finding is closed by an evaluator only")
def close_finding_view(code: str, finding_id: int):
    """Close the finding: by the side that judges it (an evaluator for an evaluator's finding, a manager for
    one the team typed in); the team is notified."""
    session = db.get_session()
    perimeter = writable_perimeter(code)
    finding = finding_or_404(perimeter, finding_id)
    finding_service.close_finding(session, actor(), finding)
    return describe(session, perimeter, [finding])[0]
