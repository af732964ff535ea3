"""Security keys in a real browser: Debian's Chromium (Playwright) with a virtual authenticator from the Chrome
DevTools Protocol (WebAuthn.addVirtualAuthenticator), so that static/js/webauthn.js runs navigator.credentials
for real against the app's endpoints.

The app is served on 127.0.0.1 and opened as http://localhost:PORT: a relying party id must be a host name
(Chromium refuses an IP address), and on localhost the app takes its relying party from the request without
settings (evidence.core.rules.security_keys). SQLite only; skips without Playwright or Chromium.
"""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import AuditEvent, SecurityKey

from .browser_support import browser, database_url, live_server, pages  # noqa: F401  (fixtures)
from .conftest import PASSWORD

REGISTER = "Enregistrer une clé de sécurité"


@pytest.fixture
def live_url(app, users):
    app.config["MFA_REQUIRED_ROLES"] = ("admin", "manager")  # the product's default (conftest turns it off)
    with live_server(app) as url:
        yield url.replace("://127.0.0.1:", "://localhost:")


def with_security_key(page) -> dict:
    """A virtual USB security key in this page's browser: present, user verified, ready to answer."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return {"cdp": cdp, "id": authenticator["authenticatorId"]}


def credentials(key) -> list[dict]:
    return key["cdp"].send("WebAuthn.getCredentials", {"authenticatorId": key["id"]})["credentials"]


def password_step(page, email: str) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


def log_out(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(re.compile(r"/login$"))


def stored_keys(app) -> list[SecurityKey]:
    with app.app_context(), db.session_scope(app) as session:
        return list(session.exec(select(SecurityKey).order_by(SecurityKey.id)))


def test_a_manager_enrols_a_key_under_the_default_policy_then_logs_in_with_it(app, pages):
    page = pages.new()
    key = with_security_key(page)

    # The policy: a manager without a second factor may open nothing but enrolment.
    password_step(page, "manager@example.org")
    page.wait_for_url(re.compile(r"/account/second-factor$"))
    page.goto("/controls/")
    page.wait_for_url(re.compile(r"/account/second-factor$"))

    # Register a named key: the browser asks the virtual key, which answers.
    page.fill("#security-key-name", "Clé USB du bureau")
    page.get_by_role("button", name=REGISTER).click()
    page.wait_for_url(re.compile(r"/account/security-keys/recovery-codes$"))  # its first factor: codes, once
    assert page.locator("[data-recovery-code]").count() == 10
    assert "Clé de sécurité « Clé USB du bureau » enregistrée" in page.locator(".flashes").inner_text()
    page.get_by_role("link", name="J’ai conservé mes codes").click()
    page.wait_for_url(re.compile(r"/account/second-factor$"))
    assert page.locator('[data-security-key="Clé USB du bureau"]').is_visible()
    [stored] = stored_keys(app)
    assert len(credentials(key)) == 1 and stored.name == "Clé USB du bureau"

    # The policy is met: the rest of the app opens.
    page.goto("/controls/")
    page.wait_for_url(re.compile(r"/controls/$"))

    # Log out; log in again: the password, then the key.
    log_out(page)
    password_step(page, "manager@example.org")
    page.wait_for_url(re.compile(r"/login/second-factor$"))
    # The key is the first thing offered: its button has the focus once the script enabled it; Enter uses it.
    page.wait_for_function("document.activeElement && document.activeElement.matches('[data-webauthn-button]')")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("button", name="Se déconnecter").is_visible()
    assert page.get_by_role("heading", level=1).first.inner_text()  # the dashboard, not a login page
    [used] = stored_keys(app)
    assert used.last_used_at is not None and used.sign_count >= stored.sign_count
    with app.app_context(), db.session_scope(app) as session:
        last_login = session.exec(select(AuditEvent).where(AuditEvent.action == "login")
                                  .order_by(AuditEvent.seq.desc())).first()
        assert last_login.details["second_factor"] == "webauthn"


def test_a_contributor_registers_a_second_key_from_the_account_page_and_sees_refusals(app, pages):
    page = pages.new()
    key = with_security_key(page)
    password_step(page, "contributor@example.org")  # no second factor required of a contributor
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/account")
    page.get_by_role("link", name="Gérer mon second facteur").click()
    page.wait_for_url(re.compile(r"/account/second-factor$"))

    page.fill("#security-key-name", "Portable")
    page.get_by_role("button", name=REGISTER).click()
    page.wait_for_url(re.compile(r"/account/security-keys/recovery-codes$"))
    page.goto("/account/second-factor")

    # The same name again: the server's refusal, in words, beside the button; nothing asked of the key.
    page.fill("#security-key-name", "Portable")
    page.get_by_role("button", name=REGISTER).click()
    status = page.locator("[data-webauthn-status]")
    status.filter(has_text="déjà une clé nommée « Portable »").wait_for()
    # The same key under another name: the browser refuses it (it is excluded), and the page says so.
    page.fill("#security-key-name", "Encore elle")
    page.get_by_role("button", name=REGISTER).click()
    status.filter(has_text="déjà enregistrée pour votre compte").wait_for()
    assert [k.name for k in stored_keys(app)] == ["Portable"] and len(credentials(key)) == 1

    # A second key (another authenticator in the same browser) under its own name.
    key["cdp"].send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": key["id"]})
    with_security_key(page)
    page.fill("#security-key-name", "Clé de secours")
    page.get_by_role("button", name=REGISTER).click()
    page.locator('[data-security-key="Clé de secours"]').wait_for()  # the page, reloaded, lists it
    assert [k.name for k in stored_keys(app)] == ["Portable", "Clé de secours"]
    assert page.locator("[data-security-key]").count() == 2
