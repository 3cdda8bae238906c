"""Playwright in Debian's Chromium against Django's live server.

Playwright's sync API runs an event loop in the test thread, so Django's
async-safety check must be relaxed for the ORM calls the tests make.
"""

import os
import shutil

import pytest

from tests.conftest import PASSWORD

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

WORKER_PERIOD = 0.5  # seconds between the stand-in worker's syncs
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Debian's chromium is missing at {CHROMIUM}: run `make test` (it installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def worker(live_server):
    """A stand-in for the background worker while a browser test runs: the ledger is synced from
    the simulator at most every half second, just before the live server answers a request
    (tests/test_worker_process.py runs the real worker).

    The live server's threads share the test's one in-memory SQLite connection, so the sync runs
    in them, and the server answers one request at a time: a thread of its own (with its own
    connection) would meet SQLite's shared-cache table locks, and a sync on the shared connection
    beside a request could interleave their transactions."""
    import threading
    import time

    from instances import sync

    httpd = live_server.thread.httpd
    app = httpd.get_app()
    lock = threading.Lock()
    last_sync = [0.0]

    def synced_app(environ, start_response):
        with lock:
            if time.monotonic() - last_sync[0] >= WORKER_PERIOD:
                sync.run(force=True)
                last_sync[0] = time.monotonic()
            response = app(environ, start_response)
            try:
                return list(response)
            finally:
                if hasattr(response, "close"):
                    response.close()

    httpd.set_app(synced_app)
    yield
    # The browser is closed by now; wait for a request still in flight (a poll, a sync) so that no
    # transaction of the server's is open when the database is flushed (a deadlock on PostgreSQL).
    with lock:
        httpd.set_app(app)


@pytest.fixture
def page(browser, live_server, worker):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def login(page):
    """Log a persona in through the real login form."""

    def _login(user):
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    return _login
