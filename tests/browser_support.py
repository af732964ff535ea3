"""A real browser for the end-to-end tests: Debian's Chromium driven by Playwright's Python package.

No browser is ever downloaded (`playwright install` is never run): Playwright launches the system's
`chromium` (EVIDENCE_CHROMIUM names another executable). Without Playwright or without Chromium the browser
tests skip, saying which is missing, so that the README's test command still passes on a laptop.

The app is served from the test's own process by werkzeug on 127.0.0.1 and a free port, in a thread, so that
the test can reach the same database to arrange data and check what the clicks changed.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  # git-ignored
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--headless=new", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 20_000  # one step; a dossier renders in about a second on the four-item referential


def chromium_executable() -> str | None:
    wanted = os.environ.get("EVIDENCE_CHROMIUM")
    if wanted:
        return wanted if os.access(wanted, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed (pip install playwright; never `playwright install`)"
    if chromium_executable() is None:
        return "no Chromium executable (Debian: apt-get install chromium; or set EVIDENCE_CHROMIUM)"
    return None


@contextmanager
def live_server(app):
    """Serve `app` on 127.0.0.1:<free port> in a thread; yields the base URL."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def chromium():
    """A headless Chromium (the system's), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:120]


def save_artifacts(page, nodeid: str) -> list[Path]:
    """A full-page screenshot and the HTML of what the page showed, under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    base = ARTIFACTS / artifact_name(nodeid)
    saved = []
    try:
        page.screenshot(path=str(base.with_suffix(".png")), full_page=True)
        saved.append(base.with_suffix(".png"))
        base.with_suffix(".html").write_text(f"<!-- {page.url} -->\n" + page.content(), encoding="utf-8")
        saved.append(base.with_suffix(".html"))
    except Exception as error:  # the page may be gone: say so rather than hide the test's own failure
        (base.with_suffix(".txt")).write_text(f"no screenshot: {error}\n", encoding="utf-8")
    return saved


class Pages:
    """Opens one browser context per user (their own cookies); screenshots every open page if the test fails."""

    def __init__(self, browser, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.contexts = []

    def new(self, locale: str = "fr-FR"):
        context = self.browser.new_context(base_url=self.base_url, accept_downloads=True, locale=locale,
                                           viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return context.new_page()

    def save_all(self, nodeid: str) -> None:
        for n, context in enumerate(self.contexts):
            for m, page in enumerate(context.pages):
                save_artifacts(page, f"{nodeid}-{n}-{m}")

    def close(self) -> None:
        for context in self.contexts:
            try:
                context.close()
            except Exception:
                pass


@pytest.fixture(scope="module")
def browser():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with chromium() as launched:
        yield launched


@pytest.fixture
def pages(request, browser, live_url):
    """`pages.new()` gives a fresh page (its own cookies); on failure, every page is saved under test-artifacts/."""
    opened = Pages(browser, live_url)
    failed_before = request.session.testsfailed
    yield opened
    # The call phase's report is counted before teardown runs: a rise means this test failed.
    if request.session.testsfailed > failed_before:
        opened.save_all(request.node.nodeid)
    opened.close()


# --- what every browser test shares -------------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path, sqlite_template):
    """Overrides conftest's for the modules that import it: a browser test checks what a person sees and clicks,
    not SQL, so it runs on SQLite only."""
    from .conftest import fresh_database

    yield from fresh_database("sqlite", tmp_path, sqlite_template)


def log_in(page, email: str, password: str | None = None) -> None:
    """Log in from the (French) login page and land on the dashboard."""
    from .conftest import PASSWORD

    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password or PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("button", name="Se déconnecter").is_visible()


def screenshot(page, name: str) -> Path:
    """A full-page screenshot kept under test-artifacts/ (git-ignored), to look at after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
