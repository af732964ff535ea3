"""/api/v1/audit/head: the audit trail's head (sequence number, hash, time, this instance's seal and the seal key's
id), as `evidence verify --export-head` gives it: what to keep outside the instance (a ticket, a WORM bucket) so
that a later `evidence verify --head` catches a truncation or a rewrite of the trail.

The same roles as the web's audit log (admin and manager; a token is at most a manager). A token limited to
perimeters reads it too: the head names no event of any perimeter, only how long the chain is and its last hash.
"""
from __future__ import annotations

from marshmallow import fields

from evidence import context as db
from evidence.api import blueprint
from evidence.api.schemas import Schema
from evidence.core.access import access
from evidence.core.vocabulary import COMPLIANCE_ROLES
from evidence.data import audit

blp = blueprint("audit", __name__, "Audit trail: its head, to keep outside the instance")


class AuditHeadSchema(Schema):
    seq = fields.Integer(required=True, metadata={"description": "the last event's sequence number (0: none yet)"})
    hash = fields.String(required=True, metadata={"description": "the last event's hash (SHA-256, hex)"})
    at = fields.String(allow_none=True, metadata={"description": "the last event's time, ISO 8601 UTC"})
    seal = fields.String(allow_none=True, metadata={
        "description": "HMAC of (seq, hash) under the instance's seal key: the head was exported here"})
    key_id = fields.String(allow_none=True, metadata={"description": "names the seal key without revealing it"})


@blp.route("/audit/head")
@access(*COMPLIANCE_ROLES)
@blp.response(200, AuditHeadSchema)
def audit_head():
    """The head of the hash-chained audit trail, sealed by this instance."""
    session = db.get_session()
    return audit.export_head(session, audit.seal_key_for(session))
