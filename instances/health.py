"""`/healthz/worker`: whether the background worker keeps the ledger fresh, for uptime monitors."""

import json

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from instances import sync


@login_not_required
@never_cache
@require_safe
def worker(request):
    """200 with {"last_sync_age_s": N} while the last complete sync is fresh, 503 when it is
    older than 3 × VAST_SYNC_SECONDS (or there never was one), naming the last error if any."""
    status = sync.status()
    body = {"last_sync_age_s": status.age_seconds, "stale": status.stale}
    if status.error:
        body["last_error"] = status.error
    return HttpResponse(json.dumps(body), status=503 if status.stale else 200, content_type="application/json")
