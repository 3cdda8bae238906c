"""Console actions on one instance: logs, reboot and bid changes (shared/vast-api-more.md §2, §3).

Logs work as on Vast: `PUT /api/v0/instances/request_logs/{id}/` gathers the container's output
at that moment and answers a `result_url`; the text appears there LOG_READY_SECONDS later
(simulator clock) and until then the URL answers 404 with S3's XML error, as an S3 object does
before it is written. The URL lies under the base URL the caller used, on a path of its own, and
needs no key, like a link to S3. A reboot shows `rebooting` for `lifecycle.reboot_seconds()`, then
`running` again on the same GPU; a bid change refuses on-demand instances and bids under the
offer's `min_bid` with Vast's 400s.
"""

import hashlib
import secrets
import shlex

from django.db import transaction

from vastsim import clock, lifecycle
from vastsim.create import BID_MAX, BID_MIN
from vastsim.models import Instance, LogRequest
from vastsim.protocol import ApiError, Response, json_response

LOG_READY_SECONDS = 2.0
LOG_KEEP_SECONDS = 3600.0
DEFAULT_TAIL = 1000  # the CLI's documented default; the client itself sends no tail when unset
DEFAULT_BASE_URL = "https://console.vast.ai"
NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
)
NOT_STARTED = {"success": False, "error": "invalid_id", "msg": "Invalid instance id. Is the container started?"}


def _contract_id(request):
    """The instance id of the path (the route takes ASCII digits only)."""
    return int(request.params["id"])


def _body(request):
    """The JSON object of the body, or 400 invalid_args."""
    body = request.json()
    if not isinstance(body, dict):
        raise ApiError(400, {"success": False, "error": "invalid_args", "msg": "Body must be a JSON object."})
    return body


def _tail(value):
    """The line count of a `tail` field (a string of digits as the CLI sends it, or a number)."""
    if value is None or value == "":
        return DEFAULT_TAIL
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise ApiError(400, {"success": False, "error": "invalid_args", "msg": "tail must be a number of lines."})
    return max(1, int(value))


def _echoed(line):
    """What one on-start line prints: an echo's words; other commands print nothing here (the
    script itself is not shown, since it may hold secrets)."""
    try:
        return " ".join(shlex.split(line[5:]))
    except ValueError:
        return line[5:]


def _start_lines(instance):
    """What the container prints each time it starts: sshd, Jupyter, the on-start output."""
    lines = [f"Starting container C.{instance.contract_id} ({instance.num_gpus}x {instance.offer['gpu_name']})"]
    if "ssh" in instance.runtype:
        lines.append("Server listening on 0.0.0.0 port 22.")
    if "jupyter" in instance.runtype:
        lines.append("Jupyter Server is running at http://localhost:8080/")
    if instance.onstart:
        lines.append("Running /root/onstart.sh")
        script = [line.strip() for line in instance.onstart.splitlines()]
        lines.extend(_echoed(line) for line in script if line.startswith("echo "))
        lines.append("onstart.sh finished (exit 0)")
    return lines


def container_lines(instance, now):
    """The container's log at `now`: the image pull while loading, then each start's output
    (again after a reboot), and a last line once stopped."""
    status = lifecycle.actual_status(instance, now)
    if status is None or status == "scheduling":
        return []
    image, _, tag = instance.image.partition(":")
    lines = [
        f"Pulling image {instance.image}",
        f"{tag or 'latest'}: Pulling from {image}",
        f"Digest: sha256:{hashlib.sha256(instance.image.encode()).hexdigest()}",
        f"Status: Downloaded newer image for {instance.image}",
    ]
    if status == "loading":
        return lines
    lines.extend(_start_lines(instance))
    if instance.rebooted_at is not None and instance.rebooted_at <= now:
        lines.append("Received SIGTERM: stopping the container for a reboot")
        if status != "rebooting":
            lines.extend(_start_lines(instance))
    if status == "exited":
        lines.append("Container stopped." if instance.cur_state == "stopped" else "Container exited with code 0.")
    return lines


