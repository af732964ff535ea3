"""The OpenAPI document: valid OpenAPI 3.1, the bearer scheme declared, every /api/v1 route of the app in it; and
Schemathesis against the demo provider with a manager's token: no server error, every response as the document
says (status, content type, headers, body).

The fuzzing is bounded (a few examples per operation, a fixed seed) so that the file stays within a minute; it is
what CI runs (the README's test command), on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig

from evidence import jobs

from .api_support import bearer, make_token

OPENAPI = "/api/v1/openapi.json"


METHODS = ("get", "post", "put", "patch", "delete")


def operations(spec: dict):
    """(method, path, operation) of every operation (a path item also holds its shared `parameters`)."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def document(app) -> dict:
    response = app.test_client().get(OPENAPI)
    assert response.status_code == 200
    return response.get_json()


@pytest.mark.sqlite_only
def test_the_document_is_valid_openapi_3_1(app):
    spec = document(app)
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises, naming the part at fault


@pytest.mark.sqlite_only
def test_the_bearer_scheme_is_declared_and_required(app):
    spec = document(app)
    assert spec["components"]["securitySchemes"]["bearer"] == {
        **spec["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"bearer": []}]
    # No operation opts out of it: every resource needs a token.
    opted_out = [f"{method} {path}" for method, path, operation in operations(spec) if operation.get("security") == []]
    assert opted_out == []


def flask_to_openapi(rule: str) -> str:
    """/api/v1/controls/<ref>/requirements/<path:requirement> → /api/v1/controls/{ref}/requirements/{requirement}"""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


@pytest.mark.sqlite_only
def test_every_api_route_is_documented(app):
    spec = document(app)
    documented = {(path, method) for method, path, _operation in operations(spec)}
    served = {(flask_to_openapi(rule.rule), method) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") and rule.endpoint != "api-docs.openapi_json"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served, "no API route at all"
    assert served - documented == set()
    assert documented - served == set()
    # And every operation says what it answers when refused: problem+json.
    for method, path, operation in operations(spec):
        assert "default" in operation["responses"], f"{method} {path}"
    problem = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(problem) == ["application/problem+json"]


# --- Schemathesis ------------------------------------------------------------------------------------------------


@pytest.fixture
def api_schema(demo_loaded, monkeypatch):
    """The demo provider's instance and its document, fuzzed with a manager's token (a service account: the demo's
    managers are left as they are, to approve what the fuzzer submits — four eyes)."""
    app = demo_loaded
    # A queued dossier is laid out by a background job (rendered at once in tests: half a minute for the demo's
    # 278 items). The API's answer is what is checked here, not the PDF (tests/test_dossier*.py): the job is left
    # queued, as a busy consumer would leave it.
    monkeypatch.setattr(jobs, "render_dossier", lambda dossier_id: None)
    app.config["FUZZ_TOKEN"] = make_token(app, "fuzz", "manager")
    return schemathesis.openapi.from_wsgi(OPENAPI, app, config=SchemathesisConfig.from_str(CONFIG))


# What the API promises beyond its document's shapes, told to the checks (every check stays on):
# - the schemas check shapes and the services judge values (evidence.api.schemas): a well-formed request the rules
#   refuse — an unknown e-mail, a duplicate ref, an entry id the items do not have — answers 422 naming the field,
#   and an If-Match naming another version answers 412 (a generated ETag rarely names the current one);
# - a PATCH without its required If-Match answers 428 Precondition Required (RFC 6585), not 400, and one whose
#   If-Match names no version of the resource (malformed included) 412 Precondition Failed (RFC 9110 13.1.1).
# (NUL bytes stay among what is generated: the document says that no text holds one, schemas.NO_NUL, so they are sent
# as invalid data, which the door refuses, on PostgreSQL too.)
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428", "429", "5xx"]

[checks.missing_required_header]
expected-statuses = ["400", "401", "403", "406", "415", "422", "428"]
"""


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request):
    """Schemathesis 4.32's lazy schema reads the test item's `_nodeid`, which pytest 9.2 no longer has (it keeps
    `_id`): given back, read-only in effect (what Schemathesis writes there only renames its own reports)."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.auth()
class FuzzToken:
    """The manager's token on every generated request, given the way Schemathesis knows of (a header added by hand
    would hide from it that a negative case it made without credentials was sent with them); its ignored_auth check
    then also sends some requests without it, or with a wrong one, and expects 401."""

    def get(self, case, context):
        return case.operation.schema.app.config["FUZZ_TOKEN"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), **bearer(data, "en")}


# Shapes, fuzzed once: what only PostgreSQL could refuse (a NUL in text) has its own test on both databases
# (test_api_resources.test_a_nul_byte_in_a_json_body_is_refused_at_the_door).
@pytest.mark.sqlite_only
@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_the_api_keeps_to_its_document(case):
    case.call_and_validate()
