"""Deployment checks of our own, run by `manage.py check --deploy`."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.caches, deploy=True)
def shared_cache(app_configs, **kwargs):
    """Several workers or replicas should share one cache: the offer cache and the rate limiter."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache"):
        return [
            checks.Warning(
                "The cache is per process (no REDIS_URL).",
                hint="Set REDIS_URL when running several gunicorn workers or replicas: each process otherwise "
                "keeps its own offer cache and asks Vast more often (the rate limiter "
                "then falls back to the database, so Vast's limits still hold).",
                id="dashboard.W001",
            )
        ]
    return []
