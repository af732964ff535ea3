"""/api/v1/evidence/{ref}/versions: list them, add one (a streamed body, multipart, or JSON for a link), download
a version's file with the web's need-to-know checks.

A body announced with a digest (`Digest: sha-256=<base64>` RFC 3230, `Repr-Digest: sha-256=:<base64>:` RFC 9530,
`X-Content-SHA256: <hex>`) is hashed while it is stored; a mismatch is refused before the version exists (the
temporary copy is dropped, no row is written, nothing is audited).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re

from flask import current_app, request, send_file
from marshmallow import fields
from sqlmodel import select
from werkzeug.http import parse_options_header

from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import ETAG_HEADER, Problem, actor, answers_problem, etag, paginate, require_write_scope
from evidence.api.errors import DIGEST_MISMATCH
from evidence.api.evidence_bodies import (
    describe,
    evidence_or_404,
    readable_evidence,
    scope_of_evidence,
    version_body,
    visible,
)
from evidence.api.schemas import REF, EvidenceSchema, PageArgsSchema, Schema, VersionSchema, page_of, text
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import ALL_ROLES, WRITER_ROLES
from evidence.data.models import EvidenceVersion, User
from evidence.services import need_to_know
from evidence.services.evidence import add_version

blp = blueprint("evidence_versions", __name__, "Evidence versions: upload a new file (streamed), list, download")

DIGEST_HEADERS = ("Digest", "Repr-Digest", "X-Content-SHA256")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class DigestMismatch(EvidenceError):
    def __init__(self, header: str, announced: str, found: str):
        super().__init__(N_("%(header)s : le fichier reçu a pour SHA-256 %(found)s, pas %(announced)s ; rien n’a été "
                            "enregistré"), header=header, announced=announced, found=found, field=header)
        self.header = header


def announced_digests() -> dict[str, str]:
    """header -> the SHA-256 (hex) it announces; a header that says none (or badly) is refused, naming it."""
    found = {}
    for header in DIGEST_HEADERS:
        value = request.headers.get(header)
        if value is None:
            continue
        digest = _parse(header, value.strip())
        if digest is None:
            raise Problem(400, N_("en-tête %(header)s illisible : écrivez %(example)s"), header=header,
                          field=header, example={"Digest": "sha-256=<base64>", "Repr-Digest": "sha-256=:<base64>:",
                                                 "X-Content-SHA256": "<64 hex>"}[header])
        found[header] = digest
    return found


def _parse(header: str, value: str) -> str | None:
    if header == "X-Content-SHA256":
        return value.lower() if _HEX.match(value) else None
    for member in value.split(","):
        algorithm, _, encoded = member.strip().partition("=")
        if algorithm.strip().lower() != "sha-256":
            continue
        encoded = encoded.strip()
        if header == "Repr-Digest":  # a structured-field byte sequence, between colons
            if not (len(encoded) > 2 and encoded[0] == encoded[-1] == ":"):
                return None
            encoded = encoded[1:-1]
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return None
        return raw.hex() if len(raw) == 32 else None
    return None


class DigestCheckedStream:
    """The upload as the store reads it, hashed on the way; at its end, before the store keeps anything, each
    announced digest is compared and a mismatch raised (the store drops its temporary copy)."""

    def __init__(self, stream, announced: dict[str, str]):
        self._stream, self._announced, self._hash, self._checked = stream, announced, hashlib.sha256(), False

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._hash.update(data)
        elif not self._checked:
            self._checked = True
            found = self._hash.hexdigest()
            for header, announced in self._announced.items():
                if announced != found:
                    raise DigestMismatch(header, announced, found)
        return data


class VersionListArgsSchema(PageArgsSchema):
    pass


class VersionLinkSchema(Schema):
    url = text(required=True, metadata={"description": "a link evidence's new address"})
    note = text()


class VersionUploadSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
    note = text()


@blp.route("/evidence/<ref>/versions", parameters=[REF])
@access(*ALL_ROLES)
@blp.arguments(VersionListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(VersionSchema))
def list_versions(ref: str, **args):
    """The evidence's versions, newest first (file names, addresses and notes withheld by need-to-know)."""
    session = db.get_session()
    evidence = evidence_or_404(ref)
    readable = need_to_know.can_read(session, actor(), evidence)
    query = visible(select(EvidenceVersion, User).outerjoin(User, User.id == EvidenceVersion.author_id)
                    .where(EvidenceVersion.evidence_id == evidence.id)).order_by(EvidenceVersion.number.desc())
    page = paginate(session, query, args)
    page["items"] = [version_body(evidence, version, author, readable) for version, author in page["items"]]
    return page


