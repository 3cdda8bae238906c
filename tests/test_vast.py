"""The service module against an injected httpx.MockTransport: requests, parsing, errors, retries, logs."""

import json
import logging
import pickle
from datetime import UTC, datetime
from types import MappingProxyType

import httpx
import pytest

from dashboard import vast
from dashboard.vast import (
    LaunchRequest,
    VastAuthError,
    VastBadResponse,
    VastClient,
    VastError,
    VastNotFound,
    VastOfferUnavailable,
    VastRateLimited,
    VastRejected,
    VastTimeout,
    VastUnavailable,
)

KEY = "sekrit-test-key"
BASE_URL = "https://console.vast.ai"

OFFER = {
    "id": 11684738,
    "ask_contract_id": 11684738,
    "machine_id": 22990,
    "host_id": 125418,
    "gpu_name": "RTX 4090",
    "num_gpus": 2,
    "gpu_ram": 24564,
    "gpu_total_ram": 49128,
    "compute_cap": 890,
    "cuda_max_good": 12.2,
    "driver_version": "535.183.01",
    "total_flops": 165.94,
    "dlperf": 213.28,
    "dlperf_per_dphtotal": 432.3,
    "flops_per_dphtotal": 336.35,
    "score": 190.03,
    "cpu_name": "AMD EPYC 7642 48-Core Processor",
    "cpu_cores_effective": 24.0,
    "cpu_ghz": 2.3,
    "cpu_ram": 64393,
    "pcie_bw": 12.3,
    "disk_space": 1607.9,
    "disk_bw": 2545.3,
    "inet_up": 77.7,
    "inet_down": 105.9,
    "direct_port_count": 249,
    "geolocation": "Guangxi, CN",
    "dph_base": 0.493333,
    "dph_total": 0.493352,
    "storage_cost": 0.0013333,
    "storage_total_cost": 9.26e-06,
    "min_bid": 0.2,
    "discounted_dph_total": 0.4933,
    "reliability": 0.9700835,
    "reliability2": 0.9700835,
    "verification": "verified",
    "rentable": True,
    "external": None,
    "hosting_type": 1,
    "duration": 13356528.6,
}

INSTANCE = {
    "id": 312,
    "actual_status": "running",
    "intended_status": "running",
    "cur_state": "running",
    "next_state": "running",
    "status_msg": "success, running nvidia/cuda_11.0.3-devel-ubuntu18.04/ssh",
    "label": "ML Training Job 2025",
    "image_uuid": "nvidia/cuda:11.0.3-devel-ubuntu18.04",
    "image_runtype": "jupyter_direc ssh_direc ssh_proxy",
    "extra_env": [["DOG", "CAT"], ["-p 70001:70001", "1"]],
    "onstart": "echo 'hello'",
    "jupyter_token": "df77e2",
    "ssh_host": "ssh123.vast.ai",
    "ssh_port": 10600,
    "public_ipaddr": "192.0.2.45",
    "ports": {
        "22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "20000"}],
        "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "20001"}],
    },
    "direct_port_start": 20000,
    "direct_port_end": 20002,
    "machine_id": 12,
    "start_date": 1668804745.12,
    "end_date": 1735689600.0,
    "num_gpus": 1,
    "gpu_name": "RTX 4090",
    "gpu_ram": 24576,
    "disk_space": 10.0,
    "dph_base": 0.8,
    "dph_total": 0.8021,
    "storage_cost": 0.15,
    "geolocation": "Washington, US",
    "reliability2": 0.9686655,
    "is_bid": False,
    "min_bid": 0.296,
    "instance_api_key": "restricted-instance-key",
}


def make_client(handler, **kwargs):
    """A VastClient on a MockTransport; returns it with the requests it sent and the sleeps it asked for."""
    requests, sleeps = [], []

    def record(request):
        requests.append(request)
        result = handler(request)
        if isinstance(result, Exception):
            raise result
        return result

    client = VastClient(
        api_key=KEY, base_url=BASE_URL, transport=httpx.MockTransport(record), sleep=sleeps.append, **kwargs
    )
    return client, requests, sleeps


def answer(status=200, body=None, **kwargs):
    """A handler that always gives the same answer: `body` as JSON, or httpx.Response's `text=`/`headers=`."""
    if body is not None:
        kwargs["json"] = body
    return lambda request: httpx.Response(status, **kwargs)


def body_of(request):
    return json.loads(request.content)


