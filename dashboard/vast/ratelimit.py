"""Vast's per-endpoint rate limits, kept on our side and shared by every worker and replica.

Vast refuses a key's second call to an endpoint inside that endpoint's threshold (reference
§9.3). Before each attempt the client reserves the endpoint's next free moment in Django's
cache (Redis across replicas), then waits for it; so the dashboard itself never provokes a
429, however many people click at once.
"""

import hashlib
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import Final

from dashboard.vast.errors import VastRateLimited

# (method, path, endpoint name, minimum seconds between calls), from the reference §9.3.
THRESHOLDS: Final = (
    ("POST", r"/api/v0/bundles/?", "search", 2.0),
    ("GET", r"/api/v0/bundles/?", "search-get", 0.8),
    ("PUT", r"/api/v0/asks/\d+/?", "create", 4.5),
    ("GET", r"/api/v1/instances/?", "list", 1.0),
    ("GET", r"/api/v0/instances/\d+/?", "show", 2.0),
    ("PUT", r"/api/v0/instances/\d+/?", "manage", 1.0),
    ("DELETE", r"/api/v0/instances/\d+/?", "destroy", 3.0),
    ("GET", r"/api/v0/auth/apikeys/?", "apikeys", 1.0),
)
_COMPILED: Final = tuple((method, re.compile(path), name, seconds) for method, path, name, seconds in THRESHOLDS)
_LOCK_TIMEOUT, _LOCK_SPIN = 2.0, 0.002


def endpoint_for(method: str, path: str) -> tuple[str, float] | None:
    """(name, threshold seconds) of the limited endpoint `method path` belongs to, or None."""
    for limited_method, pattern, name, seconds in _COMPILED:
        if method == limited_method and pattern.fullmatch(path):
            return name, seconds
    return None


class RateLimiter:
    """Reserves call slots per endpoint for one API key, in a Django cache.

    `margin` widens every threshold a little, since our clock and Vast's differ.
    """

    def __init__(self, api_key: str, cache, *, margin: float = 0.25, clock: Callable[[], float] = time.time) -> None:
        # The cache sees a hash of the key, never the key.
        self._prefix = "vast:rl:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
        self._cache = cache
        self._margin = margin
        self._clock = clock

    def reserve(self, method: str, path: str, max_wait: float) -> float:
        """Seconds the caller must wait before sending `method path` (0 if unlimited or free now).

        Raises VastRateLimited, reserving nothing, when the wait would exceed `max_wait`.
        """
        endpoint = endpoint_for(method, path)
        if endpoint is None:
            return 0.0
        name, threshold = endpoint
        key = f"{self._prefix}:{name}"
        with self._locked(key):
            now = self._clock()
            start = max(now, self._cache.get(key) or 0.0)
            wait = start - now
            if wait > max_wait:
                seconds = math.ceil(wait)
                raise VastRateLimited(
                    f"Vast.ai is busy: the team is calling it as fast as Vast allows. Try again in {seconds} s.",
                    retry_after=wait,
                )
            self._cache.set(key, start + threshold + self._margin, timeout=math.ceil(wait + threshold + 60))
        return wait

    def _locked(self, key: str):
        return _CacheLock(self._cache, f"{key}:lock")


class _CacheLock:
    """A short mutual exclusion through `cache.add` (SET NX on Redis)."""

    def __init__(self, cache, key: str) -> None:
        self.cache, self.key, self.token = cache, key, uuid.uuid4().hex

    def __enter__(self) -> None:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while not self.cache.add(self.key, self.token, timeout=_LOCK_TIMEOUT):
            if time.monotonic() > deadline:
                # A holder that died leaves the lock to expire; take over rather than fail a page.
                self.cache.set(self.key, self.token, timeout=_LOCK_TIMEOUT)
                return
            time.sleep(_LOCK_SPIN)

    def __exit__(self, *exc_info: object) -> None:
        if self.cache.get(self.key) == self.token:
            self.cache.delete(self.key)
