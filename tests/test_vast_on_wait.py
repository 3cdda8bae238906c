"""vast.on_wait: the service module says when a call starts waiting (its request out on the network,
or before a timer), so that a page that started the call on another thread goes on with its own
work from then on, and not before: until the request is out, that work would hold it back."""

import contextvars
import json
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest

from dashboard import vast
from dashboard.vast import VastClient
from tests.test_vast import OFFER


def _client(handler, **kwargs):
    return VastClient(api_key="k" * 20, base_url="https://vast.test", transport=httpx.MockTransport(handler), **kwargs)


def _run(call, events, on_wait=None):
    """call() in a context where on_wait notes "wait" in `events` (or calls `on_wait`)."""
    context = contextvars.copy_context()
    context.run(vast.on_wait.set, on_wait or (lambda: events.append("wait")))
    return context.run(call)


@pytest.fixture
def served():
    """A Vast stand-in over loopback HTTP that answers a search only once `respond` is set, and
    sets `received` when a request has reached it; yields (base URL, received, respond)."""
    received, respond = threading.Event(), threading.Event()

    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        received.set()
        respond.wait(5)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"offers": [OFFER]}).encode()]

    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received, respond
    respond.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_over_the_network_a_call_says_it_waits_once_its_request_is_out_and_before_the_answer(served):
    url, received, respond = served
    seen = []

    def on_wait():
        # Called with the request written: Vast has it (or soon will) while the answer is held back.
        seen.append(("request had reached Vast", received.wait(5), "answer was in", respond.is_set()))
        respond.set()

    client = VastClient(api_key="k" * 20, base_url=url, timeout=10)
    offers = _run(lambda: client.search_offers({"limit": 1}), [], on_wait)
    assert [offer.id for offer in offers] == [OFFER["id"]]
    assert seen == [("request had reached Vast", True, "answer was in", False)]


def test_through_a_transport_of_its_own_a_call_says_nothing_before_it_is_sent():
    # The in-process simulator and a test's transport answer in the caller's thread: nothing to overlap.
    events = []

    def handler(request):
        events.append("sent")
        return httpx.Response(200, json={"offers": [OFFER]})

    offers = _run(lambda: _client(handler).search_offers({"limit": 1}), events)
    assert [offer.id for offer in offers] == [OFFER["id"]]
    assert events == ["sent"]


def test_a_retry_says_it_waits_before_sleeping():
    events, answers = [], iter([httpx.Response(503), httpx.Response(200, json={"offers": []})])

    def handler(request):
        events.append("sent")
        return next(answers)

    client = _client(handler, sleep=lambda seconds: events.append("sleep"), max_retries=1)
    assert _run(lambda: client.search_offers({"limit": 1}), events) == []
    assert events == ["sent", "wait", "sleep", "sent"]


def test_without_a_listener_nothing_is_called():
    def handler(request):
        return httpx.Response(200, json={"offers": []})

    assert vast.on_wait.get() is None
    assert _client(handler).search_offers({"limit": 1}) == []