def launch_body(**overrides):
    """The create body vastai 1.9.1 sends for `create instance 12345 --image pytorch/pytorch --disk 40 --label demo`."""
    body = {
        "client_id": "me",
        "image": "pytorch/pytorch",
        "env": {},
        "price": None,
        "disk": 40.0,
        "label": "demo",
        "extra": None,
        "onstart": None,
        "image_login": None,
        "python_utf8": False,
        "lang_utf8": False,
        "use_jupyter_lab": False,
        "jupyter_dir": None,
        "force": False,
        "cancel_unavail": False,
        "template_hash_id": None,
        "user": None,
    }
    return body | overrides


def vast_records(caplog):
    return [r for r in caplog.records if r.name.startswith("dashboard.vast")]


# Requests


def test_search_posts_the_query_as_the_body_with_the_key_only_in_the_authorization_header():
    query = {"gpu_name": {"eq": "RTX 4090"}, "num_gpus": {"gte": "2"}, "order": [["dph_total", "asc"]], "limit": 10}
    client, requests, _ = make_client(answer(body={"offers": [OFFER]}))

    client.search_offers(query)

    (request,) = requests
    assert request.method == "POST"
    assert request.url.path == "/api/v0/bundles/"
    assert request.url.host == "console.vast.ai"
    assert body_of(request) == query
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"].startswith("vast-team-dashboard/")
    assert KEY not in str(request.url)


def test_create_instance_sends_the_exact_body_of_the_reference_example():
    client, requests, _ = make_client(answer(body={"success": True, "new_contract": 7835610}))

    client.create_instance(
        12345, LaunchRequest(image="pytorch/pytorch", disk=40, label="demo", runtype="ssh_direc ssh_proxy")
    )

    (request,) = requests
    assert request.method == "PUT"
    assert request.url.path == "/api/v0/asks/12345/"
    assert body_of(request) == launch_body(runtype="ssh_direc ssh_proxy")
    assert list(body_of(request)) == list(launch_body(runtype="ssh_direc ssh_proxy"))


@pytest.mark.parametrize("runtype", vast.RUNTYPES)
def test_create_instance_sends_each_runtype_as_the_cli_spells_it(runtype):
    client, requests, _ = make_client(answer(body={"success": True, "new_contract": 1}))

    client.create_instance(12345, LaunchRequest(image="pytorch/pytorch", disk=40, label="demo", runtype=runtype))

    assert body_of(requests[0]) == launch_body(runtype=runtype)


def test_create_instance_leaves_out_runtype_and_args_when_unset():
    client, requests, _ = make_client(answer(body={"success": True, "new_contract": 1}))

    client.create_instance(12345, LaunchRequest(image="pytorch/pytorch", disk=40, label="demo"))

    assert body_of(requests[0]) == launch_body()


def test_create_instance_sends_a_bid_price_env_onstart_and_args():
    client, requests, _ = make_client(answer(body={"success": True, "new_contract": 1}))
    request = LaunchRequest(
        image="vastai/base-image",
        disk=16.5,
        label=None,
        env={"HF_HOME": "/workspace/hf", "-p 8080:8080": "1"},
        onstart="nvidia-smi",
        runtype="args",
        args=["python", "train.py"],
        price=0.25,
        cancel_unavail=True,
        use_jupyter_lab=True,
    )

    client.create_instance(777, request)

    assert body_of(requests[0]) == launch_body(
        image="vastai/base-image",
        disk=16.5,
        label=None,
        env={"HF_HOME": "/workspace/hf", "-p 8080:8080": "1"},
        onstart="nvidia-smi",
        runtype="args",
        args=["python", "train.py"],
        price=0.25,
        cancel_unavail=True,
        use_jupyter_lab=True,
    )


def test_launch_request_refuses_a_runtype_the_cli_does_not_spell():
    with pytest.raises(ValueError, match="runtype"):
        LaunchRequest(image="pytorch/pytorch", runtype="ssh_direct")


def test_set_state_relabel_and_destroy_send_the_documented_requests():
    client, requests, _ = make_client(answer(body={"success": True}))

    client.set_state(312, "stopped")
    client.set_state(312, "running")
    client.relabel(312, "nightly run")
    client.destroy(312)

    assert [(r.method, r.url.path) for r in requests] == [
        ("PUT", "/api/v0/instances/312/"),
        ("PUT", "/api/v0/instances/312/"),
        ("PUT", "/api/v0/instances/312/"),
        ("DELETE", "/api/v0/instances/312/"),
    ]
    assert [body_of(r) for r in requests] == [{"state": "stopped"}, {"state": "running"}, {"label": "nightly run"}, {}]


def test_set_state_refuses_an_unknown_state_without_calling_vast():
    client, requests, _ = make_client(answer(body={"success": True}))

    with pytest.raises(ValueError):
        client.set_state(312, "paused")

    assert requests == []


