"""Project-level views: the health check and login (the front page is instances.overview)."""

import logging
import uuid

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@login_not_required
@never_cache
@require_safe
def healthz(request):
    """200 "ok" when the database and the cache answer; 503 naming the failing one otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("health check failed: database")
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    try:
        probe = uuid.uuid4().hex
        cache.set("healthz", probe, 10)
        if cache.get("healthz") != probe:
            raise RuntimeError("cache did not return what was stored")
    except Exception:
        logger.exception("health check failed: cache")
        return HttpResponse("cache unavailable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


login = login_not_required(auth_views.LoginView.as_view(redirect_authenticated_user=True))
