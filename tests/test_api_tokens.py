"""API tokens: made for a service account or a person, shown once, stored hashed, listed, revoked, expiring; refused
(401) the moment they stop being valid; never more rights than their role and perimeters; audited."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from evidence.core.rules.api_tokens import ACTIVE, EXPIRED, REVOKED, SUSPENDED, token_status
from evidence.core.rules.token_scope import UNLIMITED, PerimeterScope
from evidence.data import audit
from evidence.data import database as db
from evidence.data.models import ApiToken, AuditEvent, User, utcnow
from evidence.services import api_tokens
from evidence.services import users as auth

from .api_support import bearer, fingerprint, make_token
from .conftest import PASSWORD, csrf_token, login, seed_tiny_perimeter

# --- the pure rules ---------------------------------------------------------------------------------------------

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("revoked, expires, token_role, account_role, active, expected", [
    (None, None, "manager", "manager", True, ACTIVE),
    (None, NOW + timedelta(seconds=1), "manager", "manager", True, ACTIVE),
    (None, NOW, "manager", "manager", True, EXPIRED),  # expires_at is the first instant it no longer works
    (NOW, NOW + timedelta(days=1), "manager", "manager", True, REVOKED),
    (None, None, "manager", "contributor", True, SUSPENDED),  # the person's role changed
    (None, None, "manager", "manager", False, SUSPENDED),  # the person was disabled
    (NOW, NOW - timedelta(days=1), "manager", "manager", False, REVOKED),  # revocation says it first
])
def test_token_status(revoked, expires, token_role, account_role, active, expected):
    assert token_status(revoked_at=revoked, expires_at=expires, token_role=token_role, account_role=account_role,
                        account_active=active, now=NOW) == expected


def test_perimeter_scope():
    limited = PerimeterScope(frozenset({1, 2}))
    assert UNLIMITED.reaches([]) and UNLIMITED.reaches([7]) and not UNLIMITED.limited and UNLIMITED.outside([7]) == []
    assert limited.reaches([2, 9]) and not limited.reaches([9]) and not limited.reaches([])
    assert limited.outside([1, 9, 3]) == [3, 9]


@pytest.mark.sqlite_only  # rules and pages; the tokens' SQL runs on both databases in the tests above
def test_acting_through_names_the_token_only_within_its_block(app):
    with app.app_context(), db.session_scope(app) as session:
        with audit.acting_through("ci"):
            inside = audit.record(session, "cli:test", "instance.restore", object_type="instance", object_id="x")
            many = audit.record_many(session, "cli:test", [("instance.restore", "instance", "y", {"a": 1})])
        outside = audit.record(session, "cli:test", "instance.restore", object_type="instance", object_id="z")
        session.commit()
        assert inside.details == {"token": "ci"} and many[0].details == {"a": 1, "token": "ci"}
        assert outside.details == {}
        assert audit.verify(session)[1] is None  # the token is inside the hashed details


# --- service ------------------------------------------------------------------------------------------------------


def test_a_service_token_is_shown_once_stored_hashed_and_audited(app, users):
    app.config["API_TOKEN_DAYS"] = 30
    with app.app_context(), db.session_scope(app) as session:
        issued = api_tokens.create_token(session, users["admin"].email, "CI-Preuves", "contributor",
                                         default_days=app.config["API_TOKEN_DAYS"])
        token = session.exec(select(ApiToken)).one()
        account = session.get(User, token.user_id)
        assert re.fullmatch(r"snc_[A-Za-z0-9_-]{43}", issued.secret)
        assert token.name == "ci-preuves" and token.token_hash != issued.secret and issued.secret[:12] == token.prefix
        assert token.role == "contributor" and token.expires_at - token.created_at == timedelta(days=30)
        assert account.service_account and account.email == "ci-preuves@service-account.invalid"
        assert account.role == "contributor" and not auth.check_password(account, "")
        events = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [(e.action, e.object_id) for e in events][-2:] == [
            ("user.create", account.email), ("token.create", "ci-preuves")]
        assert events[-2].details["service_account"] is True
        assert events[-1].details == {"role": "contributor", "account": account.email, "prefix": token.prefix,
                                      "perimeters": [], "expires_at": token.expires_at.isoformat()}
        assert issued.secret not in str([e.details for e in events])


def test_a_person_s_token_carries_exactly_the_person_s_role(app, users):
    with app.app_context(), db.session_scope(app) as session:
        issued = api_tokens.create_token(session, None, "claire", user_email="Manager@example.org")
        assert issued.token.role == "manager" and issued.token.user_id == users["manager"].id
        for kwargs, words in (
            ({"role": "auditor", "user_email": "manager@example.org"}, "carries their role, manager, not auditor"),
            ({"user_email": "admin@example.org"}, "is an administrator"),
            ({"user_email": "nobody@example.org"}, "nobody@example.org"),
            ({"role": "admin"}, "token role 'admin'"),
            ({}, "give the token's role"),
            ({"role": "manager", "expires_days": 0}, "a number of days from 1 to 3660"),
            ({"role": "manager", "perimeters": ["nowhere"]}, "nowhere"),
        ):
            with pytest.raises(api_tokens.EvidenceError) as refused:
                api_tokens.create_token(session, None, "other", **kwargs)
            session.rollback()
            from evidence.presentation import messages

            assert words in messages.render(refused.value, "en"), kwargs
        with pytest.raises(api_tokens.EvidenceError, match="déjà"):
            api_tokens.create_token(session, None, "claire", "manager")
        with pytest.raises(api_tokens.EvidenceError):
            api_tokens.create_token(session, None, "bad name!", "manager")


def test_a_token_stops_working_when_revoked_expired_or_its_person_changes(app, users):
    client = app.test_client()
    secret = make_token(app, "claire", user_email="manager@example.org")
    assert client.get("/api/v1/evidence", headers=bearer(secret)).status_code == 200

    def refused(language="en"):
        response = client.get("/api/v1/evidence", headers=bearer(secret, language))
        assert response.status_code == 401 and response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="evidence", error="invalid_token"'
        return response.json["detail"]

    with app.app_context(), db.session_scope(app) as session:
        auth.set_role(session, None, session.get(User, users["manager"].id), "contributor")
    assert refused() == "the API token 'claire' no longer works: its account manager@example.org was disabled or " \
                        "changed role"
    with app.app_context(), db.session_scope(app) as session:
        person = session.get(User, users["manager"].id)
        auth.set_role(session, None, person, "manager")
        assert client.get("/api/v1/evidence", headers=bearer(secret)).status_code == 200  # its role again
        auth.set_active(session, None, person, False)
    assert "disabled" in refused()
    with app.app_context(), db.session_scope(app) as session:
        auth.set_active(session, None, session.get(User, users["manager"].id), True)
        token = session.exec(select(ApiToken)).one()
        token.expires_at = utcnow() - timedelta(seconds=1)
        session.add(token)
        session.commit()
    assert refused("fr").startswith("le jeton d’API « claire » a expiré le ")
    with app.app_context(), db.session_scope(app) as session:
        token = session.exec(select(ApiToken)).one()
        token.expires_at = utcnow() + timedelta(days=1)
        session.add(token)
        session.commit()
        api_tokens.revoke_token(session, "cli:test", "claire")
    assert refused() == "the API token 'claire' was revoked"
    for header in ({"Authorization": "Bearer snc_forged"}, {"Authorization": f"Basic {secret}"}, {}):
        response = client.get("/api/v1/evidence", headers=header)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.sqlite_only  # rules and pages; the tokens' SQL runs on both databases in the tests above
def test_last_used_is_written_at_most_once_a_minute(app, users):
    client = app.test_client()
    secret = make_token(app, "ci", "auditor")

    def last_used():
        with app.app_context(), db.session_scope(app) as session:
            return session.exec(select(ApiToken.last_used_at)).one()

    assert last_used() is None
    client.get("/api/v1/evidence", headers=bearer(secret))
    first = last_used()
    assert first is not None
    client.get("/api/v1/evidence", headers=bearer(secret))
    assert last_used() == first
    with app.app_context(), db.session_scope(app) as session:
        token = session.exec(select(ApiToken)).one()
        token.last_used_at = first - timedelta(minutes=2)
        session.add(token)
        session.commit()
    client.get("/api/v1/evidence", headers=bearer(secret))
    assert last_used() > first - timedelta(minutes=1)


@pytest.mark.sqlite_only  # rules and pages; the tokens' SQL runs on both databases in the tests above
def test_a_service_account_never_logs_in_to_the_web(app, users):
    make_token(app, "ci", "manager")
    with app.app_context(), db.session_scope(app) as session:
        account = session.exec(select(User).where(User.service_account)).one()
        assert auth.load_user(session, account.get_id()) is None
        from evidence.services import passwords

        with pytest.raises(auth.UserError):
            passwords.issue_password_link(session, None, account)
    client = app.test_client()
    response = login(client, "ci@service-account.invalid", PASSWORD)
    assert response.status_code != 302


@pytest.mark.sqlite_only  # rules and pages; the tokens' SQL runs on both databases in the tests above
def test_role_rules_are_judged_on_the_token_s_role(app, users):
    with app.app_context(), db.session_scope(app) as session:
        seed_tiny_perimeter(session, users)
    client = app.test_client()
    auditor = make_token(app, "audit", "auditor")
    before = fingerprint(app)
    response = client.post("/api/v1/evidence", json={"title": "x", "kind": "link", "url": "https://a.example/x",
                                                      "controls": ["CTL-AV-01"]}, headers=bearer(auditor, "en"))
    assert response.status_code == 403 and response.json["detail"] == "Your role does not allow this action."
    assert fingerprint(app) == before
    assert client.get("/api/v1/evidence", headers=bearer(auditor)).status_code == 200


@pytest.mark.sqlite_only  # rules and pages; the tokens' SQL runs on both databases in the tests above
def test_every_api_route_declares_an_access_rule(app):
    from evidence.core.access import PUBLIC

    api_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]
    assert len(api_rules) >= 8
    for rule in api_rules:
        declared = getattr(app.view_functions[rule.endpoint], "access_rule", None)
        assert declared is not None, rule.endpoint
        assert declared != PUBLIC or rule.endpoint == "api-docs.openapi_json", rule.endpoint


# --- command line ---------------------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # rules and pages; the tokens' SQL runs on both databases in the tests above
def test_cli_create_list_revoke(app, users, runner):
    result = runner.invoke(args=["tokens", "create", "ci-preuves", "--role", "contributor", "--expires-days", "10"])
    assert result.exit_code == 0, result.output
    secret = re.search(r"^(snc_\S+)$", result.stdout, re.M).group(1)
    assert "not shown again" in result.stderr and secret not in result.stderr
    assert "acting as ci-preuves@service-account.invalid" in result.stdout
    listed = runner.invoke(args=["tokens", "list"])
    assert listed.exit_code == 0 and "ci-preuves" in listed.output and "active" in listed.output
    assert secret not in listed.output and secret[:12] in listed.output and "never used" in listed.output
    refused = runner.invoke(args=["tokens", "create", "claire", "--user", "manager@example.org", "--role", "auditor"])
    assert refused.exit_code == 1 and "not auditor" in refused.output
    revoked = runner.invoke(args=["tokens", "revoke", "ci-preuves"])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    assert "revoked" in runner.invoke(args=["tokens", "list"]).output
    again = runner.invoke(args=["tokens", "revoke", "ci-preuves"])
    assert again.exit_code == 1 and "already revoked" in again.output
    assert app.test_client().get("/api/v1/evidence", headers=bearer(secret)).status_code == 401


# --- the administrator's page ------------------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_admin_page_creates_shows_once_and_revokes(app, client, users, login_as):
    login_as("admin")
    page = client.get("/admin/users")
    assert "/admin/tokens/" in page.get_data(as_text=True)
    token = csrf_token(client, "/admin/tokens/")
    created = client.post("/admin/tokens/", data={"csrf_token": token, "name": "scanner", "role": "auditor"})
    html = created.get_data(as_text=True)
    assert created.status_code == 200
    secret = re.search(r'value="(snc_[^"]+)"', html).group(1)
    assert "data-token-secret" in html and "Set-Cookie" not in created.headers or secret not in str(created.headers)
    again = client.get("/admin/tokens/").get_data(as_text=True)
    assert secret not in again and "scanner" in again and secret[:12] in again
    assert app.test_client().get("/api/v1/evidence", headers=bearer(secret)).status_code == 200
    with app.app_context(), db.session_scope(app) as session:
        token_id = session.exec(select(ApiToken.id)).one()
    ask = client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/admin/tokens/")})
    assert ask.status_code == 200 and "Révoquer le jeton" in ask.get_data(as_text=True)  # asked first
    assert app.test_client().get("/api/v1/evidence", headers=bearer(secret)).status_code == 200
    done = client.post(f"/admin/tokens/{token_id}/revoke", data={
        "csrf_token": csrf_token(client, "/admin/tokens/"), "confirmed": "1"}, follow_redirects=True)
    assert "révoqué" in done.get_data(as_text=True)
    assert app.test_client().get("/api/v1/evidence", headers=bearer(secret)).status_code == 401
    refused = client.post("/admin/tokens/", data={"csrf_token": csrf_token(client, "/admin/tokens/"),
                                                  "name": "claire", "role": "auditor", "user": "manager@example.org"})
    assert "pas auditor" in refused.get_data(as_text=True).replace("&#39;", "'")
    forged = client.post("/admin/tokens/", data={"name": "x", "role": "auditor"})
    assert forged.status_code == 400


@pytest.mark.sqlite_only
@pytest.mark.parametrize("role", ["manager", "contributor", "auditor"])
def test_only_admins_open_the_tokens_page(client, users, login_as, role):
    login_as(role)
    assert client.get("/admin/tokens/").status_code == 403