def test_get_instance_asks_for_one_instance_of_the_owner():
    client, requests, _ = make_client(answer(body={"instances": INSTANCE}))

    instance = client.get_instance(312)

    assert instance.id == 312
    assert requests[0].method == "GET"
    assert requests[0].url.path == "/api/v0/instances/312/"
    assert requests[0].url.params["owner"] == "me"


# Parsing


def test_search_parses_offers_into_dataclasses_with_derived_values():
    client, _, _ = make_client(answer(body={"offers": [OFFER]}))

    (offer,) = client.search_offers({})

    assert offer.id == 11684738
    assert offer.gpu_name == "RTX 4090"
    assert offer.num_gpus == 2
    assert offer.price_per_gpu == pytest.approx(0.493352 / 2)
    assert offer.gpu_ram_gb == pytest.approx(24564 / 1024)
    assert offer.country == "CN"
    assert offer.datacenter is True
    assert offer.verified is True
    assert offer.max_days == pytest.approx(154.59, abs=0.01)
    assert offer.tflops_per_dollar == pytest.approx(336.35)
    assert offer.reliability_percent == pytest.approx(97.00835)
    assert offer.raw["ask_contract_id"] == 11684738
    with pytest.raises(TypeError):
        offer.raw["id"] = 1  # type: ignore[index]


def test_search_coerces_numbers_that_arrive_as_strings():
    client, _, _ = make_client(
        answer(body={"offers": [OFFER | {"num_gpus": "2", "dph_total": "0.5", "gpu_ram": 24564.0}]})
    )

    (offer,) = client.search_offers({})

    assert (offer.num_gpus, offer.dph_total, offer.gpu_ram) == (2, 0.5, 24564)


def test_an_empty_search_is_an_empty_list():
    client, _, _ = make_client(answer(body={"offers": []}))

    assert client.search_offers({}) == []


def test_instance_parsing_gives_env_ports_dates_and_connection_commands():
    client, _, _ = make_client(answer(body={"instances": INSTANCE}))

    instance = client.get_instance(312)

    assert instance.image == "nvidia/cuda:11.0.3-devel-ubuntu18.04"
    assert dict(instance.env) == {"DOG": "CAT", "-p 70001:70001": "1"}
    assert dict(instance.ports) == {"22/tcp": (20000,), "8080/tcp": (20001,)}
    assert instance.start_date == datetime.fromtimestamp(1668804745.12, tz=UTC)
    assert instance.status == "running"
    assert instance.is_transitional is False
    assert instance.ssh_command == "ssh -p 10600 root@ssh123.vast.ai"
    assert instance.jupyter_url == "https://192.0.2.45:20001/?token=df77e2"
    assert instance.storage_cost_per_day == pytest.approx(0.15 * 10 / 30)
    assert "instance_api_key" not in instance.raw


def test_a_stopped_instance_has_no_ports_and_no_ssh_command():
    stopped = INSTANCE | {
        "actual_status": "exited",
        "intended_status": "stopped",
        "ports": None,
        "direct_port_start": -1,
    }
    client, _, _ = make_client(answer(body={"instances": stopped}))

    instance = client.get_instance(312)

    assert instance.status == "stopped"
    assert instance.ports == {}
    assert instance.direct_port_start is None
    assert instance.ssh_command is None
    assert instance.jupyter_url is None


@pytest.mark.parametrize(
    ("actual", "intended", "cur_state", "status", "transitional"),
    [
        (None, "running", "running", "starting", True),
        ("created", "running", "running", "starting", True),
        ("loading", "running", "running", "starting", True),
        ("scheduling", "running", "stopped", "starting", True),
        ("rebooting", "running", "running", "rebooting", True),
        ("running", "stopped", "stopped", "stopping", True),
        ("stopped", "running", "running", "starting", True),
        ("running", "running", "running", "running", False),
        ("exited", "stopped", "stopped", "stopped", False),
        ("stopped", "stopped", "stopped", "stopped", False),
        ("exited", "running", "running", "exited", False),
        ("offline", "running", "running", "offline", False),
        ("running", "running", "unloaded", "destroyed", False),
    ],
)
def test_instance_status_is_normalised_for_display(actual, intended, cur_state, status, transitional):
    instance = vast.Instance(id=1, actual_status=actual, intended_status=intended, cur_state=cur_state)

    assert instance.status == status
    assert instance.is_transitional is transitional


def test_list_instances_follows_next_token_across_three_pages():
    pages = {
        None: {"instances": [INSTANCE | {"id": 1}, INSTANCE | {"id": 2}], "next_token": "t1"},
        "t1": {"instances": [INSTANCE | {"id": 3}], "next_token": "t2"},
        "t2": {"instances": [INSTANCE | {"id": 4}], "next_token": None},
    }
    client, requests, _ = make_client(lambda r: httpx.Response(200, json=pages[r.url.params.get("after_token")]))

    instances = client.list_instances()

    assert [i.id for i in instances] == [1, 2, 3, 4]
    assert [r.url.path for r in requests] == ["/api/v1/instances/"] * 3
    assert [r.url.params.get("after_token") for r in requests] == [None, "t1", "t2"]
    assert all(r.url.params["limit"] == "25" for r in requests)


