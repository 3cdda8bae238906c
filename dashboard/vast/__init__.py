"""The one door to Vast.ai: URLs, auth, JSON shapes, retries and timeouts live here.

Views call the module-level functions (`vast.search_offers(query)`, `vast.list_instances()`),
which share one pooled `VastClient` (`client`) per process, built from settings on first use.
With no `VAST_API_KEY` that client talks to the in-process simulator. Every answer comes back
as a frozen dataclass (`values`, built only by `parsing`); every failure is a `VastError`
(`errors`) whose `message` is safe to show on a page; `search` turns the offer page's filters
into Vast's query grammar. Request shapes follow /work/shared/vast-api.md, whose strongest
source is the official vastai 1.9.1 client.
"""

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver

from dashboard.vast.client import USER_AGENT, VastClient
from dashboard.vast.errors import (
    VastAuthError,
    VastBadResponse,
    VastError,
    VastNotFound,
    VastOfferUnavailable,
    VastRateLimited,
    VastRejected,
    VastTimeout,
    VastUnavailable,
)
from dashboard.vast.ratelimit import DatabaseSlots, RateLimiter
from dashboard.vast.search import LOCAL_SORTS, SORTABLE_FIELDS, OfferSearch
from dashboard.vast.values import (
    RUNTYPES,
    Account,
    ApiKey,
    Instance,
    LaunchRequest,
    LaunchResult,
    Offer,
    StateChange,
)

__all__ = [
    "LOCAL_SORTS",
    "RUNTYPES",
    "SORTABLE_FIELDS",
    "USER_AGENT",
    "Account",
    "ApiKey",
    "Instance",
    "LaunchRequest",
    "LaunchResult",
    "Offer",
    "OfferSearch",
    "StateChange",
    "VastAuthError",
    "VastBadResponse",
    "VastClient",
    "VastError",
    "VastNotFound",
    "VastOfferUnavailable",
    "VastRateLimited",
    "VastRejected",
    "VastTimeout",
    "VastUnavailable",
    "create_instance",
    "current_user",
    "destroy",
    "get_client",
    "get_instance",
    "get_offer",
    "gpu_names",
    "list_api_keys",
    "forget_instances",
    "list_instances",
    "list_instances_cached",
    "peek_instances",
    "peek_offers",
    "OfferResults",
    "relabel",
    "reset_client",
    "search_offers",
    "search_offers_cached",
    "set_state",
]

logger = logging.getLogger(__name__)

_client: VastClient | None = None
_client_lock = threading.Lock()


def _default_client() -> VastClient:
    """A client from settings; with no VAST_API_KEY, on the in-process simulator."""
    api_key, transport = settings.VAST_API_KEY, None
    if not api_key:
        # Imported here so that the service module never imports the simulator at import time.
        from vastsim.transport import SimulatorTransport

        api_key, transport = settings.VASTSIM_API_KEY, SimulatorTransport()
    return VastClient(
        api_key=api_key,
        base_url=settings.VAST_URL,
        transport=transport,
        timeout=httpx.Timeout(settings.VAST_READ_TIMEOUT, connect=settings.VAST_CONNECT_TIMEOUT),
        max_retries=settings.VAST_MAX_RETRIES,
        retry_after_cap=settings.VAST_RETRY_AFTER_CAP,
        rate_limiter=RateLimiter(api_key, _rate_slots()) if settings.VAST_RATE_LIMIT else None,
        read_wait=settings.VAST_RATE_LIMIT_READ_WAIT,
        write_wait=settings.VAST_RATE_LIMIT_WRITE_WAIT,
        call_budget=settings.VAST_CALL_BUDGET,
    )


def _rate_slots() -> Any:
    """Where the rate limiter books Vast's slots: the cache when every process shares it (Redis),
    else the database, so that several gunicorn workers without Redis still share one limiter."""
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        return DatabaseSlots()
    return cache


