"""The service module's bulk and template resources against an httpx.MockTransport: the exact
requests the official client sends, chunks of 64, no retried writes, and the answers parsed."""

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dashboard.vast import VastBadResponse, VastClient, VastNotFound, VastRejected, VastUnavailable
from dashboard.vast.resources.bulk import MAX_IDS

KEY = "sekrit-test-key"


def client_answering(answers):
    """A client whose transport answers each request with the next of `answers` (status, JSON)
    and records the requests."""
    seen = []
    pending = list(answers)

    def handler(request):
        seen.append(request)
        status, body = pending.pop(0) if len(pending) > 1 else pending[0]
        return httpx.Response(status, json=body)

    client = VastClient(KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    return client, seen


def body(request):
    return json.loads(request.content)


@pytest.mark.parametrize(("state", "verb"), [("stopped", "stop"), ("running", "start")])
def test_set_state_sends_the_clients_bulk_put(state, verb):
    client, seen = client_answering([(200, {"success": True})])
    (outcome,) = client.bulk.set_state([27000003, 27000001, 27000003], state)
    (request,) = seen
    assert (request.method, request.url.path) == ("PUT", "/api/v0/instances/")
    assert body(request) == {"state": state, "ids": [27000003, 27000001]}
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert outcome.ok
    assert outcome.ids == (27000003, 27000001)
    assert not outcome.queued


def test_destroy_sends_the_clients_bulk_delete():
    client, seen = client_answering([(200, {"success": True})])
    (outcome,) = client.bulk.destroy([5, 6])
    (request,) = seen
    assert (request.method, request.url.path, body(request)) == (
        "DELETE",
        "/api/v0/instances/",
        {"instance_ids": [5, 6]},
    )
    assert outcome.ok


def test_more_than_64_ids_go_in_chunks_each_with_its_own_outcome():
    client, seen = client_answering([(200, {"success": True}), (404, {"error": "no_such_instance", "msg": "gone"})])
    ids = list(range(1, 2 * MAX_IDS + 6))
    first, second, third = client.bulk.set_state(ids, "stopped")
    assert [len(body(r)["ids"]) for r in seen] == [64, 64, 5]
    assert first.ok
    assert first.ids == tuple(range(1, 65))
    assert isinstance(second.error, VastNotFound)
    assert isinstance(third.error, VastNotFound)


def test_a_queued_start_is_not_a_failure():
    answer = {"success": False, "error": "resources_unavailable", "msg": "state change queued."}
    client, _ = client_answering([(200, answer)])
    (outcome,) = client.bulk.set_state([7], "running")
    assert outcome.ok
    assert outcome.queued
    assert "queued" in outcome.message


def test_bulk_writes_are_never_retried():
    client, seen = client_answering([(503, {"error": "busy"})])
    (outcome,) = client.bulk.destroy([1, 2])
    assert len(seen) == 1
    assert isinstance(outcome.error, VastUnavailable)


def test_a_refusal_keeps_vasts_reason():
    client, _ = client_answering([(400, {"error": "insufficient_credit", "msg": "You lack credit."})])
    (outcome,) = client.bulk.set_state([1], "running")
    assert isinstance(outcome.error, VastRejected)
    assert "You lack credit." in outcome.error.message


@pytest.mark.parametrize("ids", [[], [0], [-3], [True], ["12"]])
def test_bad_ids_never_reach_vast(ids):
    client, seen = client_answering([(200, {"success": True})])
    with pytest.raises(ValueError):
        client.bulk.destroy(ids)
    with pytest.raises(ValueError):
        client.bulk.set_state(ids, "running")
    assert seen == []


def test_template_search_sends_the_clients_query():
    template = {"id": 9, "hash_id": "abc", "name": "x", "image": "vllm/vllm-openai", "tag": "latest", "env": "-p 1:1"}
    client, seen = client_answering([(200, {"success": True, "templates_found": 1, "templates": [template]})])
    (found,) = client.templates.created_by(424242)
    (request,) = seen
    assert (request.method, request.url.path) == ("GET", "/api/v0/template/")
    query = parse_qs(urlsplit(str(request.url)).query)
    assert json.loads(query["select_cols"][0]) == ["*"]
    assert json.loads(query["select_filters"][0]) == {"creator_id": {"eq": 424242}}
    assert (found.id, found.hash_id, found.image_reference, found.env) == (
        9,
        "abc",
        "vllm/vllm-openai:latest",
        "-p 1:1",
    )


def test_no_templates_found_is_an_empty_list():
    client, _ = client_answering([(200, {"success": False, "msg": "No templates found"})])
    assert client.templates.search({}) == []


def test_template_fields_are_parsed_leniently_and_secrets_dropped():
    raw = {
        "id": "12",
        "use_ssh": "true",
        "jup_direct": 1,
        "private": None,
        "env": {"A": "1", "-p 8000:8000": "1"},
        "docker_login_pass": "hunter2",
        "recommended_disk_space": "32",
    }
    client, _ = client_answering([(200, {"success": True, "templates": [raw]})])
    (found,) = client.templates.search()
    assert (found.id, found.use_ssh, found.jup_direct, found.private) == (12, True, True, None)
    assert found.env == "-e A=1 -p 8000:8000"
    assert found.recommended_disk_space == 32.0
    assert "hunter2" not in repr(found)


@pytest.mark.parametrize(
    "answer",
    [{"success": True}, {"success": True, "templates": {}}, {"success": True, "templates": [{"name": "no id"}]}, []],
)
def test_malformed_template_answers_are_bad_responses(answer):
    client, _ = client_answering([(200, answer)])
    with pytest.raises(VastBadResponse):
        client.templates.search()


def test_template_image_reference_keeps_a_tag_or_digest_already_there():
    from dashboard.vast.resources.templates import VastTemplate

    assert VastTemplate(id=1, image="nvidia/cuda:12.4", tag="latest").image_reference == "nvidia/cuda:12.4"
    assert VastTemplate(id=1, image="localhost:5000/app", tag="v1").image_reference == "localhost:5000/app:v1"
    assert VastTemplate(id=1, image="app@sha256:" + "a" * 64, tag="v1").image_reference == "app@sha256:" + "a" * 64
    assert VastTemplate(id=1, image="ubuntu", tag=None).image_reference == "ubuntu"
