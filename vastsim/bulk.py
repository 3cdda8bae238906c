"""Bulk instance endpoints, as vastai 1.9.1 calls them for `start/stop/destroy instances`:

- `PUT /api/v0/instances/` `{"ids": [...], "state": "running"|"stopped"}` → `{"success": true}`;
  400 "ids list required" / "chunk length of N > 64"; a start short of GPUs queues like a single
  start (200 `success: false`, `resources_unavailable`).
- `DELETE /api/v0/instances/` `{"instance_ids": [...]}` → `{"success": true}`; 404
  `instances_not_found`.

Errors come in the `{"error", "msg"}` shape of Vast's bulk calls (vast-api.md §9.1). A batch
naming any instance the account does not have changes nothing (404): Vast's own partial
behaviour is undocumented, and all-or-nothing is what a caller can reason about.
"""

from django.db import transaction

from vastsim import clock
from vastsim.instances import _start
from vastsim.models import Instance
from vastsim.protocol import ApiError, json_response

MAX_IDS = 64


def _ids(body, key):
    """The list of instance ids under `key`, or the 400 Vast gives."""
    ids = body.get(key) if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, {"error": "invalid_args", "msg": f"{key} list required"})
    if len(ids) > MAX_IDS:
        raise ApiError(400, {"error": "invalid_args", "msg": f"chunk length of {len(ids)} > {MAX_IDS}"})
    if not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise ApiError(400, {"error": "invalid_args", "msg": f"{key} must be positive integers"})
    return list(dict.fromkeys(ids))


def _instances(ids, error):
    """The account's instances with these contract ids (locked), or 404 naming the missing ones."""
    found = {}
    for contract_id in ids:
        instance = Instance.for_contract(contract_id).select_for_update().first()
        if instance is not None:
            found[contract_id] = instance
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ApiError(404, {"error": error, "msg": f"Instances not found: {', '.join(missing)}."})
    return [found[i] for i in ids]


def set_state(request):
    """PUT /api/v0/instances/: start or stop several instances."""
    body = request.json()
    ids = _ids(body, "ids")
    state = body.get("state")
    if state not in {"running", "stopped"}:
        raise ApiError(400, {"success": False, "msg": "Invalid target state"})
    queued = False
    with transaction.atomic():
        now = clock.now()
        for instance in _instances(ids, "no_such_instance"):
            if state == "running":
                queued |= not _start(instance, now)
            else:
                instance.cur_state = instance.intended_status = "stopped"
                instance.status_msg = ""
            instance.save()
    if queued:
        return json_response(
            {
                "success": False,
                "error": "resources_unavailable",
                "msg": "Required resources are currently unavailable, state change queued.",
            }
        )
    return json_response({"success": True})


def destroy(request):
    """DELETE /api/v0/instances/: destroy several instances and their disks."""
    ids = _ids(request.json(), "instance_ids")
    with transaction.atomic():
        for instance in _instances(ids, "instances_not_found"):
            instance.delete()
    return json_response({"success": True})
