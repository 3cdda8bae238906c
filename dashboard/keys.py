"""The account's pages: API keys and credit."""

from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard import vast
from dashboard.permissions import require_perm

# A starting instance already holds (and bills) its GPUs.
BILLED_AS_RUNNING = ("running", "starting")


@require_GET
@never_cache
@require_perm("view_api_keys", message="Only operators and admins can see the account's API keys.")
def keys(request):
    """The account's keys: id, name, type and team, never a secret (the service module drops it)."""
    return render(request, "account/keys.html", {"keys": vast.list_api_keys()})


def _burn_rate(instances):
    """$/hr the account spends now: running instances' price plus stopped ones' storage."""
    running = sum((i.dph_total or 0) for i in instances if i.status in BILLED_AS_RUNNING)
    storage = sum((i.storage_cost_per_day or 0) / 24 for i in instances if i.status not in BILLED_AS_RUNNING)
    return running, storage


@require_GET
@never_cache
def account(request):
    """Credit, email, the burn rate now and how long the credit lasts at that rate."""
    user = vast.current_user()
    instances = vast.list_instances()
    running, storage = _burn_rate(instances)
    rate = running + storage
    credit = user.credit or 0
    hours_left = credit / rate if rate > 0 else None
    context = {
        "account": user,
        "running_rate": running,
        "storage_rate": storage,
        "burn_rate": rate,
        "hours_left": hours_left,
        "days_left": hours_left / 24 if hours_left is not None else None,
        "running_count": sum(1 for i in instances if i.status in BILLED_AS_RUNNING),
        "idle_count": sum(1 for i in instances if i.status not in BILLED_AS_RUNNING),
    }
    return render(request, "account/account.html", context)
