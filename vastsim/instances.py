"""Instance endpoints: create on an offer, list (v1 and legacy v0), show,
start/stop/label, destroy, and the filter breakdown the CLI asks for."""

import base64
import json
import operator
import secrets
from collections import Counter

from django.db import transaction

from vastsim import catalog, clock, lifecycle, offers, ssh, switches
from vastsim.create import LABEL_MAX, parse_create_body
from vastsim.models import Instance
from vastsim.pricing import price_offer
from vastsim.protocol import ApiError, json_response
from vastsim.query import QueryError, compare_keys, compile_conditions, matches, sort_rows

V1_DEFAULT_LIMIT = 25
V1_MAX_LIMIT = 25
V1_NONPOSITIVE_LIMIT = 5


def _no_such_ask(ask_id, status=404):
    """The 404 (or 410 with cancel_unavail) for an offer that cannot be rented."""
    if status == 410:
        msg = f"error 410/3907: no_such_ask Instance type {ask_id} is no longer available."
    else:
        msg = f"error 404/3603: no_such_ask Instance type by id {ask_id} is not available."
    return ApiError(status, {"success": False, "error": "no_such_ask", "msg": msg})


def _no_such_instance(contract_id):
    """The 404 for an unknown instance id."""
    return ApiError(404, {"success": False, "error": "no_such_instance", "msg": f"Instance {contract_id} not found."})


def _contract_id(request, error_body):
    """The instance id in the path as an int, or ApiError 400 with `error_body`."""
    try:
        return int(request.params["id"])
    except ValueError:
        raise ApiError(400, error_body) from None


def _find(contract_id):
    """The Instance with this contract id, or None."""
    return Instance.for_contract(contract_id).first()


def create(request):
    """PUT /api/v0/asks/{offer_id}/: rent an offer."""
    try:
        ask_id = int(request.params["id"])
    except ValueError:
        raise ApiError(
            400,
            {
                "success": False,
                "error": "invalid_args",
                "msg": "error 400/3467: Invalid args: 'id' must be an integer.",
            },
        ) from None
    body = request.json()
    offer = catalog.offers_by_id(offers.seed()).get(ask_id)
    if offer is None:
        raise _no_such_ask(ask_id)
    fields = parse_create_body(body, offer, ask_id)
    create_stopped = bool(switches.get("create_stopped", False))
    if create_stopped and body.get("cancel_unavail") is True:
        raise _no_such_ask(ask_id, status=410)
    stopped = create_stopped or body.get("target_state") == "stopped"
    now = clock.now()
    with transaction.atomic():
        taken, used = offers.occupancy()
        if not offers.is_rentable(offer, taken, used):
            raise _no_such_ask(ask_id)
        snapshot = price_offer(offer, storage_gb=fields["disk"], kind="on-demand", now=now)
        instance = Instance.objects.create(
            offer=snapshot,
            offer_id=ask_id,
            machine_id=offer["machine_id"],
            num_gpus=offer["num_gpus"],
            created_at=now,
            started_at=now,
            ready_at=now + lifecycle.boot_seconds(),
            intended_status="stopped" if stopped else "running",
            cur_state="stopped" if stopped else "running",
            status_msg="Required resources are currently unavailable; created stopped." if create_stopped else "",
            **fields,
        )
        ssh.copy_account_keys(instance)
    answer = {
        "success": not create_stopped,
        "new_contract": instance.contract_id,
        "instance_api_key": secrets.token_hex(32),
    }
    if create_stopped:
        answer["msg"] = "Required resources are currently unavailable, instance created in the stopped state."
    return json_response(answer)


def _param_json(request, name, default):
    """Query parameter `name` parsed as JSON, or 400 invalid_request."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(
            400, {"error": "invalid_request", "msg": f"Error in query parameters: {name} is not valid JSON"}
        ) from None


def _bad_params(msg, error="invalid_request"):
    """A v1 list 400: `{"error", "msg": "Error in query parameters: ..."}`."""
    return ApiError(400, {"error": error, "msg": f"Error in query parameters: {msg}"})


def _stored_column(field):
    """A getter for a filterable v1 column; computed columns raise QueryError."""
    if field not in lifecycle.STORED_COLUMNS:
        raise QueryError(f"{field} is not a valid search key")
    return operator.itemgetter(field)


def _v1_order(order_by):
    """Parse order_by ([{"col", "dir"}]) with `id` appended as the tiebreaker."""
    if not isinstance(order_by, list) or not all(isinstance(o, dict) for o in order_by):
        raise _bad_params("order_by must be a list of {col, dir} objects")
    order = []
    for entry in order_by:
        col, direction = entry.get("col"), entry.get("dir", "asc")
        if col not in lifecycle.STORED_COLUMNS:
            raise _bad_params(f"{col} is not a valid search key")
        if direction not in {"asc", "desc"}:
            raise _bad_params(f"dir must be asc or desc, not {direction!r}")
        order.append((col, direction == "desc"))
    if "id" not in {col for col, _ in order}:
        order.append(("id", False))
    return order


def _v1_limit(raw):
    """The page size: default 25, at most 25, and 5 for zero or less."""
    if raw is None or raw == "":
        return V1_DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise _bad_params("limit must be an integer") from None
    return V1_NONPOSITIVE_LIMIT if limit <= 0 else min(limit, V1_MAX_LIMIT)


def _token(row, order):
    """The opaque next_token: the sort-key values of the last row of a page."""
    values = [row[col] for col, _ in order]
    return base64.urlsafe_b64encode(json.dumps({"values": values}).encode()).decode().rstrip("=")


def _cursor(token, order):
    """The sort-key values encoded in an after_token, or 400 invalid_token."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        values = data["values"]
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError
    except (ValueError, TypeError, KeyError):
        raise _bad_params("invalid after_token", error="invalid_token") from None
    return values


