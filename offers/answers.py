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
"""

import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.core.cache import cache

from dashboard import vast
from dashboard.vast import offer_cache

KEEP = 16  # answers kept per process
_memo: OrderedDict = OrderedDict()  # the answer's key in the shared cache -> (monotonic expiry, results)
_lock = threading.Lock()


def search_offers(search):
    """vast.search_offers_cached(search), from this process's memo while the answer is fresh.
    The result is shared: callers must not change it (copy it first)."""
    key = offer_cache._offers_key(search)
    seen_key = f"offers:seen:{key}"
    with _lock:
        hit = _memo.pop(key, None)
    if hit is not None and hit[0] > time.monotonic() and cache.get(seen_key) == hit[1].as_of and cache.has_key(key):
        with _lock:
            _memo[key] = hit
        return hit[1]
    results = vast.search_offers_cached(search)
    fresh_for = settings.OFFER_CACHE_SECONDS - results.age
    if not results.stale and fresh_for > 1 and cache.has_key(key):
        cache.set(seen_key, results.as_of, fresh_for)
        with _lock:
            _memo[key] = (time.monotonic() + fresh_for, results)
            _memo.move_to_end(key)
            while len(_memo) > KEEP:
                _memo.popitem(last=False)
    return results
