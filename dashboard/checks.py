"""Deployment checks of our own, run by `manage.py check --deploy`."""

from pathlib import Path

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


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


# Not tagged `staticfiles`: collectstatic runs the checks of that tag, and must run to build the manifest.
STATIC_MANIFEST = "static_manifest"


@checks.register(STATIC_MANIFEST)
def static_manifest(app_configs, **kwargs):
    """With DEBUG off, pages name their static files through collectstatic's manifest: without
    it every page would be a 500, so refuse to start instead."""
    backend = settings.STORAGES["staticfiles"]["BACKEND"]
    if settings.DEBUG or "Manifest" not in backend:
        return []
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.exists():
        return []
    return [
        checks.Error(
            f"DEBUG is off but the static files manifest {manifest} is missing, so every page would fail.",
            hint="Run `python manage.py collectstatic --noinput` with DEBUG off (the Docker image does it at build).",
            id="dashboard.E001",
        )
    ]


def fail_on_errors(tags):
    """Run the checks of `tags` and refuse to go on if any is an error (for gunicorn, which runs none)."""
    errors = [message for message in checks.run_checks(tags=tags) if message.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{message.id}: {message.msg} {message.hint or ''}" for message in errors))
