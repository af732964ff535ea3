"""/api/v1/evidence: list (the list page's filters), read (ETag), create (multipart with a file, or JSON for a link),
change its fields (PATCH, If-Match). Versions and files: evidence_versions.py; reviews: reviews.py.

Everything is the evidence service's: these views turn refs into what it takes and its answers into JSON.
"""
from __future__ import annotations

import marshmallow as ma
from flask import current_app, request
from marshmallow import fields
from sqlmodel import select

from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import (
    ETAG_HEADER,
    IF_MATCH,
    Problem,
    actor,
    answers_problem,
    etag,
    expected_version,
    paginate,
    require_write_scope,
    role,
)
from evidence.api.evidence_bodies import describe, evidence_or_404, reachable, readable_evidence, scope_of_evidence
from evidence.api.schemas import REF, EvidenceSchema, PageArgsSchema, Schema, page_of, text
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.text import plain_id
from evidence.core.vocabulary import ALL_ROLES, WRITER_ROLES
from evidence.data.models import Evidence, EvidenceControl
from evidence.importer.rows import split_refs
from evidence.services import evidence_lists
from evidence.services.evidence import (
    DatabaseLookup,
    EvidenceData,
    EvidenceDraft,
    check_evidence,
    create_evidence,
    update_evidence,
)
from evidence.services.perimeters import get_perimeter
from evidence.web.clock import request_today

blp = blueprint("evidence", __name__, "Evidence: files or links that prove controls, their fields and versions")

FRESHNESS = ("expired", "expiring", "valid")


class EvidenceListArgsSchema(PageArgsSchema):
    status = text(metadata={"description": "draft, in_review, approved, rejected"})
    kind = text()
    owner = text(metadata={"description": "`me`, or a user id"})
    perimeter = text(metadata={"description": "a perimeter's code: the evidence valid for it"})
    freshness = text(metadata={"description": "expired, expiring (within 30 days) or valid"})
    q = text(metadata={"description": "words of the ref or the title"})


class EvidenceFieldsSchema(Schema):
    """The evidence's fields, as the web form and the import manifest name them; references by their words: the
    owner's e-mail, control refs, item refs, perimeter codes, expected-evidence ids ("12.6.c#2")."""

    class Meta:
        unknown = ma.RAISE

    title = text()
    kind = text(metadata={"description": "record, document, configuration, screenshot, report, link…"})
    description = text()
    classification = text(metadata={"description": "public, internal, restricted, confidential"})
    owner = text(allow_none=True, metadata={"description": "an e-mail; empty: whoever creates it"})
    effective_date = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    controls = fields.List(text())
    requirements = fields.List(text())
    perimeters = fields.List(text(), allow_none=True, metadata={
        "description": "codes; none: the perimeters its controls are deployed in"})
    answers = fields.List(text())
    document_version = text()
    renewal = text(metadata={"description": "monthly, quarterly, half_yearly, yearly; empty: none"})


class EvidenceCreateSchema(EvidenceFieldsSchema):
    title = text(required=True)
    url = text(metadata={"description": "a link's address (JSON): a link instead of a file"})
    note = text(metadata={"description": "the first version's note"})


class EvidenceUploadSchema(EvidenceCreateSchema):
    """multipart/form-data: the fields as text (lists repeated or separated by `;`) and the `file`."""

    file = fields.Raw(metadata={"type": "string", "format": "binary"})
    controls = text()
    requirements = text()
    perimeters = text()
    answers = text()


LIST_FIELDS = ("controls", "requirements", "perimeters", "answers")


@blp.route("/evidence")
@access(*ALL_ROLES)
@blp.arguments(EvidenceListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(EvidenceSchema))
def list_evidence(**args):
    """Evidence, by ref, with the list page's filters; a token limited to perimeters sees theirs only."""
    session = db.get_session()
    today = request_today()
    query = select(Evidence).order_by(Evidence.ref)
    if args.get("owner") == "me":
        query = query.where(Evidence.owner_id == actor().id)
    elif (owner := args.get("owner")) is not None:
        owner_id = plain_id(owner)
        query = query.where(Evidence.owner_id == (owner_id if owner_id is not None else -1))
    perimeter = _perimeter_or_none(session, args["perimeter"]) if args.get("perimeter") else None
    query = evidence_lists.filtered(
        query, today, role(), status=args.get("status"), kind=args.get("kind"),
        perimeter_id=(perimeter.id if perimeter else -1) if args.get("perimeter") else None,
        freshness=args.get("freshness"), q=args.get("q"))
    query = reachable(query)
    page = paginate(session, query, args)
    page["items"] = describe(session, page["items"])
    return page