def get_client() -> VastClient:
    """The process's one VastClient, built from settings on first use."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = _default_client()
    return _client


def reset_client() -> None:
    """Close and forget the process's client, so that the next call rebuilds it from settings."""
    global _client
    with _client_lock:
        client, _client = _client, None
    if client is not None:
        client.close()


@receiver(setting_changed)
def _reset_on_vast_setting(*, setting: str, **kwargs: Any) -> None:
    """Tests that override a VAST_* or VASTSIM_* setting get a client built from the new value."""
    if setting.startswith("VAST"):
        reset_client()


def search_offers(query: Mapping[str, Any] | OfferSearch) -> list[Offer]:
    """Offers matching `query`: an OfferSearch, or a raw §2.2 query sent as is. See VastClient.search_offers."""
    return get_client().search_offers(query)


class OfferResults(list):
    """Offers, with when Vast listed them (`as_of`, epoch seconds) and whether they are an older
    answer served because Vast was busy (`stale`)."""

    as_of: float = 0.0
    stale: bool = False

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.as_of)


def _hash_key(prefix: str, query: Mapping[str, Any]) -> str:
    upstream = [settings.VAST_URL, bool(settings.VAST_API_KEY)]  # the simulator's offers are not Vast's
    return prefix + hashlib.sha256(json.dumps([upstream, query], sort_keys=True).encode()).hexdigest()


def _offers_key(search: OfferSearch) -> str:
    return _hash_key("vast:offers:", search.to_query())


# Complete answers (every match fitted within the limit) remembered per rental type and disk.
_COMPLETE_KEEP = 16


def _complete_index_key(search: OfferSearch) -> str:
    return _hash_key("vast:offers:complete:", {"type": search.rental_type, "disk": search.disk_gb})


def _from_complete(search: OfferSearch, *, stale: bool = False) -> tuple[float, list[Offer]] | None:
    """A complete answer to a search that covers `search`, filtered and ordered for it: a fresh
    one, or with `stale` one up to OFFER_STALE_SECONDS old (for when Vast is busy)."""
    now, max_age = time.time(), settings.OFFER_STALE_SECONDS if stale else settings.OFFER_CACHE_SECONDS
    for covering, as_of, key in cache.get(_complete_index_key(search)) or ():
        if now - as_of < max_age and covering.covers(search):
            entry = cache.get(f"{key}:stale" if stale else key)
            if entry is not None:
                return entry[0], _in_order(search, [offer for offer in entry[1] if search.matches(offer)])
    return None


def _remember_complete(search: OfferSearch, as_of: float, key: str) -> None:
    """Note that the answer under `key` holds every offer matching `search` (newest first)."""
    index_key, now = _complete_index_key(search), time.time()
    kept = [
        item for item in cache.get(index_key) or () if now - item[1] < settings.OFFER_STALE_SECONDS and item[2] != key
    ]
    cache.set(index_key, [(search, as_of, key), *kept][:_COMPLETE_KEEP], settings.OFFER_STALE_SECONDS)


def _in_order(search: OfferSearch, offers: list[Offer]) -> list[Offer]:
    """`offers` in the search's server-side order (missing values last), as Vast would sort them."""
    if search.sort_field in LOCAL_SORTS:
        return offers  # arrange() sorts these
    known = [o for o in offers if isinstance(o.raw.get(search.sort_field), int | float | str)]
    unknown = [o for o in offers if o not in known]
    return sorted(known, key=lambda o: o.raw[search.sort_field], reverse=search.descending) + unknown


def _results(search: OfferSearch, entry: tuple[float, list[Offer]], *, stale: bool = False) -> OfferResults:
    results = OfferResults(search.arrange(entry[1]))
    results.as_of, results.stale = entry[0], stale
    return results


