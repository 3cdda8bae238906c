"""VastClient: one pooled httpx.Client, the Vast.ai operations, retries and logging."""

import contextvars
import logging
import random
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, Final, Literal, TypeVar

import httpx

from dashboard.vast import parsing
from dashboard.vast.errors import (
    UNKNOWN_OUTCOME,
    VastBadResponse,
    VastError,
    VastNotFound,
    VastOfferUnavailable,
    VastRateLimited,
    error_for_exception,
    error_for_response,
    is_retryable,
    retry_after_seconds,
)
from dashboard.vast.ratelimit import RateLimiter
from dashboard.vast.redact import Redactor
from dashboard.vast.search import OfferSearch
from dashboard.vast.values import (
    Account,
    ApiKey,
    Instance,
    InstanceList,
    LaunchRequest,
    LaunchResult,
    Offer,
    OfferList,
    StateChange,
)

logger = logging.getLogger(__name__)

VERSION: Final = "0.1.0"
USER_AGENT: Final = f"vast-team-dashboard/{VERSION}"
DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30.0)
INSTANCE_PAGE_SIZE: Final = 25  # the v1 maximum
MAX_INSTANCE_PAGES: Final = 200
_BACKOFF_BASE, _BACKOFF_MAX = 0.5, 4.0

T = TypeVar("T")

# Called when a call starts to wait: its request written and Vast's answer not yet in (over
# httpx's own transport, which reports that moment), or before a timer (rate limit, retry). A
# caller that started the call on another thread may go on with its own work from then on
# (offers/answers.py): until the request is out, that work would hold the GIL it needs.
on_wait: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("vast_on_wait", default=None)


def _waiting() -> None:
    notify = on_wait.get()
    if notify is not None:
        notify()


def _on_trace(event: str, info: Mapping[str, Any]) -> None:
    """httpcore's trace of a request: the request is written once the answer's headers are awaited."""
    if event.endswith(".receive_response_headers.started"):
        _waiting()


_TRACE: Final = {"trace": _on_trace}


def _check_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Vast ids are positive integers, not {value!r}")
    return value


def _offer_list(data: Any, content: bytes) -> OfferList:
    """A search answer's offers in Vast's order, with the answer's bytes when they name no secret."""
    offers = OfferList(parsing.parse_offers(data))
    offers.body = content if parsing.names_no_secret(data) else None
    return offers


