"""Deny by default, and the role × route matrix."""
import pytest
from flask import Blueprint

from evidence.core import access

from .conftest import csrf_token, make_app

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only

ROLES = ("admin", "manager", "contributor", "auditor", "evaluator")
EVERYONE = set(ROLES)
MANAGERS = {"admin", "manager"}
WRITERS = {"admin", "manager", "contributor"}

# Who may open (GET) and who may post to each endpoint. A new route fails the test until it is listed here:
# every access decision is written down once and reviewed.
MATRIX = {
    "static": ("public", "public"),
    "auth.login": ("public", "public"),
    "auth.set_locale": (None, "public"),
    "auth.logout": (None, EVERYONE),
    "auth.account": (EVERYONE, EVERYONE),
    "auth.change_password": (EVERYONE, EVERYONE),
    "auth.set_password": ("public", "public"),  # the one-time link: whoever holds it (256 bits) chooses the password
    "inbox.index": (EVERYONE, None),
    "inbox.read": (None, EVERYONE),
    "inbox.read_all": (None, EVERYONE),
    "dashboard.index": (EVERYONE, None),
    "dashboard.healthz": ("public", None),
    "requirements.index": (EVERYONE, None),
    "requirements.show": (EVERYONE, WRITERS),  # POST: only the "Associer" picker's search (it changes nothing)
    "perimeters.index": (EVERYONE, None),
    "perimeters.show": (EVERYONE, None),
    "perimeters.new": (MANAGERS, MANAGERS),
    "perimeters.edit": (MANAGERS, MANAGERS),
    "perimeters.applicability": (MANAGERS, MANAGERS),
    "perimeters.designate_document": (None, MANAGERS),
    "perimeters.remove_document": (None, MANAGERS),
    "readiness.dashboard": (EVERYONE, None),
    "readiness.gap_list": (EVERYONE, None),
    "readiness.matrix": (EVERYONE, None),
    "oscal.download": (EVERYONE, None),  # need-to-know holds inside the documents (evidence cited by ref alone)
    "readiness.verdict": (EVERYONE, MANAGERS),
    "readiness.waiver": (None, MANAGERS),
    "findings.findings": (EVERYONE, MANAGERS),
    # Findings raised in place: an evaluator (or a manager for a centre without accounts) raises and closes; every
    # reader of the perimeter opens a finding; the service judges who changes which of its fields.
    "findings.finding": (EVERYONE, MANAGERS | {"evaluator"}),
    "findings.raise_finding": (MANAGERS | {"evaluator"}, MANAGERS | {"evaluator"}),
    "findings.close_finding": (None, MANAGERS | {"evaluator"}),
    # Evaluation campaigns: read by every reader of the perimeter, opened, changed, staffed and closed by managers.
    "campaigns.index": (EVERYONE, MANAGERS),
    "campaigns.show": (EVERYONE, MANAGERS),
    "campaigns.evaluators": (None, MANAGERS),
    "campaigns.close": (None, MANAGERS),
    "findings.actions": (EVERYONE, MANAGERS),
    "findings.action": (WRITERS, WRITERS),
    "findings.new_action": (MANAGERS, MANAGERS),
    "bulk.applicability": (None, MANAGERS),
    "bulk.review": (None, MANAGERS),
    "bulk.evidence_owner": (None, MANAGERS),
    "bulk.control_owner": (None, MANAGERS),
    "sovereignty.page": (EVERYONE, None),
    "sovereignty.seat": (None, MANAGERS),
    "sovereignty.holder": (MANAGERS, MANAGERS),
    "sovereignty.subcontractor": (MANAGERS, MANAGERS),
    "sovereignty.site": (None, MANAGERS),
    "sovereignty.data": (None, MANAGERS),
    "sovereignty.operation": (None, MANAGERS),
    "sovereignty.foreign_link": (MANAGERS, MANAGERS),
    "sovereignty.no_foreign_link": (None, MANAGERS),
    "sovereignty.change": (MANAGERS, MANAGERS),
    "sovereignty.notice": (None, MANAGERS),
    "sovereignty.delete": (None, MANAGERS),
    "dossiers.index": (EVERYONE, MANAGERS),
    "dossiers.show": (EVERYONE, None),
    "dossiers.download": (EVERYONE, None),
    "dossiers.approve": (None, MANAGERS),
    "dossiers.render_again": (None, MANAGERS),
    "dossiers.diff": (EVERYONE, None),
    "controls.index": (EVERYONE, None),
    "controls.show": (EVERYONE, WRITERS),  # POST: only the "map items" picker's search (it changes nothing)
    "controls.new": (WRITERS, WRITERS),
    "controls.edit": (WRITERS, WRITERS),
    "controls.retire": (None, WRITERS),
    "controls.map_item": (None, WRITERS),
    "controls.unmap_item": (None, WRITERS),
    "evidence.index": (EVERYONE, None),
    "evidence.show": (EVERYONE, None),
    "evidence.download": (EVERYONE, None),
    "evidence.new": (WRITERS, WRITERS),
    "evidence.edit": (WRITERS, WRITERS),
    "evidence.new_version": (None, WRITERS),
    "evidence.review_action": (None, WRITERS),
    "evidence.readers": (WRITERS, WRITERS),  # need-to-know: the owner or a manager names readers (service refuses others)
    "pickers.requirements": (WRITERS, None),  # the searches behind the pickers: for the roles that fill forms
    "pickers.controls": (WRITERS, None),
    "pickers.evidence": (WRITERS, None),
    "pickers.readers": (WRITERS, None),  # the people an evidence's owner may name as its readers
    "pickers.owners": (MANAGERS, None),  # only a manager chooses an owner
    "admin.users": ({"admin"}, {"admin"}),
    "admin.set_role": (None, {"admin"}),
    "admin.set_active": (None, {"admin"}),
    "admin.password_link": (None, {"admin"}),
    "admin.set_grants": (None, {"admin"}),  # the perimeters an auditor or an evaluator reads
    "admin.audit_log": ({"admin", "manager"}, None),
    "admin.verify_audit": (None, {"admin", "manager"}),
    # Second factors: the login's second step is public (a pending login, checked by the view); everyone manages
    # his own factors; an admin resets another's.
    "second_factor.login_step": ("public", "public"),
    "second_factor.index": (EVERYONE, None),
    "second_factor.enrol_totp": (EVERYONE, EVERYONE),
    "second_factor.regenerate_codes": (None, EVERYONE),
    "second_factor.remove_totp": (None, EVERYONE),
    "admin.reset_second_factors": (None, {"admin"}),
    "admin.unbind_sso": (None, {"admin"}),  # another account's binding to the identity provider
    # Security keys: everyone registers, renames and removes his own (the service refuses another's); the login's
    # key step is public (a pending login, checked by the view).
    "security_keys.registration_options": (None, EVERYONE),
    "security_keys.registration_verify": (None, EVERYONE),
    "security_keys.recovery_codes": (None, EVERYONE),
    "security_keys.rename": (None, EVERYONE),
    "security_keys.remove": (None, EVERYONE),
    "security_keys.authentication_options": (None, "public"),
    "security_keys.authentication_verify": (None, "public"),
    "admin_tokens.index": ({"admin"}, {"admin"}),  # API tokens: listed, created and revoked by an administrator
    "admin_tokens.revoke": (None, {"admin"}),
    "api-docs.openapi_json": ("public", None),  # the API's description: no data in it
    # Comment threads: whoever sees the subject (services.comments); editing is the author's, deleting his or a
    # manager's (the service and the view refuse anyone else).
    "comments.post": (None, EVERYONE),
    "comments.show": (EVERYONE, None),
    "comments.edit": (EVERYONE, EVERYONE),
    "comments.delete": (None, EVERYONE),
    # Evidence requests: everyone reads those of the perimeters he reaches; an evaluator (or a manager logging a
    # centre's) raises, accepts and reopens them (rules.evaluation: the judging side); the team answers.
    "requests.index": (EVERYONE, None),
    "requests.export": (EVERYONE, None),
    "requests.new": ({"evaluator", "admin", "manager"}, {"evaluator", "admin", "manager"}),
    "requests.show": (EVERYONE, None),
    "requests.answer": (None, WRITERS),
    "requests.accept": (None, {"evaluator", "admin", "manager"}),
    "requests.reopen": (None, {"evaluator", "admin", "manager"}),
}

