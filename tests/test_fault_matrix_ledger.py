"""The fault matrix of the pages that read the ledger: each × every way Vast.ai can fail, as a
normal and an htmx request (the pages and actions that call Vast are in test_fault_matrix.py).

These pages never call Vast: while it fails they answer 200 at once with the last state the
worker synced, and nothing goes upstream. The worker's sync meets the failure instead: it keeps
the last good ledger, records a message safe to show, logs a WARNING that names the failure
without the key, and gives up within the client's timeout; then every page says so in its
`#sync-status` (the row fragment has none: the list around it shows it).
"""

import datetime
import html as htmllib
import re
import time

import pytest
from django.utils import timezone

from dashboard import vast
from instances import sync
from instances.models import SyncState
from tests.test_fault_matrix import (
    FAULTS,
    HTMX,
    MARGIN,
    READ,
    RETRY_AFTER,
    SLOW,
    TIMEOUT,
    assert_logged_without_key,
    break_vast,
    hang_past,
    new_instance,
)
from vastsim import faults

pytestmark = pytest.mark.django_db

SYNC_READS = (("instances", "GET"), ("user", "GET"))  # what the worker's sync asks Vast
# What a sync that met each fault says, on every page that reads the ledger.
SYNC_ERROR = {fault: text for fault, (_, text) in READ.items()} | {"401": f"{sync.KEY_REJECTED} (HTTP 401)"}
# Each page, and a piece of the last known state it keeps showing: {live} is an instance that
# runs, {gone} one destroyed outside the dashboard; $250.00 is the account's credit.
PAGES = {
    "overview": ("/", "$250.00"),
    "instances": ("/instances/", 'id="instance-{live}"'),
    "detail": ("/instances/{live}/", 'data-instance-id="{live}"'),
    "row": ("/instances/{live}/row/", 'id="instance-{live}"'),
    "history": ("/instances/history/", 'data-instance-id="{gone}"'),
    "account": ("/account/", "$250.00"),
}
# How an htmx request's answer begins: the page's fragment (the account page has none).
FRAGMENTS = {
    "overview": '<div id="overview-body"',
    "instances": '<section id="instance-list"',
    "detail": '<section id="instance-detail"',
    "row": '<tbody id="instance-{live}"',
    "history": '<section id="history-results"',
}


def _world():
    """A live instance and a gone one, synced into the ledger while Vast is healthy."""
    live, gone = new_instance(), new_instance()
    vast.destroy(gone)
    assert sync.run(force=True).result == "synced"
    return {"live": live, "gone": gone}


def _page(client, path, headers, sent):
    """GET a ledger page: 200 at once, and nothing sent upstream. Returns its HTML."""
    before = len(sent.requests)
    started = time.monotonic()
    response = client.get(path, headers=headers)
    elapsed = time.monotonic() - started
    html = response.content.decode()
    assert response.status_code == 200, html[:2000]
    assert sent.requests[before:] == [], "a page that reads the ledger called Vast"
    assert elapsed < MARGIN
    assert "Traceback" not in html
    assert 'data-testid="vast-error"' not in html
    return html


def _sync_status(html):
    """The `#sync-status` element's opening tag and its banner's text ("" without a banner)."""
    tag = re.search(r'<div id="sync-status"[^>]*>', html)
    assert tag, "the page does not say how fresh the ledger is"
    banner = re.search(r'<p class="sync-banner" data-testid="sync-banner">([^<]*)</p>', html)
    return tag.group(0), htmllib.unescape(banner.group(1)) if banner else ""


def _sync_under_fault(fault, caplog, key):
    """Run the worker's sync against the broken Vast: it fails in time and logs why."""
    caplog.clear()
    started = time.monotonic()
    outcome = sync.run(force=True)
    elapsed = time.monotonic() - started
    assert outcome.result == "failed", outcome
    assert SYNC_ERROR[fault] in outcome.error
    if fault == "slow":
        assert elapsed < TIMEOUT + MARGIN  # the list's one attempt, then it gives up
    elif fault == "refused":
        assert elapsed < MARGIN
    assert_logged_without_key(caplog, key)
    state = SyncState.current()
    assert (state.lease_owner, state.lease_until) == ("", None)  # the next sync may run
    if fault == "429-retry-after":
        assert state.next_due_at >= timezone.now() + datetime.timedelta(seconds=RETRY_AFTER - 1)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("name", list(PAGES))
