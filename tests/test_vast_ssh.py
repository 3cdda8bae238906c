"""The service module's SSH keys (`client.ssh_keys`): the requests it sends, and how it reads
each answer shape that Vast's client and docs disagree on (shared/vast-api-more.md §1)."""

import json
from datetime import UTC, datetime

import httpx
import pytest

from dashboard import vast
from dashboard.vast import VastBadResponse, VastClient, VastNotFound, VastRejected, VastTimeout, VastUnavailable
from dashboard.vast.resources.ssh import Attachment, SshKey
from tests.ssh_helpers import public_key

KEY = "sekrit-test-key"
LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl otto@laptop"
ROW = {"id": 5, "user_id": 7, "public_key": LINE, "created_at": "2026-01-02T03:04:05", "deleted_at": None}


def client_for(handler):
    """A client on a MockTransport; `handler(request)` answers, and every request is kept."""
    sent = []

    def record(request):
        sent.append(request)
        return handler(request)

    client = VastClient(KEY, transport=httpx.MockTransport(record), sleep=lambda s: None)
    return client, sent


def answer(body, status=200):
    return lambda request: httpx.Response(status, json=body)


def body_of(request):
    return json.loads(request.content) if request.content else None


def test_requests_match_the_official_client():
    client, sent = client_for(lambda r: httpx.Response(200, json={"success": True, "key": ROW, "msg": "ok"}))
    keys = client.ssh_keys
    keys.add_to_account(LINE)
    keys.remove_from_account(5)
    keys.attach(27000001, LINE)
    keys.detach(27000001, 610001)
    assert [(r.method, r.url.path, body_of(r)) for r in sent] == [
        ("POST", "/api/v0/ssh/", {"ssh_key": LINE}),
        ("DELETE", "/api/v0/ssh/5/", {}),
        ("POST", "/api/v0/instances/27000001/ssh/", {"ssh_key": LINE}),
        ("DELETE", "/api/v0/instances/27000001/ssh/610001/", {}),
    ]
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in sent)


@pytest.mark.parametrize(
    "body",
    [
        [ROW],
        {"ssh_keys": [ROW]},
        [{**ROW, "public_key": None, "key": LINE}],  # the old docs' field name
        [ROW, {**ROW, "id": 6, "deleted_at": "2026-01-03T00:00:00"}],  # a deleted row is gone
    ],
)
def test_the_account_list_reads_each_documented_shape(body):
    client, sent = client_for(answer(body))
    assert client.ssh_keys.account_keys() == [
        SshKey(id=5, public_key=LINE, created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    ]
    assert [(r.method, r.url.path) for r in sent] == [("GET", "/api/v0/ssh/")]


@pytest.mark.parametrize("keys", [json.dumps([ROW]), [ROW]])
def test_an_instance_list_is_decoded_twice_when_it_is_a_string(keys):
    client, sent = client_for(answer({"success": True, "ssh_keys": keys}))
    assert [key.id for key in client.ssh_keys.on_instance(27000001)] == [5]
    assert sent[0].url.path == "/api/v0/instances/27000001/ssh/"


@pytest.mark.parametrize(
    "body",
    [{"ssh_keys": "not json"}, {"ssh_keys": 5}, [{"id": 5}], [{"id": "x", "public_key": LINE}], "nope"],
)
def test_malformed_lists_are_bad_responses(body):
    client, _ = client_for(answer(body))
    with pytest.raises(VastBadResponse):
        client.ssh_keys.on_instance(1) if isinstance(body, dict) else client.ssh_keys.account_keys()


def test_attach_reads_the_new_key_or_an_already_attached_answer():
    client, _ = client_for(answer({"success": True, "msg": "attached", "key": json.dumps(ROW)}))
    result = client.ssh_keys.attach(1, LINE)
    assert result == Attachment(
        attached=True,
        key=SshKey(id=5, public_key=LINE, created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        message="attached",
    )
    client, _ = client_for(answer({"success": False, "msg": "SSH key already attached to this instance."}))
    assert client.ssh_keys.attach(1, LINE).attached is False
    client, _ = client_for(answer({"success": True}))
    assert client.ssh_keys.attach(1, LINE) == Attachment(attached=True)


def test_attach_refused_is_vast_rejected_with_vasts_reason():
    client, _ = client_for(answer({"success": False, "error": "invalid_args", "msg": "bad key"}))
    with pytest.raises(VastRejected, match="bad key"):
        client.ssh_keys.attach(1, LINE)
    client, _ = client_for(answer({"success": False, "error": "team_ssh_keys_not_supported"}, status=400))
    with pytest.raises(VastRejected, match="team_ssh_keys_not_supported"):
        client.ssh_keys.add_to_account(LINE)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"success": False, "error": "no_such_ssh_key", "msg": "no such key"}),
        (404, {"success": False, "error": "no_such_ssh_key", "msg": "no such key"}),
        (200, {"success": False, "error": "no_such_instance"}),
    ],
)
def test_detaching_a_missing_key_is_not_found_whether_200_or_404(status, body):
    client, _ = client_for(answer(body, status))
    with pytest.raises(VastNotFound):
        client.ssh_keys.detach(1, 2)


@pytest.mark.parametrize("status", [500, 502])
def test_attach_is_never_retried(status):
    client, sent = client_for(answer({"error": "server_error"}, status))
    with pytest.raises(VastUnavailable) as caught:
        client.ssh_keys.attach(1, LINE)
    assert len(sent) == 1
    assert caught.value.outcome_unknown is (status == 502)


def test_an_attach_that_times_out_may_have_happened_and_is_not_retried():
    def hang(request):
        raise httpx.ReadTimeout("slow", request=request)

    client, sent = client_for(hang)
    with pytest.raises(VastTimeout) as caught:
        client.ssh_keys.attach(1, LINE)
    assert len(sent) == 1
    assert caught.value.outcome_unknown is True


def test_reading_a_list_is_retried_like_every_read():
    answers = iter([httpx.Response(503), httpx.Response(200, json=[ROW])])
    client, sent = client_for(lambda request: next(answers))
    assert len(client.ssh_keys.account_keys()) == 1
    assert len(sent) == 2


@pytest.mark.parametrize("bad", [0, -1, True, "5"])
def test_ids_must_be_positive_integers(bad):
    client, sent = client_for(answer({"success": True}))
    with pytest.raises(ValueError):
        client.ssh_keys.detach(bad, 1)
    with pytest.raises(ValueError):
        client.ssh_keys.detach(1, bad)
    assert sent == []


@pytest.mark.django_db
def test_against_the_simulator_a_key_goes_on_and_comes_off(settings):
    from vastsim import offers

    keys = vast.ssh_keys()
    assert keys is vast.get_client().ssh_keys
    offer_id = offers.search({"rentable": {"eq": True}, "limit": 1}, True)[0]["id"]
    instance_id = vast.create_instance(offer_id, vast.LaunchRequest(image="pytorch/pytorch")).instance_id
    line = public_key(comment="otto@laptop")
    result = keys.attach(instance_id, line)
    assert result.attached is True
    assert [key.public_key for key in keys.on_instance(instance_id)] == [line]
    assert keys.attach(instance_id, line).attached is False
    assert keys.detach(instance_id, result.key.id)
    assert keys.on_instance(instance_id) == []
    with pytest.raises(VastNotFound):
        keys.detach(instance_id, result.key.id)
    account = keys.add_to_account(public_key())
    assert keys.account_keys() == [account]
    keys.remove_from_account(account.id)
    assert keys.account_keys() == []
