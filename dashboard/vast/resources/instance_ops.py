"""Logs, reboot and bid changes of one instance (shared/vast-api-more.md §2 and §3).

Requests have the official vastai 1.9.1 client's shapes. Logs come in two steps, as in Vast's
console: `request_logs` asks Vast to gather them and answers a `result_url` (an object on S3 on
the real Vast) that fills in after a moment; `fetch_logs` reads that URL, which answers 403 or
404 until the logs are there. The URL is read by a second httpx client that never carries the
Authorization header, never follows a redirect, reads at most MAX_LOG_BYTES and gives up after a
few seconds, and only https URLs (or the API's own origin, i.e. a simulator) are read at all: the
key cannot leave for another host and a hostile URL cannot hold a web worker.
"""

import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx

from dashboard.vast import parsing
from dashboard.vast.client import USER_AGENT, _check_id
from dashboard.vast.errors import VastBadResponse, VastTimeout, VastUnavailable, vast_text

logger = logging.getLogger(__name__)

MAX_LOG_BYTES: Final = 2 * 1024 * 1024
MAX_TAIL: Final = 100_000
BID_MIN, BID_MAX = 0.001, 128.0  # $/hr for the whole machine, as Vast accepts it
FETCH_TIMEOUT: Final = httpx.Timeout(5.0, connect=3.0)
FETCH_BUDGET: Final = 8.0  # seconds for a whole read, however slowly the bytes drip
NOT_READY: Final = frozenset({403, 404})  # S3 answers 403 (no list permission) or 404 before the object exists
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")
_REFUSED_LINK = "Vast.ai gave a link to the logs that the dashboard will not follow."


@dataclass(frozen=True)
class LogRequest:
    """Vast's answer to a log request: where the logs will appear (`result_url`, None if Vast gave
    none, with its reason in `message`)."""

    result_url: str | None
    message: str = ""

    def __repr__(self) -> str:  # the URL may be a signed link: keep it out of logs and tracebacks
        return f"LogRequest(result_url={'…' if self.result_url else None}, message={self.message!r})"


@dataclass(frozen=True)
class Logs:
    """What reading a result URL gave: `ready` False while Vast still gathers the logs; else the
    lines (terminal escapes removed) and whether the text was cut at MAX_LOG_BYTES."""

    ready: bool
    lines: tuple[str, ...] = ()
    truncated: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _parse_log_request(data: Any) -> LogRequest:
    """`{success, result_url, msg}` → LogRequest; `success: false` raises VastRejected."""
    body = parsing.parse_success(data)
    url = body.get("result_url")
    if url is not None and not isinstance(url, str):
        raise VastBadResponse(msg=f"logs answer.result_url is an ill-typed {type(url).__name__}")
    message = body.get("msg") if isinstance(body.get("msg"), str) else ""
    return LogRequest(result_url=url or None, message=message)


def _check_price(price: float) -> float:
    if isinstance(price, bool) or not isinstance(price, int | float) or not math.isfinite(price):
        raise ValueError(f"a bid is a number of $/hr, not {price!r}")
    if not BID_MIN <= price <= BID_MAX:
        raise ValueError(f"a bid must be between {BID_MIN} and {BID_MAX:g} $/hr, not {price!r}")
    return float(price)


def clean_lines(text: str) -> tuple[str, ...]:
    """The log's lines as a terminal would leave them: what follows a line's last carriage
    return (progress bars redraw that way), without escapes (colours) or control characters."""
    lines = text.replace("\r\n", "\n").split("\n")
    return tuple(_ESCAPES.sub("", line.rstrip("\r").rsplit("\r", 1)[-1]) for line in lines)


