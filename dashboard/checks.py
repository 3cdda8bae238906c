"""Deployment checks of our own, run by `manage.py check --deploy`."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.caches, deploy=True)
def shared_cache(app_configs, **kwargs):
    """Several workers or replicas must share one cache, or each keeps its own Vast rate limiter."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache"):
        return [
            checks.Warning(
                "The cache is per process (no REDIS_URL).",
                hint="Set REDIS_URL, or run a single gunicorn worker: each process would otherwise keep its own "
                "offer cache and Vast rate limiter, and together they can exceed Vast's limits.",
                id="dashboard.W001",
            )
        ]
    return []
