"""Every error under /api/ as `application/problem+json` (RFC 9457), in the language of Accept-Language.

`type` is `about:blank` for a plain HTTP status and a URN of ours for a refusal the client can act on; `detail`
is the very sentence the web shows for the same refusal (services raise EvidenceError with a message id, put
into words here as on a page); `errors` lists the fields at fault. The web's error pages are kept for every
other path: each handler below answers for the API and hands anything else to the handler the web registered.
"""
from __future__ import annotations

import json
from typing import Optional

from flask import Flask, current_app, request
from flask.sansio.app import App
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError

from evidence.core.errors import N_, ConflictError, EvidenceError, Message
from evidence.presentation import messages, typography
from evidence.services.evidence_fields import EvidenceInvalid

PROBLEM_JSON = "application/problem+json"
API_PATH = "/api/"

# The URNs of the refusals a client may act on (one per kind of answer, stable: clients branch on them).
REFUSED = "urn:evidence:problem:refused"  # the rules refuse it (four eyes, review state…): 409
INVALID = "urn:evidence:problem:invalid"  # a field is refused: 422, `errors` names each
STALE = "urn:evidence:problem:stale-version"  # If-Match names an older version, or a save crossed another: 412
UNAUTHENTICATED = "urn:evidence:problem:unauthenticated"  # no valid token: 401
OUT_OF_SCOPE = "urn:evidence:problem:out-of-scope"  # the token's perimeters do not reach it: 403
DIGEST_MISMATCH = "urn:evidence:problem:digest-mismatch"  # the body's hash is not the one announced: 400

TITLES = {
    400: _l("Requête invalide"),
    401: _l("Authentification requise"),
    403: _l("Accès refusé"),
    404: _l("Ressource introuvable"),
    405: _l("Méthode non autorisée"),
    406: _l("Format de réponse non disponible"),
    409: _l("Refusé par les règles"),
    412: _l("Version périmée"),
    413: _l("Fichier trop volumineux"),
    415: _l("Type de contenu non pris en charge"),
    422: _l("Données refusées"),
    428: _l("En-tête If-Match requis"),
    429: _l("Trop de requêtes"),
    500: _l("Erreur interne"),
}
TEXTS = {
    400: _l("La requête n'a pas pu être traitée."),
    401: _l("Envoyez un jeton d’API valide dans l’en-tête « Authorization: Bearer <jeton> »."),
    403: _l("Votre rôle ne permet pas cette action."),  # the web's words for the same refusal
    404: _l("Cette adresse ne correspond à aucune ressource de l’API."),
    405: _l("Cette action n'est pas possible à cette adresse."),
    406: _l("L’API répond en JSON."),
    413: _l("Le fichier dépasse la taille maximale autorisée, %(limit)s par envoi."),
    415: _l("Ce type de contenu n’est pas accepté à cette adresse."),
    422: _l("Les données envoyées sont refusées."),
    428: _l("Envoyez l’en-tête If-Match avec l’ETag de la ressource lue (p. ex. If-Match: \"3\") : la modification "
           "ne doit pas écraser celle d’un autre."),
    429: _l("Trop de requêtes : patientez avant de réessayer."),
    500: _l("Une erreur inattendue s'est produite. Elle a été journalisée."),
}

# marshmallow speaks English; its usual refusals in the reader's language (an unlisted one is shown as it is).
MARSHMALLOW = {
    "Missing data for required field.": N_("champ obligatoire"),
    "Unknown field.": N_("champ inconnu"),
    "Field may not be null.": N_("ce champ ne peut pas être vide (null)"),
    "Not a valid string.": N_("texte attendu"),
    "Not a valid integer.": N_("nombre entier attendu"),
    "Not a valid boolean.": N_("booléen attendu (true ou false)"),
    "Not a valid date.": N_("date attendue (AAAA-MM-JJ)"),
    "Not a valid list.": N_("liste attendue"),
    "Invalid input type.": N_("type de valeur invalide"),
    "Invalid value.": N_("valeur invalide"),
    "Not a valid mapping type.": N_("objet JSON attendu"),
    "String does not match expected pattern.": N_("texte refusé : il contient un caractère nul"),  # schemas.NO_NUL
}


class Problem(HTTPException):
    """Raise to answer with a problem: `Problem(404, N_("aucune preuve « %(ref)s »"), ref=ref)`."""

    def __init__(self, status: int, message: Optional[str | Message | EvidenceError] = None, /, *,
                 type: Optional[str] = None, field: Optional[str] = None, headers: Optional[dict] = None, **params):
        super().__init__()
        self.code = status
        if isinstance(message, str):
            message = Message(message, **params)
        self.message = message
        self.type = type
        self.field = field
        self.extra_headers = headers or {}


