"""The simulator's SSH key endpoints (shared/vast-api-more.md §1) and its router's ids."""

import json

import pytest

from tests.ssh_helpers import public_key
from tests.test_vastsim_instances import api, rent  # noqa: F401  (the `api` fixture)
from vastsim.models import Instance, SshKey

pytestmark = pytest.mark.django_db


def account_keys(api):  # noqa: F811
    response = api.get("/api/v0/ssh/")
    assert response.status_code == 200
    return response.json()


def instance_keys(api, instance_id):  # noqa: F811
    response = api.get(f"/api/v0/instances/{instance_id}/ssh/")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert isinstance(body["ssh_keys"], str)  # a JSON array inside a string: decode twice
    return json.loads(body["ssh_keys"])


def test_account_keys_are_a_bare_array_that_post_put_and_delete_change(api):  # noqa: F811
    assert account_keys(api) == []
    line = public_key(comment="ci@runner")
    created = api.post("/api/v0/ssh/", json={"ssh_key": line + "\n"})
    assert created.status_code == 200
    body = created.json()
    assert body["success"] is True
    row = body["key"]
    assert set(row) == {"id", "user_id", "public_key", "created_at", "deleted_at"}
    assert (row["public_key"], row["deleted_at"]) == (line, None)
    assert account_keys(api) == [row]

    again = api.post("/api/v0/ssh/", json={"ssh_key": line})
    assert again.status_code == 400

    other = public_key()
    updated = api.put(f"/api/v0/ssh/{row['id']}/", json={"id": row["id"], "ssh_key": other})
    assert updated.json()["key"]["public_key"] == other

    assert api.request("DELETE", f"/api/v0/ssh/{row['id']}/").json() == {"success": True}
    assert account_keys(api) == []
    gone = api.request("DELETE", f"/api/v0/ssh/{row['id']}/")
    assert gone.status_code == 400
    assert gone.json()["error"] == "no_ssh_key"
    assert api.put(f"/api/v0/ssh/{row['id']}/", json={"ssh_key": other}).status_code == 404


@pytest.mark.parametrize(
    "body", [{}, {"ssh_key": ""}, {"ssh_key": "   "}, {"ssh_key": 42}, {"key": "ssh-ed25519 AAAA"}]
)
def test_a_post_without_a_key_is_400_no_ssh_key(api, body):  # noqa: F811
    response = api.post("/api/v0/ssh/", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "no_ssh_key"


def test_a_new_instance_gets_the_account_keys_but_an_existing_one_does_not(api):  # noqa: F811
    early = public_key(comment="account-early")
    api.post("/api/v0/ssh/", json={"ssh_key": early})
    instance_id = rent(api)
    api.post("/api/v0/ssh/", json={"ssh_key": public_key(comment="account-late")})
    assert [key["public_key"] for key in instance_keys(api, instance_id)] == [early]
    assert len(account_keys(api)) == 2


def test_attach_detach_and_the_instance_list(api):  # noqa: F811
    instance_id = rent(api)
    line = public_key(comment="otto@laptop")
    attached = api.post(f"/api/v0/instances/{instance_id}/ssh/", json={"ssh_key": line})
    assert attached.status_code == 200
    body = attached.json()
    assert body["success"] is True
    assert body["msg"]
    key = json.loads(body["key"])  # the new row as a JSON string
    assert key["public_key"] == line
    assert instance_keys(api, instance_id) == [key]

    # The same key again (with another comment) is a 200 with success false.
    again = api.post(f"/api/v0/instances/{instance_id}/ssh/", json={"ssh_key": line.rsplit(" ", 1)[0] + " other"})
    assert again.status_code == 200
    assert again.json()["success"] is False
    assert "already" in again.json()["msg"]

    detached = api.request("DELETE", f"/api/v0/instances/{instance_id}/ssh/{key['id']}/")
    assert detached.json()["success"] is True
    assert instance_keys(api, instance_id) == []
    missing = api.request("DELETE", f"/api/v0/instances/{instance_id}/ssh/{key['id']}/")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no_such_ssh_key"


def test_instance_ssh_on_an_unknown_instance_is_404_and_destroy_drops_its_keys(api):  # noqa: F811
    instance_id = rent(api)
    api.post(f"/api/v0/instances/{instance_id}/ssh/", json={"ssh_key": public_key()})
    api.request("DELETE", f"/api/v0/instances/{instance_id}/", json={})
    assert not SshKey.objects.exists()
    for method, path in (
        ("GET", f"/api/v0/instances/{instance_id}/ssh/"),
        ("POST", f"/api/v0/instances/{instance_id}/ssh/"),
        ("DELETE", f"/api/v0/instances/{instance_id}/ssh/610001/"),
    ):
        response = api.request(method, path, json={"ssh_key": public_key()} if method == "POST" else None)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == "no_such_instance"


def test_an_account_key_id_cannot_be_detached_through_an_instance(api):  # noqa: F811
    account = api.post("/api/v0/ssh/", json={"ssh_key": public_key()}).json()["key"]
    instance_id = rent(api)
    response = api.request("DELETE", f"/api/v0/instances/{instance_id}/ssh/{account['id']}/")
    assert response.status_code == 404
    assert len(instance_keys(api, instance_id)) == 1  # its own copy stays
    assert Instance.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v0/instances/pending-price-increases/"),
        ("GET", "/api/v0/instances/abc/"),
        ("PUT", "/api/v0/instances/abc/"),
        ("DELETE", "/api/v0/instances/abc/"),
        ("GET", "/api/v0/instances/\u0663/"),  # an Arabic-Indic digit is no id
        ("PUT", "/api/v0/asks/abc/"),
        ("GET", "/api/v0/instances/12/ssh/abc/"),
        ("DELETE", "/api/v0/instances/12/ssh/abc/"),
        ("DELETE", "/api/v0/ssh/abc/"),
        ("PUT", "/api/v0/instances/unknown-word/12/"),
    ],
)
def test_a_word_is_never_taken_for_an_id(api, method, path):  # noqa: F811
    response = api.request(method, path, json={})
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"