def search_offers_cached(search: OfferSearch) -> OfferResults:
    """search_offers(search), with Vast's answer shared through Django's cache for
    OFFER_CACHE_SECONDS: offers are public and change slowly, and Vast allows one search
    every 2 s plus a daily quota. Errors are not cached.

    An answer that held every match (fewer offers than asked for) also serves, filtered and
    sorted here, any search it covers: the same filters in another order, or narrower filters
    (a GPU model added, a higher minimum). When Vast is busy (our rate limiter or Vast itself
    refuses), an answer to the same search up to OFFER_STALE_SECONDS old is served instead,
    marked `stale`.
    """
    key = _offers_key(search)
    entry = cache.get(key)
    if entry is not None:
        return _results(search, entry)
    derived = _from_complete(search)
    if derived is not None:
        return _results(search, derived)
    query = search.to_query()
    try:
        entry = _fetch_once(
            key,
            lambda: (time.time(), get_client().search_offers(query)),
            settings.OFFER_CACHE_SECONDS,
            keep_for=settings.OFFER_STALE_SECONDS,
        )
    except VastRateLimited:
        entry = cache.get(f"{key}:stale") or _from_complete(search, stale=True)
        if entry is None:
            raise
        logger.info("vast busy: serving offers from %.0f s ago", time.time() - entry[0])
        return _results(search, entry, stale=True)
    if len(entry[1]) < query["limit"]:
        _remember_complete(search, entry[0], key)
    return _results(search, entry)


def peek_offers(search: OfferSearch) -> OfferResults | None:
    """An answer to `search` already at hand, without asking Vast: cached for it, or derived from a
    complete wider answer; fresh if possible, else up to OFFER_STALE_SECONDS old. None if none."""
    key = _offers_key(search)
    for lookup, stale in (
        (lambda: cache.get(key), False),
        (lambda: _from_complete(search), False),
        (lambda: cache.get(f"{key}:stale"), True),
        (lambda: _from_complete(search, stale=True), True),
    ):
        entry = lookup()
        if entry is not None:
            return _results(search, entry, stale=stale)
    return None


# A fetcher that dies leaves its lock behind for at most this long.
_FETCH_LOCK_SECONDS = 15


def _fetch_once(key: str, fetch: Callable[[], Any], ttl: float, wait: float = 5.0, keep_for: float = 0) -> Any:
    """fetch() and cache its result under `key` for `ttl` s, with one caller fetching at a time.
    With `keep_for`, a copy is also kept under `key:stale` that long, for when Vast is busy.

    Identical requests that miss together (ten people opening the same link) wait up to
    `wait` seconds for the first one's answer instead of each asking Vast; past that they
    fetch themselves. Errors are not cached.
    """
    lock = f"{key}:lock"
    deadline = time.monotonic() + wait
    held = True
    while not cache.add(lock, True, _FETCH_LOCK_SECONDS):
        time.sleep(0.05)
        value = cache.get(key)
        if value is not None:
            return value
        if time.monotonic() > deadline:
            held = False  # fetch without the lock, and leave the fetcher's lock alone
            break
    try:
        value = fetch()
        cache.set(key, value, ttl)
        if keep_for:
            cache.set(f"{key}:stale", value, keep_for)
        return value
    finally:
        if held:
            cache.delete(lock)


def get_offer(offer_id: int, *, disk_gb: float = 10.0, rental_type: str = "on-demand") -> Offer:
    """One rentable offer priced for `disk_gb` of storage (through the shared search cache),
    or VastOfferUnavailable when Vast no longer lists it."""
    search = OfferSearch(offer_id=offer_id, disk_gb=disk_gb, rental_type=rental_type, verified_only=False, limit=1)
    offers = search_offers_cached(search)
    if not offers:
        raise VastOfferUnavailable(f"Offer {offer_id} is no longer available. Pick another one.")
    return offers[0]


def create_instance(offer_id: int, request: LaunchRequest) -> LaunchResult:
    """Rent an offer, at most once. See VastClient.create_instance."""
    try:
        return get_client().create_instance(offer_id, request)
    finally:
        forget_instances()


