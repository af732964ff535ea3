"""/api/v1/perimeters/{code}/collect/{collector}: run a collector on a report a pipeline uploads (Prowler's OCSF
JSON or compliance CSV) and record its results as the perimeter's automated evidence, through the same service as
`evidence collect run` (services.collector_runs → services.collection.record_collected).

Only collectors that read one file are offered here. A folder-reading collector (tls-ssh) is refused with a
problem that says where to run it: taking it over HTTP would mean accepting an archive and unpacking it on the
server, with what that brings (zip bombs, paths leading out of the folder, links); such a collector runs where its
folder is, from the command line or the schedule (COLLECTOR_SCHEDULE).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from flask import current_app, request
from marshmallow import fields

from evidence import collectors
from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import Problem, actor, require_write_scope
from evidence.api.schemas import Schema
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.services import collector_runs
from evidence.services.perimeters import get_perimeter
from evidence.services.uploads import safe_filename
from evidence.web.clock import request_today

blp = blueprint("collect", __name__, "Automated evidence: a collector's results recorded for a perimeter")

FOLDER_COLLECTOR = N_("le collecteur %(collector)s lit un dossier sur le serveur, pas un fichier envoyé : lancez "
                      "`evidence collect run %(collector)s --perimeter %(code)s --source DOSSIER` là où se trouve le "
                      "dossier, ou planifiez-le (EVIDENCE_COLLECTOR_SCHEDULE)")
NO_FILE = N_("joignez le fichier que le collecteur %(collector)s lit (champ « file »)")


class CollectUploadSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "the tool's output, e.g. Prowler's *.ocsf.json or "
                                                              "compliance CSV"})


class CountsSchema(Schema):
    passed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    muted = fields.Integer(required=True)
    manual = fields.Integer(required=True)
    total = fields.Integer(required=True)


class FailingSchema(Schema):
    check = fields.String(required=True)
    resource = fields.String(required=True)
    resource_name = fields.String(required=True)
    status = fields.String(required=True)
    muted = fields.Boolean(required=True)


class SubjectSchema(Schema):
    subject = fields.String(required=True, metadata={"description": "what the collector judged, e.g. 10.1"})
    evidence = fields.String(required=True, metadata={"description": "the automated evidence's ref"})
    outcome = fields.String(required=True, metadata={"description": "created, refreshed or unchanged"})
    result = fields.String(required=True, metadata={"description": "passed, failed or partly"})
    counts = fields.Nested(CountsSchema, required=True)
    version = fields.Integer(allow_none=True, metadata={"description": "the evidence's current version"})
    expires_on = fields.Date(allow_none=True, metadata={"description": "the last day the recorded run counts"})
    reopened = fields.Boolean(required=True, metadata={"description": "what it answers changed: back to review"})
    failing = fields.List(fields.Nested(FailingSchema), required=True,
                          metadata={"description": "the checks that did not pass (muted ones flagged)"})


class CollectionSchema(Schema):
    collector = fields.String(required=True)
    source = fields.String(required=True)
    perimeter = fields.String(required=True)
    created = fields.Integer(required=True)
    refreshed = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    subjects = fields.List(fields.Nested(SubjectSchema), required=True)


@blp.route("/perimeters/<code>/collect/<collector>", methods=["POST"])
@access("manager", "contributor")
@blp.doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": CollectUploadSchema}}})
@blp.response(200, CollectionSchema)
@blp.alt_response(403, description="the role, or the token's perimeters, do not allow it")
@blp.alt_response(404, description="no such perimeter or collector")
@blp.alt_response(413, description="the file exceeds MAX_CONTENT_LENGTH")
@blp.alt_response(415, description="not multipart/form-data")
@blp.alt_response(422, description="the file is missing or refused (the problem names the file and the line or "
                                   "record), or the collector reads a folder, not an upload")
def collect_upload(code: str, collector: str):
    """Run the collector on the uploaded `file` for the perimeter: one automated evidence per subject, created, or
    refreshed by a newer run, or unchanged when it already holds this run (the same file again changes nothing)."""
    session = db.get_session()
    try:
        perimeter = get_perimeter(session, code[:60])
        chosen = collectors.get(collector[:60])
    except EvidenceError as error:
        raise Problem(404, error) from None
    require_write_scope(session, [perimeter.id], what=perimeter.code)
    if chosen.takes != "file":
        raise Problem(422, FOLDER_COLLECTOR, collector=chosen.name, code=perimeter.code, field="collector")
    if request.mimetype != "multipart/form-data":
        raise Problem(415)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Problem(422, NO_FILE, collector=chosen.name, field="file")
    with tempfile.TemporaryDirectory(prefix="evidence-collect-") as folder:
        # The collector reads a path: the upload (already bounded by MAX_CONTENT_LENGTH) under its own name, whose
        # ending (.ocsf.json, .csv) may tell the format; safe_filename keeps it from naming any other place.
        path = Path(folder) / safe_filename(upload.filename)
        upload.save(path)
        report = collector_runs.run_collector(session, actor(), perimeter.code, chosen.name, path,
                                              store=db.get_store(), today=request_today(), config=current_app.config)
    return {
        "collector": report.collector, "source": report.source, "perimeter": report.perimeter,
        "created": report.created, "refreshed": report.refreshed, "unchanged": report.unchanged,
        "subjects": [{"subject": line.subject, "evidence": line.ref, "outcome": line.outcome, "result": line.result,
                      "counts": line.counts.as_dict(), "version": line.version, "expires_on": line.expires_on,
                      "reopened": line.reopened,
                      "failing": [f.as_dict() for f in (*line.failing, *line.muted)]} for line in report.lines],
    }
