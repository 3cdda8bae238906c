"""htmx conventions shared by the views."""


def wants_fragment(request):
    """Whether to answer with a page's fragment rather than the whole page: an htmx request that
    is neither boosted nor a history restore (those want the full page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx and not htmx.boosted and not htmx.history_restore_request)