def _perimeter_or_none(session, code: str):
    try:
        return get_perimeter(session, code[:100])
    except EvidenceError:
        return None


@blp.route("/evidence/<ref>", parameters=[REF])
@access(*ALL_ROLES)
@blp.response(200, EvidenceSchema, headers=ETAG_HEADER)
def get_evidence(ref: str):
    """One evidence, with its current version; `ETag` is its version, for If-Match."""
    session = db.get_session()
    evidence = evidence_or_404(ref)
    return describe(session, [evidence])[0], 200, {"ETag": etag(evidence)}


@blp.route("/evidence", methods=["POST"])
@access(*WRITER_ROLES)
@blp.doc(requestBody={"required": True, "content": {
    "multipart/form-data": {"schema": EvidenceUploadSchema},
    "application/json": {"schema": EvidenceCreateSchema}}})
@blp.response(201, EvidenceSchema, headers={**ETAG_HEADER, "Location": {"schema": {"type": "string"}}})
@answers_problem(blp, 403, "the role, or the token's perimeters, do not allow it")
@answers_problem(blp, 413, "the file exceeds MAX_CONTENT_LENGTH")
@answers_problem(blp, 422, "a field is refused: `errors` names each")
def create(**_kwargs):
    """New evidence: multipart/form-data with its fields and a `file`, or JSON with `url` for a link."""
    session = db.get_session()
    if request.mimetype == "multipart/form-data":
        values = _form_values(EvidenceUploadSchema)
        upload = request.files.get("file")
        stream, filename = (upload.stream, upload.filename) if upload is not None and upload.filename else (None, "")
    elif request.mimetype == "application/json":
        values = EvidenceCreateSchema().load(_json_object())
        stream, filename = None, ""
    else:
        raise Problem(415)
    data = evidence_data(session, values)
    require_write_scope(session, data.perimeter_ids if data.perimeter_ids is not None else _derived_scope(session, data),
                        what=values.get("title") or "")
    evidence = create_evidence(session, actor(), data, store=db.get_store(), upload=stream, filename=filename,
                               url=values.get("url", ""), note=values.get("note", ""),
                               max_size=current_app.config["MAX_CONTENT_LENGTH"],
                               link_schemes=current_app.config["LINK_SCHEMES"])
    return describe(session, [evidence])[0], 201, {"ETag": etag(evidence),
                                                    "Location": f"{blp.url_prefix}/evidence/{evidence.ref}"}


@blp.route("/evidence/<ref>", methods=["PATCH"], parameters=[REF])
@access(*WRITER_ROLES)
@blp.doc(parameters=[IF_MATCH], requestBody={"required": True, "content": {
    "application/json": {"schema": EvidenceFieldsSchema}}})
@blp.response(200, EvidenceSchema, headers=ETAG_HEADER)
@answers_problem(blp, 412, "If-Match names an older version")
@answers_problem(blp, 428, "If-Match is missing")
@answers_problem(blp, 422, "a field is refused: `errors` names each")
def patch(ref: str):
    """Change the fields given (the others stay); a change to what its approval vouched for sends it back to draft,
    as the edit form does."""
    session = db.get_session()
    evidence = readable_evidence(ref)
    expected = expected_version()
    if request.mimetype != "application/json":
        raise Problem(415)
    values = EvidenceFieldsSchema().load(_json_object())
    current = current_fields(session, evidence)
    data = evidence_data(session, {**current, **values}, evidence=evidence)
    require_write_scope(session, scope_of_evidence(session, evidence), what=evidence.ref)
    require_write_scope(session, data.perimeter_ids, what=evidence.ref)  # and where the change takes it
    update_evidence(session, actor(), evidence, data, expected)
    return describe(session, [evidence])[0], 200, {"ETag": etag(evidence)}


# --- from the request's words to the service's data -------------------------------------------------------------


def _json_object() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, N_("le corps de la requête doit être un objet JSON"))
    return body


def _form_values(schema: type[ma.Schema]) -> dict:
    raw = {}
    for name in request.form:
        values = request.form.getlist(name)
        raw[name] = ";".join(values) if name in LIST_FIELDS else values[-1]
    values = schema(exclude=("file",)).load(raw)
    for name in LIST_FIELDS:
        if name in values:
            values[name] = split_refs(values[name])
    return values


