"""/api/v1/controls: the provider's measures — list (the list page's filters), create, read (ETag), change (PATCH,
If-Match), retire (If-Match) — and their mappings to items of the assessed referential, each with its
implementation statement (PUT to map or restate, DELETE to unmap).

Every write is services.controls' (its checks, its words, its audit events); these views turn the call's words
(an e-mail, perimeter codes, item refs) into what it takes. A token limited to perimeters reads the controls
deployed in one of them, and changes only a control all of whose perimeters it reaches: a control deployed
elsewhere too proves coverage there, which such a token may not touch.
"""
from __future__ import annotations

from collections import defaultdict

import marshmallow as ma
from marshmallow import fields
from sqlalchemy import func, or_
from sqlmodel import select

from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import (
    ETAG_HEADER,
    IF_MATCH,
    Problem,
    actor,
    etag,
    expected_version,
    paginate,
    require_write_scope,
    role,
    scope,
)
from evidence.api.evidence_bodies import user_ref
from evidence.api.perimeters import refusal, require_json_object
from evidence.api.schemas import PageArgsSchema, Schema, UserRefSchema, page_of, path_parameter, text
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import ALL_ROLES, WRITER_ROLES
from evidence.data.models import (
    CONTROL_CATEGORIES,
    CONTROL_STATUSES,
    Control,
    ControlPerimeter,
    ControlRequirement,
    Evidence,
    EvidenceControl,
    Framework,
    Perimeter,
    Requirement,
    User,
)
from evidence.services import reach
from evidence.services.controls import (
    ControlData,
    create_control,
    get_control,
    map_requirement,
    retire_control,
    unmap_requirement,
    update_control,
)
from evidence.services.users import find_user

blp = blueprint("controls", __name__, "Controls: the provider's measures and their mappings to the referential")

NO_SUCH_CONTROL = N_("aucune mesure « %(ref)s »")  # the controls service's words
NO_SUCH_ITEM = N_("le référentiel évalué ne contient aucun point « %(ref)s »")  # the control page's words
NO_SUCH_OWNER = N_("aucun utilisateur n’a l’adresse e-mail « %(email)s »")  # the users service's words
NO_SUCH_PERIMETERS = N_("périmètre(s) inconnu(s) : %(codes)s")
# If-Match as expected_version reads it (an ETag "<version>", weak or not, its quotes forgiven as werkzeug forgives
# them, or *): documented with its shape, so that an empty one is not taken for a well-formed request (common.IF_MATCH
# says only "a string"); one naming no version answers 412.
IF_MATCH_ETAG = {**IF_MATCH, "schema": {"type": "string", "pattern": r'^(\*|(W/)?"?[0-9]{1,9}"?)$'}}
# The control (and item) in an address, documented with examples (which Schemathesis' example phase calls too).
REF_PARAM = {**path_parameter("ref", "the control's ref"), "example": "CTL-OPS-02"}
MAPPING = [REF_PARAM, {**path_parameter("requirement", "an assessed referential's item ref"), "example": "12.4.a",
                       "schema": {"type": "string", "pattern": r"^[^\x00]+$"}}]


class ControlListArgsSchema(PageArgsSchema):
    status = text(metadata={"description": "planned, in_progress, implemented, retired; none: every control "
                                           "but the retired ones (as the list page)"})
    category = text(metadata={"description": "organisational, physical, technical, procedural"})
    owner = text(metadata={"description": "`me`, or an owner's e-mail or user id"})
    perimeter = text(metadata={"description": "a perimeter's code: the controls deployed there"})
    q = text(metadata={"description": "words of the ref or the title"})


class MappingSchema(Schema):
    framework = fields.String(required=True)
    requirement = fields.String(required=True, metadata={"description": "the item's ref, e.g. 12.4.a"})
    statement = fields.String(required=True, metadata={"description": "how the control meets the item"})


class ControlSchema(Schema):
    ref = fields.String(required=True)
    title = fields.String(required=True)
    category = fields.String(required=True)
    status = fields.String(required=True)
    owner = fields.Nested(UserRefSchema, allow_none=True)
    review_cycle_days = fields.Integer(required=True)
    last_reviewed_on = fields.Date(allow_none=True)
    perimeters = fields.List(fields.String(), required=True, metadata={
        "description": "the codes of the perimeters it is deployed in (those the token reaches)"})
    mapped = fields.Integer(required=True, metadata={"description": "the items it is mapped to"})
    evidence_count = fields.Integer(required=True, metadata={"description": "the evidence that proves it"})
    version = fields.Integer(required=True, metadata={"description": "optimistic lock; the ETag is \"<version>\""})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ControlDetailSchema(ControlSchema):
    description = fields.String(required=True)
    mappings = fields.List(fields.Nested(MappingSchema), required=True)
    evidence = fields.List(fields.String(), required=True, metadata={"description": "refs of the evidence proving it"})