def test_list_instances_stops_when_vast_repeats_a_page_token():
    client, requests, _ = make_client(answer(body={"instances": [INSTANCE], "next_token": "same"}))

    instances = client.list_instances()

    assert len(requests) == 2
    assert len(instances) == 2


def test_current_user_drops_the_api_key():
    user = {
        "id": 123,
        "username": "team",
        "email": "team@example.com",
        "credit": 25.0,
        "balance": 0,
        "api_key": "leak",
        "sid": "s",
    }
    client, requests, _ = make_client(answer(body=user))

    account = client.current_user()

    assert requests[0].url.path == "/api/v0/users/current"
    assert (account.id, account.username, account.email, account.credit, account.balance) == (
        123,
        "team",
        "team@example.com",
        25.0,
        0.0,
    )
    assert not hasattr(account, "api_key")
    assert "leak" not in repr(account)


def test_api_keys_never_keep_the_key_value_even_when_vast_sends_one():
    keys = {
        "apikeys": [
            {"id": 1, "user_id": 123, "key": "leaked-secret", "key_type": "api", "name": "ci", "team_id": None},
            {"id": 2, "user_id": 123, "key": None, "key_type": "api", "name": "laptop", "team_name": None},
        ]
    }
    client, requests, _ = make_client(answer(body=keys))

    api_keys = client.list_api_keys()

    assert requests[0].url.path == "/api/v0/auth/apikeys/"
    assert [(k.id, k.name, k.key_type, k.user_id) for k in api_keys] == [
        (1, "ci", "api", 123),
        (2, "laptop", "api", 123),
    ]
    assert not hasattr(api_keys[0], "key")
    assert "leaked-secret" not in repr(api_keys)


def test_gpu_names_come_back_as_the_api_spells_them():
    client, requests, _ = make_client(answer(body={"gpu_names": ["RTX 4090", "H100 SXM"]}))

    assert client.gpu_names() == ["RTX 4090", "H100 SXM"]
    assert requests[0].url.path == "/api/v0/gpu_names/unique/"


# Answers that are not plain success


def test_create_that_vast_left_stopped_is_a_result_not_an_error():
    client, _, _ = make_client(answer(body={"success": False, "new_contract": 7835610, "instance_api_key": "ik"}))

    result = client.create_instance(12345, LaunchRequest(image="pytorch/pytorch"))

    assert result == vast.LaunchResult(instance_id=7835610, started=False, message=result.message)
    assert "stopped" in result.message
    assert "ik" not in repr(result)


def test_create_that_started_reports_the_new_instance():
    client, _, _ = make_client(answer(body={"success": True, "new_contract": 7835610, "instance_api_key": "ik"}))

    assert client.create_instance(12345, LaunchRequest(image="pytorch/pytorch")) == vast.LaunchResult(
        instance_id=7835610, started=True, message=""
    )


def test_start_without_resources_is_queued_not_an_error():
    body = {
        "success": False,
        "error": "resources_unavailable",
        "msg": "Required resources are currently unavailable, state change queued.",
    }
    client, _, _ = make_client(answer(body=body))

    change = client.set_state(312, "running")

    assert change.queued is True
    assert change.message == body["msg"]


@pytest.mark.parametrize("status", [404, 410])
def test_create_on_a_gone_offer_raises_offer_unavailable(status):
    body = {"success": False, "error": "no_such_ask", "msg": "Instance type by id 12345 is not available."}
    client, _, _ = make_client(answer(status, body))

    with pytest.raises(VastOfferUnavailable) as caught:
        client.create_instance(12345, LaunchRequest(image="pytorch/pytorch"))

    assert caught.value.http_status == 404
    assert caught.value.error == "no_such_ask"


def test_create_with_bad_arguments_raises_rejected_with_vasts_reason():
    body = {
        "success": False,
        "error": "invalid_args",
        "msg": "error 400/3467: Invalid args: 'image' is required",
        "ask_id": 1,
    }
    client, _, _ = make_client(answer(400, body))

    with pytest.raises(VastRejected) as caught:
        client.create_instance(12345, LaunchRequest(image="x"))

    assert caught.value.error == "invalid_args"
    assert caught.value.msg == body["msg"]
    assert body["msg"] in caught.value.message
    assert caught.value.status == 400