class InstanceOps:
    """Logs, reboot and bid of one instance, through the client's `_call` (its auth, retries,
    rate limits, redaction and logging). Built by `VastClient.instance_ops`."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._fetcher: httpx.Client | None = None

    def request_logs(self, instance_id: int, tail: int = 1000) -> LogRequest:
        """Ask Vast for the last `tail` lines of the container's logs: PUT
        /api/v0/instances/request_logs/{id}/ {"tail": "<n>"} (a string, as the CLI sends it).
        Nothing changes on the instance, so it is retried like a read."""
        if isinstance(tail, bool) or not isinstance(tail, int) or not 0 < tail <= MAX_TAIL:
            raise ValueError(f"tail must be a line count in 1..{MAX_TAIL}, not {tail!r}")
        path = f"/api/v0/instances/request_logs/{_check_id(instance_id)}/"
        return self._client._call("PUT", path, body={"tail": str(tail)}, read=True, parse=_parse_log_request)

    def fetch_logs(self, result_url: str, *, tail: int | None = None) -> Logs:
        """Read the logs at `result_url` (from `request_logs`): Logs(ready=False) while it answers
        403/404, else the last `tail` lines. Sent without the key; never follows a redirect.
        Raises VastBadResponse for a URL it will not read, VastTimeout or VastUnavailable when the
        storage does not answer well."""
        url = self._checked(result_url)
        started = time.monotonic()
        try:
            with self._fetch_client().stream("GET", url) as response:
                status = response.status_code
                if status in NOT_READY:
                    self._log(url, status, started)
                    return Logs(ready=False)
                if not response.is_success:
                    self._log(url, status, started)
                    if 300 <= status < 400:
                        raise VastBadResponse(_REFUSED_LINK, status=status, msg="result_url redirects; not followed")
                    raise VastUnavailable(
                        "Vast.ai's log storage answered with an error. Try again in a moment.", status=status
                    )
                body, truncated = self._read(response, started)
        except httpx.TimeoutException as exc:
            self._log(url, type(exc).__name__, started)
            raise VastTimeout("Vast.ai's log storage did not answer in time. Try again in a moment.") from exc
        except httpx.RequestError as exc:
            self._log(url, type(exc).__name__, started)
            raise VastUnavailable("Vast.ai's log storage could not be reached. Try again in a moment.") from exc
        self._log(url, status, started)
        lines = clean_lines(body.decode("utf-8", errors="replace"))
        if lines and lines[-1] == "":
            lines = lines[:-1]
        if tail is not None and len(lines) > tail:
            lines = lines[-tail:]
        return Logs(ready=True, lines=lines, truncated=truncated)

    def reboot(self, instance_id: int) -> str:
        """Restart the container (docker stop and start), keeping the GPU: PUT
        /api/v0/instances/reboot/{id}/ with {}. Sent once; Vast's `success: false`
        ("Is the container started?") raises VastRejected. Returns Vast's message, if any."""
        path = f"/api/v0/instances/reboot/{_check_id(instance_id)}/"
        return vast_text(self._client._call("PUT", path, body={}, parse=parsing.parse_success))

    def change_bid(self, instance_id: int, price: float) -> str:
        """Set an interruptible instance's bid to `price` $/hr for the whole machine (the CLI's
        basis): PUT /api/v0/instances/bid_price/{id}/ {"client_id": "me", "price": price}. Sent
        once; Vast refuses on-demand instances and bids under the minimum (VastRejected)."""
        body = {"client_id": "me", "price": _check_price(price)}
        path = f"/api/v0/instances/bid_price/{_check_id(instance_id)}/"
        return vast_text(self._client._call("PUT", path, body=body, parse=parsing.parse_success))

    # Reading the result URL.

    def _fetch_client(self) -> httpx.Client:
        """The client that reads result URLs: no Authorization header, no redirects, short
        timeouts; on the API client's transport, so a simulator or a test transport serves it."""
        if self._fetcher is None:
            self._fetcher = httpx.Client(
                headers={"User-Agent": USER_AGENT, "Accept": "text/plain, */*", "Accept-Encoding": "identity"},
                timeout=FETCH_TIMEOUT,
                follow_redirects=False,
                transport=self._client.transport,
            )
        return self._fetcher

    def _checked(self, result_url: Any) -> httpx.URL:
        """`result_url` as a URL the dashboard may read, else VastBadResponse (which never holds the URL)."""
        try:
            url = httpx.URL(result_url) if isinstance(result_url, str) else None
        except httpx.InvalidURL:
            url = None
        if url is None or not url.host:
            raise VastBadResponse(_REFUSED_LINK, msg="result_url is not an absolute URL")
        api = httpx.URL(self._client.base_url)
        if (url.scheme, url.host, url.port) == (api.scheme, api.host, api.port) and not url.userinfo:
            return url  # the API's own origin: the simulator serves its logs there
        if url.scheme != "https":
            raise VastBadResponse(_REFUSED_LINK, msg=f"result_url scheme {url.scheme!r} is not https")
        if url.userinfo:
            raise VastBadResponse(_REFUSED_LINK, msg="result_url carries credentials")
        try:
            address = ipaddress.ip_address(url.host)
        except ValueError:
            return url
        if not address.is_global:
            raise VastBadResponse(_REFUSED_LINK, msg="result_url points into a private network")
        return url

    @staticmethod
    def _read(response: httpx.Response, started: float) -> tuple[bytes, bool]:
        """At most MAX_LOG_BYTES of the body, within FETCH_BUDGET seconds; (bytes, truncated)."""
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_LOG_BYTES:
                return b"".join(chunks)[:MAX_LOG_BYTES], True
            if time.monotonic() - started > FETCH_BUDGET:
                raise httpx.ReadTimeout("log body too slow", request=response.request)
        return b"".join(chunks), False

    @staticmethod
    def _log(url: httpx.URL, outcome: int | str, started: float) -> None:
        """One line per read: the host only (the path and query of a signed link stay out)."""
        ok = isinstance(outcome, int) and (outcome < 300 or outcome in NOT_READY)
        level = logging.INFO if ok else logging.WARNING
        logger.log(level, "vast logs GET %s %s %.0fms", url.host, outcome, (time.monotonic() - started) * 1000)
