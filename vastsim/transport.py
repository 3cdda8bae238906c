"""`SimulatorTransport`: an httpx transport answered by the simulator in process.

    client = httpx.Client(transport=SimulatorTransport(), base_url="https://console.vast.ai")

Requests go straight to `vastsim.router.dispatch`, never through Django's
request cycle: a nested Django request would fire `request_finished` and close
the outer request's database connection.
"""

from urllib.parse import parse_qsl

import httpx

from vastsim import router
from vastsim.protocol import Request


class SimulatorTransport(httpx.BaseTransport):
    """Answer httpx requests with the simulator. `api_keys` are the keys it
    accepts (default: `settings.VASTSIM_API_KEY`)."""

    def __init__(self, api_keys=None):
        self.api_keys = tuple(api_keys) if api_keys else None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sim_request = Request(
            method=request.method,
            path=request.url.path,
            query=dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=request.read(),
        )
        response = router.dispatch(sim_request, self.api_keys)
        return httpx.Response(response.status, headers=response.headers, content=response.body, request=request)