class ReferenceLookup(DatabaseLookup):
    """The evidence service's lookup by the words an API call gives (an e-mail, control refs, perimeter codes), as
    the importer's: an unknown one is refused by check_evidence with the importer's words."""

    def find_user(self, key):
        from evidence.services.users import find_user

        return find_user(self.session, str(key))

    def find_controls(self, keys):
        from evidence.data.models import Control
        from evidence.services.evidence_fields import LinkedControl

        wanted = {str(k).strip().upper(): k for k in keys}
        rows = self.session.exec(select(Control.id, Control.ref, Control.status).where(Control.ref.in_(list(wanted) or ["-"])))
        return {wanted[ref]: LinkedControl(id_, ref, status) for id_, ref, status in rows}

    def find_requirements(self, keys):
        from evidence.data.models import Framework, Requirement
        from evidence.services.evidence_fields import LinkedRequirement

        rows = self.session.exec(select(Requirement.ref, Requirement.id).join(
            Framework, Framework.id == Requirement.framework_id).where(Framework.assessed, Requirement.ref.in_(
                [str(k).strip() for k in keys] or ["-"])))
        found = dict(rows.all())
        return {key: LinkedRequirement(found[str(key).strip()], str(key).strip()) for key in keys
                if str(key).strip() in found}

    def find_perimeters(self, keys):
        from evidence.data.models import Perimeter
        from evidence.services.evidence_fields import LinkedPerimeter

        wanted = {str(k).strip().lower(): k for k in keys}
        rows = self.session.exec(select(Perimeter.id, Perimeter.code).where(Perimeter.code.in_(list(wanted) or ["-"])))
        return {wanted[code]: LinkedPerimeter(id_, code) for id_, code in rows}


def evidence_data(session, values: dict, evidence: Evidence | None = None) -> EvidenceData:
    """The service's EvidenceData (ids) from the call's words, checked first by check_evidence itself through
    ReferenceLookup, so that an unknown ref gets the service's refusal, naming its field."""
    draft = EvidenceDraft(
        title=values.get("title") or "", kind=values.get("kind") or "record", description=values.get("description") or "",
        owner=values.get("owner") or None, classification=values.get("classification") or "internal",
        effective_date=values.get("effective_date"), valid_until=values.get("valid_until"),
        controls=tuple(values.get("controls") or ()), requirements=tuple(values.get("requirements") or ()),
        perimeters=None if values.get("perimeters") is None else tuple(values["perimeters"]),
        answers=tuple(values.get("answers") or ()), document_version=values.get("document_version") or "",
        renewal=values.get("renewal") or "")
    kept = {}
    if evidence is not None:
        kept = {"kept_owner_id": evidence.owner_id, "kept_kind": evidence.kind, "kept_control_ids": set(session.exec(
            select(EvidenceControl.control_id).where(EvidenceControl.evidence_id == evidence.id)))}
    checked = check_evidence(actor(), draft, ReferenceLookup(session), url=values.get("url", ""),
                             note=values.get("note", ""), link_schemes=current_app.config["LINK_SCHEMES"], **kept)
    return EvidenceData(
        title=draft.title, kind=draft.kind, description=draft.description, owner_id=checked.values["owner_id"],
        classification=draft.classification, effective_date=draft.effective_date, valid_until=draft.valid_until,
        control_ids=list(checked.control_ids), requirement_ids=list(checked.requirement_ids),
        perimeter_ids=None if draft.perimeters is None else list(checked.perimeter_ids),
        answers=[entry for _r, entry in checked.answers], document_version=draft.document_version,
        renewal=draft.renewal)


def current_fields(session, evidence: Evidence) -> dict:
    """The evidence's fields in the call's words, for a PATCH that gives only some."""
    body = describe(session, [evidence])[0]
    owner = body["owner"]["email"] if body["owner"] else None
    return {"title": evidence.title, "kind": evidence.kind, "description": evidence.description,
            "classification": evidence.classification, "owner": owner, "effective_date": evidence.effective_date,
            "valid_until": evidence.valid_until, "controls": body["controls"], "requirements": body["requirements"],
            "perimeters": body["perimeters"], "answers": body["answers"],
            "document_version": evidence.document_version, "renewal": evidence.renewal}


def _derived_scope(session, data: EvidenceData) -> list[int]:
    from evidence.services.evidence_fields import control_perimeters

    return [p.id for p in control_perimeters(session, data.control_ids)]
