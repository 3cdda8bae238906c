"""The service module's logs, reboot and bid calls (dashboard/vast/resources/instance_ops.py):
exact requests on an httpx.MockTransport, the result URL read without the key, and the same
calls against the in-process simulator."""

import json
import logging

import httpx
import pytest

from dashboard import vast
from dashboard.vast.resources.instance_ops import MAX_LOG_BYTES, clean_lines
from vastsim import clock

KEY = "sk-test-0123456789abcdef0123456789abcdef"
BASE = "https://console.vast.ai"
RESULT_URL = "https://s3.amazonaws.com/vast.ai/instance_logs/3f1c0e9a.log?X-Amz-Signature=abc"


class Upstream:
    """A MockTransport that answers from `routes` ((method, host, path) → response or callable)
    and records each request."""

    def __init__(self, routes):
        self.routes = routes
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.host, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"success": False, "error": "not_found"})
        return answer(request) if callable(answer) else answer


def _client(routes, **kwargs):
    upstream = Upstream(routes)
    client = vast.VastClient(KEY, BASE, transport=httpx.MockTransport(upstream), sleep=lambda s: None, **kwargs)
    return client, upstream


def _body(request):
    return json.loads(request.content) if request.content else None


def test_request_logs_puts_the_tail_as_a_string_and_answers_the_result_url():
    answer = httpx.Response(200, json={"success": True, "result_url": RESULT_URL, "msg": "gathering"})
    client, upstream = _client({("PUT", "console.vast.ai", "/api/v0/instances/request_logs/42/"): answer})

    asked = client.instance_ops.request_logs(42, tail=500)

    (sent,) = upstream.requests
    assert (sent.method, sent.url.path, _body(sent)) == ("PUT", "/api/v0/instances/request_logs/42/", {"tail": "500"})
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert asked.result_url == RESULT_URL
    assert "X-Amz" not in repr(asked)


def test_request_logs_without_a_result_url_says_why_and_a_refusal_raises():
    said = httpx.Response(200, json={"success": True, "msg": "Instance is not running"})
    client, _ = _client({("PUT", "console.vast.ai", "/api/v0/instances/request_logs/7/"): said})
    assert client.instance_ops.request_logs(7).result_url is None
    assert client.instance_ops.request_logs(7).message == "Instance is not running"

    refused = httpx.Response(404, json={"success": False, "error": "invalid_id", "msg": "Instance 8 not found."})
    client, _ = _client({("PUT", "console.vast.ai", "/api/v0/instances/request_logs/8/"): refused})
    with pytest.raises(vast.VastNotFound):
        client.instance_ops.request_logs(8)


def test_request_logs_is_a_read_so_a_5xx_is_retried():
    answers = iter([httpx.Response(503), httpx.Response(200, json={"success": True, "result_url": RESULT_URL})])
    client, upstream = _client(
        {("PUT", "console.vast.ai", "/api/v0/instances/request_logs/9/"): lambda request: next(answers)}
    )
    assert client.instance_ops.request_logs(9).result_url == RESULT_URL
    assert len(upstream.requests) == 2


@pytest.mark.parametrize("tail", [0, -1, True, "5", 10**6])
def test_request_logs_refuses_a_bad_tail_before_calling(tail):
    client, upstream = _client({})
    with pytest.raises(ValueError):
        client.instance_ops.request_logs(1, tail=tail)
    assert upstream.requests == []


def test_fetch_logs_sends_no_key_to_the_storage_host_and_keeps_the_last_lines(caplog):
    text = "".join(f"line {n}\n" for n in range(1, 11))
    client, upstream = _client(
        {("GET", "s3.amazonaws.com", "/vast.ai/instance_logs/3f1c0e9a.log"): httpx.Response(200, text=text)}
    )
    caplog.set_level(logging.INFO)

    logs = client.instance_ops.fetch_logs(RESULT_URL, tail=3)

    (sent,) = upstream.requests
    assert sent.url.host == "s3.amazonaws.com"
    assert "authorization" not in {name.lower() for name in sent.headers}
    assert KEY not in str(sent.headers)
    assert KEY not in str(sent.url)
    assert logs.ready
    assert logs.lines == ("line 8", "line 9", "line 10")
    assert not logs.truncated
    assert "X-Amz-Signature" not in caplog.text
    assert "instance_logs" not in caplog.text
    assert "s3.amazonaws.com" in caplog.text