def _rows():
    """Every instance rendered at the current simulator time."""
    now = clock.now()
    return [lifecycle.render(instance, now) for instance in Instance.objects.all()]


def list_v1(request):
    """GET /api/v1/instances/: filtered, ordered and paginated with next_token."""
    filters = _param_json(request, "select_filters", {})
    if not isinstance(filters, dict):
        raise _bad_params("select_filters must be an object")
    try:
        conditions = compile_conditions(filters, _stored_column)
    except QueryError as exc:
        raise _bad_params(str(exc)) from None
    order = _v1_order(_param_json(request, "order_by", [{"col": "id", "dir": "asc"}]))
    select_cols = _param_json(request, "select_cols", ["*"])
    if not isinstance(select_cols, list):
        raise _bad_params("select_cols must be a list")
    limit = _v1_limit(request.query.get("limit"))

    rows = sort_rows(
        [row for row in _rows() if matches(row, conditions)], [(operator.itemgetter(c), d) for c, d in order]
    )
    remaining = rows
    if request.query.get("after_token"):
        cursor = _cursor(request.query["after_token"], order)
        descending = [d for _, d in order]
        remaining = [row for row in rows if compare_keys([row[c] for c, _ in order], cursor, descending) > 0]
    page = remaining[:limit]
    next_token = _token(page[-1], order) if len(remaining) > limit else None
    if "*" not in select_cols:
        page = [{col: row.get(col) for col in select_cols} for row in page]
    return json_response(
        {
            "success": True,
            "instances_found": len(page),
            "total_instances": len(rows),
            "label_counts": dict(Counter(row["label"] or "" for row in rows)),
            "next_token": next_token,
            "instances": page,
        }
    )


def list_v0(request):
    """GET /api/v0/instances/: 410 for new accounts unless legacy_instances is on."""
    if not switches.get("legacy_instances", False):
        raise ApiError(
            410,
            {
                "success": False,
                "error": "deprecated_endpoint",
                "msg": "/api/v0/instances/ is deprecated. Use /api/v1/instances/ instead.",
            },
        )
    rows = _rows()
    return json_response({"instances_found": len(rows), "instances": rows})


def show(request):
    """GET /api/v0/instances/{id}/: `{"instances": {...}}`, null when unknown."""
    contract_id = _contract_id(request, {"success": False, "error": "invalid_args"})
    instance = _find(contract_id)
    return json_response({"instances": lifecycle.render(instance, clock.now()) if instance else None})


def _start_unavailable(contract_id):
    """Whether the start_unavailable switch covers this instance."""
    setting = switches.get("start_unavailable", False)
    return setting is True or (isinstance(setting, list) and contract_id in setting)


def _start(instance, now):
    """Start an instance; False when resources are unavailable (queued)."""
    if _start_unavailable(instance.contract_id):
        instance.intended_status = "running"
        instance.status_msg = "Required resources are currently unavailable, state change queued."
        return False
    if instance.cur_state != "running" or lifecycle.actual_status(instance, now) == "exited":
        # A container that exited on its own (vastsim.workload) starts again in place.
        instance.cur_state = instance.intended_status = "running"
        instance.started_at = instance.ready_at = now
        instance.status_msg = ""
    return True


def manage(request):
    """PUT /api/v0/instances/{id}/: `{"state": "running"|"stopped"}` and/or `{"label": ...}`."""
    contract_id = _contract_id(request, {"success": False, "error": "invalid_args", "msg": "invalid instance_id"})
    body = request.json()
    if not isinstance(body, dict) or not {"state", "label"} & body.keys():
        raise ApiError(400, {"success": False, "error": "invalid_args", "msg": "Give a target state or a label."})
    if "state" in body and body["state"] not in {"running", "stopped"}:
        raise ApiError(400, {"success": False, "msg": "Invalid target state"})
    label = body.get("label")
    if label is not None and not isinstance(label, str):
        raise ApiError(400, {"success": False, "error": "invalid_args", "msg": "label must be a string"})
    if label is not None and len(label) > LABEL_MAX:
        raise ApiError(400, {"error": "invalid_args", "msg": "label_too_long"})
    with transaction.atomic():
        instance = _find(contract_id)
        if instance is None:
            raise _no_such_instance(contract_id)
        if "label" in body:
            instance.label = label
        started = True
        if body.get("state") == "running":
            started = _start(instance, clock.now())
        elif body.get("state") == "stopped":
            instance.cur_state = instance.intended_status = "stopped"
            instance.status_msg = ""
        instance.save()
    if not started:
        return json_response(
            {
                "success": False,
                "error": "resources_unavailable",
                "msg": "Required resources are currently unavailable, state change queued.",
            }
        )
    return json_response({"success": True})


def destroy(request):
    """DELETE /api/v0/instances/{id}/."""
    contract_id = _contract_id(request, {"error": "invalid_args", "msg": "invalid instance_id"})
    deleted, _ = Instance.for_contract(contract_id).delete()
    if not deleted:
        raise _no_such_instance(contract_id)
    return json_response({"success": True})


def filters(request):
    """GET /api/v0/instances/filters/: the distinct status/verification/GPU combinations."""
    combos = {(row["actual_status"], row["verification"], row["gpu_name"]) for row in _rows()}
    keys = ("actual_status", "verification", "gpu_name")
    return json_response({"filters": [dict(zip(keys, combo, strict=True)) for combo in sorted(combos, key=str)]})
