"""The simulator's console endpoints: logs at a result URL that fills in on the clock, reboot
through `rebooting`, bid changes with Vast's refusals; and a router that never takes a word for an id."""

import httpx
import pytest

from vastsim import clock, console, switches
from vastsim.transport import SimulatorTransport

pytestmark = pytest.mark.django_db
KEY = "simulated-vast-key"
BASE = "https://console.vast.ai"


@pytest.fixture
def api(settings):
    settings.VASTSIM_API_KEY = KEY
    settings.VASTSIM_BOOT_SECONDS = 8.0
    with httpx.Client(transport=SimulatorTransport(), base_url=BASE, headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c
    clock.reset()


@pytest.fixture
def anonymous():
    """A client without the key, as the official client reads a result URL."""
    with httpx.Client(transport=SimulatorTransport(), base_url=BASE) as c:
        yield c


def rent(api, *, bid=False, onstart="echo 'ready to train'\npython train.py", running=True):
    """A new instance on the cheapest rentable offer (an interruptible one at its minimum bid)."""
    offer = api.post("/api/v0/bundles/", json={"rentable": {"eq": True}, "limit": 1}).json()["offers"][0]
    body = {"client_id": "me", "image": "pytorch/pytorch:2.5.1", "disk": 10.0, "onstart": onstart, "runtype": "ssh"}
    if bid:
        body["price"] = offer["min_bid"]
    response = api.put(f"/api/v0/asks/{offer['id']}/", json=body)
    assert response.status_code == 200, response.text
    if running:
        clock.advance(60)
    return response.json()["new_contract"], offer


def show(api, instance_id):
    return api.get(f"/api/v0/instances/{instance_id}/").json()["instances"]


def request_logs(api, instance_id, **body):
    response = api.put(f"/api/v0/instances/request_logs/{instance_id}/", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_logs_appear_at_the_result_url_after_a_moment_and_need_no_key(api, anonymous):
    instance_id, _ = rent(api)
    answer = request_logs(api, instance_id, tail="1000")
    assert answer["success"] is True
    url = answer["result_url"]
    assert url.startswith(f"{BASE}/instance_logs/")
    assert url.endswith(".log")

    early = anonymous.get(url)
    assert early.status_code == 404
    assert b"NoSuchKey" in early.content
    assert early.headers["content-type"] == "application/xml"

    clock.advance(console.LOG_READY_SECONDS)
    ready = anonymous.get(url)
    assert ready.status_code == 200
    assert ready.headers["content-type"].startswith("text/plain")
    lines = ready.text.splitlines()
    assert lines[0] == "Pulling image pytorch/pytorch:2.5.1"
    assert "ready to train" in lines
    assert not any("train.py" in line for line in lines)  # the script itself is not shown
    assert "Server listening on 0.0.0.0 port 22." in lines


def test_the_result_url_follows_the_base_url_the_caller_used(api):
    instance_id, _ = rent(api)
    with httpx.Client(
        transport=SimulatorTransport(), base_url="http://127.0.0.1:8123", headers={"Authorization": f"Bearer {KEY}"}
    ) as local:
        url = local.put(f"/api/v0/instances/request_logs/{instance_id}/", json={}).json()["result_url"]
    assert url.startswith("http://127.0.0.1:8123/instance_logs/")


def test_logs_keep_the_tail_and_apply_the_filter(api, anonymous):
    instance_id, _ = rent(api)
    tail = request_logs(api, instance_id, tail="2")["result_url"]
    grep = request_logs(api, instance_id, filter="train")["result_url"]
    daemon = request_logs(api, instance_id, daemon_logs="true")["result_url"]
    clock.advance(console.LOG_READY_SECONDS)
    assert anonymous.get(tail).text.splitlines() == ["ready to train", "onstart.sh finished (exit 0)"]
    assert anonymous.get(grep).text.splitlines() == ["ready to train"]
    assert anonymous.get(daemon).text.startswith(f"vastd: contract C.{instance_id}")


def test_logs_follow_the_instance_loading_then_stopped(api, anonymous):
    instance_id, _ = rent(api, running=False)
    clock.advance(3)  # past provisioning, still pulling
    loading = request_logs(api, instance_id)["result_url"]
    clock.advance(60)
    api.put(f"/api/v0/instances/{instance_id}/", json={"state": "stopped"})
    stopped = request_logs(api, instance_id)["result_url"]
    clock.advance(console.LOG_READY_SECONDS)
    assert anonymous.get(loading).text.splitlines()[-1].startswith("Status: Downloaded newer image")
    assert anonymous.get(stopped).text.splitlines()[-1] == "Container stopped."


def test_logs_of_an_unknown_instance_or_with_a_bad_tail_are_refused(api, anonymous):
    missing = api.put("/api/v0/instances/request_logs/123/", json={})
    assert missing.status_code == 404
    assert missing.json()["error"] == "invalid_id"
    instance_id, _ = rent(api)
    bad = api.put(f"/api/v0/instances/request_logs/{instance_id}/", json={"tail": "many"})
    assert bad.status_code == 400
    assert anonymous.get(f"/instance_logs/{'0' * 32}.log").status_code == 404


def test_request_logs_needs_the_key(anonymous, api):
    instance_id, _ = rent(api)
    assert anonymous.put(f"/api/v0/instances/request_logs/{instance_id}/", json={}).status_code == 401


def test_reboot_goes_through_rebooting_back_to_running_on_the_same_machine(settings, api, anonymous):
    instance_id, _ = rent(api)
    before = show(api, instance_id)

    answer = api.put(f"/api/v0/instances/reboot/{instance_id}/", json={})

    assert answer.status_code == 200
    assert answer.json() == {"success": True}
    during = show(api, instance_id)
    assert during["actual_status"] == "rebooting"
    assert during["intended_status"] == "running"
    clock.advance(settings.VASTSIM_BOOT_SECONDS / 2)
    after = show(api, instance_id)
    assert after["actual_status"] == "running"
    assert after["machine_id"] == before["machine_id"]
    url = request_logs(api, instance_id)["result_url"]
    clock.advance(console.LOG_READY_SECONDS)
    lines = anonymous.get(url).text.splitlines()
    assert "Received SIGTERM: stopping the container for a reboot" in lines
    assert lines.count("ready to train") == 2  # the on-start script ran again


def test_reboot_of_an_instance_that_is_not_running_is_200_with_success_false(api):
    stopped, _ = rent(api)
    api.put(f"/api/v0/instances/{stopped}/", json={"state": "stopped"})
    loading, _ = rent(api, running=False)
    for instance_id in (loading, stopped, 123):
        answer = api.put(f"/api/v0/instances/reboot/{instance_id}/", json={})
        assert answer.status_code == 200
        assert answer.json() == console.NOT_STARTED


def test_bid_change_updates_the_bid_and_refuses_what_vast_refuses(api):
    instance_id, offer = rent(api, bid=True)
    path = f"/api/v0/instances/bid_price/{instance_id}/"
    higher = round(offer["min_bid"] * 1.5, 4)

    assert api.put(path, json={"client_id": "me", "price": higher}).json() == {"success": True}
    shown = show(api, instance_id)
    assert shown["dph_base"] == pytest.approx(higher)
    assert shown["is_bid"] is True

    too_low = api.put(path, json={"client_id": "me", "price": offer["min_bid"] / 2})
    assert too_low.status_code == 400
    assert too_low.json()["success"] is False
    assert too_low.json()["error"] == "invalid_price"
    assert "below the minimum bid" in too_low.json()["msg"]
    tiny = api.put(path, json={"client_id": "me", "price": 0.0001})
    assert tiny.status_code == 400
    assert tiny.json()["msg"] == "Please set a bid price >= 0.001."
    assert api.put(path, json={"client_id": "me", "price": "x"}).status_code == 400
    assert api.put(path, json={"client_id": "me", "price": 500}).status_code == 400
    assert show(api, instance_id)["dph_base"] == pytest.approx(higher)

    default = api.put(path, json={"client_id": "me", "price": None})
    assert default.json() == {"success": True}
    assert show(api, instance_id)["dph_base"] == pytest.approx(offer["min_bid"])


def test_bid_change_of_an_on_demand_or_unknown_instance_is_refused(api):
    instance_id, _ = rent(api)
    on_demand = api.put(f"/api/v0/instances/bid_price/{instance_id}/", json={"client_id": "me", "price": 1.0})
    assert on_demand.status_code == 400
    assert on_demand.json() == {
        "success": False,
        "error": "invalid_args",
        "msg": "Can't change price of on-demand contract.",
    }
    missing = api.put("/api/v0/instances/bid_price/123/", json={"client_id": "me", "price": 1.0})
    assert missing.status_code == 404
    assert missing.json()["error"] == "no_such_instance"


def test_reboot_and_bid_keep_vasts_rate_limits_when_switched_on(api):
    switches.enable("rate_limits")
    instance_id, _ = rent(api, bid=True)
    assert api.put(f"/api/v0/instances/reboot/{instance_id}/", json={}).status_code == 200
    assert api.put(f"/api/v0/instances/reboot/{instance_id}/", json={}).status_code == 429
    bid_path = f"/api/v0/instances/bid_price/{instance_id}/"
    assert api.put(bid_path, json={"client_id": "me", "price": None}).status_code == 200
    clock.advance(2)
    assert api.put(bid_path, json={"client_id": "me", "price": None}).status_code == 429


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v0/instances/pending-price-increases/"),
        ("PUT", "/api/v0/instances/pending-price-increases/"),
        ("DELETE", "/api/v0/instances/recycle/"),
        ("GET", "/api/v0/instances/abc/"),
        ("PUT", "/api/v0/instances/reboot/abc/"),
        ("PUT", "/api/v0/instances/bid_price/1e3/"),
    ],
)
def test_the_router_never_takes_a_word_for_an_instance_id(api, method, path):
    answer = api.request(method, path, json={})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "not_found"


def test_console_paths_answer_only_their_own_method(api):
    answer = api.get("/api/v0/instances/reboot/27000001/")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "PUT"
