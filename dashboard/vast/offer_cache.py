"""The offer search cache: Vast's answers shared by every page and replica for a short while.

Offers are public and change slowly, and Vast allows about one search every 2 s per key, so
identical searches share one answer (`OFFER_CACHE_SECONDS`), a complete answer serves every
narrower search it covers, and when Vast is busy an older answer is served, marked stale.
"""

import functools
import hashlib
import json
import logging
import pickle
import time
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.cache import cache

from dashboard import after_response
from dashboard.vast import parsing
from dashboard.vast.errors import VastBadResponse, VastRateLimited
from dashboard.vast.search import LOCAL_SORTS, OfferSearch
from dashboard.vast.values import Offer

logger = logging.getLogger("dashboard.vast")


class OfferResults(list):
    """Offers, with when Vast listed them (`as_of`, epoch seconds), whether they are an older
    answer served because Vast was busy (`stale`), and the whole answer they are the first
    `search.limit` of (`answer`, in the same order; `total` offers)."""

    as_of: float = 0.0
    stale: bool = False
    answer: list[Offer] = []

    @property
    def total(self) -> int:
        return max(len(self.answer), len(self))

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.as_of)


# An answer is kept in the cache pickled once (`_pack`) as bytes, under both its key and its
# `:stale` copy: when Vast listed it, and the answer's JSON as Vast sent it (an OfferList's
# `body`, which costs nothing to keep) or else its offers' raw fields (pickling 182 Offer
# dataclasses cost ~3.5 ms each time, their plain dicts ~0.7 ms). A read rebuilds the Offers with
# the parser, from either: decoding the JSON costs about what unpickling the dicts did.
Entry = tuple[float, list[Offer]]


def _pack(entry: Entry) -> bytes:
    """(as_of, offers) as the bytes the cache keeps: when Vast listed them, and their JSON."""
    as_of, offers = entry
    body = getattr(offers, "body", None)
    if body is None:
        # `raw` is a read-only view of a dict: its copy() is the dict's own (a tenth of dict(view)).
        return pickle.dumps((as_of, [offer.raw.copy() for offer in offers]), pickle.HIGHEST_PROTOCOL)
    return pickle.dumps((as_of, body), pickle.HIGHEST_PROTOCOL)


def _unpack(packed: Any) -> Entry | None:
    """The (as_of, offers) that `_pack` stored, or None for a miss (or for what an older version
    sharing the cache left: a value of another shape, or offers that no longer parse)."""
    if not isinstance(packed, bytes):
        return None
    as_of, stored = pickle.loads(packed)
    try:
        if isinstance(stored, bytes):
            return as_of, parsing.parse_offers(parsing.read_json(stored))
        return as_of, parsing.offers_from_raw(stored)
    except VastBadResponse:
        return None


def _read(key: str) -> Entry | None:
    """The answer cached under `key` (or `key:stale`), or None."""
    return _unpack(cache.get(key))


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
            entry = _read(f"{key}:stale" if stale else key)
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
    answer = search.arrange(entry[1], limit=None)
    results = OfferResults(answer[: search.limit])
    results.as_of, results.stale, results.answer = entry[0], stale, answer
    return results


def search_offers_cached(search: OfferSearch, fetch: Callable[[dict[str, Any]], list[Offer]]) -> OfferResults:
    """fetch(search.to_query()) (Vast's search), with its answer shared through Django's cache for
    OFFER_CACHE_SECONDS: offers are public and change slowly, and Vast allows one search
    every 2 s plus a daily quota. Errors are not cached.

    An answer that held every match (fewer offers than asked for) also serves, filtered and
    sorted here, any search it covers: the same filters in another order, or narrower filters
    (a GPU model added, a higher minimum). When Vast is busy (our rate limiter or Vast itself
    refuses), an answer to the same search up to OFFER_STALE_SECONDS old is served instead,
    marked `stale`.
    """
    key = _offers_key(search)
    entry = _read(key)
    if entry is not None:
        return _results(search, entry)
    derived = _from_complete(search)
    if derived is not None:
        return _results(search, derived)
    query = search.to_query()
    try:
        entry = _fetch_once(
            key,
            lambda: (time.time(), fetch(query)),
            settings.OFFER_CACHE_SECONDS,
            keep_for=settings.OFFER_STALE_SECONDS,
        )
    except VastRateLimited:
        entry = _read(f"{key}:stale") or _from_complete(search, stale=True)
        if entry is None:
            raise
        logger.info("vast busy: serving offers from %.0f s ago", time.time() - entry[0])
        return _results(search, entry, stale=True)
    if len(entry[1]) < query["limit"]:
        after_response.defer(functools.partial(_remember_complete, search, entry[0], key))
    return _results(search, entry)


def peek_offers(search: OfferSearch) -> OfferResults | None:
    """An answer to `search` already at hand, without asking Vast: cached for it, or derived from a
    complete wider answer; fresh if possible, else up to OFFER_STALE_SECONDS old. None if none."""
    key = _offers_key(search)
    for lookup, stale in (
        (lambda: _read(key), False),
        (lambda: _from_complete(search), False),
        (lambda: _read(f"{key}:stale"), True),
        (lambda: _from_complete(search, stale=True), True),
    ):
        entry = lookup()
        if entry is not None:
            return _results(search, entry, stale=stale)
    return None


# A fetcher that dies leaves its lock behind for at most this long.
_FETCH_LOCK_SECONDS = 15


def _fetch_once(key: str, fetch: Callable[[], Entry], ttl: float, wait: float = 5.0, keep_for: float = 0) -> Entry:
    """fetch() and cache its result under `key` for `ttl` s, with one caller fetching at a time.
    With `keep_for`, a copy is also kept under `key:stale` that long, for when Vast is busy: the
    same bytes, packed once.

    Identical requests that miss together (ten people opening the same link) wait up to
    `wait` seconds for the first one's answer instead of each asking Vast; past that they
    fetch themselves. Errors are not cached. In a web request the answer is stored (and the
    lock let go) once the response is sent (dashboard.after_response).
    """
    lock = f"{key}:lock"
    deadline = time.monotonic() + wait
    held = True
    while not cache.add(lock, True, _FETCH_LOCK_SECONDS):
        time.sleep(0.05)
        value = _read(key)
        if value is not None:
            return value
        if time.monotonic() > deadline:
            held = False  # fetch without the lock, and leave the fetcher's lock alone
            break
    try:
        value = fetch()
    except BaseException:
        if held:
            cache.delete(lock)
        raise

    def store():
        try:
            packed = _pack(value)
            cache.set(key, packed, ttl)
            if keep_for:
                cache.set(f"{key}:stale", packed, keep_for)
        finally:
            if held:
                cache.delete(lock)

    # Identical searches meanwhile wait on the lock, which goes once the answer is stored.
    after_response.defer(store)
    return value
