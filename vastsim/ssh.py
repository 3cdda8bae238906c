"""SSH key endpoints: the account's keys (`/api/v0/ssh/`) and each instance's
(`/api/v0/instances/{id}/ssh/`), in the shapes of shared/vast-api-more.md §1.

The account's keys are copied onto an instance when it is created (`copy_account_keys`);
a key added to the account later reaches only instances created after it, as the official
client warns ("You may need to add the new public key to any pre-existing instances").
"""

import json
from datetime import UTC, datetime

from django.db import transaction

from vastsim import clock
from vastsim.account import USER_ID
from vastsim.models import Instance, SshKey
from vastsim.protocol import ApiError, json_response

NO_SSH_KEY = {"success": False, "error": "no_ssh_key", "msg": "No ssh key provided."}


def _row(key):
    """A key as the API shows it."""
    created = datetime.fromtimestamp(key.created_at, tz=UTC).isoformat()
    return {
        "id": key.key_id,
        "user_id": USER_ID,
        "public_key": key.public_key,
        "created_at": created,
        "deleted_at": None,
    }


def _same(a, b):
    """Whether two OpenSSH key lines hold the same key (type and base64 blob; comments aside)."""
    return a.split()[:2] == b.split()[:2]


def _key_text(request):
    """The `ssh_key` of the body, stripped (the CLI sends a .pub file's trailing newline), or 400."""
    body = request.json()
    text = body.get("ssh_key") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, NO_SSH_KEY)
    return text.strip()


def _instance(request):
    """The instance of the path, or 404 no_such_instance."""
    contract_id = int(request.params["id"])
    instance = Instance.for_contract(contract_id).first()
    if instance is None:
        raise ApiError(
            404, {"success": False, "error": "no_such_instance", "msg": f"Instance {contract_id} not found."}
        )
    return instance


def _account_key(request):
    """The account key of the path (not one attached to an instance), or None."""
    return SshKey.for_key_id(int(request.params["id"])).filter(instance__isnull=True).first()


def copy_account_keys(instance):
    """Put a copy of each of the account's keys on a new instance."""
    now = clock.now()
    SshKey.objects.bulk_create(
        SshKey(instance=instance, public_key=key.public_key, created_at=now)
        for key in SshKey.objects.filter(instance__isnull=True)
    )


def list_account(request):
    """GET /api/v0/ssh/: a bare array of the account's keys."""
    return json_response([_row(key) for key in SshKey.objects.filter(instance__isnull=True)])


def create_account(request):
    """POST /api/v0/ssh/ {"ssh_key"}: add a key to the account. Vast stores what it is given
    (1.9.1's `create ssh-key x.pub` stores the path), so only an empty key is refused."""
    text = _key_text(request)
    with transaction.atomic():
        if any(_same(key.public_key, text) for key in SshKey.objects.filter(instance__isnull=True)):
            raise ApiError(400, {"success": False, "error": "duplicate", "msg": "This ssh key already exists."})
        key = SshKey.objects.create(public_key=text, created_at=clock.now())
    return json_response({"success": True, "key": _row(key)})


def update_account(request):
    """PUT /api/v0/ssh/{id}/ {"id", "ssh_key"}: replace an account key's text."""
    text = _key_text(request)
    with transaction.atomic():
        key = _account_key(request)
        if key is None:
            raise ApiError(404, {"success": False, "error": "not_found", "msg": "SSH key not found."})
        others = SshKey.objects.filter(instance__isnull=True).exclude(pk=key.pk)
        if any(_same(other.public_key, text) for other in others):
            raise ApiError(400, {"success": False, "error": "duplicate", "msg": "This ssh key already exists."})
        key.public_key = text
        key.save(update_fields=["public_key"])
    return json_response({"success": True, "key": _row(key)})


def delete_account(request):
    """DELETE /api/v0/ssh/{id}/: remove an account key (its copies stay on instances)."""
    key = _account_key(request)
    if key is None:
        raise ApiError(400, NO_SSH_KEY)
    key.delete()
    return json_response({"success": True})


def list_instance(request):
    """GET /api/v0/instances/{id}/ssh/: `ssh_keys` is a JSON array inside a string."""
    instance = _instance(request)
    rows = [_row(key) for key in instance.ssh_keys.all()]
    return json_response({"success": True, "ssh_keys": json.dumps(rows)})


def attach(request):
    """POST /api/v0/instances/{id}/ssh/ {"ssh_key"}: attach a key; one already there is a 200
    with success false. `key` is the new row as a JSON string."""
    text = _key_text(request)
    with transaction.atomic():
        instance = _instance(request)
        if any(_same(key.public_key, text) for key in instance.ssh_keys.all()):
            return json_response(
                {"success": False, "error": "duplicate_key", "msg": "SSH key already attached to this instance."}
            )
        key = SshKey.objects.create(instance=instance, public_key=text, created_at=clock.now())
    msg = f"SSH key attached to instance {instance.contract_id}."
    return json_response({"success": True, "msg": msg, "key": json.dumps(_row(key))})


def detach(request):
    """DELETE /api/v0/instances/{id}/ssh/{key_id}/: 404 no_such_ssh_key for a key not on it."""
    instance = _instance(request)
    deleted, _ = SshKey.for_key_id(int(request.params["key_id"])).filter(instance=instance).delete()
    if not deleted:
        raise ApiError(404, {"success": False, "error": "no_such_ssh_key", "msg": "No such ssh key on this instance."})
    return json_response({"success": True, "msg": f"SSH key removed from instance {instance.contract_id}."})
