"""The error tree, and how an HTTP outcome from Vast.ai maps onto it.

Modelled on openai-python's: every error carries a `message` safe to show on a page,
the upstream `status`, and what the dashboard should answer (`http_status`).
"""

import math
from typing import Any

import httpx

from dashboard.vast.redact import Redactor

# Vast answers some bad keys with a 404 rather than a 401 (reference §9.2).
_AUTH_MARKERS = ("auth_error", "invalid user key", "session expired")
UNKNOWN_OUTCOME = (
    "Vast.ai did not confirm the change, so it may or may not have happened. Check Instances before trying again."
)


class VastError(Exception):
    """Anything that went wrong talking to Vast.ai.

    `message` is safe to show on a page and `http_status` is what the dashboard should answer
    with. `status` is Vast's HTTP status (None when no answer arrived); `error` and `msg` are
    Vast's own error code and text, or for a malformed answer what was wrong with it.
    `outcome_unknown` is True when a write may have happened although it failed.
    """

    http_status: int = 502
    title: str = "Vast.ai problem"
    default_message: str = "Vast.ai returned an unexpected error. Try again in a moment."

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        error: str | None = None,
        msg: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        self.status = status
        self.error = error
        self.msg = msg
        self.outcome_unknown = outcome_unknown
        self.method: str | None = None
        self.path: str | None = None
        self.elapsed_ms: int | None = None
        self.attempts = 0

    def log_message(self) -> str:
        """One line for the log: the call, Vast's answer and the timing; never a key, header or query."""
        parts = [f"{type(self).__name__}: {self.method} {self.path} status={self.status}"]
        if self.__cause__ is not None:
            parts.append(f"cause={type(self.__cause__).__name__}")
        if self.error:
            parts.append(f"error={self.error}")
        if self.msg:
            parts.append(f"msg={self.msg!r}")
        parts.append(f"attempts={self.attempts} elapsed_ms={self.elapsed_ms}")
        return " ".join(parts)


class VastUnavailable(VastError):
    """Vast.ai could not be reached, or answered with a 5xx."""

    http_status = 503
    title = "Vast.ai is unavailable"
    default_message = "Vast.ai could not be reached or is having problems. Try again in a moment."


class VastTimeout(VastUnavailable):
    """Vast.ai did not answer within the timeout."""

    http_status = 504
    title = "Vast.ai timed out"
    default_message = "Vast.ai did not answer in time. Try again in a moment."


class VastAuthError(VastError):
    """Vast.ai rejected the dashboard's API key (401, 403, or a 404 that says so)."""

    title = "Vast.ai refused the dashboard's key"
    default_message = "Vast.ai rejected the dashboard's API key. An admin must check VAST_API_KEY."


class VastNotFound(VastError):
    """The instance (or other object) does not exist on Vast.ai."""

    http_status = 404
    title = "Not found on Vast.ai"
    default_message = "Vast.ai has no such instance; it may already have been destroyed."


class VastOfferUnavailable(VastNotFound):
    """The offer is gone: someone else rented it or the host withdrew it."""

    title = "Offer no longer available"
    default_message = "That offer is no longer available. Pick another one."


class VastRateLimited(VastError):
    """Vast.ai refused the call as too frequent; `retry_after` is in seconds when known."""

    http_status = 429
    title = "Too many requests to Vast.ai"
    default_message = "Vast.ai is limiting how often the dashboard may call it. Try again in a few seconds."

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, quota_exceeded: bool = False, **kwargs
    ) -> None:
        if quota_exceeded and message is None:
            message = "The daily Vast.ai search quota is used up. It resets at midnight UTC."
        elif message is None and retry_after is not None:
            message = (
                f"Vast.ai is limiting how often the dashboard may call it. Try again in {math.ceil(retry_after)} s."
            )
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.quota_exceeded = quota_exceeded


class VastBadResponse(VastError):
    """Vast.ai answered with something that is not the documented shape."""

    title = "Unexpected answer from Vast.ai"
    default_message = "Vast.ai sent an answer the dashboard could not understand. Try again in a moment."


class VastRejected(VastError):
    """Vast.ai refused the request as invalid (bad input, billing, price); `msg` says why."""

    http_status = 400
    title = "Vast.ai refused the request"
    default_message = "Vast.ai refused the request."


