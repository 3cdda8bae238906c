"""The offers table's rows, built in Python once per answer and shared while the answer lasts.

Rendering 64 rows through the template engine was most of the offers page's time, so a row is
built here from precomputed cells (offers/columns.py), and the rows are cached. A row's HTML
depends on: the offers shown (the answer: the search, when Vast listed it, the offers' ids), the
page's query (the Details and Launch links carry it), the columns shown, and the person's Launch
state: no Launch at all (viewers), or their role and $/hr limit, or why no launch would pass (max
running, monthly cap). Every one of these is in the cache key, so two people share rows only when
their rows would be the same, and any change (a new answer, a new limit, another role) is a new
key. Nothing else about the person (no CSRF token, no name) is in a row.
"""

import functools
import hashlib
import json
from html import escape  # django.utils.html.escape's own, without its lazy-string wrapper

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils.safestring import mark_safe

from dashboard import after_response
from offers.columns import row_cells

VERSION = 3  # bump when the rows' markup changes, so that cached rows of the old shape are not served
_ID = 987654321  # stands for an offer's id in the detail URL pattern


def launch_state(limits):
    """What of the person's guardrails changes a row: None (no Launch), else (role, $/hr limit,
    the reason no launch would pass)."""
    if limits is None:
        return None
    return (limits.role, None if limits.max_dph is None else str(limits.max_dph), limits.blocked)


def _launch(offer, limits, detail, launch_query):
    """The row's Launch: a link, or a disabled button with the reason on hover and in text for
    screen readers; nothing for people who may not launch (`limits` None)."""
    if limits is None:
        return ""
    reason = limits.refusal(offer.dph_total)
    if not reason:
        return f' <a class="button primary" href="{detail}launch/?{launch_query}">Launch</a>'
    spoken = reason if limits.blocked else reason[0].lower() + reason[1:]
    return (
        f' <button type="button" class="button" disabled title="{escape(reason)}" data-testid="launch-disabled">'
        f'Launch<span class="visually-hidden"> unavailable: {escape(spoken)}</span></button>'
    )


def _row(offer, search, fields, limits, *, detail, query, launch_query):
    """One offer's `<tbody>`: its cells, Details (static/js/offers.js loads the offer's fields into
    the hidden row below on the first click; without JavaScript it is a link to them) and Launch."""
    link = f"{detail}{query}"
    return (
        f'<tbody class="offer" data-offer-id="{offer.id}"><tr>{row_cells(offer, search, fields)}'
        f'<td class="row-actions"><a class="button" href="{link}" data-toggle-details aria-expanded="false" '
        f'aria-controls="od-{offer.id}">Details</a>'
        f"{_launch(offer, limits, detail, launch_query)}</td></tr>"
        f'<tr class="offer-details" id="od-{offer.id}" hidden><td colspan="{len(fields) + 1}"></td></tr></tbody>\n'
    )


def _key(offers, search, as_of, *, fields, limits, query, launch_query):
    answer = [search.to_query() if search else None, as_of, [o.id for o in offers]]
    raw = json.dumps([VERSION, answer, fields, launch_state(limits), query, launch_query], default=str)
    return "offers:rows:" + hashlib.sha256(raw.encode()).hexdigest()


def render_rows(request, offers, search, as_of, *, fields, limits, launch_query):
    """The `<tbody>` of each of `offers` (HTML), from the cache when the same rows were built for
    the same answer (`search` listed by Vast at `as_of`), query, columns and Launch state."""
    query = request.GET.urlencode()
    key = _key(offers, search, as_of, fields=fields, limits=limits, query=query, launch_query=launch_query)
    html = cache.get(key)
    if html is None:
        pattern = reverse("offers:detail", args=[_ID])
        escaped = {"query": escape(f"?{query}" if query else ""), "launch_query": escape(launch_query)}
        html = "".join(
            _row(offer, search, fields, limits, detail=pattern.replace(str(_ID), str(offer.id)), **escaped)
            for offer in offers
        )
        after_response.defer(functools.partial(cache.set, key, html, max(settings.OFFER_CACHE_SECONDS, 60)))
    return mark_safe(html)