def test_a_host_renting_its_own_machine_is_rejected_not_an_auth_failure():
    body = {"success": False, "error": "invalid_args", "msg": "error 403/3586: Offer 1 is not your own"}
    client, _, _ = make_client(answer(403, body))

    with pytest.raises(VastRejected):
        client.create_instance(1, LaunchRequest(image="x"))


@pytest.mark.parametrize(
    ("response", "error", "msg"),
    [
        (
            httpx.Response(400, json={"success": False, "error": "invalid_args", "msg": "label_too_long"}),
            "invalid_args",
            "label_too_long",
        ),
        (httpx.Response(400, json={"error": "invalid_request", "msg": "bad query"}), "invalid_request", "bad query"),
        (httpx.Response(400, json={"msg": "API Key not found."}), None, "API Key not found."),
        (
            httpx.Response(400, json={"success": False, "error": "offer_not_found", "message": "No offer"}),
            "offer_not_found",
            "No offer",
        ),
        (httpx.Response(400, json={"detail": "Bad things"}), None, "Bad things"),
        (httpx.Response(400, json="A bare string"), None, "A bare string"),
        (httpx.Response(400, text="Plain text\n  trouble"), None, "Plain text trouble"),
        (
            httpx.Response(200, json={"success": False, "error": "missing_billing", "msg": "You lack credit"}),
            "missing_billing",
            "You lack credit",
        ),
    ],
)
def test_every_error_body_shape_yields_vasts_code_and_message(response, error, msg):
    client, _, _ = make_client(lambda request: response)

    with pytest.raises(VastRejected) as caught:
        client.relabel(312, "x" * 2000)

    assert (caught.value.error, caught.value.msg) == (error, msg)
    assert msg in caught.value.message


# Errors and retries


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(401, json={"success": False, "error": "auth_error", "msg": "Invalid user key"}),
        httpx.Response(401, text="Unauthorized"),
        httpx.Response(403, json={"success": False, "error": "not_authorized"}),
        httpx.Response(404, json={"success": False, "error": "auth_error", "msg": "Invalid user key"}),
        httpx.Response(404, text="Invalid user key"),
        httpx.Response(404, json={"msg": "Session expired. Please log in again."}),
    ],
)
def test_a_rejected_key_raises_auth_error_without_retrying(response):
    client, requests, sleeps = make_client(lambda request: response)

    with pytest.raises(VastAuthError) as caught:
        client.list_instances()

    assert "VAST_API_KEY" in caught.value.message
    assert caught.value.http_status == 502
    assert len(requests) == 1
    assert sleeps == []


def test_a_missing_instance_raises_not_found():
    body = {"success": False, "error": "no_such_instance", "msg": "Instance 312 not found."}
    client, requests, _ = make_client(answer(404, body))

    with pytest.raises(VastNotFound) as caught:
        client.get_instance(312)

    assert caught.value.http_status == 404
    assert caught.value.error == "no_such_instance"
    assert len(requests) == 1


def test_a_null_instance_raises_not_found():
    client, _, _ = make_client(answer(body={"instances": None}))

    with pytest.raises(VastNotFound):
        client.get_instance(312)


def test_a_read_timeout_is_retried_then_raises_timeout_chained_to_the_httpx_error():
    client, requests, sleeps = make_client(lambda request: httpx.ReadTimeout("slow", request=request))

    with pytest.raises(VastTimeout) as caught:
        client.list_instances()

    assert len(requests) == 3
    assert len(sleeps) == 2
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert caught.value.http_status == 504
    assert caught.value.status is None
    assert caught.value.attempts == 3
    assert isinstance(caught.value, VastUnavailable)


def test_a_connection_error_is_retried_then_raises_unavailable():
    client, requests, _ = make_client(lambda request: httpx.ConnectError("refused", request=request))

    with pytest.raises(VastUnavailable) as caught:
        client.search_offers({})

    assert not isinstance(caught.value, VastTimeout)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.http_status == 503
    assert len(requests) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_read_on_a_server_error_is_retried_max_retries_times_with_capped_backoff(status):
    client, requests, sleeps = make_client(answer(status, text="<html>upstream trouble</html>"))

    with pytest.raises(VastUnavailable) as caught:
        client.gpu_names()

    assert len(requests) == 3
    assert 0.375 <= sleeps[0] <= 0.5
    assert 0.75 <= sleeps[1] <= 1.0
    assert caught.value.status == status


def test_a_read_recovers_when_a_retry_succeeds():
    answers = iter([httpx.Response(502), httpx.Response(200, json={"gpu_names": ["RTX 4090"]})])
    client, requests, _ = make_client(lambda request: next(answers))

    assert client.gpu_names() == ["RTX 4090"]
    assert len(requests) == 2


