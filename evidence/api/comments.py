"""/api/v1/perimeters/{code}/comments: the threads on a perimeter's items, controls, evidence versions, requests and
findings — list a subject's thread, post, read one, edit (its author, If-Match), delete (its author or a compliance
manager; the thread keeps « supprimé par… », the audit trail the text).

Every read and write is services.comments' (who sees the subject, mentions and their notifications, audit events).
A subject or a comment the token may not see answers 404, as if it did not exist.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields
from sqlmodel import select

from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import ETAG_HEADER, IF_MATCH, Problem, actor, etag, expected_version, paginate
from evidence.api.perimeters import CODE, perimeter_or_404, refusal, require_json_object, writable_perimeter
from evidence.api.schemas import PageArgsSchema, Schema, UserRefSchema, page_of, text
from evidence.core.access import access
from evidence.core.errors import N_
from evidence.core.vocabulary import ALL_ROLES, COMMENT_SUBJECTS, MAX_JUSTIFICATION
from evidence.data.models import Comment, User
from evidence.services import comments
from evidence.web.clock import request_today

blp = blueprint("comments", __name__, "Comments: threads on a perimeter's items, controls, evidence versions, "
                                      "requests and findings")

COMMENT = {"in": "path", "name": "comment_id", "description": "the comment's number", "example": 1}
NO_SUCH_THREAD = N_("%(code)s n’a pas de fil de commentaires sur %(kind)s n° %(id)s")
NO_SUCH_COMMENT = N_("%(code)s n’a pas de commentaire n° %(id)s")
SUBJECT_ID = "the subject's id: the item's (requirement), the control's, the evidence version's, the request's or " \
             "the finding's (the `id` the API gives them)"


class ThreadArgsSchema(PageArgsSchema):
    subject_type = fields.String(required=True, validate=ma.validate.OneOf(COMMENT_SUBJECTS),
                                 metadata={"enum": list(COMMENT_SUBJECTS)})
    subject_id = fields.Integer(required=True, validate=ma.validate.Range(1, 2**31 - 1),
                                metadata={"description": SUBJECT_ID})


class CommentSchema(Schema):
    id = fields.Integer(required=True)
    perimeter = fields.String(required=True)
    subject_type = fields.String(required=True, metadata={"enum": list(COMMENT_SUBJECTS)})
    subject_id = fields.Integer(required=True)
    author = fields.Nested(UserRefSchema, allow_none=True)
    body = fields.String(required=True, metadata={"description": "empty once deleted (the audit trail keeps it)"})
    created_at = fields.DateTime(required=True)
    edited_at = fields.DateTime(allow_none=True)
    deleted_at = fields.DateTime(allow_none=True)
    deleted_by = fields.Nested(UserRefSchema, allow_none=True)
    version = fields.Integer(required=True)


class CommentPostSchema(Schema):
    class Meta:
        unknown = ma.RAISE

    subject_type = fields.String(required=True, validate=ma.validate.OneOf(COMMENT_SUBJECTS),
                                 metadata={"enum": list(COMMENT_SUBJECTS)})
    subject_id = fields.Integer(required=True, validate=ma.validate.Range(1, 2**31 - 1),
                                metadata={"description": SUBJECT_ID})
    body = text(required=True, metadata={"maxLength": MAX_JUSTIFICATION,
                                         "description": "`@name@example.org` mentions (and notifies) that person"})


class CommentEditSchema(Schema):
    class Meta:
        unknown = ma.RAISE

    body = text(required=True, metadata={"maxLength": MAX_JUSTIFICATION})


def _person(user) -> dict | None:
    return {"id": user.id, "email": user.email, "name": user.name} if user is not None else None


def describe(session, perimeter, rows: list[Comment]) -> list[dict]:
    """The API's body of each comment, in one more query whatever their number."""
    people = {u.id: u for u in session.exec(select(User).where(User.id.in_(
        ({c.author_id for c in rows} | {c.deleted_by_id for c in rows}) - {None} or {-1})))}
    return [{"id": c.id, "perimeter": perimeter.code, "subject_type": c.subject_type, "subject_id": c.subject_id,
             "author": _person(people.get(c.author_id)), "body": c.body, "created_at": c.created_at,
             "edited_at": c.edited_at, "deleted_at": c.deleted_at, "deleted_by": _person(people.get(c.deleted_by_id)),
             "version": c.version} for c in rows]


def _subject(perimeter, subject_type: str, subject_id: int) -> comments.Subject:
    try:
        return comments.subject_for(db.get_session(), actor(), perimeter, subject_type, subject_id, request_today())
    except comments.SubjectNotFound:
        raise Problem(404, NO_SUCH_THREAD, code=perimeter.code, kind=subject_type, id=subject_id) from None


