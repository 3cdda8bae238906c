"""The simulator's router: method + path pattern -> plain handler function.

`dispatch` is the single entry point of both the in-process transport and
the WSGI app. Around the handler it applies, in order: injected faults,
authentication, and (when switched on) rate limits. Every path is served
with and without its trailing slash, and nothing ever redirects. An id in a
path is ASCII digits only (`[0-9]+`; `\\d` would also take other scripts'
digits), so a word (`/instances/pending-price-increases/`,
`/instances/reboot/5/`) is never taken for one: an unknown path is a 404.
"""

import logging
import re
from dataclasses import dataclass

from django.conf import settings

from vastsim import account, bulk, console, faults, instances, offers, ratelimit, ssh, templates
from vastsim.protocol import ApiError, json_response

logger = logging.getLogger("vastsim")


@dataclass(frozen=True)
class Route:
    """One endpoint: method and path pattern, handler, name for faults and rate limits."""

    method: str
    pattern: re.Pattern
    handler: object
    name: str  # used by faults and rate limits
    public: bool = False
    bearer_only: bool = False  # answers 400 when no Bearer header is sent (apikeys)


def _route(method, path, handler, name, **flags):
    """A Route for `path` (no trailing slash; one is optional when matching)."""
    return Route(method, re.compile(path + "/?"), handler, name, **flags)


ROUTES = (
    _route("POST", r"/api/v0/bundles", offers.search_post, "bundles", public=True),
    _route("GET", r"/api/v0/bundles", offers.search_get, "bundles", public=True),
    _route("PUT", r"/api/v0/asks/(?P<id>[0-9]+)", instances.create, "asks"),
    _route("GET", r"/api/v1/instances", instances.list_v1, "instances"),
    _route("GET", r"/api/v0/instances/filters", instances.filters, "instance_filters"),
    _route("GET", r"/api/v0/instances", instances.list_v0, "instances_v0"),
    _route("PUT", r"/api/v0/instances", bulk.set_state, "instances_bulk"),
    _route("DELETE", r"/api/v0/instances", bulk.destroy, "instances_bulk"),
    _route("PUT", r"/api/v0/instances/request_logs/(?P<id>[0-9]+)", console.request_logs, "request_logs"),
    _route("PUT", r"/api/v0/instances/reboot/(?P<id>[0-9]+)", console.reboot, "reboot"),
    _route("PUT", r"/api/v0/instances/bid_price/(?P<id>[0-9]+)", console.change_bid, "bid_price"),
    _route("GET", r"/instance_logs/(?P<token>[0-9a-f]{32})\.log", console.log_result, "instance_logs", public=True),
    _route("GET", r"/api/v0/instances/(?P<id>[0-9]+)", instances.show, "instance"),
    _route("PUT", r"/api/v0/instances/(?P<id>[0-9]+)", instances.manage, "instance"),
    _route("DELETE", r"/api/v0/instances/(?P<id>[0-9]+)", instances.destroy, "instance"),
    _route("GET", r"/api/v0/instances/(?P<id>[0-9]+)/ssh", ssh.list_instance, "instance_ssh"),
    _route("POST", r"/api/v0/instances/(?P<id>[0-9]+)/ssh", ssh.attach, "instance_ssh"),
    _route("DELETE", r"/api/v0/instances/(?P<id>[0-9]+)/ssh/(?P<key_id>[0-9]+)", ssh.detach, "instance_ssh"),
    _route("GET", r"/api/v0/ssh", ssh.list_account, "ssh"),
    _route("POST", r"/api/v0/ssh", ssh.create_account, "ssh"),
    _route("PUT", r"/api/v0/ssh/(?P<id>[0-9]+)", ssh.update_account, "ssh"),
    _route("DELETE", r"/api/v0/ssh/(?P<id>[0-9]+)", ssh.delete_account, "ssh"),
    _route("GET", r"/api/v0/template", templates.search, "template"),
    _route("POST", r"/api/v0/template", templates.create, "template"),
    _route("DELETE", r"/api/v0/template", templates.delete, "template"),
    _route("GET", r"/api/v0/auth/apikeys", account.api_keys, "apikeys", bearer_only=True),
    _route("GET", r"/api/v0/users/current", account.current_user, "user"),
    _route("GET", r"/api/v0/gpu_names/unique", account.gpu_names, "gpu_names", public=True),
)
ROUTE_NAMES = tuple(dict.fromkeys(route.name for route in ROUTES))

AUTH_ERROR = {"success": False, "error": "auth_error", "msg": "Invalid user key"}
NO_BEARER = {"msg": "API Key not provided as bearer token."}


def accepted_keys(api_keys=None):
    """The keys the simulator accepts: the given ones, else VASTSIM_API_KEY."""
    return tuple(api_keys) if api_keys else (settings.VASTSIM_API_KEY,)


def presented_key(request, keys):
    """The caller's key if one of `keys`, from the Bearer header or the
    `api_key` query parameter (older clients); else None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    candidates = [token.strip()] if scheme.lower() == "bearer" else []
    candidates.append(request.query.get("api_key", ""))
    return next((key for key in candidates if key and key in keys), None)


def resolve(method, path):
    """(route, path params) for a request, or an ApiError 404/405."""
    matching = [route for route in ROUTES if route.pattern.fullmatch(path)]
    if not matching:
        raise ApiError(404, {"success": False, "error": "not_found", "msg": f"Not found: {path}"})
    # A literal path (instances/filters) wins over a pattern (instances/{id}).
    for route in matching:
        if route.method == method:
            return route, route.pattern.fullmatch(path).groupdict()
    allowed = ", ".join(sorted({route.method for route in matching}))
    raise ApiError(
        405,
        {"success": False, "error": "method_not_allowed", "msg": f"Method {method} not allowed"},
        [("Allow", allowed)],
    )


def dispatch(request, api_keys=None):
    """Answer one simulator Request with a Response. Raises CallerTimedOut, without
    handling the request, when injected latency runs past `request.deadline`."""
    try:
        route, request.params = resolve(request.method, request.path)
    except ApiError as exc:
        return exc.response()
    fault = faults.fire(route.name, request.method, request.path, request.deadline)
    if fault is not None:
        early = faults.respond(fault)
        if early is not None:
            return early
    if route.bearer_only and not request.headers.get("authorization", "").lower().startswith("bearer "):
        return json_response(NO_BEARER, 400)
    request.api_key = presented_key(request, accepted_keys(api_keys))
    if request.api_key is None and not route.public:
        return json_response(AUTH_ERROR, 401)
    limited = ratelimit.check(route.name, request.method, request.api_key)
    if limited is not None:
        return limited
    try:
        response = route.handler(request)
    except ApiError as exc:
        response = exc.response()
    except Exception:
        logger.exception("vastsim: %s %s failed", request.method, request.path)
        response = json_response({"success": False, "error": "server_error", "msg": "Internal server error."}, 500)
    if fault is not None:
        response = faults.distort(fault, response)
    return response