def test_max_retries_zero_means_one_attempt():
    client, requests, _ = make_client(answer(503), max_retries=0)

    with pytest.raises(VastUnavailable):
        client.gpu_names()

    assert len(requests) == 1


def test_a_rate_limited_read_waits_the_retry_after_and_retries():
    answers = iter(
        [
            httpx.Response(429, text="API requests too frequent", headers={"Retry-After": "3"}),
            httpx.Response(200, json={"offers": []}),
        ]
    )
    client, requests, sleeps = make_client(lambda request: next(answers))

    assert client.search_offers({}) == []
    assert sleeps == [3.0]
    assert len(requests) == 2


def test_a_retry_after_beyond_the_cap_is_not_waited_out():
    client, requests, sleeps = make_client(
        answer(429, {"detail": "API requests too frequent"}, headers={"Retry-After": "3600"})
    )

    with pytest.raises(VastRateLimited) as caught:
        client.search_offers({})

    assert caught.value.retry_after == 3600.0
    assert caught.value.http_status == 429
    assert len(requests) == 1
    assert sleeps == []


def test_the_daily_search_quota_is_never_retried():
    body = {"error": "search_quota_exceeded", "msg": "Daily search quota exceeded"}
    client, requests, sleeps = make_client(answer(429, body, headers={"Retry-After": "1"}))

    with pytest.raises(VastRateLimited) as caught:
        client.search_offers({})

    assert caught.value.quota_exceeded is True
    assert "midnight UTC" in caught.value.message
    assert len(requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("outcome", "raised"),
    [
        (httpx.Response(503, text="Service Unavailable"), VastUnavailable),
        (httpx.Response(502), VastUnavailable),
        (httpx.Response(429, text="API requests too frequent", headers={"Retry-After": "1"}), VastRateLimited),
        (httpx.ReadTimeout("slow"), VastTimeout),
        (httpx.ConnectError("refused"), VastUnavailable),
    ],
)
def test_writes_are_never_retried(outcome, raised):
    client, requests, sleeps = make_client(lambda request: outcome)

    with pytest.raises(raised):
        client.set_state(312, "running")
    with pytest.raises(raised):
        client.create_instance(12345, LaunchRequest(image="pytorch/pytorch"))
    with pytest.raises(raised):
        client.destroy(312)

    assert len(requests) == 3
    assert sleeps == []


def test_a_launch_that_timed_out_says_it_may_have_happened():
    client, _, _ = make_client(lambda request: httpx.ReadTimeout("slow", request=request))

    with pytest.raises(VastTimeout) as caught:
        client.create_instance(12345, LaunchRequest(image="pytorch/pytorch"))

    assert caught.value.outcome_unknown is True
    assert "Check Instances" in caught.value.message


def test_a_launch_that_never_connected_did_not_happen():
    client, _, _ = make_client(lambda request: httpx.ConnectError("refused", request=request))

    with pytest.raises(VastUnavailable) as caught:
        client.create_instance(12345, LaunchRequest(image="pytorch/pytorch"))

    assert caught.value.outcome_unknown is False


def test_malformed_json_raises_bad_response_without_retrying():
    client, requests, _ = make_client(answer(200, text="{not json", headers={"Content-Type": "application/json"}))

    with pytest.raises(VastBadResponse) as caught:
        client.search_offers({})

    assert len(requests) == 1
    assert isinstance(caught.value.__cause__, ValueError)
    assert caught.value.http_status == 502
    assert caught.value.status == 200


@pytest.mark.parametrize(
    ("body", "call"),
    [
        ({"offers": "x"}, "search"),
        ([OFFER], "search"),
        ({"offers": [OFFER | {"gpu_name": None}]}, "search"),
        ({"offers": [OFFER | {"num_gpus": "two"}]}, "search"),
        ({"offers": [OFFER | {"dph_total": True}]}, "search"),
        ({"offers": [{k: v for k, v in OFFER.items() if k != "id"}]}, "search"),
        ({"instances": "x", "next_token": None}, "list"),
        ({"instances": [INSTANCE | {"extra_env": "DOG=CAT"}]}, "list"),
        ({"instances": [INSTANCE | {"ports": {"22/tcp": [{"HostPort": "ssh"}]}}]}, "list"),
        ({"instances": [INSTANCE], "next_token": 7}, "list"),
        ({"success": True}, "launch"),
        ({"gpu_names": ["RTX 4090", 3]}, "gpu_names"),
    ],
)
def test_a_wrong_shape_raises_bad_response(body, call):
    client, _, _ = make_client(answer(body=body))
    calls = {
        "search": lambda: client.search_offers({}),
        "list": client.list_instances,
        "launch": lambda: client.create_instance(1, LaunchRequest(image="x")),
        "gpu_names": client.gpu_names,
    }

    with pytest.raises(VastBadResponse) as caught:
        calls[call]()

    assert caught.value.msg
    if call == "launch":  # a 2xx to a write: Vast may well have done it
        assert caught.value.outcome_unknown
        assert "may or may not have happened" in caught.value.message
    else:
        assert not caught.value.outcome_unknown
        assert caught.value.message == VastBadResponse.default_message


