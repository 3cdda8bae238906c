"""What a ledger page needs to know before it can serve itself from the cache, in one query.

A cached ledger page (`dashboard.fragments.render_page`) is keyed by everything it shows: the
ledger's version (the SyncState row) and the viewer's unread notification count (the bell in
the page's header). Both come from one query here; the freshness line is rendered anew for every
response from the same row.
"""

from django.db.models import Count, Subquery
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string

from dashboard.models import Notification
from instances import sync
from instances.models import SyncState


def page_state(user, **extra):
    """The SyncState row annotated with `unread` (the viewer's unread notifications) and `extra`."""
    unread = (
        Notification.objects.filter(user_id=user.pk, read_at=None)
        .order_by()
        .values("user_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return SyncState.current(unread=Coalesce(Subquery(unread), 0), **extra)


def freshness(state):
    """A callable rendering the freshness line (`#sync-status`) from `state` when called."""
    return lambda: render_to_string("_sync_status.html", {"sync": sync.status(state=state)})
