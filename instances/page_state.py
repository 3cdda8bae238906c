"""What a ledger page needs to know before it can serve itself from the cache, in one query.

A cached ledger page (`dashboard.fragments.render_page`) is keyed by everything it shows: the
ledger's version (the SyncState row), the viewer's unread notification count (the bell in the
page's header) and, for the overview, the latest action (its recent activity). They come from one
query here, written in SQL because this is the hottest path of the dashboard: the ORM took longer
to build the query with its subqueries than the database took to answer it. The freshness line
is rendered anew for every response from the same row.
"""

from django.template.loader import render_to_string

from dashboard.models import Action, Notification
from instances import sync
from instances.models import SyncState

_SQL = (
    "SELECT s.*,"
    " (SELECT COUNT(*) FROM {notification} n WHERE n.user_id = %s AND n.read_at IS NULL) AS unread,"
    " (SELECT MAX(a.id) FROM {action} a) AS latest_action"
    " FROM {state} s WHERE s.id = 1"
)


def page_state(user):
    """The SyncState row, with `unread` (the viewer's unread notifications) and `latest_action`
    (the id of the newest audit row, or None)."""
    sql = _SQL.format(
        notification=Notification._meta.db_table, action=Action._meta.db_table, state=SyncState._meta.db_table
    )
    found = next(iter(SyncState.objects.raw(sql, [user.pk])), None)
    if found is None:  # a new database: the row is made on first use
        SyncState.current()
        found = next(iter(SyncState.objects.raw(sql, [user.pk])))
    return found


def freshness(state):
    """A callable rendering the freshness line (`#sync-status`) from `state` when called."""
    return lambda: render_to_string("_sync_status.html", {"sync": sync.status(state=state)})