def daemon_lines(instance, now):
    """The host daemon's lines about this contract (`daemon_logs: "true"`)."""
    status = lifecycle.actual_status(instance, now) or "provisioning"
    return [
        f"vastd: contract C.{instance.contract_id} assigned to machine {instance.machine_id}",
        f"vastd: C.{instance.contract_id} allocating {instance.disk:g} GB of disk",
        f"vastd: C.{instance.contract_id} state {status}",
    ]


def request_logs(request):
    """PUT /api/v0/instances/request_logs/{id}/ {tail?, filter?, daemon_logs?}: gather the logs;
    answer `{success, result_url, msg}`. An unknown instance is a 404 `invalid_id`."""
    contract_id = _contract_id(request)
    body = _body(request)
    tail = _tail(body.get("tail"))
    instance = Instance.for_contract(contract_id).first()
    if instance is None:
        raise ApiError(404, {"success": False, "error": "invalid_id", "msg": f"Instance {contract_id} not found."})
    now = clock.now()
    daemon = body.get("daemon_logs") in ("true", True)
    lines = daemon_lines(instance, now) if daemon else container_lines(instance, now)
    pattern = body.get("filter")
    if isinstance(pattern, str) and pattern:
        lines = [line for line in lines if pattern in line]
    text = "".join(f"{line}\n" for line in lines[-tail:])
    token = secrets.token_hex(16)
    LogRequest.objects.filter(created_at__lt=now - LOG_KEEP_SECONDS).delete()
    LogRequest.objects.create(
        token=token, contract_id=contract_id, text=text, created_at=now, ready_at=now + LOG_READY_SECONDS
    )
    url = f"{request.base_url or DEFAULT_BASE_URL}/instance_logs/{token}.log"
    return json_response({"success": True, "result_url": url, "msg": "Gathering logs; they appear at result_url."})


def log_result(request):
    """GET /instance_logs/{token}.log: the gathered text once ready, else S3's 404."""
    found = LogRequest.objects.filter(token=request.params["token"]).first()
    if found is None or clock.now() < found.ready_at:
        return Response(404, NO_SUCH_KEY, [("Content-Type", "application/xml")])
    return Response(200, found.text.encode(), [("Content-Type", "text/plain; charset=utf-8")])


def reboot(request):
    """PUT /api/v0/instances/reboot/{id}/ {}: restart a running container on the same GPU;
    anything else answers 200 `success: false, invalid_id` as Vast does."""
    contract_id = _contract_id(request)
    _body(request)
    now = clock.now()
    with transaction.atomic():
        instance = Instance.for_contract(contract_id).select_for_update().first()
        if instance is None or lifecycle.actual_status(instance, now) != "running":
            return json_response(NOT_STARTED)
        instance.rebooted_at = now
        instance.ready_at = now + lifecycle.reboot_seconds()
        instance.save(update_fields=["rebooted_at", "ready_at"])
    return json_response({"success": True})


def _bid_refused(msg, error="invalid_args"):
    return ApiError(400, {"success": False, "error": error, "msg": msg})


def change_bid(request):
    """PUT /api/v0/instances/bid_price/{id}/ {client_id: "me", price}: $/hr for the whole
    machine; no price means the minimum (the CLI's "winning bid" default)."""
    contract_id = _contract_id(request)
    price = _body(request).get("price")
    with transaction.atomic():
        instance = Instance.for_contract(contract_id).select_for_update().first()
        if instance is None:
            raise ApiError(
                404, {"success": False, "error": "no_such_instance", "msg": f"Instance {contract_id} not found."}
            )
        if instance.bid_price is None:
            raise _bid_refused("Can't change price of on-demand contract.")
        minimum = instance.offer["min_bid"]
        if price is None:
            price = minimum
        if isinstance(price, bool) or not isinstance(price, int | float) or price < BID_MIN:
            raise _bid_refused(f"Please set a bid price >= {BID_MIN}.")
        if price > BID_MAX:
            raise _bid_refused(f"Please set a bid price <= {BID_MAX:g}.")
        if price < minimum:
            raise _bid_refused(
                f"error 400/3625: Your bid of ${price:.4f}/hr is below the minimum bid of ${minimum:.4f}/hr "
                f"for instance {contract_id}.",
                error="invalid_price",
            )
        instance.bid_price = float(price)
        instance.save(update_fields=["bid_price"])
    return json_response({"success": True})