# The API, judged on the bearer token's role (a token is never an admin's): each route has one method; who may call it.
TOKEN_ROLES = ("manager", "contributor", "auditor", "evaluator")
READERS = set(TOKEN_ROLES)
API_WRITERS = {"manager", "contributor"}
API_MANAGERS = {"manager"}
API_MATRIX = {
    "api_perimeters.list_perimeters": READERS,
    "api_perimeters.get_perimeter_view": READERS,
    "api_gaps.perimeter_gaps": READERS,
    "api_requirements.list_requirements": READERS,
    "api_requirements.get_requirement": READERS,
    "api_controls.list_controls": READERS,
    "api_controls.get_control_view": READERS,
    "api_controls.create_control_view": API_WRITERS,
    "api_controls.patch_control": API_WRITERS,  # a contributor: his own controls (the service refuses others)
    "api_controls.retire_control_view": API_WRITERS,
    "api_controls.map_control": API_WRITERS,
    "api_controls.unmap_control": API_WRITERS,
    "api_evidence.list_evidence": READERS,
    "api_evidence.get_evidence": READERS,
    "api_evidence.create": API_WRITERS,
    "api_evidence.patch": API_WRITERS,
    "api_evidence_versions.list_versions": READERS,
    "api_evidence_versions.download": READERS,  # need-to-know holds inside (services.need_to_know)
    "api_evidence_versions.add": API_WRITERS,
    "api_reviews.review_evidence": API_WRITERS,  # a contributor submits; approving is a manager's (the service)
    "api_findings.list_findings": READERS,
    "api_findings.get_finding": READERS,
    "api_findings.create_finding_view": API_MANAGERS,
    # Findings raised in place: a manager's token and an evaluator's (when TOKEN_ROLES lists the evaluator) raise,
    # close and patch; the service judges who changes which field (an evaluator's own words).
    "api_findings.patch_finding": API_MANAGERS | ({"evaluator"} & READERS),
    "api_findings.raise_finding_view": API_MANAGERS | ({"evaluator"} & READERS),
    "api_findings.close_finding_view": API_MANAGERS | ({"evaluator"} & READERS),
    "api_actions.list_actions": READERS,
    "api_actions.get_action": READERS,
    "api_actions.create_action_view": API_MANAGERS,
    "api_actions.patch_action": API_WRITERS,  # a contributor: the actions he owns (the service)
    "api_dossiers.list_dossiers": READERS,
    "api_dossiers.get_dossier": READERS,
    "api_dossiers.download_dossier": READERS,
    "api_dossiers.queue_dossier": API_MANAGERS,
    "api_audit.audit_head": API_MANAGERS,  # as the web's audit log (admin and manager)
    "api_collect.collect_upload": API_WRITERS,
    "api_comments.list_comments": READERS,  # comment threads: whoever sees the subject (services.comments)
    "api_comments.post_comment": READERS,
    "api_comments.get_comment": READERS,
    "api_comments.patch_comment": READERS,
    "api_comments.delete_comment": READERS,
    "api_requests.list_requests": READERS,  # evidence requests (an evaluator's token: raise, accept, reopen)
    "api_requests.get_request": READERS,
    "api_requests.raise_request_view": API_MANAGERS | ({"evaluator"} & READERS),
    "api_requests.answer_request": API_WRITERS,
    "api_requests.accept_request": API_MANAGERS | ({"evaluator"} & READERS),
    "api_requests.reopen_request": API_MANAGERS | ({"evaluator"} & READERS),
}

