"""The simulator's own request and response values, independent of any server.

The transport and the WSGI app both translate to and from these, so the
handlers never see httpx or WSGI.
"""

import json
from dataclasses import dataclass, field

JSON_HEADERS = (("Content-Type", "application/json"),)


@dataclass
class Request:
    """One API request, as the router sees it."""

    method: str
    path: str
    query: dict  # parameter name -> last value, decoded
    headers: dict  # lower-case header name -> value
    body: bytes = b""
    params: dict = field(default_factory=dict)  # named groups of the route pattern
    api_key: str | None = None  # set once the caller's key is accepted
    # time.monotonic() at which the caller stops waiting for an answer (its read timeout),
    # or None to wait however long. Only the in-process transport knows it and sets it.
    deadline: float | None = None
    # scheme://host[:port] the caller addressed, for URLs the simulator hands out (logs' result_url).
    base_url: str = ""

    def json(self, error_body=None):
        """The body parsed as JSON; an empty body reads as `{}`. Bad JSON
        raises ApiError 400 with `error_body` (or a generic invalid_args body)."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(
                400, error_body or {"success": False, "error": "invalid_args", "msg": "Invalid json body"}
            ) from None


@dataclass
class Response:
    """One API response: status, raw body and headers."""

    status: int
    body: bytes
    headers: list  # of (name, value)

    def header(self, name):
        """The value of header `name` (any case), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def json_response(data, status=200, headers=()):
    """A response with `data` as its JSON body and exactly `application/json`."""
    return Response(status, json.dumps(data).encode(), [*JSON_HEADERS, *headers])


class ApiError(Exception):
    """Raised by a handler to answer with an error status and JSON body."""

    def __init__(self, status, body, headers=()):
        super().__init__(body.get("msg") if isinstance(body, dict) else body)
        self.status = status
        self.body = body
        self.headers = headers

    def response(self):
        """The JSON Response this error stands for."""
        return json_response(self.body, self.status, self.headers)


class CallerTimedOut(Exception):
    """The caller's deadline passed while the simulator was holding its request back
    (a latency fault). The handler never ran, so nothing was changed."""