# Construction, logging and secrecy


@pytest.mark.parametrize("timeout", [None, httpx.Timeout(None), httpx.Timeout(5.0, read=None), 0])
def test_a_client_cannot_be_built_without_a_timeout(timeout):
    with pytest.raises(ValueError, match="timeout"):
        VastClient(api_key=KEY, base_url=BASE_URL, timeout=timeout)


def test_each_attempt_is_logged_once_without_key_headers_or_query(caplog):
    caplog.set_level(logging.DEBUG, logger="dashboard.vast")
    client, _, _ = make_client(answer(503, text=f"echo Authorization: Bearer {KEY}"))

    with pytest.raises(VastUnavailable) as caught:
        client.get_instance(312)

    records = vast_records(caplog)
    assert len(records) == 3
    for attempt, record in enumerate(records, start=1):
        message = record.getMessage()
        assert message.startswith("vast GET /api/v0/instances/312/ 503 ")
        assert message.endswith(f"attempt={attempt}")
    assert not any("owner" in record.getMessage() for record in records)
    assert KEY not in caplog.text
    assert KEY not in caught.value.log_message()
    assert "owner" not in caught.value.log_message()
    assert KEY not in caught.value.message
    assert KEY not in (caught.value.msg or "")


def test_an_error_body_that_echoes_the_key_does_not_carry_it_to_the_page(caplog):
    client, _, _ = make_client(answer(400, {"error": "invalid_args", "msg": f"bad key {KEY} in request"}))

    with pytest.raises(VastRejected) as caught:
        client.relabel(312, "x")

    assert KEY not in caught.value.message
    assert KEY not in str(caught.value)
    assert KEY not in caught.value.log_message()
    assert "[redacted]" in caught.value.message


def test_an_attempt_that_raised_is_logged_with_the_exception_class(caplog):
    caplog.set_level(logging.INFO, logger="dashboard.vast")
    client, _, _ = make_client(lambda request: httpx.ReadTimeout("slow", request=request), max_retries=1)

    with pytest.raises(VastTimeout) as caught:
        client.list_instances()

    assert [r.getMessage().split(" ")[1:4] for r in vast_records(caplog)] == [
        ["GET", "/api/v1/instances/", "ReadTimeout"],
        ["GET", "/api/v1/instances/", "ReadTimeout"],
    ]
    assert caught.value.log_message().startswith("VastTimeout: GET /api/v1/instances/ status=None cause=ReadTimeout")


def test_a_successful_call_logs_one_line(caplog):
    caplog.set_level(logging.INFO, logger="dashboard.vast")
    client, _, _ = make_client(answer(body={"offers": [OFFER]}))

    client.search_offers({"limit": 1})

    (record,) = vast_records(caplog)
    assert record.getMessage().startswith("vast POST /api/v0/bundles/ 200 ")
    assert KEY not in caplog.text


def test_the_client_does_not_show_its_key():
    client, _, _ = make_client(answer(body={}))

    assert KEY not in repr(client)


def test_every_vast_error_carries_a_page_message_and_an_honest_status():
    expected = {
        VastError: 502,
        VastUnavailable: 503,
        VastTimeout: 504,
        VastAuthError: 502,
        VastNotFound: 404,
        VastOfferUnavailable: 404,
        VastRateLimited: 429,
        VastBadResponse: 502,
        VastRejected: 400,
    }
    for cls, http_status in expected.items():
        error = cls()
        assert error.http_status == http_status
        assert error.message
        assert error.title
        assert str(error) == error.message


# The process-wide client


def test_get_client_is_memoised_until_reset(settings):
    settings.VAST_API_KEY = "a-real-key"

    client = vast.get_client()

    assert vast.get_client() is client
    assert client.base_url == settings.VAST_URL
    vast.reset_client()
    assert vast.get_client() is not client


def test_changing_a_vast_setting_rebuilds_the_client(settings):
    settings.VAST_API_KEY = "a-real-key"
    client = vast.get_client()

    settings.VAST_READ_TIMEOUT = 3.0

    assert vast.get_client() is not client