def _comment(perimeter, comment_id: int) -> Comment:
    try:
        return comments.comment_for(db.get_session(), actor(), perimeter, comment_id, request_today())[0]
    except comments.SubjectNotFound:
        raise Problem(404, NO_SUCH_COMMENT, code=perimeter.code, id=comment_id) from None


@blp.route("/perimeters/<code>/comments", parameters=[CODE])
@access(*ALL_ROLES)
@blp.arguments(ThreadArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(CommentSchema))
@refusal(blp, 404, "no such perimeter or subject, or one the token may not see")
def list_comments(code: str, **args):
    """A subject's thread, oldest first (deleted comments included, their text empty)."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    subject = _subject(perimeter, args["subject_type"], args["subject_id"])
    query = select(Comment).where(Comment.perimeter_id == perimeter.id, Comment.subject_type == subject.type,
                                  Comment.subject_id == subject.id).order_by(Comment.created_at, Comment.id)
    page = paginate(session, query, args)
    page["items"] = describe(session, perimeter, page["items"])
    return page


@blp.route("/perimeters/<code>/comments", methods=["POST"], parameters=[CODE])
@access(*ALL_ROLES)
@blp.arguments(CommentPostSchema, example={"subject_type": "requirement", "subject_id": 12,
                                           "body": "Pouvez-vous joindre le PV de test ? @claire@example.org"})
@blp.response(201, CommentSchema, headers={**ETAG_HEADER, "Location": {"schema": {"type": "string"}}})
@refusal(blp, 403, "beyond the token's perimeters")
@refusal(blp, 404, "no such subject, or one the token may not see")
@refusal(blp, 422, "the text is empty or too long, or it mentions someone who may not read the thread")
def post_comment(body: dict, code: str):
    session = db.get_session()
    perimeter = writable_perimeter(code)
    subject = _subject(perimeter, body["subject_type"], body["subject_id"])
    comment = comments.post(session, actor(), perimeter, subject.type, subject.id, body["body"], request_today())
    return describe(session, perimeter, [comment])[0], 201, {
        "ETag": etag(comment), "Location": f"{blp.url_prefix}/perimeters/{perimeter.code}/comments/{comment.id}"}


@blp.route("/perimeters/<code>/comments/<int:comment_id>", parameters=[CODE, COMMENT])
@access(*ALL_ROLES)
@blp.response(200, CommentSchema, headers=ETAG_HEADER)
@refusal(blp, 404, "no such perimeter or comment, or one the token may not see")
def get_comment(code: str, comment_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    comment = _comment(perimeter, comment_id)
    return describe(session, perimeter, [comment])[0], 200, {"ETag": etag(comment)}


@blp.route("/perimeters/<code>/comments/<int:comment_id>", methods=["PATCH"], parameters=[CODE, COMMENT])
@access(*ALL_ROLES)
@blp.arguments(CommentEditSchema, example={"body": "Pouvez-vous joindre le PV de test de 2026 ?"})
@blp.doc(parameters=[IF_MATCH])
@blp.response(200, CommentSchema, headers=ETAG_HEADER)
@refusal(blp, 404, "no such perimeter or comment")
@refusal(blp, 409, "only its author edits a comment, while it is not deleted")
@refusal(blp, 412, "If-Match names an older version")
@refusal(blp, 428, "If-Match is missing")
@refusal(blp, 422, "the text is empty or too long, or it mentions someone who may not read the thread")
def patch_comment(body: dict, code: str, comment_id: int):
    """The author changes his words (the thread says so; the audit trail keeps the text before)."""
    require_json_object()
    session = db.get_session()
    perimeter = writable_perimeter(code)
    comment = _comment(perimeter, comment_id)
    comments.edit(session, actor(), comment, body["body"], request_today(), expected_version())
    return describe(session, perimeter, [comment])[0], 200, {"ETag": etag(comment)}


@blp.route("/perimeters/<code>/comments/<int:comment_id>", methods=["DELETE"], parameters=[CODE, COMMENT])
@access(*ALL_ROLES)
@blp.response(200, CommentSchema, headers=ETAG_HEADER)
@refusal(blp, 404, "no such perimeter or comment")
@refusal(blp, 409, "neither its author nor a compliance manager, or deleted already")
def delete_comment(code: str, comment_id: int):
    """Delete softly: the comment stays in its thread, « deleted by … on … », its text in the audit trail alone."""
    session = db.get_session()
    perimeter = writable_perimeter(code)
    comment = _comment(perimeter, comment_id)
    comments.delete(session, actor(), comment, request_today())
    return describe(session, perimeter, [comment])[0], 200, {"ETag": etag(comment)}
