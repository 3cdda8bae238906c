"""Rendered page fragments shared between one person's polls for a few seconds.

Pages that read the ledger poll every few seconds, and a team may keep many tabs open: the
expensive part of such a page (the rows) is rendered once per viewer and ledger version and then
served from the cache for FRAGMENT_SECONDS. The key holds the person's session and CSRF cookie,
because the fragment carries their permissions and their CSRF token in its forms; without both
(a first visit) nothing is cached.
"""

import hashlib
import json

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string

FRAGMENT_SECONDS = 5


def viewer_key(request, name, version):
    """The cache key of fragment `name` at ledger `version` for this viewer, or None."""
    csrf = request.COOKIES.get(settings.CSRF_COOKIE_NAME)
    session = getattr(request, "session", None)
    if not csrf or session is None or not session.session_key:
        return None
    raw = json.dumps([name, request.user.pk, session.session_key, csrf, [str(part) for part in version]])
    return "fragment:" + hashlib.sha256(raw.encode()).hexdigest()


def render_cached(request, template_name, build, *, name, version):
    """(html, extra) of `template_name` rendered with `build()`'s context — `build` returns
    (context, extra) — from the cache when this viewer saw the same version in the last few seconds."""
    key = viewer_key(request, name, version)
    if key is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    context, extra = build()
    value = (render_to_string(template_name, context, request=request), extra)
    if key is not None:
        cache.set(key, value, FRAGMENT_SECONDS)
    return value
