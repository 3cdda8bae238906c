"""Offer search: `POST /api/v0/bundles/` and `GET /api/v0/bundles/?q=...`."""

import functools
import json

from django.conf import settings

from vastsim import catalog, clock
from vastsim.models import Instance
from vastsim.pricing import price_offer
from vastsim.protocol import ApiError, json_response
from vastsim.query import QueryError, compile_search, matches, sort_rows

_INVALID_JSON = {"error": "invalid_request", "msg": "Invalid json body"}


def seed():
    """The catalog seed in effect."""
    return settings.VASTSIM_SEED


@functools.cache
def _columns(catalog_seed):
    """The column names a query may filter or order on."""
    sample = price_offer(catalog.offers(catalog_seed)[0], storage_gb=0, kind="on-demand", now=0)
    return frozenset({*sample, "rentable", "rented"})


def occupancy():
    """(offer ids rented, GPUs in use per machine, machines rented) from the live instances."""
    taken, used = set(), {}
    for offer_id, machine_id, num_gpus in Instance.objects.values_list("offer_id", "machine_id", "num_gpus"):
        taken.add(offer_id)
        used[machine_id] = used.get(machine_id, 0) + num_gpus
    return taken, used


def is_rentable(offer, taken, used):
    """Whether an offer can be rented now: not rented itself, and enough
    free GPUs left on its machine."""
    free = catalog.machine_gpus(seed())[offer["machine_id"]] - used.get(offer["machine_id"], 0)
    return offer["id"] not in taken and free >= offer["num_gpus"]


def search(query, caller_known):
    """The offers matching `query`, priced and ordered, as the API returns
    them. `rented` is per caller, so it stays false for anonymous searches."""
    try:
        compiled = compile_search(query, _columns(seed()))
    except QueryError as exc:
        raise ApiError(400, {"error": "invalid_request", "msg": f"Invalid query: {exc}"}) from None
    now = clock.now()
    taken, used = occupancy()
    rows = []
    for offer in catalog.offers(seed()):
        priced = price_offer(offer, storage_gb=compiled.storage_gb, kind=compiled.kind, now=now)
        priced["rentable"] = is_rentable(offer, taken, used)
        priced["rented"] = caller_known and offer["machine_id"] in used
        if matches(priced, compiled.conditions):
            rows.append(priced)
    return sort_rows(rows, compiled.order)[: compiled.limit]


def search_post(request):
    """POST /api/v0/bundles/: the query object is the body."""
    query = request.json(error_body=_INVALID_JSON)
    return json_response({"offers": search(query, request.api_key is not None)})


def search_get(request):
    """GET /api/v0/bundles/?q=<json>[&select_cols=<json list>]: the older form."""
    try:
        query = json.loads(request.query.get("q") or "{}")
        select_cols = json.loads(request.query.get("select_cols") or '["*"]')
    except ValueError:
        raise ApiError(400, {"error": "invalid_request", "msg": "Invalid query: q is not valid JSON"}) from None
    if not isinstance(select_cols, list):
        raise ApiError(400, {"error": "invalid_request", "msg": "Invalid query: select_cols must be a list"})
    offers = search(query, request.api_key is not None)
    if "*" not in select_cols:
        offers = [{col: offer.get(col) for col in select_cols} for offer in offers]
    return json_response({"offers": offers})