SAMPLE_ARGS = {"user_id": 1, "code": "en", "filename": "css/app.css", "framework": "secnumcloud-3.2", "ref": "5.1.a",
               "number": 1, "action": "submit", "requirement_id": 1, "fmt": "xlsx", "finding_id": 1, "action_id": 1, "dossier_id": 1, "other_id": 1, "holder_id": 1, "subcontractor_id": 1, "kind": "site", "row_id": 1, "notification_id": 1, "token": "x", "key_id": 1,
               "token_id": 1, "collector": "prowler", "requirement": "5.1.a",
               "comment_id": 1, "request_id": 1, "campaign_id": 1}


def test_every_route_declares_an_access_rule(app):
    missing = [
        rule.endpoint for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "access_rule", None) is None
    ]
    assert missing == []


def test_every_route_is_in_the_matrix(app):
    assert {rule.endpoint for rule in app.url_map.iter_rules()} == set(MATRIX) | set(API_MATRIX)


def api_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint in API_MATRIX]


def web_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint not in API_MATRIX]


def test_declared_api_rules_match_the_matrix(app):
    for rule in api_rules(app):
        (method,) = rule.methods - {"HEAD", "OPTIONS"}
        declared = app.view_functions[rule.endpoint].access_rule
        assert {role for role in TOKEN_ROLES if declared.allows(role, method)} == API_MATRIX[rule.endpoint], rule.endpoint


def test_declared_rules_match_the_matrix(app):
    for endpoint, (read, write) in MATRIX.items():
        rule = app.view_functions[endpoint].access_rule
        if rule == access.PUBLIC:
            assert "public" in (read, write), endpoint
            continue
        if read is not None:
            assert set(rule.read) == read, endpoint
        if write is not None:
            assert set(rule.write) == write, endpoint


