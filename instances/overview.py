"""The front page (the account at a glance) and the account page, both read from the ledger."""

from dataclasses import dataclass

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard import fragments
from dashboard.htmx import wants_fragment
from dashboard.models import Action
from instances import costs, sync
from instances.models import Instance, SyncState
from instances.page_state import freshness, page_state
from instances.rows import rows_for

RECENT_ACTIVITY = 10


@dataclass(frozen=True)
class Burn:
    """What the account bills per hour now, split into running compute and stopped storage."""

    running: float
    storage: float
    running_count: int
    stopped_count: int

    @property
    def total(self):
        return self.running + self.storage


def _burn(live):
    """The burn rate of the live ledger rows."""
    running = [row for row in live if row.status in costs.BILLED_AS_RUNNING]
    stopped = [row for row in live if row.status not in costs.BILLED_AS_RUNNING]
    return Burn(
        running=sum(costs.burn_per_hour(row) for row in running),
        storage=sum(costs.burn_per_hour(row) for row in stopped),
        running_count=len(running),
        stopped_count=len(stopped),
    )


def _runway(credit, rate):
    """(hours, days) the credit lasts at `rate` $/hr, or (None, None) when nothing bills."""
    if not rate or rate <= 0 or credit is None:
        return None, None
    hours = max(0.0, credit) / rate
    return hours, hours / 24


def _account_context():
    """What both pages show of the account: credit, burn rate, runway, from the ledger."""
    state = SyncState.current()
    live = list(Instance.objects.filter(gone_at__isnull=True))
    burn = _burn(live)
    credit = state.account.get("credit") if state.account else None
    hours, days = _runway(credit, burn.total)
    return {
        "account": state.account or None,
        "account_at": state.account_at,
        "credit": credit,
        "burn": burn,
        "hours_left": hours,
        "days_left": days,
        "live": live,
        "sync": sync.status(state=state),
    }


@require_GET
@never_cache
def account(request):
    """Credit, email, the burn rate now and how long the credit lasts at that rate."""
    return render(request, "account/account.html", _account_context())


def _stopped_rows(user, live, now):
    """Stopped instances still billing their disk, longest stopped first, with when they stopped."""
    stopped = [row for row in live if row.status not in costs.BILLED_AS_RUNNING]
    since = {}
    for row in stopped:
        change = row.changes.filter(to_status=row.status).order_by("-at").first()
        since[row.vast_id] = change.at if change else row.first_seen
    rows = rows_for(user, stopped, now=now)
    return sorted(((r, since[r.id]) for r in rows), key=lambda pair: pair[1])


@require_GET
@never_cache
def overview(request):
    """The account's state in five seconds: burn, spend this month (and by whom), runway,
    instances by state, stopped instances burning storage, mine, and recent activity. The body
    is rendered once per viewer, ledger version and latest action for a few seconds."""
    state = page_state(request.user)
    version = (state.changed_at, state.account_at, state.latest_action)

    def body():
        html, _ = fragments.render_cached(
            request,
            "overview.html#overview-main",
            lambda: (_overview_context(request), None),
            name="overview",
            version=version,
        )
        return {"body_html": html}

    if wants_fragment(request):
        return render(request, "overview.html#overview-body", {**body(), "sync_html": freshness(state)()})
    return fragments.render_page(
        request,
        "overview.html",
        body,
        name="overview-page",
        version=(*version, state.unread),
        fresh={"sync_html": freshness(state)},
    )


def _overview_context(request):
    """Everything the overview shows but its freshness line."""
    now = timezone.now()
    context = _account_context()
    live = context["live"]
    by_state = {}
    for row in live:
        by_state[row.status] = by_state.get(row.status, 0) + 1
    spend = costs.spend_by_person(now=now)
    activity = Action.objects.exclude(outcome=Action.Outcome.PENDING)
    if not request.user.has_perm("dashboard.view_all_records"):
        activity = activity.filter(user=request.user)
    mine = [row for row in live if row.launched_by_id == request.user.pk]
    context.update(
        month_spend=sum(spend.values()),
        spend_by_person=sorted(spend.items(), key=lambda item: -item[1]),
        by_state=sorted(by_state.items()),
        stopped=_stopped_rows(request.user, live, now),
        mine=rows_for(request.user, mine, now=now),
        activity=list(activity.order_by("-created_at", "-id")[:RECENT_ACTIVITY]),
        now=now,
    )
    return context
