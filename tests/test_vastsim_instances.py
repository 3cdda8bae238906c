"""The simulator's instances: create, lifecycle on the clock seam, v1 pagination, manage and destroy."""

import json

import httpx
import pytest

from vastsim import clock, switches
from vastsim.transport import SimulatorTransport

pytestmark = pytest.mark.django_db
KEY = "simulated-vast-key"
CREATE_BODY = {
    "client_id": "me",
    "image": "pytorch/pytorch",
    "env": {"HF_HOME": "/workspace/hf", "-p 8888:8888": "1"},
    "price": None,
    "disk": 40.0,
    "label": "demo",
    "extra": None,
    "onstart": "echo hello",
    "image_login": None,
    "python_utf8": False,
    "lang_utf8": False,
    "use_jupyter_lab": False,
    "jupyter_dir": None,
    "force": False,
    "cancel_unavail": False,
    "template_hash_id": None,
    "user": None,
    "runtype": "ssh_direc ssh_proxy",
}


@pytest.fixture
def api(settings):
    settings.VASTSIM_API_KEY = KEY
    settings.VASTSIM_BOOT_SECONDS = 8.0
    with httpx.Client(
        transport=SimulatorTransport(), base_url="https://console.vast.ai", headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        yield client
    clock.reset()


def offers(api, query=None):
    return api.post("/api/v0/bundles/", json={"rentable": {"eq": True}, "limit": 500, **(query or {})}).json()["offers"]


def create(api, offer_id, **changes):
    response = api.put(f"/api/v0/asks/{offer_id}/", json={**CREATE_BODY, **changes})
    assert response.status_code == 200, response.text
    return response.json()["new_contract"]


def rent(api, query=None, **changes):
    """Rent the first offer still rentable (renting uses up GPUs on its machine)."""
    return create(api, offers(api, query)[0]["id"], **changes)


def show(api, instance_id):
    response = api.get(f"/api/v0/instances/{instance_id}/", params={"owner": "me"})
    assert response.status_code == 200
    return response.json()["instances"]


def test_create_answers_the_new_contract_and_an_instance_key(api):
    offer = offers(api)[0]
    response = api.put(f"/api/v0/asks/{offer['id']}/", json=CREATE_BODY)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert isinstance(body["new_contract"], int)
    assert len(body["instance_api_key"]) == 64


def test_new_instance_goes_from_null_to_loading_to_running_on_the_clock(api):
    instance_id = rent(api)
    first = show(api, instance_id)
    assert first["actual_status"] is None
    assert first["intended_status"] == first["cur_state"] == first["next_state"] == "running"
    assert first["ports"] is None
    assert first["ssh_host"] is None
    clock.advance(4)
    assert show(api, instance_id)["actual_status"] == "loading"
    clock.advance(4.5)
    running = show(api, instance_id)
    assert running["actual_status"] == "running"
    assert running["ports"]["22/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(running["direct_port_start"])}]
    assert isinstance(running["ports"]["8888/tcp"][0]["HostPort"], str)
    assert running["ssh_host"].endswith(".vast.ai")
    assert isinstance(running["ssh_port"], int)
    assert running["public_ipaddr"]
    assert running["jupyter_token"]


def test_instance_fields_derive_from_offer_and_create_body(api):
    offer = offers(api, {"gpu_name": {"eq": "RTX 4090"}})[0]
    instance = show(api, create(api, offer["id"]))
    assert instance["gpu_name"] == "RTX 4090"
    assert instance["num_gpus"] == offer["num_gpus"]
    assert instance["gpu_totalram"] == offer["gpu_total_ram"]
    assert "gpu_total_ram" not in instance
    assert instance["reliability2"] == offer["reliability"]
    assert instance["machine_id"] == offer["machine_id"]
    assert instance["image_uuid"] == "pytorch/pytorch"
    assert instance["image_runtype"] == "ssh_direc ssh_proxy"
    assert instance["extra_env"] == [["HF_HOME", "/workspace/hf"], ["-p 8888:8888", "1"]]
    assert instance["onstart"] == "echo hello"
    assert instance["label"] == "demo"
    assert instance["disk_space"] == 40.0
    assert instance["dph_base"] == offer["dph_base"]
    assert instance["storage_total_cost"] == pytest.approx(offer["storage_cost"] * 40 / 720)
    assert instance["dph_total"] == pytest.approx(instance["dph_base"] + instance["storage_total_cost"])
    assert instance["is_bid"] is False
    assert instance["start_date"] == pytest.approx(clock.now(), abs=5)
    assert instance["duration"] > 0


def test_rented_offer_is_no_longer_rentable_and_cannot_be_rented_twice(api):
    offer = offers(api)[0]
    create(api, offer["id"])
    assert offer["id"] not in {o["id"] for o in offers(api)}
    again = api.put(f"/api/v0/asks/{offer['id']}/", json=CREATE_BODY)
    assert again.status_code == 404
    assert again.json()["error"] == "no_such_ask"
    listed = api.post("/api/v0/bundles/", json={"id": {"eq": offer["id"]}}).json()["offers"][0]
    assert listed["rentable"] is False
    assert listed["rented"] is True


def test_unknown_offer_is_404_no_such_ask(api):
    response = api.put("/api/v0/asks/1/", json=CREATE_BODY)
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert response.json()["error"] == "no_such_ask"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"image": None}, "invalid_args"),
        ({"image": ""}, "invalid_args"),
        ({"disk": -1}, "invalid_args"),
        ({"disk": 10**7}, "invalid_args"),
        ({"label": "x" * 1025}, "invalid_args"),
        ({"env": 42}, "invalid_args"),
        ({"runtype": "telnet"}, "invalid_args"),
        ({"template_hash_id": "nope", "image": None}, "invalid_args"),
        ({"price": 0.0001}, "invalid_price"),
    ],
)
def test_create_rejects_bad_bodies_with_400(api, changes, error):
    offer = offers(api)[0]
    response = api.put(f"/api/v0/asks/{offer['id']}/", json={**CREATE_BODY, **changes})
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["error"] == error
    assert response.json()["ask_id"] == offer["id"]