# Documented as the service checks it (services.controls.REF_RE, after upper-casing); the service judges.
REF = {"description": "2 to 39 capitals, digits, - _ . (e.g. CTL-IAM-03)", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{1,38}$"}


class ControlFieldsSchema(Schema):
    """A control's fields as the form names them; its owner by e-mail, its perimeters by code. What a value may be
    is the controls service's to judge (the web form's words)."""

    class Meta:
        unknown = ma.RAISE

    ref = text(metadata=REF)
    title = text()
    description = text()
    category = text(metadata={"enum": list(CONTROL_CATEGORIES)})
    status = text(metadata={"enum": list(CONTROL_STATUSES)})
    owner = text(allow_none=True, metadata={
        "description": "an e-mail; a contributor's controls are always his own"})
    review_cycle_days = fields.Integer(metadata={"minimum": 1, "maximum": 1095})
    perimeters = fields.List(text(), metadata={"description": "the codes of the perimeters it is deployed in"})


class ControlCreateSchema(ControlFieldsSchema):
    ref = text(required=True, metadata=REF)
    title = text(required=True)


class StatementSchema(Schema):
    class Meta:
        unknown = ma.RAISE

    statement = text(load_default="", metadata={"description": "how the control meets the item"})


# --- lookups --------------------------------------------------------------------------------------------------


def deployed_in(session, control: Control) -> list[int]:
    return list(session.exec(select(ControlPerimeter.perimeter_id).where(ControlPerimeter.control_id == control.id)))


def control_or_404(ref: str) -> Control:
    """The control, or 404 when there is none or none of its perimeters is the token's (not revealed)."""
    session = db.get_session()
    try:
        control = get_control(session, ref[:60])
    except EvidenceError as error:
        raise Problem(404, error) from None
    if not reach.reaches_control(session, scope(), control):
        raise Problem(404, NO_SUCH_CONTROL, ref=ref[:60])
    return control


def assessed_requirement(session, ref: str) -> Requirement:
    """An item of an assessed referential by its ref (what a control is mapped to): 404 otherwise."""
    requirement = session.exec(select(Requirement).join(Framework, Framework.id == Requirement.framework_id)
                               .where(Framework.assessed, Requirement.ref == ref.strip()[:50])).first()
    if requirement is None:
        raise Problem(404, NO_SUCH_ITEM, ref=ref.strip()[:50])
    return requirement


def owner_id(session, email) -> int | None:
    if not email:
        return None
    user = find_user(session, str(email)[:254])
    if user is None:
        raise EvidenceError(NO_SUCH_OWNER, email=str(email).strip().lower()[:254], field="owner")
    return user.id


def perimeter_ids(session, codes) -> list[int]:
    wanted = list(dict.fromkeys(str(c).strip().lower()[:60] for c in codes or [] if str(c).strip()))
    found = dict(session.exec(select(Perimeter.code, Perimeter.id).where(Perimeter.code.in_(wanted or ["-"]))).all())
    if unknown := [c for c in wanted if c not in found]:
        raise EvidenceError(NO_SUCH_PERIMETERS, codes=", ".join(unknown), field="perimeters")
    return [found[c] for c in wanted]


def reachable_controls(query):
    return reach.only_reachable_controls(query, scope())


# --- bodies ---------------------------------------------------------------------------------------------------


def describe(session, controls: list[Control], detail: bool = False) -> list[dict]:
    """The API's body of each control, in five queries whatever their number (seven with `detail`)."""
    if not controls:
        return []
    ids = [c.id for c in controls]
    current = scope()
    deployed = defaultdict(list)
    for control_id, perimeter_id, code in session.exec(
            select(ControlPerimeter.control_id, Perimeter.id, Perimeter.code)
            .join(Perimeter, Perimeter.id == ControlPerimeter.perimeter_id)
            .where(ControlPerimeter.control_id.in_(ids)).order_by(Perimeter.code)):
        if current.reaches([perimeter_id]):  # a perimeter beyond the token's is not named
            deployed[control_id].append(code)
    counts = {}
    counts["mapped"] = dict(session.exec(select(ControlRequirement.control_id, func.count()).where(
        ControlRequirement.control_id.in_(ids)).group_by(ControlRequirement.control_id)).all())
    # The evidence the caller reaches (an evaluator: approved once), as its list would show it.
    counts["evidence_count"] = dict(session.exec(reach.only_reachable_evidence(
        select(EvidenceControl.control_id, func.count()).join(Evidence, Evidence.id == EvidenceControl.evidence_id)
        .where(EvidenceControl.control_id.in_(ids)), current, role()).group_by(EvidenceControl.control_id)).all())
    owners = {u.id: u for u in session.exec(select(User).where(User.id.in_(
        {c.owner_id for c in controls if c.owner_id is not None} or {-1})))}
    mappings, proofs = defaultdict(list), defaultdict(list)
    if detail:
        for control_id, ref, key, statement in session.exec(
                select(ControlRequirement.control_id, Requirement.ref, Framework.key, ControlRequirement.statement)
                .join(Requirement, Requirement.id == ControlRequirement.requirement_id)
                .join(Framework, Framework.id == Requirement.framework_id)
                .where(ControlRequirement.control_id.in_(ids)).order_by(Requirement.order)):
            mappings[control_id].append({"framework": key, "requirement": ref, "statement": statement})
        for control_id, ref in session.exec(reach.only_reachable_evidence(
                select(EvidenceControl.control_id, Evidence.ref).join(Evidence, Evidence.id == EvidenceControl.evidence_id)
                .where(EvidenceControl.control_id.in_(ids)), current, role()).order_by(Evidence.ref)):
            proofs[control_id].append(ref)
    bodies = []
    for c in controls:
        body = {
            "ref": c.ref, "title": c.title, "category": c.category, "status": c.status,
            "owner": user_ref(owners.get(c.owner_id)), "review_cycle_days": c.review_cycle_days,
            "last_reviewed_on": c.last_reviewed_on, "perimeters": deployed[c.id],
            "mapped": counts["mapped"].get(c.id, 0), "evidence_count": counts["evidence_count"].get(c.id, 0),
            "version": c.version, "created_at": c.created_at, "updated_at": c.updated_at,
        }
        if detail:
            body.update(description=c.description, mappings=mappings[c.id], evidence=proofs[c.id])
        bodies.append(body)
    return bodies


def detail(session, control: Control):
    return describe(session, [control], detail=True)[0], {"ETag": etag(control)}


# --- views ------------------------------------------------------------------------------------------------------


@blp.route("/controls")
@access(*ALL_ROLES)
@blp.arguments(ControlListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(ControlSchema))
def list_controls(**args):
    """The controls, by ref, with the list page's filters (the retired ones only when asked for); a token limited
    to perimeters sees those deployed in its own."""
    session = db.get_session()
    query = select(Control).order_by(Control.ref)
    if args.get("owner") == "me":
        query = query.where(Control.owner_id == actor().id)
    elif owner := (args.get("owner") or "").strip():
        user = session.get(User, int(owner)) if owner.isdigit() and len(owner) < 10 else find_user(session, owner[:254])
        query = query.where(Control.owner_id == (user.id if user else -1))
    if args.get("status") in CONTROL_STATUSES:
        query = query.where(Control.status == args["status"])
    elif not args.get("status"):
        query = query.where(Control.status != "retired")
    if args.get("category") in CONTROL_CATEGORIES:
        query = query.where(Control.category == args["category"])
    if code := args.get("perimeter"):
        query = query.where(Control.id.in_(select(ControlPerimeter.control_id).join(
            Perimeter, Perimeter.id == ControlPerimeter.perimeter_id).where(Perimeter.code == code.strip().lower()[:60])))
    if q := (args.get("q") or "").strip()[:100]:
        query = query.where(or_(Control.ref.icontains(q, autoescape=True), Control.title.icontains(q, autoescape=True)))
    page = paginate(session, reachable_controls(query), args)
    page["items"] = describe(session, page["items"])
    return page


@blp.route("/controls", methods=["POST"])
@access(*WRITER_ROLES)
@blp.arguments(ControlCreateSchema, example={
    "ref": "CTL-LOG-09", "title": "Centralisation des journaux d’administration", "category": "technical",
    "status": "implemented", "owner": "claire.fontaine@nuage-souverain.example", "perimeters": ["iaas-fr1"]})
@blp.response(201, ControlDetailSchema, headers={**ETAG_HEADER, "Location": {"schema": {"type": "string"}}})
@refusal(blp, 403, "the role, or the token's perimeters, do not allow it")
@refusal(blp, 422, "a field is refused: `errors` names it")
def create_control_view(body: dict):
    """A new control (a contributor's is his own), deployed in the perimeters named."""
    session = db.get_session()
    data = ControlData(
        ref=body["ref"], title=body["title"], description=body.get("description", ""),
        category=body.get("category", "technical"), owner_id=owner_id(session, body.get("owner")),
        status=body.get("status", "planned"), review_cycle_days=body.get("review_cycle_days", 365),
        perimeter_ids=perimeter_ids(session, body.get("perimeters")))
    require_write_scope(session, data.perimeter_ids, what=data.ref.strip().upper())
    control = create_control(session, actor(), data)
    body, headers = detail(session, control)
    return body, 201, {**headers, "Location": f"{blp.url_prefix}/controls/{control.ref}"}


@blp.route("/controls/<ref>", parameters=[REF_PARAM])
@access(*ALL_ROLES)
@blp.response(200, ControlDetailSchema, headers=ETAG_HEADER)
@refusal(blp, 404, "no such control, or none of its perimeters is the token's")
def get_control_view(ref: str):
    """One control, its mappings (with their statements) and the evidence proving it; `ETag` is its version."""
    session = db.get_session()
    body, headers = detail(session, control_or_404(ref))
    return body, 200, headers


@blp.route("/controls/<ref>", methods=["PATCH"], parameters=[REF_PARAM])
@access(*WRITER_ROLES)
@blp.doc(parameters=[IF_MATCH_ETAG])
@blp.arguments(ControlFieldsSchema, example={"status": "implemented", "review_cycle_days": 180})
@blp.response(200, ControlDetailSchema, headers=ETAG_HEADER)
@refusal(blp, 412, "If-Match names an older version")
@refusal(blp, 428, "If-Match is missing")
@refusal(blp, 422, "a field is refused: `errors` names it")
def patch_control(body: dict, ref: str):
    """Change the fields given (the others stay), as the edit form does."""
    require_json_object()
    session = db.get_session()
    control = control_or_404(ref)
    expected = expected_version()
    before = deployed_in(session, control)
    data = ControlData(
        ref=body.get("ref", control.ref), title=body.get("title", control.title),
        description=body.get("description", control.description), category=body.get("category", control.category),
        owner_id=owner_id(session, body["owner"]) if "owner" in body else control.owner_id,
        status=body.get("status", control.status),
        review_cycle_days=body.get("review_cycle_days", control.review_cycle_days),
        perimeter_ids=perimeter_ids(session, body["perimeters"]) if "perimeters" in body else before)
    require_write_scope(session, set(before) | set(data.perimeter_ids), what=control.ref)
    update_control(session, actor(), control, data, expected)
    body, headers = detail(session, control)
    return body, 200, headers


@blp.route("/controls/<ref>/retire", methods=["POST"], parameters=[REF_PARAM])
@access(*WRITER_ROLES)
@blp.doc(parameters=[IF_MATCH_ETAG])
@blp.response(200, ControlDetailSchema, headers=ETAG_HEADER)
@refusal(blp, 412, "If-Match names an older version")
@refusal(blp, 428, "If-Match is missing")
def retire_control_view(ref: str):
    """Retire the control: it covers no item any more and takes no new evidence (kept, with its history)."""
    session = db.get_session()
    control = control_or_404(ref)
    expected = expected_version()
    require_write_scope(session, deployed_in(session, control), what=control.ref)
    retire_control(session, actor(), control, expected)
    body, headers = detail(session, control)
    return body, 200, headers


@blp.route("/controls/<ref>/requirements/<path:requirement>", methods=["PUT"], parameters=MAPPING)
@access(*WRITER_ROLES)
@blp.arguments(StatementSchema, required=False, example={
    "statement": "L’EDR couvre tous les postes et serveurs ; les passerelles filtrent messagerie et téléchargements."})
@blp.response(200, MappingSchema)
@refusal(blp, 404, "no such control or item")
@refusal(blp, 422, "the statement is refused")
def map_control(body: dict, ref: str, requirement: str):
    """Map the control to an item of the assessed referential with its implementation statement, or restate an
    existing mapping (the same statement again changes nothing)."""
    session = db.get_session()
    control = control_or_404(ref)
    item = assessed_requirement(session, requirement)
    require_write_scope(session, deployed_in(session, control), what=control.ref)
    mapping = map_requirement(session, actor(), control, item, body.get("statement", ""))
    framework = session.get(Framework, item.framework_id)
    return {"framework": framework.key, "requirement": item.ref, "statement": mapping.statement}


@blp.route("/controls/<ref>/requirements/<path:requirement>", methods=["DELETE"], parameters=MAPPING)
@access(*WRITER_ROLES)
@blp.response(204)
@refusal(blp, 404, "no such control or item")
def unmap_control(ref: str, requirement: str):
    """Unmap the control from the item (the statement stays in the audit trail); unmapped already: nothing."""
    session = db.get_session()
    control = control_or_404(ref)
    item = assessed_requirement(session, requirement)
    require_write_scope(session, deployed_in(session, control), what=control.ref)
    unmap_requirement(session, actor(), control, item)
    return None
