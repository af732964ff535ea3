"""The REST API, /api/v1: flask-smorest blueprints on the product's own Flask app, documented in OpenAPI 3.1
(/api/v1/openapi.json, generated from the views' schemas).

Why flask-smorest: it works on a plain Flask app and plain blueprints (APIFlask replaces the Flask class the
whole product, its CLI and its tests build on), generates OpenAPI 3.1 from marshmallow schemas, and is
maintained. Its own JSON error payload and hash ETags are not used: errors are problem+json (errors.py) and
ETags are the rows' version (common.py), which the services' optimistic locking already checks.

Authentication is a bearer token only (auth.py): no cookie opens a session under /api/ (web.TlsAwareSessionInterface),
so there is no CSRF to check there; every API view declares its roles with `evidence.core.access.access`, judged
against the token's role (deny by default, as on the web).

To add a resource: a module in this package with `blp = blueprint("name", __name__, "what it serves")`, listed in
BLUEPRINTS below (gaps.py is the smallest example; common.py has who calls, pagination and ETag/If-Match).
"""
from __future__ import annotations

import http
import importlib
import threading

from flask import Flask
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint
from flask_smorest.utils import prepare_response

from evidence.api.errors import PROBLEM_JSON
from evidence.api.schemas import ProblemSchema
from evidence.core.access import public

API_ROOT = "/api/v1"

# The modules whose `blp` the API serves, in the document's order. A new resource: add its module here.
BLUEPRINTS = [
    "evidence.api.evidence",
    "evidence.api.evidence_versions",
    "evidence.api.reviews",
    "evidence.api.gaps",
    "evidence.api.perimeters",
    "evidence.api.requirements",
    "evidence.api.controls",
    "evidence.api.findings",
    "evidence.api.actions",
    "evidence.api.dossiers",
    "evidence.api.audit",
    "evidence.api.collect",  # automated evidence from a collector's report
    "evidence.api.requests",  # the evaluators' requests for evidence ("demandes de pièces")
    "evidence.api.comments",  # comment threads
]


class Api(SmorestApi):
    """flask-smorest's Api, answering errors as problem+json (documented so) rather than with its own payload, and
    documenting its views when the document is first asked for rather than when the app is made.

    Documenting them (marshmallow schemas to JSON Schema, every view's responses) costs more than the rest of the
    app's creation put together, and most processes that make an app (each command, each worker, each test) never
    serve the document."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, *args, **kwargs):
        self._undocumented: list = []
        self._responses_declared = False
        self._documenting = threading.Lock()
        super().__init__(*args, **kwargs)

    def register_blueprint(self, blp, *, parameters=None, **options):
        """The blueprint's routes now (as flask-smorest does), their documentation in `document()`."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def document(self):
        """The OpenAPI document, every registered view in it, in the order registered."""
        with self._documenting:
            if not self._responses_declared:  # first: the views' responses refer to them
                self._declare_responses()
                self._responses_declared = True
            while self._undocumented:
                blp, name, parameters = self._undocumented.pop(0)
                blp.register_views_in_doc(self, self._app, self.spec, name=name, parameters=parameters)
                self.spec.tag({"name": name, "description": blp.description})
        return self.spec

    def _openapi_json(self):
        self.document()
        return super()._openapi_json()

    def _register_error_handlers(self):
        pass  # errors.init_app: problem+json under /api/, the web's pages elsewhere

    def _register_responses(self):
        pass  # in document(): as costly as the views' documentation (about 40% of making an app), and as rarely read

    def _declare_responses(self):
        super()._register_responses()
        # The error responses are problem+json: re-declare them so (the parent declares application/json).
        for status in http.HTTPStatus:
            if status >= 400:
                response = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
                prepare_response(response, self.spec, PROBLEM_JSON)
                self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def blueprint(name: str, import_name: str, description: str) -> Blueprint:
    """An API blueprint: endpoints `api_<name>.<view>`, routes relative to /api/v1."""
    return Blueprint(f"api_{name}", import_name, url_prefix=API_ROOT, description=description)


def init_app(app: Flask) -> None:
    """Mount the API (after the web: its error handlers wrap the web's, see errors.init_app)."""
    from evidence import __version__
    from evidence.api import auth, errors
    from evidence.extensions import csrf

    app.config.setdefault("API_TITLE", "SecNumCloud evidence API")
    app.config.setdefault("API_VERSION", __version__)
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_ROOT)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = Api(app, spec_kwargs={
        "info": {"description": "Evidence for the SecNumCloud 3.2 qualification: push proofs, review them, read "
                                "the gaps. Authentication: `Authorization: Bearer <token>` (`evidence tokens "
                                "create`). Errors: application/problem+json (RFC 9457)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],  # every operation; the document itself is public
    })
    # flask-smorest adds an `openapi` command group (print/write the document): the served document is the one
    # source, and every command of the product checks the database first (cli.common); not offered.
    app.cli.commands.pop("openapi", None)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "snc_…",
                                                   "description": "an API token (evidence tokens create)"})
    serve_document = app.view_functions["api-docs.openapi_json"]  # a bound method: it takes no attribute

    @public  # the document describes the API; it reveals no data
    def openapi_json():
        return serve_document()

    app.view_functions["api-docs.openapi_json"] = openapi_json
    for name in BLUEPRINTS:
        module = importlib.import_module(name)
        csrf.exempt(module.blp)  # a bearer token, never a cookie: nothing for a forged cross-site request to ride on
        api.register_blueprint(module.blp)
    csrf.exempt(app.blueprints["api-docs"])
    app.extensions["evidence_api"] = api
    auth.init_app(app)
    errors.init_app(app)