@pytest.mark.parametrize("status", [403, 404])
def test_fetch_logs_is_not_ready_while_the_storage_answers_403_or_404(status):
    client, _ = _client(
        {("GET", "s3.amazonaws.com", "/vast.ai/instance_logs/3f1c0e9a.log"): httpx.Response(status, text="<Error/>")}
    )
    logs = client.instance_ops.fetch_logs(RESULT_URL)
    assert not logs.ready
    assert logs.lines == ()


def test_fetch_logs_never_follows_a_redirect():
    moved = httpx.Response(302, headers={"Location": f"{BASE}/api/v0/users/current"})
    client, upstream = _client({("GET", "s3.amazonaws.com", "/vast.ai/instance_logs/3f1c0e9a.log"): moved})
    with pytest.raises(vast.VastBadResponse) as caught:
        client.instance_ops.fetch_logs(RESULT_URL)
    assert len(upstream.requests) == 1
    assert "s3" not in caught.value.message
    assert "X-Amz" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://s3.amazonaws.com/vast.ai/x.log",  # plain http to another host
        "https://user:pass@s3.amazonaws.com/x.log",
        "https://127.0.0.1/x.log",
        "https://10.0.0.5/x.log",
        "https://[::1]/x.log",
        "https://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "/relative/x.log",
        "",
        None,
        42,
    ],
)
def test_fetch_logs_refuses_urls_it_will_not_read_without_sending_anything(url):
    client, upstream = _client({})
    with pytest.raises(vast.VastBadResponse) as caught:
        client.instance_ops.fetch_logs(url)
    assert upstream.requests == []
    assert caught.value.message == "Vast.ai gave a link to the logs that the dashboard will not follow."


def test_fetch_logs_reads_the_apis_own_origin_over_http_as_a_simulator_serves_it():
    upstream = Upstream({("GET", "127.0.0.1", "/instance_logs/ab.log"): httpx.Response(200, text="ok\n")})
    client = vast.VastClient(KEY, "http://127.0.0.1:8765", transport=httpx.MockTransport(upstream))
    assert client.instance_ops.fetch_logs("http://127.0.0.1:8765/instance_logs/ab.log").lines == ("ok",)
    assert "authorization" not in {name.lower() for name in upstream.requests[0].headers}
    with pytest.raises(vast.VastBadResponse):
        client.instance_ops.fetch_logs("http://127.0.0.1:9999/instance_logs/ab.log")  # another port


