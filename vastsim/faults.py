"""Fault injection: make chosen endpoints slow, fail, or answer garbage.

Faults live in the database, so one injected from a test, a shell or
`manage.py vastsim_fault` reaches every worker. Usage:

    faults.inject("bundles", status=500, times=1)       # one 500, then normal
    faults.inject("instances", status=429, retry_after=2)
    faults.inject("asks", method="PUT", kind="truncated")
    faults.inject("*", latency=0.5)                     # everything half a second slower
    faults.clear()

`endpoint` is a route name (see `vastsim.router.ROUTES`), `"*"`, or a regex
searched in the path when it starts with "/".

Latency is added before the request is handled. Over HTTP the client times
out on its own while the server sleeps on (and then handles the request); in
process, a latency beyond the caller's read timeout ends in `CallerTimedOut`
at the deadline and the request is never handled: a timed-out write did not
happen (the transport turns this into `httpx.ReadTimeout`).
"""

import json
import math
import re
import time

from django.db import transaction
from django.db.models import F

from vastsim import clock
from vastsim.models import Fault
from vastsim.protocol import CallerTimedOut, Response, json_response

KINDS = ("latency", "error", "rate_limit", "quota", "malformed", "truncated", "wrong_shape")
_HTML_ERRORS = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}
_ERROR_BODIES = {
    400: {"success": False, "error": "invalid_args", "msg": "error 400/3467: Invalid args"},
    401: {"success": False, "error": "auth_error", "msg": "Invalid user key"},
    403: {"success": False, "error": "not_authorized", "msg": "You do not have permission to access this resource."},
    404: {"success": False, "error": "not_found", "msg": "Not found."},
    409: {"success": False, "error": "conflict", "msg": "Conflicting state change in progress."},
    500: {"success": False, "error": "server_error", "msg": "Internal server error."},
}


def inject(endpoint="*", *, method="", kind=None, status=None, latency=0.0, retry_after=None, body=None, times=None):
    """Store a fault and return it. `kind` defaults from the other arguments:
    429 -> rate_limit, any other status -> error, only latency -> latency.
    `retry_after` is sent verbatim as the Retry-After header (429 kinds);
    `body` (dict, list or str) replaces the generated body; `times` limits
    how often it fires (None = until cleared)."""
    if kind is None:
        kind = "rate_limit" if status == 429 else "error" if status else "latency" if latency else None
    if kind not in KINDS:
        raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
    if kind == "error" and not status:
        raise ValueError("an error fault needs a status")
    if times is not None and times < 1:
        raise ValueError("times must be at least 1")
    return Fault.objects.create(
        endpoint=endpoint,
        method=(method or "").upper(),
        kind=kind,
        status=status,
        latency=latency,
        retry_after="" if retry_after is None else str(retry_after),
        body=body,
        remaining=times,
    )


def clear(endpoint=None):
    """Remove every fault, or only those injected for `endpoint`."""
    faults = Fault.objects.all()
    if endpoint is not None:
        faults = faults.filter(endpoint=endpoint)
    faults.delete()


def active():
    """The faults that can still fire, oldest first."""
    return list(Fault.objects.exclude(remaining=0))


def _matches(fault, route_name, method, path):
    """Whether `fault` applies to this request."""
    if fault.method and fault.method != method:
        return False
    if fault.endpoint == "*" or fault.endpoint == route_name:
        return True
    return fault.endpoint.startswith("/") and re.search(fault.endpoint, path) is not None


def _consume(fault):
    """Use one firing of `fault`; False if another process used the last one."""
    if fault.remaining is None:
        return True
    with transaction.atomic():
        used = Fault.objects.filter(pk=fault.pk, remaining__gt=0).update(remaining=F("remaining") - 1)
        Fault.objects.filter(pk=fault.pk, remaining=0).delete()
    return bool(used)


def fire(route_name, method, path, deadline=None):
    """Apply the latency of matching faults and return the first non-latency
    fault that fires (or None).

    The latency is served before the handler runs. When it would run past
    `deadline` (a `time.monotonic()` value: the caller's read timeout), this
    waits only until the deadline and raises CallerTimedOut; the request is
    then never handled, and any fault that fired with it is used up."""
    delay, chosen = 0.0, None
    for fault in Fault.objects.exclude(remaining=0):
        if not _matches(fault, route_name, method, path):
            continue
        if fault.kind != "latency" and chosen is not None:
            continue
        if not _consume(fault):
            continue
        delay += fault.latency
        if fault.kind != "latency":
            chosen = fault
    _wait(delay, deadline)
    return chosen


def _wait(delay, deadline):
    """Sleep `delay` seconds, or until `deadline` and raise CallerTimedOut."""
    if delay <= 0:
        return
    if deadline is not None and time.monotonic() + delay > deadline:
        time.sleep(max(0.0, deadline - time.monotonic()))
        raise CallerTimedOut(f"no answer within the caller's timeout ({delay:g}s of injected latency)")
    time.sleep(delay)


def _body_response(fault, status, default):
    """A response carrying the fault's own body if it has one, else `default`."""
    if fault.body is None:
        return json_response(default, status)
    if isinstance(fault.body, str):
        return Response(status, fault.body.encode(), [("Content-Type", "application/json")])
    return json_response(fault.body, status)


def respond(fault):
    """The response for a fault that short-circuits the handler, or None for
    kinds that post-process the handler's own response."""
    if fault.kind == "rate_limit":
        headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
        response = _body_response(fault, fault.status or 429, rate_limit_body(None))
        response.headers += headers
        return response
    if fault.kind == "quota":
        reset = math.floor(clock.now() / 86400 + 1) * 86400
        body = {"success": False, "error": "search_quota_exceeded", "msg": "Daily search quota exceeded"}
        response = _body_response(fault, fault.status or 429, body)
        response.headers += [("X-RateLimit-Reset", str(reset))]
        return response
    if fault.kind == "malformed":
        text = fault.body if isinstance(fault.body, str) else "<html><body>upstream connect error</body></html>"
        return Response(fault.status or 200, text.encode(), [("Content-Type", "application/json")])
    if fault.kind == "error":
        if fault.body is None and fault.status in _HTML_ERRORS:
            title = _HTML_ERRORS[fault.status]
            page = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            return Response(fault.status, page.encode(), [("Content-Type", "text/html")])
        default = _ERROR_BODIES.get(fault.status, {"success": False, "error": "error", "msg": f"error {fault.status}"})
        return _body_response(fault, fault.status, default)
    return None


def distort(fault, response):
    """Apply a post-processing fault (truncated, wrong_shape) to a response."""
    if fault.kind == "truncated":
        cut = response.body[: max(1, len(response.body) // 2)]
        return Response(fault.status or response.status, cut, response.headers)
    if fault.kind == "wrong_shape":
        if fault.body is not None:
            return _body_response(fault, fault.status or 200, fault.body)
        wrapped = {"success": True, "data": json.loads(response.body or b"null")}
        return json_response(wrapped, fault.status or 200)
    return response


def rate_limit_body(threshold):
    """The 429 body of Vast's destroy docs: success false, rate_limit_exceeded."""
    msg = (
        "API requests too frequent"
        if threshold is None
        else f"API requests too frequent endpoint threshold={threshold}"
    )
    return {"success": False, "error": "rate_limit_exceeded", "msg": msg}
