"""The simulator's edges: auth, paths, headers, faults, rate limits, commands, and the WSGI server over real HTTP."""

import json
import os
import threading
import time

import httpx
import pytest
from django.core.management import call_command

from vastsim import clock, faults, switches
from vastsim.models import Fault, Instance
from vastsim.transport import SimulatorTransport
from vastsim.wsgi import make_server

KEY = "simulated-vast-key"
BASE_URL = "https://console.vast.ai"


@pytest.fixture
def anonymous(settings):
    settings.VASTSIM_API_KEY = KEY
    with httpx.Client(transport=SimulatorTransport(), base_url=BASE_URL) as client:
        yield client
    clock.reset()


@pytest.fixture
def api(anonymous):
    anonymous.headers["Authorization"] = f"Bearer {KEY}"
    return anonymous


def rent(api):
    offer = api.post("/api/v0/bundles/", json={"rentable": {"eq": True}, "limit": 1}).json()["offers"][0]
    body = {"client_id": "me", "image": "vastai/base-image", "disk": 10.0, "label": None, "env": {}}
    return api.put(f"/api/v0/asks/{offer['id']}/", json=body).json()["new_contract"]


AUTHED_GETS = [
    "/api/v1/instances/",
    "/api/v0/instances/filters/",
    "/api/v0/instances/27000001/",
    "/api/v0/users/current/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", AUTHED_GETS)
def test_authed_endpoints_answer_401_without_a_valid_key(anonymous, path):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        response = anonymous.get(path, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"success": False, "error": "auth_error", "msg": "Invalid user key"}


@pytest.mark.django_db
def test_api_key_listing_wants_a_bearer_header(anonymous):
    for kwargs in ({}, {"params": {"api_key": KEY}}):
        response = anonymous.get("/api/v0/auth/apikeys/", **kwargs)
        assert response.status_code == 400
        assert response.json() == {"msg": "API Key not provided as bearer token."}
    wrong = anonymous.get("/api/v0/auth/apikeys/", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401


@pytest.mark.django_db
def test_key_is_accepted_as_bearer_header_or_api_key_param(anonymous):
    assert anonymous.get("/api/v0/users/current", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert anonymous.get("/api/v0/users/current", params={"api_key": KEY}).status_code == 200
    assert anonymous.put("/api/v0/instances/1/", params={"api_key": "nope"}, json={}).status_code == 401


@pytest.mark.django_db
def test_transport_can_accept_other_keys_instead_of_the_setting():
    with httpx.Client(transport=SimulatorTransport(api_keys=["k1", "k2"]), base_url=BASE_URL) as client:
        assert client.get("/api/v0/users/current", headers={"Authorization": "Bearer k2"}).status_code == 200
        assert client.get("/api/v0/users/current", headers={"Authorization": f"Bearer {KEY}"}).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v0/bundles"),
        ("POST", "/api/v0/bundles"),
        ("GET", "/api/v1/instances"),
        ("GET", "/api/v0/instances/filters"),
        ("GET", "/api/v0/instances/1"),
        ("GET", "/api/v0/auth/apikeys"),
        ("GET", "/api/v0/users/current"),
        ("GET", "/api/v0/gpu_names/unique"),
    ],
)
def test_paths_answer_with_and_without_trailing_slash_and_never_redirect(api, method, path):
    for variant in (path, path + "/"):
        response = api.request(method, variant, json={} if method == "POST" else None)
        assert response.status_code == 200, (variant, response.text)
        assert response.headers["content-type"] == "application/json"


@pytest.mark.django_db
def test_content_type_is_exactly_application_json_on_errors_too(anonymous):
    for response in (
        anonymous.get("/api/v1/instances/"),
        anonymous.post("/api/v0/bundles/", json={"x": {"like": 1}}),
        anonymous.get("/api/v0/nowhere/"),
    ):
        assert response.headers["content-type"] == "application/json"


@pytest.mark.django_db
def test_unknown_paths_are_404_and_wrong_methods_405(api):
    assert api.get("/api/v0/nowhere/").status_code == 404
    response = api.request("PATCH", "/api/v0/instances/1/")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PUT"


@pytest.mark.django_db
def test_current_user_leaks_the_api_key_like_the_real_api(api):
    user = api.get("/api/v0/users/current").json()
    assert user["api_key"] == KEY
    assert user["credit"] == 250.0
    assert user["email"]
    assert user["host_agreement_accepted"] is False


@pytest.mark.django_db
def test_api_key_listing_redacts_every_key(api):
    keys = api.get("/api/v0/auth/apikeys/").json()["apikeys"]
    assert len(keys) >= 2
    assert all(key["key"] is None for key in keys)
    assert {"id", "user_id", "key_type", "name", "team_id", "team_name", "team_owner"} <= set(keys[0])


