"""Rendered page fragments shared between one person's polls for a few seconds.

Pages that read the ledger poll every few seconds, and a team may keep many tabs open: the
expensive part of such a page (the rows) is rendered once per viewer and ledger version and then
served from the cache for FRAGMENT_SECONDS. The key holds the person's session and CSRF cookie,
because the fragment carries their permissions and their CSRF token in its forms; without both
(a first visit) nothing is cached.

Whole pages are kept the same way (`render_page`), with the parts that must be new on every
request — the ledger's freshness line — rendered anew and put in their marked places. A page is
never taken from the cache while a message waits to be shown: the message belongs to that one
response.
"""

import functools
import hashlib
import json
import re

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from dashboard import after_response

FRAGMENT_SECONDS = 5


INDENT = re.compile(r"\n\s+")  # a line break and the template's indentation after it
FRESH_MARK = "<!--fresh:{}-->"  # where a part rendered on every request goes (escaped text cannot hold it)


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
    value = (compact(render_to_string(template_name, context, request=request)), extra)
    if key is not None:
        after_response.defer(functools.partial(cache.set, key, value, FRAGMENT_SECONDS))
    return value


def compact(html):
    """`html` without the templates' indentation (a quarter of a ledger page), unless it holds text
    whose white space shows."""
    if "<pre" in html or "<textarea" in html:
        return html
    return mark_safe(INDENT.sub("\n", html))


def _messages_waiting(request):
    """True when Django's messages framework holds something for this response (cookie or session)."""
    session = getattr(request, "session", None)
    return bool(request.COOKIES.get("messages")) or bool(session is not None and session.get("_messages"))


def page_key(request, name, version):
    """The cache key of page `name` at `version` for this viewer and this URL, or None: nothing
    is cached on a first visit (no session or CSRF cookie yet) or while a message waits."""
    if _messages_waiting(request):
        return None
    return viewer_key(request, name, [*version, request.get_full_path()])


def render_page(request, template_name, build, *, name, version, fresh):
    """The response of page `template_name` rendered with `build()`'s context, from the cache when
    this viewer saw the same version of the same URL in the last few seconds. `version` covers
    everything the page shows but `fresh`, its unread notification count included; `fresh` maps
    context names to callables whose HTML is made anew for every response (each appears once)."""
    key = page_key(request, name, version)
    html = cache.get(key) if key is not None else None
    if html is None:
        marks = {part: mark_safe(FRESH_MARK.format(part)) for part in fresh}
        html = compact(render_to_string(template_name, {**build(), **marks}, request=request))
        if key is not None:
            after_response.defer(functools.partial(cache.set, key, html, FRAGMENT_SECONDS))  # before the marks fill
    for part, render in fresh.items():
        html = html.replace(FRESH_MARK.format(part), compact(render()), 1)
    return HttpResponse(html)
