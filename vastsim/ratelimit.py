"""Vast's per-endpoint rate limits (vast-api.md §9.3), off unless switched on.

Each (route, method) has a threshold: the minimum seconds between two calls
by the same identity (burst 1). Identity is the caller's API key (hashed), or
"anonymous" on public endpoints called without one. Refused calls do not
count. Hits are stored in the database so all workers share them.
"""

import hashlib
import math

from django.db import IntegrityError, transaction

from vastsim import clock, faults, switches
from vastsim.models import RateLimitHit
from vastsim.protocol import json_response

THRESHOLDS = {
    ("bundles", "POST"): 2.0,
    ("bundles", "GET"): 0.8,
    ("asks", "PUT"): 4.5,
    ("instances", "GET"): 1.0,
    ("instances_v0", "GET"): 20.0,
    ("instance", "GET"): 2.0,
    ("instance", "PUT"): 1.0,
    ("instance", "DELETE"): 3.0,
    ("instances_bulk", "PUT"): 4.0,
    ("instances_bulk", "DELETE"): 4.0,
    ("template", "GET"): 1.9,
    ("reboot", "PUT"): 1.0,
    ("bid_price", "PUT"): 5.5,
    ("apikeys", "GET"): 1.0,
    ("ssh", "GET"): 1.0,
    ("ssh", "POST"): 1.0,
    ("instance_ssh", "GET"): 2.0,
    ("instance_ssh", "POST"): 2.0,
}


def identity(api_key):
    """The rate-limit identity for a presented key (never the key itself)."""
    if not api_key:
        return "anonymous"
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


def _wait(who, endpoint, threshold):
    """Seconds the caller must still wait, recording the call when it is 0."""
    now = clock.now()
    with transaction.atomic():
        hit = RateLimitHit.objects.select_for_update().filter(identity=who, endpoint=endpoint).first()
        if hit is None:
            try:
                with transaction.atomic():
                    RateLimitHit.objects.create(identity=who, endpoint=endpoint, last_at=now)
            except IntegrityError:
                return threshold  # a concurrent call won the race
            return 0.0
        wait = hit.last_at + threshold - now
        if wait > 0:
            return wait
        hit.last_at = now
        hit.save(update_fields=["last_at"])
        return 0.0


def check(route_name, method, api_key):
    """A 429 response if the call exceeds its endpoint's rate limit, else None."""
    threshold = THRESHOLDS.get((route_name, method))
    if threshold is None:
        return None
    setting = switches.get("rate_limits", False)
    if not setting:
        return None
    wait = _wait(identity(api_key), f"{method} {route_name}", threshold)
    if wait <= 0:
        return None
    headers = []
    if not (isinstance(setting, dict) and setting.get("retry_after") is False):
        reset = math.ceil(clock.now() + wait)
        headers = [
            ("Retry-After", str(max(1, math.ceil(wait)))),
            ("X-RateLimit-Limit", "1"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", str(reset)),
        ]
    return json_response(faults.rate_limit_body(threshold), 429, headers)
