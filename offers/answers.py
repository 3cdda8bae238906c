"""The offers page's answers, kept parsed in this process while they are fresh.

vast.search_offers_cached shares Vast's answers through Django's cache, which keeps their raw fields
pickled: reading one back (182 offers unpickled and parsed again, ~2.5 ms) would be a third of a
cache-hit page. So a page keeps the answers it used, parsed, in a small per-process memo, valid
while all of these hold:
- the answer is younger than OFFER_CACHE_SECONDS (as the shared cache would serve it), and not a
  stale one served because Vast was busy;
- the shared cache still holds an answer under the search's own key (a key check, no read):
  when it expires, is deleted or the cache is cleared, the next page asks the service module;
- the answer the offers pages last read for this search (its `as_of`, noted in the shared cache
  beside it by whichever process read it) is this one: a newer answer read by another process,
  or by this one, replaces the memo.
Answers derived from a wider complete answer have no key of their own and are not kept here.
Offers are public: nothing about a person is in an answer.

`begin(search)` starts a search the memo cannot answer on a small thread pool, so that the page
renders everything that does not depend on Vast's answer (its filters, the person's guardrails
and columns, the page around the results) while Vast takes its ~100 ms or more to answer.
"""

import contextvars
import functools
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.cache import cache
from django.db import connections

from dashboard import after_response, vast
from dashboard.vast import offer_cache

KEEP = 16  # answers kept per process
_memo: OrderedDict = OrderedDict()  # the answer's key in the shared cache -> (monotonic expiry, results)
_lock = threading.Lock()


# Threads that wait on Vast for the pages of this process (beyond these, searches queue).
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="offer-search")
# The longest a page waits for its search to leave (the other fetcher's lock, a full pool).
SEND_WAIT_SECONDS = 0.05


class Pending:
    """A search's results on their way: `result()` waits for them (or raises the search's
    VastError); `known` says they are at hand already (the memo's)."""

    def __init__(self, result, *, known=False):
        self.result, self.known = result, known


def begin(search):
    """Start search_offers(search); returns a Pending. An answer in the memo is known at once.
    Otherwise, when searches go over the network (and OFFER_SEARCH_OVERLAP is on), the search
    runs on this process's pool while the caller goes on; else (the in-process simulator shares
    this thread's database connection and transaction) it runs in the caller, on `result()`."""
    key = offer_cache._offers_key(search)
    hit = _memo_hit(key)
    if hit is not None:
        return Pending(lambda: hit, known=True)
    if not (settings.OFFER_SEARCH_OVERLAP and vast.searches_over_network()):
        return Pending(lambda: _search(search, key))
    # The request's context (its request id, for the log lines) goes with the search. The caller
    # waits until the search waits on Vast (or is done): under the GIL, the caller's own work
    # would otherwise hold back the request it is meant to overlap.
    waiting = threading.Event()
    future = _pool.submit(contextvars.copy_context().run, _in_background, search, key, waiting.set)
    future.add_done_callback(lambda _: waiting.set())
    waiting.wait(SEND_WAIT_SECONDS)
    return Pending(future.result)


def _in_background(search, key, on_wait):
    vast.on_wait.set(on_wait)
    try:
        return _search(search, key)
    finally:
        # The rate limiter may have used this pool thread's database connection (DatabaseSlots):
        # no request ends on this thread to close it.
        connections.close_all()


def search_offers(search):
    """vast.search_offers_cached(search), from this process's memo while the answer is fresh.
    The result is shared: callers must not change it (copy it first)."""
    key = offer_cache._offers_key(search)
    hit = _memo_hit(key)
    return hit if hit is not None else _search(search, key)


def _memo_hit(key):
    """The memo's answer under `key` if it is still the one to show, else None."""
    with _lock:
        hit = _memo.pop(key, None)
    if hit is None or hit[0] <= time.monotonic():
        return None
    if cache.get(f"offers:seen:{key}") != hit[1].as_of or not cache.has_key(key):
        return None
    with _lock:
        _memo[key] = hit
    return hit[1]


def _search(search, key):
    """Ask the service module (its shared cache, or Vast) and keep a fresh answer in the memo."""
    results = vast.search_offers_cached(search)
    if not results.stale:
        # After the service module has stored a new answer (once the response is sent).
        after_response.defer(functools.partial(_remember, key, results))
    return results


def _remember(key, results):
    """Keep a fresh answer in the memo, and note it as the one the offers pages last read."""
    fresh_for = settings.OFFER_CACHE_SECONDS - results.age
    if fresh_for > 1 and cache.has_key(key):
        cache.set(f"offers:seen:{key}", results.as_of, fresh_for)
        with _lock:
            _memo[key] = (time.monotonic() + fresh_for, results)
            _memo.move_to_end(key)
            while len(_memo) > KEEP:
                _memo.popitem(last=False)
