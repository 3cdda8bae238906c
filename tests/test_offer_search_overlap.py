"""The offers page sends its search to Vast on a pool thread while it renders the rest of the
page (offers/answers.py `begin`): checked through the views against the simulator served over
loopback HTTP, as the dashboard talks to Vast in production.

The served simulator's threads and the pool's threads use their own database connections, so
these tests commit their rows (transaction=True).
"""

import html
import logging
import re
import threading
import time
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.db import connections

from dashboard import vast
from dashboard.logs import RequestIdFilter
from dashboard.models import RateSlot
from dashboard.vast import ratelimit
from offers import answers
from vastsim import clock, faults
from vastsim.wsgi import serving

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "overlap-test-key"
HX = {"HX-Request": "true", "HX-Target": "offer-results"}
SEARCH = "/offers/?gpu=RTX+4090&order=-dlperf"
MARK = "<!--fresh:offer-results-->"
POOL = "offer-search"


class SearchCounter:
    """WSGI middleware around the served simulator that counts the searches (POST /api/v0/bundles/)."""

    def __init__(self):
        self.app = None
        self.searches = 0
        self._lock = threading.Lock()

    def wrap(self, app):
        self.app = app
        return self

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and re.fullmatch(r"/api/v0/bundles/?", environ.get("PATH_INFO", "")):
            with self._lock:
                self.searches += 1
        return self.app(environ, start_response)


@pytest.fixture(autouse=True)
def _no_remembered_answers():
    """Each test starts and ends without this process's memo of answers, on an empty cache."""
    _forget_answers()
    yield
    _forget_answers()


@pytest.fixture
def served(settings, monkeypatch):
    """The simulator over loopback HTTP, with the dashboard's client pointed at it (a client with no
    transport of its own, as in production); its clock stands still, so two searches see one market."""
    frozen = time.time()
    monkeypatch.setattr(clock, "_wall", lambda: frozen)
    counter = SearchCounter()
    with serving(api_keys=[KEY], wrap=counter.wrap) as url:
        settings.VAST_API_KEY = KEY
        settings.VAST_URL = url
        settings.VAST_MAX_RETRIES = 0  # an injected failure reaches the page at once
        assert vast.searches_over_network()
        yield counter


@pytest.fixture
def searched_on(monkeypatch):
    """The names of the threads vast.search_offers_cached ran on (it still answers)."""
    names = []
    real = vast.search_offers_cached

    def spy(search):
        names.append(threading.current_thread().name)
        return real(search)

    monkeypatch.setattr(vast, "search_offers_cached", spy)
    return names


@pytest.fixture
def pool_runs(monkeypatch):
    """The threads that ran a search handed to the pool (offers.answers._in_background calls)."""
    runs = []
    real = answers._in_background

    def counted(*args):
        runs.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(answers, "_in_background", counted)
    return runs


def _forget_answers():
    """Drop every answer this process or the shared cache holds: the next page asks Vast."""
    answers._memo.clear()
    cache.clear()


def _pooled(thread_names):
    """For each thread name, whether it is one of offers.answers' pool threads."""
    return [name.startswith(f"{POOL}_") for name in thread_names]


def _ids(response):
    return re.findall(r'data-offer-id="(\d+)"', response.content.decode())


def _count_line(response):
    match = re.search(r'<span id="offer-count" data-testid="offer-count"[^>]*>(.*?)</span>', response.content.decode())
    return match.group(1) if match else None


def _results_regions(response):
    return response.content.decode().count('<section id="offer-results"')


def test_over_http_the_search_runs_on_the_pool_and_the_pages_equal_those_of_a_search_in_the_request(
    viewer_client, served, searched_on, settings
):
    overlapped = []
    for headers in ({}, HX):
        _forget_answers()
        overlapped.append(viewer_client.get(SEARCH, headers=headers))
    assert _pooled(searched_on) == [True, True]

    settings.OFFER_SEARCH_OVERLAP = False
    waited = []
    for headers in ({}, HX):
        _forget_answers()
        waited.append(viewer_client.get(SEARCH, headers=headers))
    assert searched_on[2:] == [threading.current_thread().name] * 2
    assert served.searches == 4

    for response in overlapped + waited:
        assert response.status_code == 200
        assert "<!--fresh:" not in response.content.decode()
        assert _results_regions(response) == 1
    page, fragment = overlapped
    assert "<html" in page.content.decode()
    assert fragment.content.decode().lstrip().startswith('<section id="offer-results"')
    assert len(_ids(page)) > 1
    for response in overlapped + waited:
        assert _ids(response) == _ids(page)
        assert _count_line(response) == _count_line(page) is not None


@pytest.mark.django_db  # the in-process simulator answers from this thread's connection
def test_with_the_in_process_simulator_the_search_runs_in_the_request_thread(viewer_client, searched_on, pool_runs):
    assert not vast.searches_over_network()
    response = viewer_client.get(SEARCH)
    assert response.status_code == 200
    assert _ids(response)
    assert searched_on == [threading.current_thread().name]
    assert pool_runs == []


