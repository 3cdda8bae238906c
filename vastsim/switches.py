"""Scenario switches, stored in the database so every worker sees them.

Known switches (anything JSON-serialisable is stored, these are read):
- `rate_limits`: enforce Vast's per-endpoint rate limits. `True`, or
  `{"retry_after": False}` to send 429s without `Retry-After` (as the published
  docs describe). Defaults to `settings.VASTSIM_RATE_LIMITS` (False if unset).
- `legacy_instances`: serve `GET /api/v0/instances/` instead of the 410 that
  accounts created after 2026-06-02 get.
- `create_stopped`: `PUT /asks/{id}/` creates the instance stopped and answers
  200 `{"success": false, "new_contract": N}` (410 with `cancel_unavail: true`).
- `start_unavailable`: starting answers 200 `resources_unavailable`; `True` for
  every instance or a list of instance ids.
"""

from django.conf import settings

from vastsim.models import Switch

KNOWN = ("rate_limits", "legacy_instances", "create_stopped", "start_unavailable")


def _defaults():
    """Switch values used when the database has none (from settings)."""
    return {"rate_limits": getattr(settings, "VASTSIM_RATE_LIMITS", False)}


def get(name, default=None):
    """The value of switch `name`, or its default when unset."""
    row = Switch.objects.filter(name=name).first()
    if row is not None:
        return row.value
    return _defaults().get(name, default)


def enable(name, value=True):
    """Turn switch `name` on (or store `value` for it)."""
    if name not in KNOWN:
        raise ValueError(f"unknown switch {name!r}; known: {', '.join(KNOWN)}")
    Switch.objects.update_or_create(name=name, defaults={"value": value})


def disable(name):
    """Turn switch `name` off explicitly (overrides a settings default)."""
    enable(name, False)


def clear():
    """Forget every switch: each reads its default again."""
    Switch.objects.all().delete()


def current():
    """Every known switch with its effective value."""
    return {name: get(name, False) for name in KNOWN}