@pytest.mark.django_db
def test_error_fault_fires_the_given_number_of_times(api):
    faults.inject("bundles", status=500, times=2)
    for _ in range(2):
        response = api.post("/api/v0/bundles/", json={"limit": 1})
        assert response.status_code == 500
        assert response.json()["success"] is False
    assert api.post("/api/v0/bundles/", json={"limit": 1}).status_code == 200
    assert not Fault.objects.exists()


@pytest.mark.django_db
def test_gateway_faults_answer_an_html_page(api):
    faults.inject("instances", status=502)
    response = api.get("/api/v1/instances/")
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert "502 Bad Gateway" in response.text


@pytest.mark.django_db
def test_429_fault_with_and_without_retry_after(api):
    faults.inject("instances", status=429, retry_after=3, times=1)
    faults.inject("instances", status=429, times=1)
    first = api.get("/api/v1/instances/")
    assert first.status_code == 429
    assert first.headers["retry-after"] == "3"
    assert first.json()["error"] == "rate_limit_exceeded"
    second = api.get("/api/v1/instances/")
    assert second.status_code == 429
    assert "retry-after" not in second.headers


@pytest.mark.django_db
def test_search_quota_fault_carries_the_reset_time(api):
    faults.inject("bundles", kind="quota")
    response = api.post("/api/v0/bundles/", json={})
    assert response.status_code == 429
    assert response.json()["error"] == "search_quota_exceeded"
    assert int(response.headers["x-ratelimit-reset"]) > time.time()


@pytest.mark.django_db
def test_malformed_and_truncated_faults_break_the_json(api):
    faults.inject("user", kind="malformed", times=1)
    faults.inject("user", kind="truncated", times=1)
    for _ in range(2):
        response = api.get("/api/v0/users/current")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert api.get("/api/v0/users/current").json()["credit"] == 250.0


@pytest.mark.django_db
def test_truncated_create_still_creates_the_instance(api):
    faults.inject("asks", kind="truncated")
    before = Instance.objects.count()
    offer = api.post("/api/v0/bundles/", json={"limit": 1}).json()["offers"][0]
    response = api.put(f"/api/v0/asks/{offer['id']}/", json={"image": "x", "disk": 10})
    assert response.status_code == 200
    assert Instance.objects.count() == before + 1


@pytest.mark.django_db
def test_wrong_shape_fault_answers_200_without_the_expected_key(api):
    faults.inject("bundles", kind="wrong_shape")
    response = api.post("/api/v0/bundles/", json={"limit": 1})
    assert response.status_code == 200
    assert "offers" not in response.json()


@pytest.mark.django_db
def test_latency_fault_slows_matching_requests_only(api):
    faults.inject("/gpu_names/", latency=0.05)
    started = time.monotonic()
    api.get("/api/v0/gpu_names/unique/")
    assert time.monotonic() - started >= 0.05
    started = time.monotonic()
    api.get("/api/v0/users/current")
    assert time.monotonic() - started < 0.05


@pytest.mark.django_db
def test_faults_can_target_one_method(api):
    instance_id = rent(api)
    faults.inject("instance", method="DELETE", status=500)
    assert api.get(f"/api/v0/instances/{instance_id}/").status_code == 200
    assert api.request("DELETE", f"/api/v0/instances/{instance_id}/", json={}).status_code == 500
    faults.clear()
    assert api.request("DELETE", f"/api/v0/instances/{instance_id}/", json={}).status_code == 200


@pytest.mark.django_db
def test_rate_limits_are_off_by_default(api):
    for _ in range(3):
        assert api.post("/api/v0/bundles/", json={"limit": 1}).status_code == 200


@pytest.mark.django_db
def test_rate_limits_refuse_calls_inside_the_threshold_per_key(settings):
    switches.enable("rate_limits")
    transport = SimulatorTransport(api_keys=["alice", "bob"])
    with httpx.Client(transport=transport, base_url=BASE_URL) as client:
        alice, bob = {"Authorization": "Bearer alice"}, {"Authorization": "Bearer bob"}
        assert client.post("/api/v0/bundles/", json={"limit": 1}, headers=alice).status_code == 200
        limited = client.post("/api/v0/bundles/", json={"limit": 1}, headers=alice)
        assert limited.status_code == 429
        assert limited.json() == {
            "success": False,
            "error": "rate_limit_exceeded",
            "msg": "API requests too frequent endpoint threshold=2.0",
        }
        assert limited.headers["retry-after"] == "2"
        assert client.post("/api/v0/bundles/", json={"limit": 1}, headers=bob).status_code == 200
        assert client.get("/api/v0/bundles/", headers=alice).status_code == 200  # GET has its own bucket
        clock.advance(2.0)
        assert client.post("/api/v0/bundles/", json={"limit": 1}, headers=alice).status_code == 200
    clock.reset()


