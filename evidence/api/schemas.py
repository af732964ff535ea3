"""The API's common schemas: a problem (RFC 9457), pagination, and evidence with its versions.

Schemas describe and serialise; they check only shapes (a string, a list). What a value may be is the services'
to judge (check_evidence, review…), so that the API refuses what the web refuses with the same words.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

MAX_PER_PAGE = 100
PER_PAGE = 50

# No text of the API holds a NUL byte (PostgreSQL refuses it; the door refuses it first): said in the document, so
# that a client, or a fuzzer, knows it.
NO_NUL = ma.validate.Regexp(r"^[^\x00]*$")


def text(**kwargs) -> fields.String:
    """A text field of a request (query or body): any characters but NUL."""
    return fields.String(validate=NO_NUL, **kwargs)


def path_parameter(name: str, description: str) -> dict:
    return {"in": "path", "name": name, "required": True, "description": description,
            "schema": {"type": "string", "pattern": r"^[^\x00/]+$"}}


REF = path_parameter("ref", "the evidence's ref, e.g. EV-0042")
CODE = path_parameter("code", "the perimeter's code, e.g. iaas-fr1")


class Schema(ma.Schema):
    class Meta:
        ordered = True


class FieldErrorSchema(Schema):
    field = fields.String(allow_none=True, metadata={"description": "the field at fault (the web form's name)"})
    message = fields.String(required=True)


class ProblemSchema(Schema):
    """application/problem+json (RFC 9457)."""

    type = fields.String(required=True, metadata={"description": "about:blank, or a URN urn:evidence:problem:…"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(metadata={"description": "the same sentence the web shows, in the Accept-Language"})
    errors = fields.List(fields.Nested(FieldErrorSchema), metadata={"description": "the fields refused"})


class PageArgsSchema(Schema):
    """?page=&per_page= (at most 100 a page)."""

    class Meta:
        unknown = ma.EXCLUDE  # the list's filters live in the list's own schema

    page = fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=PER_PAGE, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE))


class PaginationSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "rows matching the filters, on every page"})
    pages = fields.Integer(required=True)


_PAGES: dict[str, type] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """The envelope of a list: {"items": [...], "page", "per_page", "total", "pages"} (one class per item schema,
    named after it in the OpenAPI document)."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    if name not in _PAGES:
        _PAGES[name] = type(name, (PaginationSchema,), {"items": fields.List(fields.Nested(item_schema), required=True)})
    return _PAGES[name]


# --- evidence -------------------------------------------------------------------------------------------------


class UserRefSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)


class VersionSchema(Schema):
    number = fields.Integer(required=True)
    sha256 = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    media_type = fields.String(required=True)
    filename = fields.String(attribute="original_filename", allow_none=True)
    url = fields.String(allow_none=True, metadata={"description": "a link's address (no file)"})
    note = fields.String()
    created_at = fields.DateTime(required=True)
    author = fields.Nested(UserRefSchema, allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    download = fields.String(allow_none=True, metadata={"description": "where the file is downloaded (none: a link)"})


class EvidenceSchema(Schema):
    ref = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    classification = fields.String(required=True)
    owner = fields.Nested(UserRefSchema, allow_none=True)
    effective_date = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    document_version = fields.String()
    renewal = fields.String()
    version = fields.Integer(required=True, metadata={"description": "optimistic lock; the ETag is \"<version>\""})
    readable = fields.Boolean(required=True, metadata={
        "description": "false: need-to-know withholds the description and files from this token"})
    description = fields.String(allow_none=True)
    controls = fields.List(fields.String())
    requirements = fields.List(fields.String())
    perimeters = fields.List(fields.String())
    answers = fields.List(fields.String())
    review_comment = fields.String(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    current_version = fields.Nested(VersionSchema, allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ReviewSchema(Schema):
    action = text(required=True, metadata={"description": "submit, approve, reject or reopen"})
    comment = text(load_default="")