PERIMETER = "iaas-t"  # the perimeter of seed_tiny_perimeter: a `code` of the address that is not a locale's


def _url(app, rule):
    with app.test_request_context():
        from flask import url_for

        args = {a: SAMPLE_ARGS[a] for a in rule.arguments}
        if "code" in args and rule.endpoint != "auth.set_locale":
            args["code"] = PERIMETER
        return url_for(rule.endpoint, **args)


def granted_perimeter(app, users) -> None:
    """The sample perimeter (PERIMETER), granted to the evaluator: his pages of it open (he is
    refused a page by its rule alone, never by his reach, which tests/test_evaluator_scope.py checks)."""
    from evidence.data import database as db
    from evidence.data.models import PerimeterGrant

    from .conftest import seed_tiny_perimeter

    with app.app_context(), db.session_scope(app) as session:
        perimeter = seed_tiny_perimeter(session, users).perimeter
        assert perimeter.code == PERIMETER
        session.add(PerimeterGrant(user_id=users["evaluator"].id, perimeter_id=perimeter.id))
        session.commit()


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_over_http(app, client, users, login_as, role):
    granted_perimeter(app, users)
    login_as(role)
    token = csrf_token(client, "/")
    for rule in web_rules(app):
        read, write = MATRIX[rule.endpoint]
        url = _url(app, rule)
        if "GET" in rule.methods and read not in (None, "public"):
            status = client.get(url).status_code
            assert (status != 403) == (role in read), (role, "GET", url, status)
        if "POST" in rule.methods and write not in (None, "public"):
            status = client.post(url, data={"csrf_token": token, "role": "auditor"}).status_code
            assert (status != 403) == (role in write), (role, "POST", url, status)
            if rule.endpoint == "auth.logout":
                login_as(role)
                token = csrf_token(client, "/")


def test_anonymous_visitor_is_sent_to_login_or_refused(app, client):
    for rule in web_rules(app):
        read, write = MATRIX[rule.endpoint]
        url = _url(app, rule)
        if "GET" in rule.methods and read not in (None, "public"):
            response = client.get(url)
            assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url
        if "POST" in rule.methods and write not in (None, "public"):
            token = csrf_token(client, "/login")
            assert client.post(url, data={"csrf_token": token}).status_code == 401, url


@pytest.mark.parametrize("role", TOKEN_ROLES)
def test_token_role_matrix_over_http(app, client, users, role):
    """Each API route, called with a token of each role: refused (403) exactly when the matrix says so; a browser's
    session never stands for a token."""
    from evidence.data import database as db
    from evidence.services import api_tokens

    granted_perimeter(app, users)
    with app.app_context(), db.session_scope(app) as session:
        # An evaluator's token acts as a person (his account carries his perimeters): never a service account's.
        person = {"user_email": users[role].email} if role == "evaluator" else {"role": role}
        secret = api_tokens.create_token(session, None, f"matrix-{role}", **person).secret
    for rule in api_rules(app):
        (method,) = rule.methods - {"HEAD", "OPTIONS"}
        status = client.open(_url(app, rule), method=method, json={},
                             headers={"Authorization": f"Bearer {secret}"}).status_code
        assert status < 500 and (status != 403) == (role in API_MATRIX[rule.endpoint]), (role, method, rule.rule, status)


def test_the_api_refuses_a_call_without_a_token(app, client, users, login_as):
    login_as("manager")  # a logged-in browser: its cookie is no credential for the API
    for rule in api_rules(app):
        (method,) = rule.methods - {"HEAD", "OPTIONS"}
        response = client.open(_url(app, rule), method=method, json={})
        assert response.status_code == 401, (method, rule.rule, response.status_code)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.mimetype == "application/problem+json"


def test_a_route_without_a_rule_is_refused_to_everyone(tmp_path, database_url, users):
    app = make_app(tmp_path / "other", database_url)
    forgotten = Blueprint("forgotten", __name__)
    forgotten.add_url_rule("/forgotten", "page", lambda: "secret")
    app.register_blueprint(forgotten)
    client = app.test_client()
    from .conftest import login

    login(client, "admin@example.org")
    response = client.get("/forgotten")
    assert response.status_code == 403 and "secret" not in response.get_data(as_text=True)


def test_auditor_forged_post_is_refused(app, client, users, login_as):
    login_as("auditor")
    token = csrf_token(client, "/")
    response = client.post("/admin/users", data={"csrf_token": token, "email": "x@example.org", "name": "X", "role": "admin"})
    assert response.status_code == 403