@blp.route("/evidence/<ref>/versions", methods=["POST"], parameters=[REF])
@access(*WRITER_ROLES)
@blp.doc(parameters=[
    {"in": "query", "name": "filename", "schema": {"type": "string", "pattern": "^[^\\x00]*$"},
     "description": "the file's name, for a streamed body (else Content-Disposition: attachment; filename=…)"},
    {"in": "query", "name": "note", "schema": {"type": "string", "pattern": "^[^\\x00]*$"}, "description": "the version's note (streamed body)"},
    {"in": "header", "name": "Digest", "schema": {"type": "string"}, "description": "sha-256=<base64> (RFC 3230)"},
    {"in": "header", "name": "Repr-Digest", "schema": {"type": "string"},
     "description": "sha-256=:<base64>: (RFC 9530)"},
    {"in": "header", "name": "X-Content-SHA256", "schema": {"type": "string"}, "description": "64 hex digits"},
], requestBody={"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": VersionUploadSchema},
    "application/json": {"schema": VersionLinkSchema},
    "*/*": {"schema": {"type": "string", "format": "binary"}}}})
@blp.response(201, EvidenceSchema, headers=ETAG_HEADER, description="the version was added (the evidence is back "
              "to draft)")
@blp.alt_response(200, schema=EvidenceSchema, description="identical to the current version: nothing was added")
@answers_problem(blp, 400, "a digest header does not match the body: nothing was stored")
@answers_problem(blp, 413, "the file exceeds MAX_CONTENT_LENGTH")
def add(ref: str):
    """A new version: the raw body (its Content-Type the file's), a multipart `file`, or JSON `{url}` for a link.
    The digest headers, when given, describe the file's bytes (for multipart: the `file` part's)."""
    session = db.get_session()
    evidence = readable_evidence(ref)
    require_write_scope(session, scope_of_evidence(session, evidence), what=evidence.ref)
    announced = announced_digests()
    stream, filename, url, note = None, "", "", request.args.get("note", "")
    if request.mimetype == "application/json":
        given = request.get_json(silent=True)
        body = VersionLinkSchema().load(given if isinstance(given, dict) else {})
        url, note = body["url"], body.get("note", "")
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise Problem(422, N_("choisissez un fichier ou indiquez un lien"), field="file")
        stream, filename, note = upload.stream, upload.filename, request.form.get("note", "")
    elif request.mimetype == "application/x-www-form-urlencoded":
        # What curl sends for --data-binary unless told otherwise: a form, already parsed (and its bytes changed)
        # by the time a view runs. Refused rather than stored wrong.
        raise Problem(415, N_("envoyez le fichier avec son type (p. ex. Content-Type: application/pdf), pas comme "
                              "un formulaire (application/x-www-form-urlencoded)"))
    else:
        stream = request.stream
        filename = request.args.get("filename") or _disposition_filename() or f"{evidence.ref}.bin"
    if stream is not None and announced:
        stream = DigestCheckedStream(stream, announced)
    try:
        version = add_version(session, actor(), evidence, store=db.get_store(), upload=stream, filename=filename,
                              url=url, note=note, max_size=current_app.config["MAX_CONTENT_LENGTH"],
                              link_schemes=current_app.config["LINK_SCHEMES"])
    except DigestMismatch as mismatch:
        session.rollback()
        raise Problem(400, mismatch, type=DIGEST_MISMATCH, field=mismatch.header) from None
    body = describe(session, [evidence])[0]
    return body, 200 if version is None else 201, {"ETag": etag(evidence)}


def _disposition_filename() -> str:
    value = request.headers.get("Content-Disposition")
    if not value:
        return ""
    _kind, options = parse_options_header(value)
    return options.get("filename", "")


@blp.route("/evidence/<ref>/versions/<int:number>/file", parameters=[REF])
@access(*ALL_ROLES)
@blp.doc(responses={"200": {"description": "the version's file, as an attachment", "content": {
    "*/*": {"schema": {"type": "string", "format": "binary"}}}}})
@answers_problem(blp, 403, "need-to-know: its classification, owner and named readers decide")
@answers_problem(blp, 404, "no such version, or a link (no file)")
def download(ref: str, number: int):
    """The file of version `number`, for whoever may read the evidence (need-to-know, as on the web)."""
    session = db.get_session()
    evidence = readable_evidence(ref)
    version = session.exec(visible(select(EvidenceVersion).where(
        EvidenceVersion.evidence_id == evidence.id, EvidenceVersion.number == number))).first()
    if version is None or version.storage_key is None:  # an evaluator: an approved version only
        raise Problem(404, N_("%(ref)s n’a pas de fichier en version %(number)s"), ref=evidence.ref, number=number)
    stream = db.get_store().open(version.storage_key)
    # As the web's download (web.evidence.download): markup is handed over as opaque bytes, never rendered.
    risky = version.media_type in ("text/html", "image/svg+xml", "application/xml") or "html" in version.media_type
    response = send_file(stream, mimetype="application/octet-stream" if risky else version.media_type,
                         as_attachment=True, conditional=False, etag=False,
                         download_name=version.original_filename or f"{evidence.ref}-v{version.number}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(version.sha256)).decode()}:"
    return response