def test_bid_below_min_bid_is_invalid_price_and_a_fair_bid_is_used_as_the_price(api):
    offer = offers(api)[0]
    low = api.put(f"/api/v0/asks/{offer['id']}/", json={**CREATE_BODY, "price": offer["min_bid"] * 0.9})
    assert low.status_code == 400
    assert low.json()["error"] == "invalid_price"
    instance = show(api, create(api, offer["id"], price=offer["min_bid"] + 0.01))
    assert instance["is_bid"] is True
    assert instance["dph_base"] == pytest.approx(offer["min_bid"] + 0.01)


def test_template_supplies_the_image_when_none_is_given(api):
    instance = show(api, rent(api, image=None, template_hash_id="4e17788f74f075dd9aab7d0d4427968f"))
    assert instance["image_uuid"] == "vastai/pytorch:latest"
    assert instance["template_name"] == "PyTorch (Vast)"


def test_env_as_docker_flag_string_becomes_pairs(api):
    instance = show(api, rent(api, env="-e A=1 -p 8080:8080 -h box"))
    assert instance["extra_env"] == [["A", "1"], ["-p 8080:8080", "1"], ["-h", "box"]]


def test_create_stopped_switch_answers_success_false_with_new_contract(api):
    switches.enable("create_stopped")
    offer_id = offers(api)[0]["id"]
    response = api.put(f"/api/v0/asks/{offer_id}/", json=CREATE_BODY)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    instance = show(api, body["new_contract"])
    assert instance["intended_status"] == instance["cur_state"] == "stopped"
    assert instance["actual_status"] == "exited"


def test_create_stopped_with_cancel_unavail_is_410(api):
    switches.enable("create_stopped")
    offer_id = offers(api)[0]["id"]
    response = api.put(f"/api/v0/asks/{offer_id}/", json={**CREATE_BODY, "cancel_unavail": True})
    assert response.status_code == 410
    assert response.json()["error"] == "no_such_ask"


