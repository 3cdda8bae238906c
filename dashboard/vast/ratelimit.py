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
    ("PUT", r"/api/v0/instances/reboot/\d+/?", "reboot", 1.0),
    ("PUT", r"/api/v0/instances/bid_price/\d+/?", "bid", 5.5),
    ("PUT", r"/api/v0/instances/?", "bulk-state", 4.0),
    ("DELETE", r"/api/v0/instances/?", "bulk-destroy", 4.0),
    ("GET", r"/api/v0/template/?", "template", 1.9),
    ("GET", r"/api/v0/auth/apikeys/?", "apikeys", 1.0),
    ("GET", r"/api/v0/ssh/?", "ssh-list", 1.0),
    ("POST", r"/api/v0/ssh/?", "ssh-create", 1.0),
    ("GET", r"/api/v0/instances/\d+/ssh/?", "instance-ssh-list", 2.0),
    ("POST", r"/api/v0/instances/\d+/ssh/?", "ssh-attach", 2.0),
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
    """Reserves call slots per endpoint for one API key.

    `slots` is where the reservations live: a Django cache (Redis shares it across replicas) or
    `DatabaseSlots()` (shared by every process on one database, for several workers without Redis).
    `margin` widens every threshold a little, since our clock and Vast's differ.
    """

    def __init__(self, api_key: str, slots, *, margin: float = 0.25, clock: Callable[[], float] = time.time) -> None:
        # The store sees a hash of the key, never the key.
        self._prefix = "vast:rl:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
        self._slots = slots if hasattr(slots, "book") else CacheSlots(slots)
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
        wait = self._slots.book(f"{self._prefix}:{name}", self._clock, threshold + self._margin, max_wait)
        if wait > max_wait:
            raise VastRateLimited(
                f"Vast.ai is busy: the team is calling it as fast as Vast allows. Try again in {math.ceil(wait)} s.",
                retry_after=wait,
            )
        return wait


class CacheSlots:
    """Slot reservations in a Django cache, under a short `cache.add` lock."""

    def __init__(self, cache) -> None:
        self.cache = cache

    def book(self, key: str, clock: Callable[[], float], spacing: float, max_wait: float) -> float:
        """Reserve the next free moment for `key` and return the wait until it; past `max_wait`,
        return the wait without reserving."""
        with _CacheLock(self.cache, f"{key}:lock"):
            now = clock()
            start = max(now, self.cache.get(key) or 0.0)
            wait = start - now
            if wait <= max_wait:
                self.cache.set(key, start + spacing, timeout=math.ceil(wait + spacing + 60))
        return wait


class DatabaseSlots:
    """Slot reservations in the database: a row lock (SQLite: the write lock) orders them."""

    def book(self, key: str, clock: Callable[[], float], spacing: float, max_wait: float) -> float:
        """As CacheSlots.book."""
        from django.db import OperationalError

        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                return self._book(key, clock, spacing, max_wait)
            except OperationalError:
                # SQLite answers "locked" at once in some modes instead of waiting its busy timeout.
                if time.monotonic() > deadline:
                    raise
                time.sleep(_LOCK_SPIN * 5)

    @staticmethod
    def _book(key: str, clock: Callable[[], float], spacing: float, max_wait: float) -> float:
        from django.db import transaction

        from dashboard.models import RateSlot

        with transaction.atomic():
            slot, _ = RateSlot.objects.select_for_update().get_or_create(key=key)
            now = clock()
            start = max(now, slot.next_free)
            wait = start - now
            if wait <= max_wait:
                slot.next_free = start + spacing
                slot.save(update_fields=["next_free"])
        return wait


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
