"""vast.on_wait: the service module says when a call starts waiting (on the network or on a timer),
so that a page that started the call on another thread goes on with its own work from then on."""

import contextvars

import httpx

from dashboard import vast
from dashboard.vast import VastClient
from tests.test_vast import OFFER


def _client(handler, **kwargs):
    return VastClient(api_key="k" * 20, base_url="https://vast.test", transport=httpx.MockTransport(handler), **kwargs)


def _run(call, events):
    """call() in a context where on_wait notes "wait" in `events`."""
    context = contextvars.copy_context()
    context.run(vast.on_wait.set, lambda: events.append("wait"))
    return context.run(call)


def test_a_call_says_it_waits_before_the_request_leaves():
    events = []

    def handler(request):
        events.append("sent")
        return httpx.Response(200, json={"offers": [OFFER]})

    offers = _run(lambda: _client(handler).search_offers({"limit": 1}), events)
    assert [offer.id for offer in offers] == [OFFER["id"]]
    assert events == ["wait", "sent"]


def test_a_retry_says_it_waits_before_sleeping():
    events, answers = [], iter([httpx.Response(503), httpx.Response(200, json={"offers": []})])

    def handler(request):
        events.append("sent")
        return next(answers)

    client = _client(handler, sleep=lambda seconds: events.append("sleep"), max_retries=1)
    assert _run(lambda: client.search_offers({"limit": 1}), events) == []
    assert events == ["wait", "sent", "wait", "sleep", "wait", "sent"]


def test_without_a_listener_nothing_is_called():
    def handler(request):
        return httpx.Response(200, json={"offers": []})

    assert vast.on_wait.get() is None
    assert _client(handler).search_offers({"limit": 1}) == []