def test_stop_then_start_moves_states(api):
    instance_id = rent(api)
    clock.advance(10)
    assert api.put(f"/api/v0/instances/{instance_id}/", json={"state": "stopped"}).json() == {"success": True}
    stopped = show(api, instance_id)
    assert stopped["intended_status"] == stopped["cur_state"] == "stopped"
    assert stopped["actual_status"] in {"exited", "stopped"}
    assert stopped["ports"] is None
    assert stopped["ssh_host"] is None
    assert api.put(f"/api/v0/instances/{instance_id}", json={"state": "running"}).json() == {"success": True}
    assert show(api, instance_id)["actual_status"] == "running"


def test_start_can_be_made_to_answer_resources_unavailable(api):
    instance_id = rent(api)
    other_id = rent(api)
    for i in (instance_id, other_id):
        api.put(f"/api/v0/instances/{i}/", json={"state": "stopped"})
    switches.enable("start_unavailable", [instance_id])
    response = api.put(f"/api/v0/instances/{instance_id}/", json={"state": "running"})
    assert response.status_code == 200
    assert response.json()["success"] is False
    assert response.json()["error"] == "resources_unavailable"
    assert show(api, instance_id)["actual_status"] == "scheduling"  # the start waits for its GPU
    assert api.put(f"/api/v0/instances/{other_id}/", json={"state": "running"}).json() == {"success": True}
    switches.enable("start_unavailable")
    assert api.put(f"/api/v0/instances/{other_id}/", json={"state": "stopped"}).json() == {"success": True}
    assert api.put(f"/api/v0/instances/{other_id}/", json={"state": "running"}).json()["success"] is False


def test_invalid_target_state_is_400(api):
    instance_id = rent(api)
    response = api.put(f"/api/v0/instances/{instance_id}/", json={"state": "paused"})
    assert response.status_code == 400
    assert response.json() == {"success": False, "msg": "Invalid target state"}


def test_label_is_set_through_the_same_put_and_capped_at_1024(api):
    instance_id = rent(api)
    assert api.put(f"/api/v0/instances/{instance_id}/", json={"label": "x" * 1024}).json() == {"success": True}
    assert show(api, instance_id)["label"] == "x" * 1024
    too_long = api.put(f"/api/v0/instances/{instance_id}/", json={"label": "x" * 1025})
    assert too_long.status_code == 400
    assert too_long.json() == {"error": "invalid_args", "msg": "label_too_long"}