@pytest.mark.django_db
def test_the_default_client_drives_the_simulator_through_a_whole_instance_life():
    offer = vast.search_offers({"type": "on-demand", "limit": 5})[0]

    launched = vast.create_instance(offer.id, LaunchRequest(image="pytorch/pytorch", disk=20, runtype="ssh_proxy"))
    vast.relabel(launched.instance_id, "nightly")
    stopped = vast.set_state(launched.instance_id, "stopped")
    instance = vast.get_instance(launched.instance_id)
    listed = vast.list_instances()
    vast.destroy(launched.instance_id)

    assert isinstance(offer, vast.Offer)
    assert launched.started is True
    assert stopped.queued is False
    assert (instance.label, instance.intended_status, instance.image) == ("nightly", "stopped", "pytorch/pytorch")
    assert [i.id for i in listed] == [launched.instance_id]
    assert vast.gpu_names()
    assert vast.current_user().id
    assert all(isinstance(key, vast.ApiKey) for key in vast.list_api_keys())
    with pytest.raises(VastNotFound):
        vast.get_instance(launched.instance_id)


# The offer search page's filters


def test_an_offer_search_speaks_the_apis_units_and_the_clis_defaults():
    search = vast.OfferSearch(
        gpu_names=("RTX 4090", "H100 SXM"),
        num_gpus=2,
        min_gpu_ram_gb=24,
        max_dph=1.5,
        min_reliability_pct=98,
        min_cuda=12.1,
        disk_gb=40,
        min_inet_down=500,
        countries=("US", "CA"),
        datacenter_only=True,
        rental_type="bid",
        order="-dlperf_per_dphtotal",
    )

    assert search.to_query() == {
        "external": {"eq": False},
        "rentable": {"eq": True},
        "verified": {"eq": True},
        "gpu_name": {"in": ["RTX 4090", "H100 SXM"]},
        "num_gpus": {"gte": 2},
        "gpu_ram": {"gte": 24064},
        "reliability": {"gte": 0.98},
        "cuda_max_good": {"gte": 12.1},
        "inet_down": {"gte": 500},
        "dph_total": {"lte": 1.5},
        "geolocation": {"in": ["US", "CA"]},
        "datacenter": {"eq": True},
        "order": [["dlperf_per_dphtotal", "desc"]],
        "limit": 256,  # 4 × the 64 shown: complete answers serve narrower searches
        "type": "bid",
        "allocated_storage": 40.0,
    }


def test_an_offer_search_for_any_host_drops_the_verified_filter():
    query = vast.OfferSearch(verified_only=False, gpu_names=("RTX 4090",)).to_query()

    assert "verified" not in query
    assert query["gpu_name"] == {"eq": "RTX 4090"}
    assert query["order"] == [["dph_total", "asc"]]


def test_a_price_per_gpu_sort_is_done_locally_on_a_wider_fetch():
    offers = [
        OFFER | {"id": 1, "num_gpus": 1, "dph_total": 1.0},
        OFFER | {"id": 2, "num_gpus": 4, "dph_total": 2.0},
        OFFER | {"id": 3, "num_gpus": 2, "dph_total": 1.2},
    ]
    client, requests, _ = make_client(answer(body={"offers": offers}))
    search = vast.OfferSearch(order="price_per_gpu", limit=2)

    found = client.search_offers(search)

    assert body_of(requests[0])["order"] == [["dph_total", "asc"]]
    assert body_of(requests[0])["limit"] == 8
    assert [o.id for o in found] == [2, 3]


def test_an_offer_search_refuses_an_unknown_sort():
    with pytest.raises(ValueError, match="sort"):
        vast.OfferSearch(order="-api_key")


def test_cached_searches_ask_vast_once_and_share_the_answer(monkeypatch):
    client, requests, _ = make_client(answer(body={"offers": [OFFER, OFFER | {"id": 2, "num_gpus": 1}]}))
    monkeypatch.setattr(vast, "get_client", lambda: client)

    cheapest_per_gpu = vast.search_offers_cached(vast.OfferSearch(order="price_per_gpu"))
    dearest_per_gpu = vast.search_offers_cached(vast.OfferSearch(order="-price_per_gpu"))

    assert len(requests) == 1
    assert [o.id for o in cheapest_per_gpu] == [OFFER["id"], 2]
    assert [o.id for o in dearest_per_gpu] == [2, OFFER["id"]]
    assert dearest_per_gpu[0].raw["id"] == 2


def test_offers_and_instances_survive_a_round_trip_through_pickle():
    offer = vast.Offer(id=1, gpu_name="A", num_gpus=1, dph_total=1.0, raw=MappingProxyType({"id": 1}))
    instance = vast.Instance(id=2, env=MappingProxyType({"A": "B"}))

    assert pickle.loads(pickle.dumps(offer)).raw == {"id": 1}
    assert pickle.loads(pickle.dumps(instance)) == instance