def test_ledger_page_keeps_the_last_known_state_without_calling_vast_and_shows_the_failed_sync(
    name, fault, htmx, admin_client, upstream, settings, monkeypatch, caplog
):
    ids = _world()
    path, known = (part.format(**ids) for part in PAGES[name])
    key, sent = break_vast(fault, SYNC_READS, settings, monkeypatch, upstream)
    headers = HTMX if htmx else {}

    html = _page(admin_client, path, headers, sent)
    assert known in html
    if name != "row":
        assert _sync_status(html)[1] == ""  # nothing has failed yet

    _sync_under_fault(fault, caplog, key)

    html = _page(admin_client, path, headers, sent)
    assert known in html  # the last good ledger, kept
    assert key not in html
    if htmx and name in FRAGMENTS:
        assert html.strip().startswith(FRAGMENTS[name].format(**ids))
    if name != "row":
        tag, banner = _sync_status(html)
        assert 'data-stale="false"' in tag  # the last good sync is recent: the state shown is fresh
        assert "failing" in tag
        assert SYNC_ERROR[fault] in banner
        assert "failing since" in banner


def test_a_sync_failing_for_long_marks_the_ledger_stale_everywhere(admin_client, upstream, settings, client):
    ids = _world()
    faults.inject("instances", status=500)
    assert sync.run(force=True).result == "failed"
    long_ago = timezone.now() - datetime.timedelta(seconds=3 * settings.VAST_SYNC_SECONDS + 5)
    SyncState.objects.filter(pk=1).update(last_success_at=long_ago)
    upstream.requests.clear()
    for path in ("/", "/instances/", f"/instances/{ids['live']}/", "/instances/history/", "/account/"):
        tag, banner = _sync_status(_page(admin_client, path, {}, upstream))
        assert 'data-stale="true"' in tag, path
        assert SYNC_ERROR["500"] in banner, path
    health = client.get("/healthz/worker")  # for uptime monitors, without a login
    assert health.status_code == 503
    assert health.json()["stale"] is True
    assert SYNC_ERROR["500"] in health.json()["last_error"]


def test_a_ledger_never_synced_says_the_worker_has_not_run(admin_client, upstream):
    tag, banner = _sync_status(_page(admin_client, "/instances/", {}, upstream))
    assert 'data-stale="true"' in tag
    assert "has not synced the account yet" in banner


def test_the_next_good_sync_clears_the_banner(admin_client, upstream):
    _world()
    faults.inject("instances", status=502)
    assert sync.run(force=True).result == "failed"
    faults.clear()
    assert sync.run(force=True).result == "synced"
    tag, banner = _sync_status(_page(admin_client, "/instances/", {}, upstream))
    assert banner == ""
    assert "failing" not in tag


def test_a_hanging_vast_holds_the_sync_for_each_attempt_of_its_read_and_no_longer(upstream, settings, monkeypatch):
    hang_past(settings, monkeypatch, upstream, retries=1)
    faults.inject("instances", latency=SLOW)
    started = time.monotonic()
    outcome = sync.run(force=True)
    elapsed = time.monotonic() - started
    assert outcome.result == "failed"
    assert "did not answer in time" in outcome.error
    assert len(upstream.calls("GET", "/api/v1/instances/")) == 2
    first_backoff = 0.5  # at most, before the one retry
    assert 2 * TIMEOUT <= elapsed < 2 * TIMEOUT + first_backoff + MARGIN
    assert SyncState.current().lease_owner == ""


def test_at_the_default_settings_a_hanging_vast_cannot_outlast_the_sync_lease(settings):
    # A sync of a list that fits one page makes two reads in a row (the list, the account); each
    # ends by the call budget, or by the first attempt's timeouts if that is longer. If it ran
    # past its lease another worker would sync too, and this answer would be dropped.
    one_read = max(settings.VAST_CALL_BUDGET, settings.VAST_CONNECT_TIMEOUT + settings.VAST_READ_TIMEOUT)
    assert 2 * one_read < settings.VAST_SYNC_LEASE_SECONDS
