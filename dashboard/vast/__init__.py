"""The one door to Vast.ai: URLs, auth, JSON shapes, retries and timeouts live here.

Views call the module-level functions (`vast.search_offers(query)`, `vast.list_instances()`),
which share one pooled `VastClient` (`client`) per process, built from settings on first use.
With no `VAST_API_KEY` that client talks to the in-process simulator. Every answer comes back
as a frozen dataclass (`values`, built only by `parsing`); every failure is a `VastError`
(`errors`) whose `message` is safe to show on a page; `search` turns the offer page's filters
into Vast's query grammar. Request shapes follow `shared/vast-api.md` (beside this repository), whose strongest
source is the official vastai 1.9.1 client.
"""

import hashlib
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

from dashboard.vast import offer_cache, parsing
from dashboard.vast.client import USER_AGENT, VastClient, on_wait
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
from dashboard.vast.offer_cache import OfferResults, peek_offers
from dashboard.vast.ratelimit import CacheSlots, DatabaseSlots, RateLimiter, endpoint_for
from dashboard.vast.search import LOCAL_SORTS, SORTABLE_FIELDS, OfferSearch
from dashboard.vast.values import (
    RUNTYPES,
    Account,
    ApiKey,
    Instance,
    InstanceList,
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
    "instance_from_raw",
    "InstanceList",
    "gpu_names",
    "list_api_keys",
    "list_instances",
    "peek_offers",
    "OfferResults",
    "relabel",
    "reserve_background_search",
    "redact",
    "reset_client",
    "search_offers",
    "search_offers_cached",
    "on_wait",
    "searches_over_network",
    "set_state",
    "ssh_keys",
    "templates",
    "bulk",
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
    return CacheSlots(cache)


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


def reserve_background_search(
    job: str, *, share: float, horizon: float, clock: Callable[[], float] = time.time
) -> float | None:
    """Book one offer search for the background `job`, which may use only `share` of Vast's search
    rate (one search per threshold / share seconds), in the slot store the web's rate limiter
    uses. Returns the seconds to wait before sending it (the client's own limiter still spaces it
    from the pages' searches), or None, booking nothing, when the job's next slot is more than
    `horizon` seconds away: defer the search."""
    _, threshold = endpoint_for("POST", "/api/v0/bundles/") or ("search", 2.0)
    api_key = settings.VAST_API_KEY or settings.VASTSIM_API_KEY
    key = f"vast:rl:{hashlib.sha256(api_key.encode()).hexdigest()[:16]}:background:{job}"
    wait = _rate_slots().book(key, clock, threshold / share, horizon)
    return wait if wait <= horizon else None


def searches_over_network() -> bool:
    """Whether offer searches go over the network to Vast (or a server standing in for it), so
    that a caller may wait for one on another thread. Not with the in-process simulator or a
    transport a test put in: those answer from this thread's database connection."""
    return get_client().transport is None


def search_offers_cached(search: OfferSearch) -> OfferResults:
    """search_offers(search) through the shared offer cache. See offer_cache.search_offers_cached."""
    return offer_cache.search_offers_cached(search, get_client().search_offers)


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
    return get_client().create_instance(offer_id, request)


def list_instances() -> InstanceList:
    """Every instance of the account, across all pages, with whether every page was read
    (`complete`). See VastClient.list_instances. Only the worker's sync calls this: pages read
    the ledger it keeps."""
    return get_client().list_instances()


def redact(value: Any) -> Any:
    """`value` (a JSON value) with the API key, and every 8+ character fragment of it, removed
    from every string. See redact.Redactor."""
    return get_client().redactor.value(value)


def instance_from_raw(raw: Mapping[str, Any]) -> Instance:
    """An Instance rebuilt from a stored copy of its `raw` fields (the ledger keeps them), parsed
    exactly as a fresh answer is; VastBadResponse if the copy no longer parses."""
    return parsing.parse_instance(dict(raw))


def get_instance(instance_id: int) -> Instance:
    """One instance, or VastNotFound. See VastClient.get_instance."""
    return get_client().get_instance(instance_id)


def set_state(instance_id: int, state: Literal["running", "stopped"]) -> StateChange:
    """Start or stop an instance. See VastClient.set_state."""
    return get_client().set_state(instance_id, state)


def relabel(instance_id: int, label: str) -> None:
    """Set an instance's label. See VastClient.relabel."""
    get_client().relabel(instance_id, label)


def destroy(instance_id: int) -> None:
    """Destroy an instance. See VastClient.destroy."""
    get_client().destroy(instance_id)


def list_api_keys() -> list[ApiKey]:
    """The account's API keys, without their values. See VastClient.list_api_keys."""
    return get_client().list_api_keys()


def current_user() -> Account:
    """The account behind the dashboard's key, without secrets. See VastClient.current_user."""
    return get_client().current_user()


def gpu_names() -> list[str]:
    """GPU model names as the API spells them. See VastClient.gpu_names."""
    return get_client().gpu_names()


def templates() -> Any:
    """The account's Vast templates (`search`, `created_by`). See dashboard.vast.resources.templates."""
    return get_client().templates


def bulk() -> Any:
    """Start, stop or destroy several instances at once (`set_state`, `destroy`), one call per
    64 ids. See dashboard.vast.resources.bulk."""
    return get_client().bulk


def ssh_keys() -> Any:
    """The SSH keys of the account and of each instance (`account_keys`, `on_instance`, `attach`,
    `detach`, ...). See dashboard.vast.resources.ssh.SshKeys."""
    return get_client().ssh_keys
