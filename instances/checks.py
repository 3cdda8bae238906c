"""`manage.py check --deploy`: warn when no background worker has ever synced the ledger."""

from django.core import checks
from django.db import DatabaseError


@checks.register("worker", deploy=True)
def worker_has_synced(app_configs, databases=None, **kwargs):
    """Pages read only the ledger; without a worker (`manage.py run_huey`) it stays empty."""
    from instances.models import SyncState

    try:
        state = SyncState.objects.filter(pk=1).first()
    except DatabaseError:
        return []  # not migrated yet: migrate's own messages say so
    if state is None or state.last_success_at is None:
        return [
            checks.Warning(
                "No background worker has ever synced the Vast.ai account, so the instance pages have nothing to show.",
                hint="Run the worker beside the web processes: python manage.py run_huey "
                "(the docker-compose `worker` service).",
                id="instances.W001",
            )
        ]
    return []
