"""The offer search page: filters in the URL, results refreshed in place by htmx."""

import copy
import logging
import math

from django.core.cache import cache
from django.http import Http404, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_htmx.http import reswap, retarget

from dashboard import guardrails, vast
from dashboard.htmx import wants_fragment
from offers import market
from offers.chart import price_chart
from offers.details import price_breakdown
from offers.forms import SORT_CHOICES, OfferSearchForm
from offers.history_chart import history_chart

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
COLUMNS = [
    ("id", "ID", False),
    ("gpu_name", "GPU", False),
    ("gpu_ram", "VRAM/GPU", True),
    ("dph_total", "$/hr", True),
    ("price_per_gpu", "$/GPU·hr", True),
    ("dlperf", "DLPerf", True),
    ("dlperf_per_dphtotal", "DLPerf/$", True),
    ("flops_per_dphtotal", "TFLOPS/$", True),
    ("reliability", "Reliability", True),
    ("cuda_max_good", "CUDA", True),
    ("cpu_cores_effective", "CPU / RAM", True),
    ("disk_space", "Disk / bw", True),
    ("inet_down", "Up / down Mbps", True),
    ("geolocation", "Location", False),
    ("duration", "Max days", True),
]
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


def _columns(params, current):
    """The results table's headers: each column's sort URL (toggling asc/desc) and its arrow."""
    columns = []
    for field, label, numeric in COLUMNS:
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
        column = next((label for field, label, _ in COLUMNS if field == order.lstrip("-")), order)
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


def _launch_limits(user):
    """The guardrails for the person's next launch, for Launch buttons they may not press."""
    return guardrails.launch_limits(user) if user.has_perm("dashboard.launch_instance") else None


def _history(request, search):
    """The market history chart of the selected GPU models over the last 7 (or 30) days."""
    if search is None or not search.gpu_names:
        return None, 7
    days = 30 if request.GET.get("history") == "30" else 7
    now = timezone.now()
    return history_chart(market.history(search.gpu_names, search.rental_type, days, now), days, now), days


@require_GET
def search(request):
    form = OfferSearchForm(request.GET, gpu_names=_gpu_names())
    offers, error, status, search = [], None, 200, None
    if form.is_valid():
        search = form.search()
        try:
            offers = vast.search_offers_cached(search)
        except vast.VastError as exc:
            logger.warning("offer search failed: %s", exc.log_message())
            error, status = exc, exc.http_status
    order = (
        form.cleaned_data.get("order", "dph_total") if form.is_bound and not form.errors.get("order") else "dph_total"
    )
    answer = getattr(offers, "answer", None) or list(offers)
    shown = _shown(request, search.limit if search else len(offers) or 1)
    more = _more(request, offers, shown)
    if request.htmx and request.htmx.target == "offers-more" and not error:
        # Show more: the next rows of the answer already fetched (cached), not a new search.
        context = {
            "offers": answer[shown - len(offers) : shown],
            "more": more,
            "search": search,
            "launch_query": _launch_query(request, search),
            "limits": _launch_limits(request.user),
            "is_more": True,
        }
        return render(request, "offers/search.html#offer-rows", context)
    context = {
        "form": form,
        "offers": _first(offers, answer, shown),
        "more": more,
        "limits": _launch_limits(request.user),
        "search": search,
        "error": error,
        "summary": _summary(answer),
        "chart": price_chart(answer),
        "columns": _columns(request.GET, order),
        "order": order,
        "sort_choices": _order_choices(order),
        "loosen": _loosen_suggestions(request.GET) if search and not offers and not error else [],
        "is_partial": False,
        "launch_query": _launch_query(request, search),
        "save_query": _canonical_url(request).partition("?")[2],
    }
    context["history"], context["history_days"] = _history(request, search)
    context["history_urls"] = {days: _url_with(request.GET, history=str(days)) for days in (7, 30)}
    template = "offers/search.html"
    if wants_fragment(request):
        template += "#offer-results"
        context["is_partial"] = True
        response = render(request, template, context, status=status)
        response["HX-Push-Url"] = _canonical_url(request)
        if error is not None:
            # htmx 2 drops a 4xx/5xx body unless it is aimed at a region (static/js/app.js).
            response = reswap(retarget(response, "#offer-results"), "outerHTML")
    else:
        response = render(request, template, context, status=status)
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
