"""The offer search page: filters in the URL, results refreshed in place by htmx."""

import copy
import logging
import math

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET
from django_htmx.http import reswap, retarget

from dashboard import vast, viewer_limits
from dashboard.fragments import FRESH_MARK, compact
from dashboard.htmx import wants_fragment
from dashboard.models import Notification
from offers import answers, fragments, market, page_cache
from offers import columns as offer_columns
from offers.details import price_breakdown
from offers.forms import SORT_CHOICES, OfferSearchForm
from offers.history_chart import history_chart
from offers.rows import launch_state, render_rows

logger = logging.getLogger(__name__)

GPU_NAMES_CACHE_KEY = "vast:gpu-names"
# Used when Vast cannot list its models; the filter still works for these.
FALLBACK_GPU_NAMES = (
    "A100 PCIE", "A100 SXM4", "A40", "H100 PCIE", "H100 SXM", "H200", "L40S", "RTX 3090", "RTX 4090",
    "RTX 5090", "RTX 6000Ada", "RTX A6000", "Tesla V100",
)  # fmt: skip
# Columns whose first click sorts descending (bigger is better).
DESCENDING_FIRST = {
    "dlperf", "dlperf_per_dphtotal", "flops_per_dphtotal", "total_flops", "reliability", "cuda_max_good",
    "cpu_cores_effective", "cpu_ram", "disk_space", "disk_bw", "inet_up", "inet_down", "duration", "score",
    "gpu_ram", "num_gpus",
}  # fmt: skip
DEFAULTS = {"verified": "true", "type": "on-demand", "order": "dph_total", "disk": "10"}
LOOSEN_LABELS = {
    "gpu": "GPU model",
    "num_gpus": "min GPUs",
    "min_gpu_ram": "min VRAM",
    "max_dph": "max $/hr",
    "min_reliability": "min reliability",
    "min_cuda": "min CUDA",
    "disk": "disk size",
    "min_inet_down": "min download speed",
    "geolocation": "country",
    "verified": "verified hosts only",
    "datacenter": "datacenter only",
    "type": "rental type",
}


def _gpu_names():
    """The API's GPU model names for the filter, cached for an hour; a fixed list if Vast cannot say."""
    names = cache.get(GPU_NAMES_CACHE_KEY)
    if names is None:
        try:
            names = sorted(vast.gpu_names())
        except vast.VastError as exc:
            logger.warning("GPU names unavailable, using the built-in list: %s", exc.log_message())
            # Don't make every page wait on a failing Vast again for a minute.
            cache.set(GPU_NAMES_CACHE_KEY, FALLBACK_GPU_NAMES, 60)
            return FALLBACK_GPU_NAMES
        cache.set(GPU_NAMES_CACHE_KEY, names, 3600)
    return names


def _url_with(params, **changes):
    """`?query` for `params` with some keys replaced (a value of None removes the key)."""
    query = params.copy() if isinstance(params, QueryDict) else QueryDict(mutable=True)
    query._mutable = True
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def _columns(params, current, fields):
    """The results table's headers for `fields`: each column's sort URL (toggling asc/desc) and its arrow."""
    columns = []
    for field in fields:
        label, numeric = offer_columns.BY_FIELD[field].label, offer_columns.BY_FIELD[field].numeric
        if current == field:
            target, arrow, aria = f"-{field}", "▲", "ascending"
        elif current == f"-{field}":
            target, arrow, aria = field, "▼", "descending"
        else:
            target, arrow, aria = (f"-{field}" if field in DESCENDING_FIRST else field), "", ""
        columns.append(
            {"label": label, "num": numeric, "url": _url_with(params, order=target), "arrow": arrow, "aria_sort": aria}
        )
    return columns


def _order_choices(order):
    """The sort menu, including the current order when it came from a column header."""
    choices = list(SORT_CHOICES)
    if order not in dict(choices):
        column = getattr(offer_columns.BY_FIELD.get(order.lstrip("-")), "label", order)
        choices.append((order, f"{column} ({'descending' if order.startswith('-') else 'ascending'})"))
    return choices


def _loosen_suggestions(params):
    """For an empty result: each active filter with a link that drops it."""
    suggestions = []
    for key, label in LOOSEN_LABELS.items():
        values = params.getlist(key)
        if not any(values) or (key == "verified" and values == ["any"]) or (key == "type" and values == ["on-demand"]):
            continue
        url = _url_with(params, verified="any") if key == "verified" else _url_with(params, **{key: None})
        suggestions.append({"label": label, "value": ", ".join(values), "url": url})
    return suggestions