def test_the_upstream_call_logged_on_the_pool_thread_carries_the_request_id(viewer_client, served, caplog):
    caplog.set_level(logging.INFO, logger="dashboard.vast.client")
    # Stamped as the console handler stamps it: in the thread that logs, from its context.
    caplog.handler.addFilter(RequestIdFilter())
    response = viewer_client.get(SEARCH)
    assert response.status_code == 200
    (record,) = [r for r in caplog.records if r.getMessage().startswith("vast POST /api/v0/bundles/ 200 ")]
    assert record.threadName.startswith(f"{POOL}_")
    assert len(response["X-Request-ID"]) >= 8
    assert record.request_id == response["X-Request-ID"]


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        ({"status": 500}, 503, "Vast.ai could not be reached or is having problems."),
        ({"status": 429, "retry_after": "7"}, 429, "Try again in 7 s."),
        ({"kind": "malformed"}, 502, "Vast.ai sent an answer the dashboard could not understand."),
    ],
    ids=["500", "429", "not-json"],
)
def test_an_upstream_failure_on_the_pool_becomes_the_page_s_message(
    viewer_client, served, searched_on, caplog, fault, status, message
):
    faults.inject("bundles", method="POST", **fault)
    page = viewer_client.get(SEARCH)
    _forget_answers()
    fragment = viewer_client.get(SEARCH, headers=HX)

    assert _pooled(searched_on) == [True, True]
    assert served.searches == 2
    for response in (page, fragment):
        body = response.content.decode()
        assert response.status_code == status
        assert 'data-testid="vast-error"' in body
        assert message in html.unescape(body)
        assert "Traceback" not in body
        assert "<!--fresh:" not in body
        assert _results_regions(response) == 1
        assert not _ids(response)
        assert response.has_header("Retry-After") == (status == 429)
    if status == 429:
        assert page["Retry-After"] == fragment["Retry-After"] == "7"
    assert "<html" in page.content.decode()
    assert fragment.content.decode().lstrip().startswith('<section id="offer-results"')
    assert fragment["HX-Retarget"] == "#offer-results"
    assert fragment["HX-Reswap"] == "outerHTML"
    assert not [record for record in caplog.records if record.exc_info]


def test_the_rate_limiter_books_its_slot_in_the_database_from_the_pool_thread(
    viewer_client, served, settings, monkeypatch
):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.VAST_RATE_LIMIT = True
    booked = []
    real = ratelimit.DatabaseSlots._book

    def spy(key, clock, spacing, max_wait):
        booked.append((key.rpartition(":")[2], threading.current_thread().name))
        return real(key, clock, spacing, max_wait)

    monkeypatch.setattr(ratelimit.DatabaseSlots, "_book", staticmethod(spy))
    closed = []  # the threads that closed their database connection
    real_close = type(connections["default"]).close

    def close(self):
        closed.append(threading.current_thread().name)
        return real_close(self)

    monkeypatch.setattr(type(connections["default"]), "close", close)

    response = viewer_client.get(SEARCH)

    assert response.status_code == 200
    assert _ids(response)
    (search_thread,) = [name for endpoint, name in booked if endpoint == "search"]
    assert search_thread.startswith(f"{POOL}_")
    (slot,) = RateSlot.objects.filter(key__endswith=":search")
    assert slot.next_free > time.time()
    # No request ends on a pool thread to close the connection the booking opened there.
    assert search_thread in closed


def test_a_filter_value_holding_the_results_mark_cannot_place_the_results(viewer_client, served, searched_on):
    # Refused values are echoed back (escaped) in the filters, which come before the results.
    refused = viewer_client.get("/offers/", {"gpu": MARK, "num_gpus": MARK, "order": MARK})
    body = refused.content.decode()
    assert refused.status_code == 200
    assert MARK not in body
    assert body.count(html.escape(MARK)) >= 3
    assert _results_regions(refused) == 1
    assert body.index('<section id="offer-results"') > body.index("</form>")
    assert "Fix the highlighted filters to search." in body

    # A valid search with the mark in the query: searched on the pool, the results in their place.
    accepted = viewer_client.get(f"{SEARCH}&note={quote(MARK)}")
    body = accepted.content.decode()
    assert accepted.status_code == 200
    assert _pooled(searched_on) == [True]  # the refused filters searched nothing
    assert MARK not in body
    assert _results_regions(accepted) == 1
    assert body.index('<section id="offer-results"') > body.index("</form>")
    assert _ids(accepted)


def test_a_second_identical_search_is_answered_from_memory_without_vast_or_the_pool(
    viewer_client, served, searched_on, pool_runs
):
    first = viewer_client.get(SEARCH)
    assert served.searches == 1
    assert _pooled(pool_runs) == [True]

    again = viewer_client.get(SEARCH)
    fragment = viewer_client.get(SEARCH, headers=HX)

    assert served.searches == 1
    assert len(pool_runs) == 1
    assert len(searched_on) == 1
    for response in (again, fragment):
        assert response.status_code == 200
        assert "<!--fresh:" not in response.content.decode()
        assert _ids(response) == _ids(first) != []
        assert _count_line(response) == _count_line(first)
