"""/api/v1/perimeters/{code}/dossiers: the qualification dossier's versions — queue a render (managers; a
background job lays it out, as from the dossiers page), follow its status, download its PDFs with the web's rules
(a PDF carrying evidence content the reader may not read is for those who may read it all; not audited, as the
web's download is not).

A version is named by its number in the perimeter (iaas-fr1-v3: `/perimeters/iaas-fr1/dossiers/3`).
"""
from __future__ import annotations

import marshmallow as ma
from flask import send_file
from marshmallow import fields
from sqlmodel import select

from evidence import context as db
from evidence import jobs
from evidence.api import blueprint
from evidence.api.common import Problem, actor, paginate, role
from evidence.api.evidence_bodies import user_ref
from evidence.api.perimeters import CODE, perimeter_or_404, refusal, writable_perimeter
from evidence.api.schemas import PageArgsSchema, Schema, UserRefSchema, page_of, text
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.rules import evaluation
from evidence.core.vocabulary import ALL_ROLES, COMPLIANCE_ROLES
from evidence.data.models import Dossier, User
from evidence.dossier import history
from evidence.dossier.generate import (
    LANGUAGES,
    checked_language,
    file_name,
    label,
    offered_pdf,
    queue,
    status_words,
)
from evidence.services import need_to_know
from evidence.web.clock import request_today

blp = blueprint("dossiers", __name__, "Dossiers: render the qualification dossier, follow it, download its PDFs")

VERSION = {"in": "path", "name": "number", "description": "the version's number in the perimeter", "example": 1}

NO_VERSION = N_("%(perimeter)s n’a pas de version de dossier %(number)s")  # the dossier's own words
NO_PDF = N_("%(name)s n’a pas de PDF « %(kind)s » (draft, approved ou signed)")
NO_PDF_YET = N_("%(name)s n’a pas encore de PDF (état : %(status)s)")
PDF_KINDS = ("draft", "approved", "signed")


class JsonBoolean(fields.Boolean):
    """JSON's own true or false: 0, 1 or "yes" are refused rather than guessed at (as the document says)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class DossierQueueSchema(Schema):
    class Meta:
        unknown = ma.RAISE

    language = text(load_default="fr", metadata={"enum": list(LANGUAGES)})
    marking = text(load_default="", metadata={
        "description": "the mention on every page; empty: the DOSSIER_MARKING setting's, if any"})
    attach_evidence = JsonBoolean(load_default=False, metadata={"description": "attach the evidence files (PDF/A-3)"})


class ApprovalSchema(Schema):
    name = fields.String(required=True)
    function = fields.String(required=True)
    approved_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})


class PdfSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "draft, approved or signed"})
    sha256 = fields.String(required=True)
    size = fields.Integer(allow_none=True)
    download = fields.String(required=True)


class DossierSchema(Schema):
    perimeter = fields.String(required=True)
    number = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "queued, rendering, draft, approved or failed"})
    progress = fields.Integer(required=True, metadata={"description": "percent of the rendering done"})
    error = fields.String(required=True, metadata={"description": "why the rendering failed"})
    language = fields.String(required=True)
    attach_evidence = fields.Boolean(required=True)
    marking = fields.String(required=True)
    author = fields.Nested(UserRefSchema, allow_none=True)
    created_at = fields.DateTime(required=True)
    approved_at = fields.DateTime(allow_none=True, metadata={"description": "the second approval: frozen since"})
    approvals = fields.List(fields.Nested(ApprovalSchema), required=True)
    manifest_sha256 = fields.String(allow_none=True, metadata={"description": "the evidence bundle's manifest"})
    signed_at = fields.DateTime(allow_none=True)
    signer = fields.String(required=True)


class DossierDetailSchema(DossierSchema):
    withheld = fields.List(fields.String(), required=True, metadata={
        "description": "refs of evidence it carries that the token's account may not read: then no PDF is offered"})
    pdfs = fields.List(fields.Nested(PdfSchema), required=True, metadata={"description": "what may be downloaded"})


class PdfArgsSchema(Schema):
    kind = text(metadata={"description": "draft, approved or signed; none: the one handed over (the signed "
                                         "PDF when there is one, else the current one)"})


def version_or_404(perimeter, number: int) -> Dossier:
    dossier = history.version(db.get_session(), perimeter, number)
    if dossier is None or not evaluation.sees_dossier(role(), dossier.status):  # an evaluator: approved only
        raise Problem(404, NO_VERSION, perimeter=perimeter.code, number=number)
    return dossier


def pdf_kinds() -> tuple[str, ...]:
    """The PDFs of a version the caller may take: an evaluator never the draft's (marked « PROJET »)."""
    return PDF_KINDS if evaluation.sees_work_in_progress(role()) else PDF_KINDS[1:]


