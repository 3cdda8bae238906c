"""Whole-simulator state: seeding and resetting what lives in the database."""

from django.db import transaction

from vastsim import clock
from vastsim.models import ApiKey, Fault, Instance, LogRequest, RateLimitHit, SshKey, Switch, Template

DEFAULT_API_KEYS = (("Primary key", "api"), ("dashboard (read only)", "api"), ("ci-runner", "api"))


def api_keys():
    """The account's API keys, seeding the default listing on first use."""
    with transaction.atomic():
        keys = list(ApiKey.objects.order_by("pk"))
        if not keys:
            keys = _seed_api_keys()
    return keys


def _seed_api_keys():
    """Create the default API-key listing and return it."""
    created = clock.now() - 86400 * 90
    return [
        ApiKey.objects.create(name=name, key_type=key_type, created_at=created + 86400 * 7 * i)
        for i, (name, key_type) in enumerate(DEFAULT_API_KEYS)
    ]


def reset():
    """Forget all instances, SSH keys, faults, switches and rate-limit history, reseed
    the API keys, and put the shared clock back on the wall clock."""
    with transaction.atomic():
        for model in (SshKey, Instance, LogRequest, Fault, Switch, RateLimitHit, ApiKey, Template):
            model.objects.all().delete()
        _seed_api_keys()
    clock.reset()
