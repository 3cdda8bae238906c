"""`SimulatorTransport`: an httpx transport answered by the simulator in process.

    client = httpx.Client(transport=SimulatorTransport(), base_url="https://console.vast.ai")

Requests go straight to `vastsim.router.dispatch`, never through Django's
request cycle: a nested Django request would fire `request_finished` and close
the outer request's database connection.

The request's read timeout is honoured as the network would: when injected
latency exceeds it, the transport waits out the timeout and raises
`httpx.ReadTimeout`. That latency comes before the handler, so unlike a real
timeout (which leaves a write's outcome unknown) the request was not handled.
"""

import time
from urllib.parse import parse_qsl

import httpx

from vastsim import router
from vastsim.protocol import CallerTimedOut, Request


class SimulatorTransport(httpx.BaseTransport):
    """Answer httpx requests with the simulator. `api_keys` are the keys it
    accepts (default: `settings.VASTSIM_API_KEY`)."""

    def __init__(self, api_keys=None):
        self.api_keys = tuple(api_keys) if api_keys else None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        read_timeout = request.extensions.get("timeout", {}).get("read")
        sim_request = Request(
            method=request.method,
            path=request.url.path,
            query=dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=request.read(),
            deadline=None if read_timeout is None else time.monotonic() + read_timeout,
            base_url=f"{request.url.scheme}://{request.url.netloc.decode('ascii')}",
        )
        try:
            response = router.dispatch(sim_request, self.api_keys)
        except CallerTimedOut as exc:
            raise httpx.ReadTimeout(f"simulator: {exc}", request=request) from exc
        return httpx.Response(response.status, headers=response.headers, content=response.body, request=request)