def test_fetch_logs_reads_at_most_two_megabytes():
    huge = b"x" * 1000 + b"\n"
    body = huge * (3 * MAX_LOG_BYTES // len(huge))
    client, _ = _client(
        {("GET", "s3.amazonaws.com", "/vast.ai/instance_logs/3f1c0e9a.log"): httpx.Response(200, content=body)}
    )
    logs = client.instance_ops.fetch_logs(RESULT_URL)
    assert logs.ready
    assert logs.truncated
    assert sum(len(line) + 1 for line in logs.lines) <= MAX_LOG_BYTES + 1


def test_fetch_logs_timeouts_and_errors_are_vast_errors():
    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    client, _ = _client({("GET", "s3.amazonaws.com", "/vast.ai/instance_logs/3f1c0e9a.log"): slow})
    with pytest.raises(vast.VastTimeout):
        client.instance_ops.fetch_logs(RESULT_URL)
    client, _ = _client({("GET", "s3.amazonaws.com", "/vast.ai/instance_logs/3f1c0e9a.log"): httpx.Response(500)})
    with pytest.raises(vast.VastUnavailable):
        client.instance_ops.fetch_logs(RESULT_URL)


def test_log_lines_lose_terminal_colours_and_progress_redraws():
    assert clean_lines("\x1b[32mok\x1b[0m\r\n10%\r50%\r100%\nbell\x07\tTab") == ("ok", "100%", "bell\tTab")


def test_reboot_puts_an_empty_body_once_and_a_refusal_raises_with_vasts_reason():
    not_started = httpx.Response(
        200, json={"success": False, "error": "invalid_id", "msg": "Invalid instance id. Is the container started?"}
    )
    client, upstream = _client({("PUT", "console.vast.ai", "/api/v0/instances/reboot/5/"): not_started})
    with pytest.raises(vast.VastRejected) as caught:
        client.instance_ops.reboot(5)
    (sent,) = upstream.requests
    assert (sent.method, sent.url.path, _body(sent)) == ("PUT", "/api/v0/instances/reboot/5/", {})
    assert "Is the container started?" in caught.value.message


def test_reboot_and_bid_are_writes_so_a_5xx_is_not_retried():
    client, upstream = _client(
        {
            ("PUT", "console.vast.ai", "/api/v0/instances/reboot/5/"): httpx.Response(502),
            ("PUT", "console.vast.ai", "/api/v0/instances/bid_price/5/"): httpx.Response(500),
        }
    )
    with pytest.raises(vast.VastUnavailable) as caught:
        client.instance_ops.reboot(5)
    assert caught.value.outcome_unknown
    with pytest.raises(vast.VastUnavailable):
        client.instance_ops.change_bid(5, 0.3)
    assert len(upstream.requests) == 2


def test_change_bid_sends_the_clients_body_with_the_price_for_the_whole_machine():
    client, upstream = _client(
        {("PUT", "console.vast.ai", "/api/v0/instances/bid_price/77/"): httpx.Response(200, json={"success": True})}
    )
    client.instance_ops.change_bid(77, 0.25)
    (sent,) = upstream.requests
    assert (sent.method, sent.url.path) == ("PUT", "/api/v0/instances/bid_price/77/")
    assert _body(sent) == {"client_id": "me", "price": 0.25}


@pytest.mark.parametrize("price", [0, -1, 0.0001, 129, float("nan"), float("inf"), True, "0.3", None])
def test_change_bid_refuses_a_bad_price_before_calling(price):
    client, upstream = _client({})
    with pytest.raises(ValueError):
        client.instance_ops.change_bid(1, price)
    assert upstream.requests == []


# Against the in-process simulator.


@pytest.fixture
def sim(db, upstream):
    """A running on-demand instance with an on-start script, on the simulator."""
    offer = vast.search_offers({"limit": 1, "rentable": {"eq": True}})[0]
    launched = vast.create_instance(
        offer.id, vast.LaunchRequest(image="pytorch/pytorch", disk=10, onstart="echo 'hello from onstart'\npip list")
    )
    clock.advance(60)
    upstream.requests.clear()
    return launched.instance_id


def test_simulator_logs_appear_at_the_result_url_after_a_moment_without_the_key(sim, upstream):
    ops = vast.get_client().instance_ops
    asked = ops.request_logs(sim, tail=1000)
    assert asked.result_url.startswith(f"{BASE}/instance_logs/")

    assert not ops.fetch_logs(asked.result_url).ready
    clock.advance(3)
    logs = ops.fetch_logs(asked.result_url)

    assert logs.ready
    assert "hello from onstart" in logs.lines
    assert not any("pip list" in line for line in logs.lines)  # the script itself is not shown
    assert any(line.startswith("Pulling image pytorch/pytorch") for line in logs.lines)
    fetches = upstream.calls("GET", "/instance_logs/")
    assert len(fetches) == 2
    assert all("authorization" not in {name.lower() for name in f.request.headers} for f in fetches)


def test_simulator_reboot_and_bid_answer_as_vast_does(sim):
    ops = vast.get_client().instance_ops
    ops.reboot(sim)
    assert vast.get_instance(sim).status == "rebooting"
    with pytest.raises(vast.VastRejected, match="on-demand"):
        ops.change_bid(sim, 0.5)
