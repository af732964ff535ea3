"""OSCAL downloads of a perimeter: its framework's catalog, its SSP, assessment results and POA&M (evidence.oscal).

Whoever may read the perimeter may download them; the documents follow need-to-know (evidence the reader may not
read is cited by its ref alone) and speak the reader's language. Like the other downloads (the matrix, the
dossier, evidence files), a download is a read and is not recorded in the audit trail.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, request
from flask_login import current_user

from evidence import context as db
from evidence.core.access import access
from evidence.core.vocabulary import ALL_ROLES, LOCALES
from evidence.oscal import MODELS, export
from evidence.presentation.typography import current_locale
from evidence.web import perimeter_or_404
from evidence.web.clock import request_today

bp = Blueprint("oscal", __name__, url_prefix="/perimeters/<code>")


@bp.route("/oscal.json")
@access(*ALL_ROLES)
def download(code: str):
    """?model=catalog|ssp|assessment-results|poam (default ssp); ?lang=fr|en (default: the reader's language)."""
    perimeter = perimeter_or_404(code)
    model = request.args.get("model", "ssp")
    if model not in MODELS:
        abort(404)
    lang = request.args.get("lang") or current_locale()
    if lang not in LOCALES:
        abort(404)
    result = export(db.get_session(), model, perimeter=perimeter, organisation=current_app.config.get("ORGANISATION") or "",
                    lang=lang, reader=current_user, today=request_today())
    response = current_app.response_class(result.data, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{result.file_name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