def _canonical_url(request):
    """This page's URL without empty or default filters: what the address bar shows."""
    query = QueryDict(mutable=True)
    for key in request.GET:
        values = [v for v in request.GET.getlist(key) if v and DEFAULTS.get(key) != v]
        if values:
            query.setlist(key, values)
    encoded = query.urlencode()
    return request.path + (f"?{encoded}" if encoded else "")


def _launch_query(request, search):
    """The query each row's Launch link carries: disk, rental type, and this search to come back to."""
    if search is None:
        return ""
    query = QueryDict(mutable=True)
    query["disk"] = f"{search.disk_gb:g}"
    if search.rental_type == "bid":
        query["type"] = "bid"
    query["back"] = _canonical_url(request).partition("?")[2]
    return query.urlencode()


def _shown(request, page):
    """How many rows of the answer the page shows: `?show=N` (a Show more), in whole pages."""
    try:
        wanted = int(request.GET.get("show", page))
    except ValueError:
        wanted = page
    return max(page, min(wanted, 100 * page) // page * page)


def _more(request, offers, shown):
    """The counts line and the next Show more: how many rows show, of how many, and the URL
    that appends the next ones (None when every row shows)."""
    total = getattr(offers, "total", len(offers))
    shown = min(shown, total)
    url = _url_with(request.GET, show=str(shown + len(offers))) if shown < total else None
    return {"shown": shown, "total": total, "url": url}


def _first(offers, answer, shown):
    """The first `shown` rows of the answer, keeping what `offers` says of it (stale, age)."""
    if shown <= len(offers):
        return offers
    rows = copy.copy(offers)
    rows[:] = answer[:shown]
    return rows


def _summary(offers):
    """Count and cheapest prices of the results (the whole answer)."""
    if not offers:
        return None
    return {
        "count": len(offers),
        "cheapest_dph": min(offer.dph_total for offer in offers),
        "cheapest_per_gpu": min(offer.price_per_gpu for offer in offers),
    }


def _rows_html(request, offers, *, search, as_of, fields, limits, launch_query):
    """The table's rows for `offers` (offers/rows.py: cached per answer, query, columns and Launch state)."""
    if not offers:
        return ""
    return render_rows(request, offers, search, as_of, fields=fields, limits=limits, launch_query=launch_query)


def _history(request, search):
    """The market history chart of the selected GPU models over the last 7 (or 30) days."""
    if search is None or not search.gpu_names:
        return None, 7
    days = 30 if request.GET.get("history") == "30" else 7
    now = timezone.now()
    return history_chart(market.history(search.gpu_names, search.rental_type, days, now), days, now), days


def _answer_free_parts(request, *, form, search, order, fields, chosen, partial):
    """The results region's parts that do not depend on Vast's answer, rendered: the form's
    errors (for htmx), Save search, the market history, the column chooser and the table's head.
    While a new answer is awaited, the page renders them meanwhile."""
    context = {
        "csrf_token": fragments.CSRF_HOLE,
        "form": form,
        "search": search,
        "is_partial": partial,
        "order": order,
        "sort_choices": _order_choices(order),
        "columns": _columns(request.GET, order, fields),
        "column_choices": [(c, c.field in chosen) for c in offer_columns.COLUMNS],
        "save_query": _canonical_url(request).partition("?")[2],
        "history_urls": {days: _url_with(request.GET, history=str(days)) for days in (7, 30)},
    }
    context["history"], context["history_days"] = _history(request, search)
    return {
        "head": render_to_string("offers/search.html#results-head", context, request=request),
        "chooser": render_to_string("offers/_column_chooser.html", context, request=request),
        "thead": render_to_string("offers/search.html#offers-thead", context, request=request),
    }


# Where the results region goes in the page rendered before Vast answered (escaped text cannot hold it).
RESULTS_MARK = mark_safe(FRESH_MARK.format("offer-results"))


@require_GET
def search(request):
    form = OfferSearchForm(request.GET, gpu_names=_gpu_names())
    search, pending = None, None
    if form.is_valid():
        search = form.search()
        # Vast answers in ~100 ms or more: what does not depend on its answer is done meanwhile.
        pending = answers.begin(search)
    order = (
        form.cleaned_data.get("order", "dph_total") if form.is_bound and not form.errors.get("order") else "dph_total"
    )
    chosen = offer_columns.chosen(request.user)
    fields = offer_columns.showing(chosen, order)
    # The guardrails for the person's next launch, for Launch buttons they may not press.
    limits = viewer_limits.offer_limits(request.user)
    partial = wants_fragment(request)
    more_rows = request.htmx and request.htmx.target == "offers-more"
    page, page_key, unread = None, None, None
    if not partial and not more_rows:
        unread = Notification.unread_count(request.user)
        if pending is not None and pending.known:
            # A reload or a second tab of a fresh answer: the page as this person last saw it.
            page_key = page_cache.key(request, pending.result(), limits=limits, chosen=chosen, unread=unread)
            kept = page_cache.get(page_key)
            if kept is not None:
                return HttpResponse(fragments.with_csrf(request, kept))
        context = {
            "csrf_token": fragments.CSRF_HOLE,
            "unread_notifications": unread,
            "form": form,
            "filter_fields": fragments.filter_fields(form),
            "order": order,
            "sort_choices": _order_choices(order),
            "is_partial": False,
            "results_html": RESULTS_MARK,
        }
        # Without the templates' indentation: a tenth of the page's bytes, before gzip.
        page = compact(render_to_string("offers/search.html", context, request=request))

    region = {"form": form, "search": search, "order": order, "fields": fields, "chosen": chosen, "partial": partial}
    answer_free = None
    if pending is not None and not pending.known and not more_rows:
        answer_free = _answer_free_parts(request, **region)  # while Vast answers

    offers, error, status = [], None, 200
    if pending is not None:
        try:
            offers = pending.result()
        except vast.VastError as exc:
            logger.warning("offer search failed: %s", exc.log_message())
            error, status = exc, exc.http_status
    answer = getattr(offers, "answer", None) or list(offers)
    shown = _shown(request, search.limit if search else len(offers) or 1)
    more = _more(request, offers, shown)
    rows = {
        "search": search,
        "as_of": getattr(offers, "as_of", None),
        "fields": fields,
        "limits": limits,
        "launch_query": _launch_query(request, search),
    }
    if more_rows and not error:
        # Show more: the next rows of the answer already fetched (cached), not a new search.
        next_rows = answer[shown - len(offers) : shown]
        context = {"rows_html": _rows_html(request, next_rows, **rows), "more": more, "is_more": True}
        context["colspan"] = len(fields) + 1
        return render(request, "offers/search.html#offer-rows", context)

    def results_context():
        shown_offers = _first(offers, answer, shown)
        return {
            "answer_free": answer_free or _answer_free_parts(request, **region),
            "form": form,
            "offers": shown_offers,
            "rows_html": _rows_html(request, shown_offers, **rows),
            "colspan": len(fields) + 1,
            "more": more,
            "search": search,
            "error": error,
            "summary": _summary(answer),
            "chart_html": fragments.price_chart_html(answer),
            "loosen": _loosen_suggestions(request.GET) if search and not offers and not error else [],
            "is_partial": partial,
        }

    # The results region is the same for everyone with this answer, query, columns and Launch
    # state (its CSRF tokens are put in per response): kept while the answer is fresh.
    fresh_for = settings.OFFER_CACHE_SECONDS - getattr(offers, "age", settings.OFFER_CACHE_SECONDS)
    parts = None
    if offers and error is None and not offers.stale:
        parts = [search.to_query(), rows["as_of"], request.get_full_path(), partial, fields, chosen]
        parts.append(launch_state(limits))
    results = fragments.results_html(request, results_context, parts, fresh_for)
    if partial:
        response = HttpResponse(fragments.with_csrf(request, results), status=status)
        response["HX-Push-Url"] = _canonical_url(request)
        if error is not None:
            # htmx 2 drops a 4xx/5xx body unless it is aimed at a region (static/js/app.js).
            response = reswap(retarget(response, "#offer-results"), "outerHTML")
    else:
        html = page.replace(RESULTS_MARK, results, 1)
        if parts is not None:
            page_key = page_key or page_cache.key(request, offers, limits=limits, chosen=chosen, unread=unread)
            page_cache.keep(page_key, html, fresh_for)
        response = HttpResponse(fragments.with_csrf(request, html), status=status)
    if getattr(error, "retry_after", None):
        response["Retry-After"] = str(math.ceil(error.retry_after))
    return response


@require_GET
def detail(request, offer_id):
    """One offer in sections (GPU, machine, network, host, price for the page's disk size and
    rental type), with every raw field behind a toggle."""
    form = OfferSearchForm(request.GET, gpu_names=_gpu_names())
    search = form.search() if form.is_valid() else vast.OfferSearch()
    # Opened from a results row, the search it came from is cached: no call to Vast.
    offer = next((o for o in vast.peek_offers(search) or () if o.id == offer_id), None)
    if offer is None:
        try:
            offer = vast.get_offer(offer_id, disk_gb=search.disk_gb, rental_type=search.rental_type)
        except vast.VastNotFound:
            raise Http404(f"Offer {offer_id} is no longer available.") from None
    template = "offers/detail.html"
    if wants_fragment(request):
        template += "#offer-fields"
    context = {"offer": offer, "search": search, "price": price_breakdown(offer, search)}
    return render(request, template, context)