def vast_text(data: dict[str, Any]) -> str:
    """Vast's human message from a JSON object, whichever key it used."""
    for key in ("msg", "message", "detail"):
        if isinstance(data.get(key), str) and data[key]:
            return data[key]
    return ""


def refused(data: dict[str, Any]) -> VastRejected:
    """The VastRejected for a `success: false` answer body."""
    error = data.get("error") if isinstance(data.get("error"), str) else None
    return rejected(error, vast_text(data) or None)


def rejected(error: str | None, msg: str | None, status: int | None = None) -> VastRejected:
    """A VastRejected whose page message carries Vast's reason, which is about the user's input."""
    reason = msg or error
    return VastRejected(
        f"Vast.ai refused the request: {reason}" if reason else None, status=status, error=error, msg=msg
    )


# Turning HTTP outcomes into errors.


def error_fields(response: httpx.Response, redactor: Redactor | None = None) -> tuple[str | None, str | None]:
    """Vast's error code and message from any of its error body shapes (reference §9.1), with the
    key redacted from the whole body first (so no truncation can leave a piece of it)."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if redactor is not None:
        body = redactor.value(body)
    if isinstance(body, dict):
        code = body.get("error") if isinstance(body.get("error"), str) else None
        return code, _clip(vast_text(body))
    if isinstance(body, str):
        return None, _clip(body)
    return None, None


def _clip(text: str) -> str | None:
    """One line of at most 200 characters (an error body can be a whole HTML page)."""
    text = " ".join(text.split())
    return (text[:200] + "…" if len(text) > 200 else text) or None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a numeric Retry-After header, else from a JSON `retry_after` field."""
    candidates: list[Any] = [response.headers.get("Retry-After")]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        candidates.append(body.get("retry_after"))
    for value in candidates:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def error_for_response(
    response: httpx.Response, *, write: bool, missing: type[VastNotFound], redactor: Redactor | None = None
) -> VastError:
    """The VastError for a non-2xx answer. `missing` is the class for a plain 404/410; a 404
    that says the key is bad is an auth failure (reference §9.2). `redactor` removes the key
    from the body before anything is taken from it."""
    status = response.status_code
    code, msg = error_fields(response, redactor)
    said = f"{code} {msg}".lower()
    details: dict[str, Any] = {"status": status, "error": code, "msg": msg}
    if status == 401 or (status == 403 and code != "invalid_args"):
        return VastAuthError(**details)
    if status == 404 and any(marker in said for marker in _AUTH_MARKERS):
        return VastAuthError(**details)
    if status in (404, 410):
        return missing(**details)
    if status == 429:
        quota = code == "search_quota_exceeded"
        return VastRateLimited(retry_after=retry_after_seconds(response), quota_exceeded=quota, **details)
    if status == 408 or status >= 500:
        unknown = write and status in (408, 502, 504)
        cls = VastTimeout if status in (408, 504) else VastUnavailable
        return cls(UNKNOWN_OUTCOME if unknown else None, outcome_unknown=unknown, **details)
    if 400 <= status < 500:
        return rejected(code, msg, status)
    # An answer Vast should never give (1xx, 3xx): a write may still have happened.
    return VastBadResponse(UNKNOWN_OUTCOME if write else None, outcome_unknown=write, **details)


def error_for_exception(exc: httpx.RequestError, *, write: bool) -> VastError:
    """The VastError for a request that got no answer. A write that may have reached Vast
    gets `outcome_unknown` and a message that says so."""
    if not isinstance(exc, httpx.TransportError):
        return VastBadResponse(UNKNOWN_OUTCOME if write else None, outcome_unknown=write, msg=type(exc).__name__)
    unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    unknown = write and not unsent
    cls = VastTimeout if isinstance(exc, httpx.TimeoutException) else VastUnavailable
    return cls(UNKNOWN_OUTCOME if unknown else None, outcome_unknown=unknown)


def is_retryable(response: httpx.Response | None, error: VastError) -> bool:
    """Whether a read may be tried again: no answer at all, or 408, 429 or 5xx."""
    if response is None:
        return isinstance(error, VastUnavailable)
    return response.status_code in (408, 429) or response.status_code >= 500