class VastClient:
    """A Vast.ai API client on one pooled `httpx.Client`; build one per process (see `get_client`).

    It cannot be built without a finite timeout. Reads (GET, and the offer search) are retried
    on connection errors, timeouts, 408, 429 and 5xx, at most `max_retries` times, honouring a
    numeric Retry-After up to `retry_after_cap` seconds and otherwise backing off exponentially
    with jitter. Writes are never retried. `sleep` is injectable so tests never sleep.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://console.vast.ai",
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        max_retries: int = 2,
        retry_after_cap: float = 10.0,
        sleep: Callable[[float], object] = time.sleep,
        rate_limiter: RateLimiter | None = None,
        read_wait: float = 3.0,
        write_wait: float = 6.0,
        call_budget: float = 15.0,
    ) -> None:
        if not api_key or not isinstance(api_key, str):
            raise ValueError("VastClient needs an API key")
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            timeout = httpx.Timeout(timeout)
        parts = (
            (timeout.connect, timeout.read, timeout.write, timeout.pool) if isinstance(timeout, httpx.Timeout) else ()
        )
        if not parts or not all(isinstance(p, int | float) and p > 0 for p in parts):
            raise ValueError("VastClient needs a finite, positive timeout for connect, read, write and pool")
        if max_retries < 0:
            raise ValueError("max_retries cannot be negative")
        self.base_url = base_url
        self.max_retries = max_retries
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._api_key = api_key
        self.redactor = Redactor(api_key)
        self._rate_limiter = rate_limiter
        self._waits = {True: read_wait, False: write_wait}
        self.call_budget = call_budget
        self._read_timeout = timeout.read
        self.transport = transport  # None: httpx's own; also reads the logs' result URLs (resources/instance_ops)
        # With no transport, httpx builds its pooled HTTPTransport from `limits` (and honours proxy env vars).
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=timeout,
            limits=limits,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"<VastClient {self.base_url}>"

    # Groups of endpoints beyond the core, each in dashboard/vast/resources/ (built on first use).

    @cached_property
    def ssh_keys(self) -> Any:
        from dashboard.vast.resources.ssh import SshKeys

        return SshKeys(self)

    @cached_property
    def instance_ops(self) -> Any:
        from dashboard.vast.resources.instance_ops import InstanceOps

        return InstanceOps(self)

    @cached_property
    def templates(self) -> Any:
        from dashboard.vast.resources.templates import Templates

        return Templates(self)

    @cached_property
    def bulk(self) -> Any:
        from dashboard.vast.resources.bulk import Bulk

        return Bulk(self)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> "VastClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def search_offers(self, query: Mapping[str, Any] | OfferSearch) -> list[Offer]:
        """Search offers: POST /api/v0/bundles/ with the query (the reference §2.2 grammar) as the
        body. A raw mapping is sent as is and its offers come back in Vast's order, as an
        OfferList carrying the answer's bytes; an OfferSearch is sent as `to_query()` and its
        offers come back `arrange()`d. Retried like a read."""
        if isinstance(query, OfferSearch):
            return query.arrange(
                self._call("POST", "/api/v0/bundles/", body=query.to_query(), read=True, parse=parsing.parse_offers)
            )
        # In Vast's order, with the answer's bytes when they name no secret (the offer cache keeps them).
        return self._call("POST", "/api/v0/bundles/", body=dict(query), read=True, parse=_offer_list, with_content=True)

    def create_instance(self, offer_id: int, request: LaunchRequest) -> LaunchResult:
        """Rent offer `offer_id`: PUT /api/v0/asks/{id}/ with `request.as_body()`. Sent exactly once.
        Raises VastOfferUnavailable when the offer is gone; a timeout's `outcome_unknown` is True."""
        path = f"/api/v0/asks/{_check_id(offer_id)}/"
        return self._call("PUT", path, body=request.as_body(), parse=parsing.parse_launch, missing=VastOfferUnavailable)

    def list_instances(self) -> InstanceList:
        """All of the account's instances: GET /api/v1/instances/ page by page, following
        `next_token`. Stops (with a warning, and `complete` False on the answer) if a token
        repeats or after MAX_INSTANCE_PAGES pages; a page that fails raises, so an answer with
        `complete` True holds every instance of the account."""
        instances = InstanceList()
        seen: set[str] = set()
        params: dict[str, Any] = {"limit": INSTANCE_PAGE_SIZE}
        for _ in range(MAX_INSTANCE_PAGES):
            page, token = self._call("GET", "/api/v1/instances/", params=params, parse=parsing.parse_instance_page)
            instances.extend(page)
            if not token:
                instances.complete = True
                return instances
            if token in seen:
                logger.warning("vast instance list repeated a page token; stopping at %d instances", len(instances))
                return instances
            seen.add(token)
            params = {"limit": INSTANCE_PAGE_SIZE, "after_token": token}
        logger.warning("vast instance list still paging after %d pages; stopping", MAX_INSTANCE_PAGES)
        return instances

    def get_instance(self, instance_id: int) -> Instance:
        """One instance: GET /api/v0/instances/{id}/. Raises VastNotFound when Vast has none."""
        path = f"/api/v0/instances/{_check_id(instance_id)}/"
        return self._call("GET", path, params={"owner": "me"}, parse=parsing.parse_one_instance)

    def set_state(self, instance_id: int, state: Literal["running", "stopped"]) -> StateChange:
        """Start or stop: PUT /api/v0/instances/{id}/ {"state": state}. A start Vast cannot serve
        now comes back as StateChange(queued=True), not as an error."""
        if state not in ("running", "stopped"):
            raise ValueError(f"state must be 'running' or 'stopped', not {state!r}")
        path = f"/api/v0/instances/{_check_id(instance_id)}/"
        return self._call("PUT", path, body={"state": state}, parse=parsing.parse_state_change)

    def relabel(self, instance_id: int, label: str) -> None:
        """Set an instance's label: PUT /api/v0/instances/{id}/ {"label": label}."""
        path = f"/api/v0/instances/{_check_id(instance_id)}/"
        self._call("PUT", path, body={"label": label}, parse=parsing.parse_success)

    def destroy(self, instance_id: int) -> None:
        """Destroy an instance and its disk: DELETE /api/v0/instances/{id}/ with body {}."""
        path = f"/api/v0/instances/{_check_id(instance_id)}/"
        self._call("DELETE", path, body={}, parse=parsing.parse_success)

    def list_api_keys(self) -> list[ApiKey]:
        """The account's API keys: GET /api/v0/auth/apikeys/. Key values are never kept."""
        return self._call("GET", "/api/v0/auth/apikeys/", parse=parsing.parse_api_keys)

    def current_user(self) -> Account:
        """The account behind the key: GET /api/v0/users/current. Its api_key is dropped."""
        return self._call("GET", "/api/v0/users/current", parse=parsing.parse_account)

    def gpu_names(self) -> list[str]:
        """GPU model names as the API spells them ("RTX 4090"): GET /api/v0/gpu_names/unique/."""
        return self._call("GET", "/api/v0/gpu_names/unique/", parse=parsing.parse_gpu_names)

    def _call(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[..., T],
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        read: bool | None = None,
        missing: type[VastNotFound] = VastNotFound,
        with_content: bool = False,
    ) -> T:
        """Send one logical call (with retries if `read`) and parse its JSON (`parse(data)`, or
        `parse(data, the answer's bytes)` `with_content`), or raise a VastError."""
        read = method == "GET" if read is None else read
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            cause: Exception | None = None
            if self._rate_limiter is not None:
                try:
                    wait = self._rate_limiter.reserve(method, path, self._waits[read])
                except VastRateLimited as exc:
                    logger.warning("vast %s %s not sent: own rate limit, %.1fs to wait", method, path, exc.retry_after)
                    self._finish(exc, method, path, started, attempt - 1, None)
                    raise
                if wait > 0:
                    _waiting()
                    self._sleep(wait)
            sent = time.monotonic()
            try:
                response = self._http.request(method, path, json=body, params=params, extensions=_TRACE)
            except httpx.RequestError as exc:
                self._log(method, path, type(exc).__name__, sent, attempt)
                cause, error = exc, error_for_exception(exc, write=not read)
            else:
                self._log(method, path, response.status_code, sent, attempt)
                if response.is_success:
                    try:
                        if with_content:
                            return parse(self._json(response), response.content)
                        return parse(self._json(response))
                    except VastError as exc:
                        if not read and isinstance(exc, VastBadResponse):
                            # Vast answered 2xx, so the write may well have happened.
                            exc.outcome_unknown = True
                            exc.message = UNKNOWN_OUTCOME
                            exc.args = (exc.message,)
                        self._finish(exc, method, path, started, attempt, response.status_code)
                        raise
                error = error_for_response(response, write=not read, missing=missing, redactor=self.redactor)
            delay = self._retry_delay(response, error, attempt - 1) if read else None
            if delay is not None and time.monotonic() - started + delay + self._read_timeout > self.call_budget:
                # Another attempt could outlast the budget (and the web server's patience): stop here.
                delay = None
            if delay is None:
                self._finish(error, method, path, started, attempt, None)
                raise error from cause
            _waiting()
            self._sleep(delay)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return parsing.read_json(response.content)

    def _retry_delay(self, response: httpx.Response | None, error: VastError, retries: int) -> float | None:
        """Seconds to wait before retrying a read, or None to give up now."""
        if retries >= self.max_retries or not is_retryable(response, error):
            return None
        if isinstance(error, VastRateLimited) and error.quota_exceeded:
            return None  # resets at midnight UTC; retrying burns quota
        retry_after = retry_after_seconds(response) if response is not None else None
        if retry_after is not None:
            return retry_after if retry_after <= self.retry_after_cap else None
        return min(_BACKOFF_BASE * 2**retries, _BACKOFF_MAX) * (1 - 0.25 * random.random())

    def _finish(
        self, error: VastError, method: str, path: str, started: float, attempts: int, status: int | None
    ) -> None:
        error.method, error.path, error.attempts = method, path, attempts
        error.elapsed_ms = round((time.monotonic() - started) * 1000)
        if error.status is None:
            error.status = status
        # Vast's text reaches the page, the audit log and the log: whatever carried the key, not there.
        # (error_for_response already redacted the body; this also covers every other path.)
        error.msg = self.redactor.text(error.msg) if error.msg else error.msg
        error.error = self.redactor.text(error.error) if error.error else error.error
        error.message = self.redactor.text(error.message)
        error.args = (error.message,)

    @staticmethod
    def _log(method: str, path: str, outcome: int | str, sent: float, attempt: int) -> None:
        ok = isinstance(outcome, int) and outcome < 400
        elapsed_ms = (time.monotonic() - sent) * 1000
        logger.log(
            logging.INFO if ok else logging.WARNING,
            "vast %s %s %s %.0fms attempt=%d",
            method,
            path,
            outcome,
            elapsed_ms,
            attempt,
        )
