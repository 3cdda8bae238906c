"""Parts of the offers page rendered once and kept in the cache: the filter form's fields (per
value, errors and choices) and the whole results region (per answer, query, columns and Launch
state, with a hole for the CSRF token). The rows are offers/rows.py's; the price chart is drawn
in Python (offers/chart.py)."""

import functools
import hashlib
import json

from django.core.cache import cache
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.crypto import salted_hmac
from django.utils.safestring import mark_safe

from dashboard import after_response
from dashboard.fragments import compact
from offers.chart import chart_html, price_chart

PAGE = "offers/search.html"
SECONDS = 60


def _key(name, parts):
    raw = json.dumps([name, parts], default=str, sort_keys=True)
    return "offers:partial:" + hashlib.sha256(raw.encode()).hexdigest()


def filter_fields(form):
    """The filter form's fields (not the sort), each rendered once per value, errors and choices:
    a new search usually changes one field, and Django renders a widget slowly. One cache round
    trip for all of them."""
    fields = [field for field in form if field.name != "order"]
    keys = [
        _key("filter-field", [f.name, f.value(), [str(e) for e in f.errors], getattr(f.field, "choices", None)])
        for f in fields
    ]
    found = cache.get_many(keys)
    missing = {}
    for field, key in zip(fields, keys, strict=True):
        if key not in found:
            missing[key] = render_to_string(f"{PAGE}#filter-field", {"field": field, "is_partial": False})
    if missing:
        cache.set_many(missing, SECONDS)
    return mark_safe("".join(found.get(key) or missing[key] for key in keys))


def price_chart_html(answer):
    """The $/GPU·hr chart of `answer` (the whole answer, not only the rows shown)."""
    if not answer:
        return ""
    chart = price_chart(answer)
    return chart_html(chart) if chart is not None else ""


# Stands for the person's CSRF token in a kept page or region, put in per response (so the token
# is masked anew in every response: BREACH). Derived from SECRET_KEY: the same in every process
# sharing the cache, hex (so escaping leaves it whole), and no one without the key can type it
# into a filter value that the page echoes.
CSRF_HOLE = "csrf-" + salted_hmac("offers.fragments", "csrf-hole").hexdigest()


def with_csrf(request, html):
    """`html` (a kept page or region) with this request's CSRF token in its holes."""
    return mark_safe(html.replace(CSRF_HOLE, get_token(request)))


def results_html(request, build, parts, fresh_for):
    """The page's results region (`PAGE#offer-results`, rendered with `build()`'s context, without
    the templates' indentation), with CSRF_HOLE for the token (see `with_csrf`). When `parts`
    (everything the region depends on besides the token) is given, the region is shared for
    `fresh_for` seconds, the life left in the answer it shows."""
    key = None
    if parts is not None and fresh_for > 1:
        raw = json.dumps(["offer-results", parts], default=str, sort_keys=True)
        key = "offers:results:" + hashlib.sha256(raw.encode()).hexdigest()
    html = cache.get(key) if key else None
    if html is None:
        context = build()
        context["csrf_token"] = CSRF_HOLE
        html = compact(render_to_string(f"{PAGE}#offer-results", context, request=request))
        if key:
            after_response.defer(functools.partial(cache.set, key, html, fresh_for))
    return mark_safe(html)