def describe(session, perimeter, dossiers: list[Dossier], detail: bool = False) -> list[dict]:
    """The API's body of each version, in three queries whatever their number; with `detail`, what it offers to
    download (need-to-know judges each version's PDF apart: asked of one version at a time)."""
    from evidence.api import API_ROOT

    approvals = history.approvals(session, [d.id for d in dossiers])
    authors = {u.id: u for u in session.exec(select(User).where(User.id.in_(
        {d.author_id for d in dossiers if d.author_id} or {-1})))}
    bodies = []
    for d in dossiers:
        options = d.options or {}
        body = {
            "perimeter": perimeter.code, "number": d.number, "status": d.status, "progress": d.progress,
            "error": d.error or "", "language": d.language, "attach_evidence": bool(options.get("attach_evidence")),
            "marking": options.get("marking") or "", "author": user_ref(authors.get(d.author_id)),
            "created_at": d.created_at, "approved_at": d.approved_at, "approvals": approvals[d.id],
            "manifest_sha256": d.manifest_sha256, "signed_at": d.signed_at, "signer": d.signer or "",
        }
        if detail:
            # As the dossier's page: a PDF carrying evidence content its reader may not read is offered to nobody
            # but those who may read it all.
            body["withheld"] = need_to_know.dossier_unreadable(session, actor(), d.snapshot or {})
            base = f"{API_ROOT}/perimeters/{perimeter.code}/dossiers/{d.number}/pdf"
            body["pdfs"] = [] if body["withheld"] else [
                {"kind": kind, "sha256": pdf[1], "size": pdf[2], "download": f"{base}?kind={kind}"}
                for kind in pdf_kinds() if (pdf := offered_pdf(d, kind))]
        bodies.append(body)
    return bodies


@blp.route("/perimeters/<code>/dossiers", parameters=[CODE])
@access(*ALL_ROLES)
@blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(DossierSchema))
@refusal(blp, 404, "no such perimeter, or beyond the token's perimeters")
def list_dossiers(code: str, **args):
    """The perimeter's dossier versions, the newest first (what each offers to download: the version's own
    address)."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    query = select(Dossier).where(Dossier.perimeter_id == perimeter.id)
    if not evaluation.sees_work_in_progress(role()):
        query = query.where(Dossier.status == "approved")
    page = paginate(session, query.order_by(Dossier.number.desc()), args)
    page["items"] = describe(session, perimeter, page["items"])
    return page


@blp.route("/perimeters/<code>/dossiers", methods=["POST"], parameters=[CODE])
@access(*COMPLIANCE_ROLES)
@blp.arguments(DossierQueueSchema, required=False, example={"language": "fr", "marking": "Diffusion restreinte", "attach_evidence": False})
@blp.response(202, DossierDetailSchema, headers={"Location": {"schema": {"type": "string"}}})
@refusal(blp, 403, "the role, or the token's perimeters, do not allow it")
@refusal(blp, 422, "a field is refused: `errors` names it")
def queue_dossier(body: dict, code: str):
    """Queue a new version: its snapshot is frozen now, a background job lays it out; follow `Location` until
    its status is draft (or failed)."""
    session = db.get_session()
    perimeter = writable_perimeter(code)
    try:
        checked_language(body["language"])
    except EvidenceError as error:  # the dossier's words, beside the field they concern
        raise EvidenceError(error.message, field="language") from None
    item = queue(session, actor(), perimeter, body["language"], body["attach_evidence"], body["marking"],
                 request_today(), organisation=db.dossier_settings().organisation,
                 default_marking=db.dossier_marking())
    jobs.render_dossier(item.id)  # the id only: the consumer has its own settings (see jobs)
    session.refresh(item)
    return describe(session, perimeter, [item], detail=True)[0], 202, {
        "Location": f"{blp.url_prefix}/perimeters/{perimeter.code}/dossiers/{item.number}"}


@blp.route("/perimeters/<code>/dossiers/<int:number>", parameters=[CODE, VERSION])
@access(*ALL_ROLES)
@blp.response(200, DossierDetailSchema)
@refusal(blp, 404, "no such perimeter or version")
def get_dossier(code: str, number: int):
    """One version: its status and progress, its approvals, the PDFs it offers."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    return describe(session, perimeter, [version_or_404(perimeter, number)], detail=True)[0]


@blp.route("/perimeters/<code>/dossiers/<int:number>/pdf", parameters=[CODE, VERSION])
@access(*ALL_ROLES)
@blp.arguments(PdfArgsSchema, location="query", as_kwargs=True)
@blp.response(200, description="the PDF", content_type="application/pdf")
@refusal(blp, 403, "the PDF carries evidence content the token's account may not read")
@refusal(blp, 404, "no such version, or it has no such PDF (yet)")
def download_dossier(code: str, number: int, **args):
    """A version's PDF: the one handed over (signed when it is, else the current one), or ?kind=draft|approved|
    signed."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    dossier = version_or_404(perimeter, number)
    kind = args.get("kind") or None
    pdf = offered_pdf(dossier, kind) if kind in (None, *pdf_kinds()) else None
    if pdf is None:
        name = label(perimeter.code, dossier)
        raise (Problem(404, NO_PDF, name=name, kind=kind[:20]) if kind
               else Problem(404, NO_PDF_YET, name=name, status=status_words(dossier.status)))
    if need_to_know.dossier_unreadable(session, actor(), dossier.snapshot or {}):
        raise Problem(403)
    response = send_file(db.get_store().open(pdf[0]), mimetype="application/pdf", as_attachment=True,
                         download_name=file_name(perimeter.code, dossier, kind), conditional=False, etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