@pytest.mark.django_db
def test_rate_limits_can_omit_retry_after_and_follow_a_setting(api, settings):
    settings.VASTSIM_RATE_LIMITS = {"retry_after": False}
    assert api.get("/api/v0/auth/apikeys/").status_code == 200
    limited = api.get("/api/v0/auth/apikeys/")
    assert limited.status_code == 429
    assert "retry-after" not in limited.headers
    switches.disable("rate_limits")
    assert api.get("/api/v0/auth/apikeys/").status_code == 200


@pytest.mark.django_db
def test_reset_command_forgets_instances_faults_and_switches(api):
    rent(api)
    faults.inject("user", status=500)
    switches.enable("legacy_instances")
    clock.advance(100)
    call_command("vastsim_reset", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert not Instance.objects.exists()
    assert not Fault.objects.exists()
    assert switches.get("legacy_instances", False) is False
    assert abs(clock.now() - time.time()) < 1
    assert len(api.get("/api/v0/auth/apikeys/").json()["apikeys"]) == 3


@pytest.mark.django_db
def test_fault_and_switch_commands_manage_the_database(capsys):
    call_command("vastsim_fault", "add", "bundles", "--status", "503", "--times", "2")
    call_command("vastsim_fault", "add", "*", "--latency", "0.5", "--method", "get")
    call_command("vastsim_fault", "list")
    listed = capsys.readouterr().out
    assert "error on * bundles, status 503, 2 more time(s)" in listed
    assert "latency on GET *, +0.5s, forever" in listed
    call_command("vastsim_fault", "clear")
    assert faults.active() == []
    call_command("vastsim_switch", "start_unavailable", "[27000001]")
    assert switches.get("start_unavailable") == [27000001]
    call_command("vastsim_switch", "rate_limits", "on")
    assert switches.get("rate_limits") is True
    call_command("vastsim_switch", "--clear")
    assert switches.current()["rate_limits"] is False


@pytest.fixture
def live_simulator():
    server = make_server("127.0.0.1", 0, api_keys=["live-key"])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    clock.reset()


@pytest.mark.django_db(transaction=True)
def test_wsgi_server_serves_the_same_api_over_http(live_simulator):
    with httpx.Client(base_url=live_simulator, headers={"Authorization": "Bearer live-key"}) as client:
        offers = client.post("/api/v0/bundles/", json={"gpu_name": {"eq": "RTX 4090"}, "limit": 2})
        assert offers.status_code == 200
        assert offers.headers["content-type"] == "application/json"
        offer_id = offers.json()["offers"][0]["id"]
        created = client.put(f"/api/v0/asks/{offer_id}/", json={"image": "pytorch/pytorch", "disk": 20.0}).json()
        assert created["success"] is True
        listed = client.get("/api/v1/instances/", params={"limit": 25}).json()
        assert [row["id"] for row in listed["instances"]] == [created["new_contract"]]
        assert client.get("/api/v0/users/current", params={"api_key": "live-key"}).json()["api_key"] == "live-key"
        assert client.get("/api/v0/users/current", headers={"Authorization": "Bearer other"}).status_code == 401
        assert client.request("DELETE", f"/api/v0/instances/{created['new_contract']}/", json={}).json() == {
            "success": True
        }


@pytest.mark.django_db
def test_latency_beyond_the_read_timeout_raises_read_timeout_when_the_timeout_expires(api):
    offer = api.post("/api/v0/bundles/", json={"rentable": {"eq": True}, "limit": 1}).json()["offers"][0]
    faults.inject("asks", latency=5.0)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        api.put(f"/api/v0/asks/{offer['id']}/", json={"image": "x", "disk": 10}, timeout=httpx.Timeout(5.0, read=0.2))
    assert 0.2 <= time.monotonic() - started < 1.0
    assert not Instance.objects.exists()  # the latency comes before the handler: nothing was created


@pytest.mark.django_db
def test_latency_within_the_read_timeout_only_delays_the_answer(api):
    faults.inject("user", latency=0.1)
    started = time.monotonic()
    response = api.get("/api/v0/users/current", timeout=httpx.Timeout(5.0, read=1.0))
    assert response.status_code == 200
    assert 0.1 <= time.monotonic() - started < 1.0


@pytest.mark.django_db
def test_a_fault_that_fired_on_a_timed_out_request_is_used_up(api):
    faults.inject("user", latency=1.0, times=1)
    with pytest.raises(httpx.ReadTimeout):
        api.get("/api/v0/users/current", timeout=httpx.Timeout(5.0, read=0.1))
    started = time.monotonic()
    assert api.get("/api/v0/users/current", timeout=httpx.Timeout(5.0, read=0.1)).status_code == 200
    assert time.monotonic() - started < 0.5
