"""The account's API keys (a live read of Vast: the list is short and never cached)."""

from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard import vast
from dashboard.permissions import require_perm


@require_GET
@never_cache
@require_perm("view_api_keys", message="Only operators and admins can see the account's API keys.")
def keys(request):
    """The account's keys: id, name, type and team, never a secret (the service module drops it)."""
    return render(request, "account/keys.html", {"keys": vast.list_api_keys()})