def is_api_request() -> bool:
    return request.path.startswith(API_PATH)


def request_locale() -> str:
    """The reader's language: Accept-Language (fr or en), else DEFAULT_LOCALE (web.select_locale, which
    flask-babel asks too, so lazy labels come out in it)."""
    from evidence.web import select_locale

    return select_locale()


def say(value) -> str:
    """A message, a refusal or a lazy label in the API reader's language."""
    locale = request_locale()
    if isinstance(value, (Message, EvidenceError)):
        return messages.render(value, locale)
    with force_locale(locale):
        return str(value)


def problem(status: int, detail: Optional[str] = None, *, type: Optional[str] = None,
            errors: Optional[list[dict]] = None, headers: Optional[dict] = None):
    title = TITLES.get(status)
    body = {"type": type or "about:blank", "title": say(title) if title is not None else str(status),
            "status": status}
    if detail is None and status in TEXTS:
        detail = say(TEXTS[status])
        if status == 413:
            detail = detail % {"limit": typography.file_size(current_app.config["MAX_CONTENT_LENGTH"],
                                                             request_locale())}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    response = current_app.response_class(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    response.headers["Content-Language"] = request_locale()
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def refusal_problem(error: EvidenceError):
    """A service's refusal: 412 for a stale version, 422 naming the fields, 409 for the rules' other refusals."""
    if isinstance(error, ConflictError):
        return problem(412, say(error), type=STALE)
    if isinstance(error, EvidenceInvalid):
        return problem(422, say(error), type=INVALID,
                       errors=[{"field": p.field, "message": say(p.message)} for p in error.problems])
    if error.field:
        return problem(422, say(error), type=INVALID, errors=[{"field": error.field, "message": say(error)}])
    return problem(409, say(error), type=REFUSED)


def validation_errors(messages_: dict) -> list[dict]:
    """webargs' {location: {field: [messages]}} (or {field: [...]}) as [{field, message}]."""
    found = []

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key in ("json", "form", "query", "files", "headers", "view_args") and not prefix:
                    walk("", inner)
                else:
                    walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(prefix, item)
        else:
            text = str(value)
            found.append({"field": prefix or None,
                          "message": say(Message(MARSHMALLOW[text])) if text in MARSHMALLOW else text})

    walk("", messages_)
    return found


def http_problem(error: HTTPException):
    if isinstance(error, Problem):
        detail = say(error.message) if error.message is not None else None
        errors = [{"field": error.field, "message": detail}] if error.field and detail else None
        return problem(error.code, detail, type=error.type, errors=errors, headers=error.extra_headers)
    code = error.code or 500
    if code == 422:  # webargs: the request's JSON, form or query refused by its schema
        data = getattr(error, "data", None) or {}
        return problem(422, None, type=INVALID, errors=validation_errors(data.get("messages") or {}))
    if code == 405:
        return problem(405, headers={"Allow": ", ".join(error.valid_methods or ())}
                       if getattr(error, "valid_methods", None) else None)
    if code not in TITLES:
        return problem(code, error.description) if 400 <= code < 600 else problem(500)
    return problem(code)


def internal_problem(error):
    from evidence import context as db

    db.close_session()
    return problem(500)


def concurrent_write_problem(error):
    """Someone else saved the same object at the same moment (optimistic locking, data.models.Versioned): as a
    stale If-Match, the remedy is to read it again; nothing of this request was written."""
    from evidence import context as db

    db.close_session()
    return refusal_problem(ConflictError())


def init_app(app: Flask) -> None:
    """Answer every error under /api/ with a problem; keep the web's own handlers for every other path (called
    after the web registered them)."""
    scoped(app, HTTPException, http_problem)
    scoped(app, CSRFError, http_problem)  # the web registers one for CSRFError (a 400): the API has no CSRF
    scoped(app, InternalServerError, internal_problem)
    scoped(app, StaleDataError, concurrent_write_problem)
    scoped(app, PermissionError, lambda error: problem(403))  # a service's refusal of a role: the web's words
    scoped(app, EvidenceError, refusal_problem)
    scoped(app, ValidationError, lambda error: problem(422, None, type=INVALID,
                                                        errors=validation_errors(error.messages)))


def scoped(app: Flask, key, api_handler) -> None:
    """Register `api_handler` for `key` on API paths, and keep whatever handled `key` before for the others (none:
    the error goes on as if unhandled, e.g. a web view's EvidenceError that nothing caught becomes a 500)."""
    exc_class, code = App._get_exc_class_and_code(key)
    previous = app.error_handler_spec[None][code].get(exc_class)

    def handler(error):
        if is_api_request():
            return api_handler(error)
        if previous is None:
            raise error
        return previous(error)

    app.register_error_handler(key, handler)