def list_instances() -> list[Instance]:
    """Every instance of the account, across all pages. See VastClient.list_instances."""
    return get_client().list_instances()


# A refresher that dies leaves its lock behind for at most this long.
_INSTANCES_LOCK_SECONDS = 15
# While another request refreshes, a list this much older than max_age is still served.
_INSTANCES_STALE_GRACE = 5.0
# Kept this long for `peek_instances` (names and prices in messages and records); freshness is max_age's job.
_INSTANCES_KEEP_SECONDS = 600


def _instances_key() -> str:
    upstream = json.dumps([settings.VAST_URL, bool(settings.VAST_API_KEY)])
    return "vast:instances:" + hashlib.sha256(upstream.encode()).hexdigest()[:16]


def _refresh_instances(key: str) -> list[Instance]:
    started = time.time()
    instances = get_client().list_instances()
    cache.set(key, (started, instances), _INSTANCES_KEEP_SECONDS)
    return instances


def list_instances_cached(max_age: float = 1.0, *, wait: float = 3.0) -> list[Instance]:
    """list_instances(), shared through Django's cache so that however many pages poll, Vast
    is asked for the list about once per `max_age` seconds.

    A list fetched less than `max_age` seconds ago (and after the last write) is served
    as is. Otherwise one caller, holding a short lock taken with `cache.add`, asks Vast;
    the others get the previous list if it is at most a few seconds staler, else wait up
    to `wait` seconds for the refresher and only then ask Vast themselves. Errors are not
    cached. The write functions of this module call `forget_instances()`.
    """
    key = _instances_key()
    entry = cache.get(key)
    written = cache.get(f"{key}:written", 0.0)
    fetched = entry[0] if entry is not None and entry[0] > written else None
    if fetched is not None and time.time() - fetched < max_age:
        return entry[1]
    lock = f"{key}:lock"
    if cache.add(lock, True, _INSTANCES_LOCK_SECONDS):
        try:
            return _refresh_instances(key)
        finally:
            cache.delete(lock)
    if fetched is not None and time.time() - fetched < max_age + _INSTANCES_STALE_GRACE:
        return entry[1]
    seen = max(fetched or 0.0, written)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(0.05)
        newer = cache.get(key)
        if newer is not None and newer[0] > seen:
            return newer[1]
    return _refresh_instances(key)


def peek_instances() -> list[Instance]:
    """The shared instance list as last fetched (up to a minute old), without asking Vast; [] if none."""
    entry = cache.get(_instances_key())
    return entry[1] if entry is not None else []


def forget_instances() -> None:
    """Mark the shared instance list stale, so that the next read asks Vast (after any write)."""
    cache.set(f"{_instances_key()}:written", time.time(), _INSTANCES_KEEP_SECONDS)


def get_instance(instance_id: int) -> Instance:
    """One instance, or VastNotFound. See VastClient.get_instance."""
    return get_client().get_instance(instance_id)


def set_state(instance_id: int, state: Literal["running", "stopped"]) -> StateChange:
    """Start or stop an instance. See VastClient.set_state."""
    try:
        return get_client().set_state(instance_id, state)
    finally:
        forget_instances()


def relabel(instance_id: int, label: str) -> None:
    """Set an instance's label. See VastClient.relabel."""
    try:
        get_client().relabel(instance_id, label)
    finally:
        forget_instances()


def destroy(instance_id: int) -> None:
    """Destroy an instance. See VastClient.destroy."""
    try:
        get_client().destroy(instance_id)
    finally:
        forget_instances()


def list_api_keys() -> list[ApiKey]:
    """The account's API keys, without their values. See VastClient.list_api_keys."""
    return get_client().list_api_keys()


def current_user() -> Account:
    """The account behind the dashboard's key, without secrets. See VastClient.current_user."""
    return get_client().current_user()


def gpu_names() -> list[str]:
    """GPU model names as the API spells them. See VastClient.gpu_names."""
    return get_client().gpu_names()