def test_destroy_removes_the_instance(api):
    instance_id = rent(api)
    response = api.request("DELETE", f"/api/v0/instances/{instance_id}/", json={})
    assert response.json() == {"success": True}
    assert show(api, instance_id) is None
    again = api.request("DELETE", f"/api/v0/instances/{instance_id}/", json={})
    assert again.status_code == 404
    assert again.json() == {"success": False, "error": "no_such_instance", "msg": f"Instance {instance_id} not found."}
    missing = api.put(f"/api/v0/instances/{instance_id}/", json={"state": "running"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "no_such_instance"


def test_show_unknown_instance_is_null_and_a_word_is_no_id(api):
    assert api.get("/api/v0/instances/123/").json() == {"instances": None}
    assert api.get(f"/api/v0/instances/{10**30}/").json() == {"instances": None}
    bad = api.get("/api/v0/instances/abc/")
    assert bad.status_code == 404
    assert bad.json()["error"] == "not_found"


def test_v1_list_pages_through_more_than_25_instances_with_next_token(api):
    created = [rent(api, {"num_gpus": {"eq": 1}}, label="even" if i % 2 else None) for i in range(31)]
    first = api.get("/api/v1/instances/", params={"limit": 25}).json()
    assert first["success"] is True
    assert first["instances_found"] == 25
    assert first["total_instances"] == 31
    assert first["label_counts"] == {"": 16, "even": 15}
    assert first["next_token"]
    second = api.get("/api/v1/instances/", params={"limit": 25, "after_token": first["next_token"]}).json()
    assert second["instances_found"] == 6
    assert second["next_token"] is None
    assert [i["id"] for i in first["instances"] + second["instances"]] == sorted(created)


def test_v1_limit_is_capped_at_25_and_nonpositive_means_5(api):
    for _ in range(27):
        rent(api)
    assert api.get("/api/v1/instances/", params={"limit": 100}).json()["instances_found"] == 25
    assert api.get("/api/v1/instances/", params={"limit": 0}).json()["instances_found"] == 5
    assert api.get("/api/v1/instances/").json()["instances_found"] == 25


def test_v1_filters_orders_and_selects_columns_like_the_cli(api):
    ids = [rent(api) for _ in range(4)]
    api.put(f"/api/v0/instances/{ids[1]}/", json={"state": "stopped"})
    clock.advance(10)
    params = {
        "select_filters": json.dumps({"actual_status": {"in": ["running"]}}),
        "order_by": json.dumps([{"col": "id", "dir": "desc"}]),
        "select_cols": json.dumps(["id", "actual_status", "dph_total", "nonexistent"]),
    }
    body = api.get("/api/v1/instances/", params=params).json()
    assert [row["id"] for row in body["instances"]] == sorted(set(ids) - {ids[1]}, reverse=True)
    assert body["instances"][0] == {
        "id": ids[3],
        "actual_status": "running",
        "dph_total": pytest.approx(body["instances"][0]["dph_total"]),
        "nonexistent": None,
    }
    unlabeled = api.get("/api/v1/instances/", params={"select_filters": json.dumps({"label": {"in": [None]}})})
    assert unlabeled.json()["total_instances"] == 0


def test_v1_paginates_in_a_custom_order(api):
    for _ in range(30):
        rent(api)
        clock.advance(1)
    order = json.dumps([{"col": "start_date", "dir": "desc"}])
    seen, token = [], None
    while True:
        params = {"order_by": order, "limit": 7, **({"after_token": token} if token else {})}
        page = api.get("/api/v1/instances/", params=params).json()
        seen += [row["start_date"] for row in page["instances"]]
        token = page["next_token"]
        if not token:
            break
    assert len(seen) == 30
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    "params",
    [
        {"select_filters": json.dumps({"dph_total": {"lt": 1}})},
        {"select_filters": json.dumps({"num_gpus": {"eq": 1}})},
        {"order_by": json.dumps([{"col": "dph_total", "dir": "asc"}])},
        {"select_filters": "{oops"},
        {"limit": "ten"},
    ],
)
def test_v1_rejects_computed_columns_and_bad_params_with_400(api, params):
    response = api.get("/api/v1/instances/", params=params)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["msg"].startswith("Error in query parameters: ")


def test_v1_bad_token_is_400_invalid_token(api):
    response = api.get("/api/v1/instances/", params={"after_token": "not-a-token"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_token"


def test_v0_instance_list_is_gone_unless_switched_on(api):
    response = api.get("/api/v0/instances/", params={"owner": "me"})
    assert response.status_code == 410
    assert response.json() == {
        "success": False,
        "error": "deprecated_endpoint",
        "msg": "/api/v0/instances/ is deprecated. Use /api/v1/instances/ instead.",
    }
    instance_id = rent(api)
    switches.enable("legacy_instances")
    body = api.get("/api/v0/instances", params={"owner": "me"}).json()
    assert body["instances_found"] == 1
    assert body["instances"][0]["id"] == instance_id


def test_instance_filters_list_distinct_combinations(api):
    for _ in range(2):
        rent(api, {"gpu_name": {"eq": "RTX 4090"}, "verified": {"eq": True}})
    filters = api.get("/api/v0/instances/filters/").json()["filters"]
    assert filters == [{"actual_status": None, "verification": "verified", "gpu_name": "RTX 4090"}]
