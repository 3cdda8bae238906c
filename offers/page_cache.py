"""The whole offers page kept per viewer for a few seconds while its answer is fresh.

A reload, a Back or a second tab of the same search would otherwise render the page around the
(already cached) results again: the filters, the nav, the person's columns. As for the ledger
pages (`dashboard.fragments.render_page`), the page is kept per viewer (session and CSRF cookie:
it carries their CSRF token and their Launch buttons) and URL, for FRAGMENT_SECONDS at most and
never past the life left in its answer, under a version naming everything else it shows: the
answer (when Vast listed it), the person's Launch state and columns, and their unread count.
Pages of a stale answer, an error, or with a message waiting are never kept.
"""

import functools

from django.core.cache import cache

from dashboard import after_response, fragments
from offers.rows import launch_state

NAME = "offers-page"


def key(request, results, *, limits, chosen, unread):
    """The page's cache key for this viewer, or None when the page must not be kept."""
    if not results or results.stale:
        return None
    version = [results.as_of, launch_state(limits), chosen, unread]
    return fragments.page_key(request, NAME, version)


def get(key):
    return cache.get(key) if key is not None else None


def keep(key, html, fresh_for):
    """Keep the page's `html` under `key` for a few seconds, not past `fresh_for` (its answer's life)."""
    seconds = min(fragments.FRAGMENT_SECONDS, fresh_for)
    if key is not None and seconds >= 1:
        after_response.defer(functools.partial(cache.set, key, html, seconds))
