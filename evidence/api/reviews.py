"""/api/v1/evidence/{ref}/review: submit, approve, reject, reopen — the evidence service's review, with its four
eyes and its words (the same refusal as the evidence page's buttons)."""
from __future__ import annotations

from flask import request

from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import ETAG_HEADER, actor, answers_problem, etag, expected_version, require_write_scope
from evidence.api.evidence_bodies import describe, evidence_or_404, scope_of_evidence
from evidence.api.schemas import REF, EvidenceSchema, ReviewSchema
from evidence.core.access import access
from evidence.core.vocabulary import WRITER_ROLES
from evidence.services.evidence import review

blp = blueprint("reviews", __name__, "Reviews: submit evidence for review, approve or reject it (four eyes), reopen it")

IF_MATCH_OPTIONAL = {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
                     "description": "the ETag read (\"3\"): refused with 412 if the evidence changed since"}


@blp.route("/evidence/<ref>/review", methods=["POST"], parameters=[REF])
@access(*WRITER_ROLES)
@blp.doc(parameters=[IF_MATCH_OPTIONAL])
@blp.arguments(ReviewSchema)
@blp.response(200, EvidenceSchema, headers=ETAG_HEADER)
@answers_problem(blp, 409, "the rules refuse it: four eyes, a status the action does not apply to")
@answers_problem(blp, 412, "If-Match names an older version")
def review_evidence(body: dict, ref: str):
    """Submit (owner or manager), approve or reject (a manager who neither uploaded its current version nor changed
    what it attests; a rejection says why), reopen."""
    session = db.get_session()
    evidence = evidence_or_404(ref)
    require_write_scope(session, scope_of_evidence(session, evidence), what=evidence.ref)
    expected = expected_version() if request.headers.get("If-Match") else None
    review(session, actor(), evidence, body["action"], body.get("comment") or "", expected,
           admin_approves=db.admin_approves())
    return describe(session, [evidence])[0], 200, {"ETag": etag(evidence)}
