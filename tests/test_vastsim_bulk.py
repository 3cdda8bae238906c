"""The simulator's bulk instance calls and its templates, over its own transport, in the shapes
the official client sends and reads."""

import json

import pytest

from tests.test_vastsim_instances import api, rent, show  # noqa: F401  (api is a fixture)
from vastsim import account, switches
from vastsim.models import Instance, Template
from vastsim.templates import VAST_CREATOR_ID

pytestmark = pytest.mark.django_db


def test_bulk_stop_and_start_change_every_named_instance(api):  # noqa: F811
    first, second, untouched = rent(api), rent(api), rent(api)
    response = api.put("/api/v0/instances/", json={"state": "stopped", "ids": [first, second]})
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert [show(api, i)["intended_status"] for i in (first, second, untouched)] == ["stopped", "stopped", "running"]
    response = api.put("/api/v0/instances", json={"ids": [first, second], "state": "running"})
    assert response.json() == {"success": True}
    assert {show(api, i)["intended_status"] for i in (first, second)} == {"running"}


def test_a_bulk_start_short_of_gpus_queues_like_a_single_one(api):  # noqa: F811
    first, second = rent(api), rent(api)
    api.put("/api/v0/instances/", json={"state": "stopped", "ids": [first, second]})
    switches.enable("start_unavailable", [second])
    response = api.put("/api/v0/instances/", json={"state": "running", "ids": [first, second]})
    assert response.status_code == 200
    assert response.json()["error"] == "resources_unavailable"
    assert show(api, first)["cur_state"] == "running"
    assert show(api, second)["cur_state"] == "stopped"


def test_bulk_destroy_deletes_them_all(api):  # noqa: F811
    first, second, kept = rent(api), rent(api), rent(api)
    response = api.request("DELETE", "/api/v0/instances/", json={"instance_ids": [first, second]})
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert [i.contract_id for i in Instance.objects.all()] == [kept]


def test_a_batch_naming_an_unknown_instance_changes_nothing(api):  # noqa: F811
    mine = rent(api)
    response = api.request("DELETE", "/api/v0/instances/", json={"instance_ids": [mine, 99]})
    assert response.status_code == 404
    assert response.json() == {"error": "instances_not_found", "msg": "Instances not found: 99."}
    assert Instance.objects.count() == 1
    response = api.put("/api/v0/instances/", json={"state": "stopped", "ids": [99, mine]})
    assert (response.status_code, response.json()["error"]) == (404, "no_such_instance")
    assert show(api, mine)["intended_status"] == "running"


@pytest.mark.parametrize(
    ("method", "body", "msg"),
    [
        ("PUT", {"state": "stopped"}, "ids list required"),
        ("PUT", {"state": "stopped", "ids": []}, "ids list required"),
        ("PUT", {"state": "stopped", "ids": list(range(1, 66))}, "chunk length of 65 > 64"),
        ("PUT", {"state": "stopped", "ids": ["1"]}, "ids must be positive integers"),
        ("PUT", {"state": "paused", "ids": [1]}, "Invalid target state"),
        ("DELETE", {}, "instance_ids list required"),
        ("DELETE", {"instance_ids": list(range(1, 66))}, "chunk length of 65 > 64"),
    ],
)
def test_bad_batches_are_refused_as_vast_does(api, method, body, msg):  # noqa: F811
    response = api.request(method, "/api/v0/instances/", json=body)
    assert response.status_code == 400
    assert response.json()["msg"] == msg


def test_the_bulk_routes_never_take_a_word_for_an_id(api):  # noqa: F811
    assert api.put("/api/v0/instances/bulk/", json={"state": "stopped", "ids": [1]}).status_code == 404


def search(api, filters=None):  # noqa: F811
    params = {"select_cols": json.dumps(["*"]), "select_filters": json.dumps(filters or {})}
    response = api.get("/api/v0/template/", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_template_search_shows_public_and_own_templates_with_the_documented_fields(api):  # noqa: F811
    found = search(api)
    assert found["success"] is True
    assert found["templates_found"] == len(found["templates"]) == 5
    mine = search(api, {"creator_id": {"eq": account.USER_ID}})["templates"]
    assert [t["name"] for t in mine] == ["vllm llama-3.1-8b", "jupyter-cuda", "shared-volume"]
    vllm = mine[0]
    assert vllm["env"] == "-p 8000:8000 -e HF_HOME=/workspace/hf"
    assert (vllm["image"], vllm["tag"], vllm["runtype"], vllm["private"]) == (
        "vllm/vllm-openai",
        "latest",
        "args",
        True,
    )
    assert len(vllm["hash_id"]) == 32
    public = search(api, {"recommended": {"eq": True}})["templates"]
    assert {t["creator_id"] for t in public} == {VAST_CREATOR_ID}


def test_no_match_is_200_success_false(api):  # noqa: F811
    assert search(api, {"name": {"eq": "nothing like it"}}) == {"success": False, "msg": "No templates found"}


def test_other_accounts_private_templates_stay_hidden(api):  # noqa: F811
    search(api)
    Template.objects.create(hash_id="f" * 32, creator_id=1, created_at=0, fields={"name": "theirs", "private": True})
    assert "theirs" not in [t["name"] for t in search(api)["templates"]]


def test_an_unknown_search_key_is_a_400(api):  # noqa: F811
    params = {"select_filters": json.dumps({"gpu_name": {"eq": "x"}})}
    assert api.get("/api/v0/template/", params=params).status_code == 400


def test_create_then_same_content_again_then_delete(api):  # noqa: F811
    new = {"name": "mine", "image": "ubuntu", "tag": "22.04", "runtype": "ssh", "use_ssh": True, "private": True}
    created = api.post("/api/v0/template/", json=new).json()
    assert created["success"] is True
    assert created["msg"].startswith("Template Created Successfully! New Template ID: ")
    again = api.post("/api/v0/template/", json=new).json()
    assert (again["success"], again["msg"], again["template"]["id"]) == (
        False,
        "Existing Template Found",
        created["template"]["id"],
    )
    gone = api.request("DELETE", "/api/v0/template/", json={"template_id": created["template"]["id"]})
    assert gone.json()["success"] is True
    assert not Template.objects.filter(pk=created["template"]["id"]).exists()


def test_only_the_creator_deletes_a_template(api):  # noqa: F811
    public = search(api, {"creator_id": {"eq": VAST_CREATOR_ID}})["templates"][0]
    response = api.request("DELETE", "/api/v0/template/", json={"hash_id": public["hash_id"]})
    assert response.status_code == 401
    assert api.request("DELETE", "/api/v0/template/", json={"template_id": 999999}).status_code == 404
    assert api.post("/api/v0/template/", json={"name": "no image"}).status_code == 400
