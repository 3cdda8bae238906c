"""The fault matrix: every page and action × every way Vast.ai can fail, as a normal and an htmx request.

Each case sets up real state on the simulator first (an instance, an offer, a launch form's
token), then breaks Vast: an injected fault on the endpoints the page calls, a Vast that hangs
past the client's read timeout, or nothing listening at all. Whatever happens, the person gets
a clear message and an honest status (never a 500 or a traceback), a write is sent at most
once and recorded as failed or unknown, a WARNING line names the failure without the key, and
the page answers within the client's timeout (per upstream call it makes) plus a small margin.

The pages that read the ledger (tests/test_fault_matrix_ledger.py) call Vast not at all; there
the worker's sync meets the fault, and the pages say so.
"""

import logging
import re
import socket
import time
from dataclasses import dataclass

import httpx
import pytest

from dashboard import vast
from dashboard.models import Action
from instances import sync
from instances.models import Instance
from tests.test_launch import FORM, open_form
from vastsim import faults

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
TIMEOUT = 0.3  # the client's read (and connect) timeout in the hanging-Vast cases
SLOW = 5.0  # injected latency, far beyond TIMEOUT: a page that waited it out would show
MARGIN = 1.0  # rendering, the database and a loaded test machine
RETRY_AFTER = 7
ERROR_CLASSES = ("VastUnavailable", "VastTimeout", "VastRateLimited", "VastBadResponse", "VastAuthError")

# What each fault is: the injection (None: not a fault of the simulator), and what a page
# that reads (status, message) and an action that writes (status, message, outcome) must say.
UNAVAILABLE = "could not be reached or is having problems"
UNCONFIRMED = "may or may not have happened"
FAULTS = {
    "500": {"status": 500},
    "502": {"status": 502},
    "429": {"status": 429},
    "429-retry-after": {"status": 429, "retry_after": RETRY_AFTER},
    "slow": {"latency": SLOW},
    "malformed": {"kind": "malformed"},
    "401": {"status": 401},
    "refused": None,
}
READ = {
    "500": (503, UNAVAILABLE),
    "502": (503, UNAVAILABLE),
    "429": (429, "limiting how often"),
    "429-retry-after": (429, f"Try again in {RETRY_AFTER} s"),
    "slow": (504, "did not answer in time"),
    "malformed": (502, "could not understand"),
    "401": (502, "rejected the dashboard"),
    "refused": (503, "could not be reached"),
}
FAILED, UNKNOWN = Action.Outcome.FAILED, Action.Outcome.UNKNOWN
WRITE = {
    **{fault: (*answer, FAILED) for fault, answer in READ.items()},
    # No answer, or a gateway's: the change may have happened.
    "502": (503, UNCONFIRMED, UNKNOWN),
    "slow": (504, UNCONFIRMED, UNKNOWN),
    # A 200 whose body is garbage: Vast may well have done it.
    "malformed": (502, UNCONFIRMED, UNKNOWN),
}
# The launch form handles Vast's answer itself: ("form", dashboard status, message, outcome)
# re-renders the form with the error; ("redirect", ...) leads to the instance list with a warning.
MAY_HAVE_LAUNCHED = "so it may have happened"
LAUNCH = {
    "500": ("form", 503, UNAVAILABLE, FAILED),
    "502": ("redirect", 302, MAY_HAVE_LAUNCHED, UNKNOWN),
    "429": ("form", 429, "limiting how often", FAILED),
    "429-retry-after": ("form", 429, f"Try again in {RETRY_AFTER} s", FAILED),
    "slow": ("redirect", 302, MAY_HAVE_LAUNCHED, UNKNOWN),
    "malformed": ("redirect", 302, MAY_HAVE_LAUNCHED, UNKNOWN),
    "401": ("form", 502, "rejected the dashboard", FAILED),
    # Nothing answers, so the offer cannot even be looked up: nothing is sent.
    "refused": ("page", 503, "could not be reached", None),
}


@dataclass(frozen=True)
class Target:
    """A page or action: what it asks Vast (route name, method) and, for a write, what it sends.

    `calls` is how many upstream calls it makes one after the other, each of which may wait
    the full timeout when Vast hangs."""

    method: str
    endpoints: tuple[tuple[str, str], ...]
    calls: int = 1
    write: tuple[str, Action.Kind] | None = None  # (HTTP method, the record's kind)


# The pages and actions that call Vast during the request. An action finds the instance's name
# and price in the ledger, so its write is its only call.
TARGETS = {
    "offers": Target("GET", (("bundles", "POST"), ("gpu_names", "GET")), calls=2),
    "launch-form": Target("GET", (("bundles", "POST"),)),
    "launch": Target("POST", (("asks", "PUT"),), write=("PUT", Action.Kind.LAUNCH)),
    "start": Target("POST", (("instance", "PUT"),), write=("PUT", Action.Kind.START)),
    "stop": Target("POST", (("instance", "PUT"),), write=("PUT", Action.Kind.STOP)),
    "label": Target("POST", (("instance", "PUT"),), write=("PUT", Action.Kind.LABEL)),
    "destroy": Target("POST", (("instance", "DELETE"),), write=("DELETE", Action.Kind.DESTROY)),
    "keys": Target("GET", (("apikeys", "GET"),)),
}


