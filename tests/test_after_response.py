"""dashboard.after_response: shared-cache writes no page waits for are left until the response is
sent, and run then, in order; outside a request they run at once."""

import contextvars
import logging

import pytest
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.http import HttpResponse

from dashboard import after_response, vast
from dashboard.vast import OfferSearch, offer_cache
from offers import answers
from tests.test_offer_search_overlap import SEARCH, _forget_answers, served  # noqa: F401  (fixture)


def _request():
    """Start a request as Django's request signals do (their other receivers, which close database
    connections, left out: the page test below goes through them); returns what finishes it."""
    after_response._started()
    return after_response._finished


def test_the_request_signals_reach_it():
    assert "dashboard.after_response.started" in [receiver[0][0] for receiver in request_started.receivers]
    assert "dashboard.after_response.finished" in [receiver[0][0] for receiver in request_finished.receivers]


def test_outside_a_request_work_runs_at_once():
    done = []
    after_response.defer(lambda: done.append(1))
    assert done == [1]


def test_in_a_request_work_waits_for_the_response_and_runs_in_order_past_a_failure(caplog):
    done = []
    finish = _request()
    after_response.defer(lambda: done.append("first"))
    after_response.defer(lambda: 1 / 0)
    after_response.defer(lambda: done.append("last"))
    assert done == []
    with caplog.at_level(logging.ERROR, logger="dashboard.after_response"):
        finish()
    assert done == ["first", "last"]
    assert "work left until after the response failed" in caplog.text
    after_response.defer(lambda: done.append("after"))  # the request is over: at once
    assert done == ["first", "last", "after"]


def test_a_thread_working_for_a_request_defers_to_it_and_runs_at_once_once_it_is_done():
    done = []
    finish = _request()
    for_the_request = contextvars.copy_context()  # as offers.answers hands a search to its pool
    for_the_request.run(after_response.defer, lambda: done.append("during"))
    assert done == []
    finish()
    assert done == ["during"]
    for_the_request.run(after_response.defer, lambda: done.append("late"))
    assert done == ["during", "late"]


@pytest.mark.django_db(transaction=True)
def test_a_new_answer_is_stored_once_the_page_is_out(viewer_client, served, monkeypatch):  # noqa: F811
    _forget_answers()
    search = OfferSearch(gpu_names=("RTX 4090",), order="-dlperf")
    key = offer_cache._offers_key(search)
    at_close = []
    real_close = HttpResponse.close

    def close(response):
        # The response is complete here; the web server closes it once it is sent.
        at_close.append((cache.get(key), cache.has_key(f"{key}:lock"), key in answers._memo, response.content))
        real_close(response)

    monkeypatch.setattr(HttpResponse, "close", close)
    page = viewer_client.get(SEARCH)
    assert page.status_code == 200
    [(stored, locked, remembered, content)] = at_close
    assert (stored, locked, remembered) == (None, True, False)
    assert b'data-offer-id="' in content  # the page showed the answer before it was stored
    # Closed: stored for every page and replica, the lock let go, remembered by this process.
    first_row = int(content.split(b'data-offer-id="')[1].split(b'"')[0])
    assert first_row in [offer.id for offer in offer_cache._unpack(cache.get(key))[1]]
    assert not cache.has_key(f"{key}:lock")
    assert key in answers._memo
    assert vast.peek_offers(search) is not None