def _offer():
    """A rentable offer with room for a 40 GB disk (a small search: parsing offers is the slow part)."""
    query = {"rentable": {"eq": True}, "disk_space": {"gte": 60}, "type": "on-demand", "limit": 3}
    return vast.search_offers(query)[0]


def new_instance():
    """An instance created through the service module and synced into the ledger, as any page would find it."""
    request = vast.LaunchRequest(image="nvidia/cuda:12.4.1-devel-ubuntu22.04")
    instance_id = vast.create_instance(_offer().id, request).instance_id
    assert sync.run(force=True).result == "synced"
    return instance_id


def _prepare(name, client):
    """Set up the state the target needs while Vast is healthy; returns (url, POST data, write path)."""
    if name == "offers":
        return "/offers/?num_gpus=1", None, None
    if name in ("launch-form", "launch"):
        offer = _offer()
        url = f"/offers/{offer.id}/launch/"
        if name == "launch-form":
            return url + "?disk=40", None, None
        # The form's GET caches the offer, so the POST's only call to Vast is the launch itself.
        _, token = open_form(client, offer.id, "?disk=40")
        data = {**FORM, "token": token, "type": "on-demand", "quote_disk": "40", "back": "disk=40"}
        return url, data, f"/api/v0/asks/{offer.id}/"
    if name == "keys":
        return "/keys/", None, None
    instance_id = new_instance()
    data = {"label": "renamed"} if name == "label" else {}
    return f"/instances/{instance_id}/{name}/", data, f"/api/v0/instances/{instance_id}/"


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SentOverTheNetwork:
    """Spy on httpx's real transport: the (method, path) of every request it tried to send."""

    def __init__(self, monkeypatch):
        self.requests = []
        real = httpx.HTTPTransport.handle_request

        def spy(transport, request):
            self.requests.append((request.method, request.url.path))
            return real(transport, request)

        monkeypatch.setattr(httpx.HTTPTransport, "handle_request", spy)

    def calls(self, method, path):
        return [r for r in self.requests if r == (method, path)]


def hang_past(settings, monkeypatch, upstream, retries):
    """Rebuild the client from settings (as production does) with a TIMEOUT read timeout and
    `retries` retries, still talking to the recorded simulator."""
    settings.VAST_READ_TIMEOUT = TIMEOUT
    settings.VAST_CONNECT_TIMEOUT = TIMEOUT
    settings.VAST_MAX_RETRIES = retries
    monkeypatch.setattr("vastsim.transport.SimulatorTransport", lambda api_keys=None: upstream)
    vast.reset_client()


def break_vast(fault, endpoints, settings, monkeypatch, upstream):
    """Break Vast the way `fault` says (an injected fault on `endpoints`, (name, method) pairs);
    returns (the API key a leak would show, a recorder of requests)."""
    if fault == "refused":
        settings.VAST_API_KEY = "test-key"
        settings.VAST_URL = f"http://127.0.0.1:{closed_port()}"
        settings.VAST_MAX_RETRIES = 0  # reads retry a refused connection with real backoff sleeps
        return "test-key", SentOverTheNetwork(monkeypatch)
    if fault == "slow":
        hang_past(settings, monkeypatch, upstream, retries=0)
        faults.inject("*", latency=SLOW)  # all of Vast hangs, not only the page's own endpoints
    else:
        for endpoint, method in endpoints:
            faults.inject(endpoint, method=method, **FAULTS[fault])
    return settings.VASTSIM_API_KEY, upstream


def _expected(name, fault):
    """(how the page answers, the dashboard's status, a phrase of its message, the record's outcome)."""
    if name == "launch":
        return LAUNCH[fault]
    if TARGETS[name].write:
        return ("page", *WRITE[fault])
    return ("page", *READ[fault], None)


def _message_region(html):
    """The alerts a page shows (the Vast error, the launch form's error, flash messages), one line."""
    regions = re.findall(r'<div class="alert[^"]*" role="(?:alert|status)"[^>]*>.*?</div>', html, re.S)
    return " ".join(" ".join(r.split()) for r in regions)


def _assert_clear_and_honest(client, response, how, status, text, htmx, fault):
    """The answer: an honest status and a clear message, wherever the page puts it."""
    html = response.content.decode()
    assert response.status_code != 500
    assert "Traceback" not in html
    if how == "redirect":
        # The launch may have happened: off to the list, which says so (htmx navigates with HX-Redirect).
        assert response.status_code == (200 if htmx else 302)
        location = response.get("HX-Redirect") or response["Location"]
        assert location == "/instances/"
        faults.clear()
        landed = client.get(location).content.decode()
        assert text in _message_region(landed)
        assert "the dashboard did not retry" in landed
    elif how == "form":
        # Vast refused or never got it: the form again, with the reason and a fresh one-time token.
        assert response.status_code == (200 if htmx else status)  # htmx swaps only 2xx answers
        assert 'data-testid="launch-error"' in html
        assert text in _message_region(html)
        assert 'name="token" value="' in html
    else:
        assert response.status_code == status, html[:2000]
        assert 'data-testid="vast-error"' in html
        assert text in _message_region(html)
        if htmx:
            # htmx 2 drops a 4xx/5xx body unless it is aimed at a region (static/js/app.js).
            assert response.get("HX-Retarget"), "an htmx error answer without HX-Retarget is never shown"
        if fault == "429-retry-after":
            assert response["Retry-After"] == str(RETRY_AFTER)


def _assert_sent_once_and_recorded(sent, target, write_path, outcome):
    """The write reached Vast's door at most once (never retried) and its record says how it ended."""
    method, kind = target.write
    assert len(sent.calls(method, write_path)) == (0 if outcome is None else 1), "a write must never be repeated"
    records = list(Action.objects.filter(kind=kind))
    if outcome is None:  # nothing was sent
        assert all(record.outcome != Action.Outcome.SUCCESS for record in records)
    else:
        assert [record.outcome for record in records] == [outcome]


def _ledger():
    """What the ledger says of every instance (a write Vast did not confirm must not change it)."""
    return list(Instance.objects.order_by("vast_id").values_list("vast_id", "status", "label", "gone_at"))


def assert_logged_without_key(caplog, key):
    """A WARNING line names the failure (its error class); no line carries the key."""
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(cls in message for message in warnings for cls in ERROR_CLASSES), warnings
    assert all(key not in r.getMessage() for r in caplog.records)
    assert key not in caplog.text


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("name", list(TARGETS))
def test_vast_failure_is_a_clear_message_with_an_honest_status(
    name, fault, htmx, admin_client, upstream, settings, monkeypatch, caplog
):
    target = TARGETS[name]
    url, data, write_path = _prepare(name, admin_client)
    ledger_before = _ledger()
    key, sent = break_vast(fault, target.endpoints, settings, monkeypatch, upstream)
    caplog.clear()
    headers = HTMX if htmx else {}

    started = time.monotonic()
    if target.method == "POST":
        response = admin_client.post(url, data, headers=headers)
    else:
        response = admin_client.get(url, headers=headers)
    elapsed = time.monotonic() - started

    if fault == "slow":
        assert elapsed < TIMEOUT * target.calls + MARGIN
    elif fault == "refused":
        assert elapsed < MARGIN
    how, status, text, outcome = _expected(name, fault)
    assert key not in response.content.decode()
    assert_logged_without_key(caplog, key)
    _assert_clear_and_honest(admin_client, response, how, status, text, htmx, fault)
    if target.write:
        if name == "launch":
            # Pressing Launch again (or the browser resending the form) must not launch again.
            again = admin_client.post(url, data, headers=headers)
            assert again.status_code != 500
        _assert_sent_once_and_recorded(sent, target, write_path, outcome)
        assert _ledger() == ledger_before, "the ledger shows only what Vast confirmed"


def test_a_hanging_vast_holds_a_page_for_each_attempt_of_a_read_and_no_longer(
    admin_client, upstream, settings, monkeypatch
):
    hang_past(settings, monkeypatch, upstream, retries=1)
    faults.inject("apikeys", latency=SLOW)
    started = time.monotonic()
    response = admin_client.get("/keys/")
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert len(upstream.calls("GET", "/api/v0/auth/apikeys/")) == 2
    first_backoff = 0.5  # at most, before the one retry
    assert 2 * TIMEOUT <= elapsed < 2 * TIMEOUT + first_backoff + MARGIN


def test_the_call_budget_stops_a_retry_that_would_outlast_it(admin_client, upstream, settings, monkeypatch):
    hang_past(settings, monkeypatch, upstream, retries=2)
    settings.VAST_CALL_BUDGET = TIMEOUT * 1.5  # room for one attempt, not for a second
    faults.inject("apikeys", latency=SLOW)
    started = time.monotonic()
    response = admin_client.get("/keys/")
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert len(upstream.calls("GET", "/api/v0/auth/apikeys/")) == 1
    assert TIMEOUT <= elapsed < TIMEOUT + MARGIN


GUNICORN_TIMEOUT = 60  # the Dockerfile's --timeout: a worker still busy then is killed (the proxy answers 502)


def test_at_the_default_settings_a_hanging_vast_cannot_outlast_gunicorns_timeout(settings):
    # A retry starts only if it can end within the budget, so one read ends by the budget, or by the
    # first attempt's connect + read timeouts if that is longer. A page makes at most two reads in a row.
    one_read = max(settings.VAST_CALL_BUDGET, settings.VAST_CONNECT_TIMEOUT + settings.VAST_READ_TIMEOUT)
    assert 2 * one_read + 5 < GUNICORN_TIMEOUT
