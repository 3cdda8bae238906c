"""What instances cost, estimated from the ledger's status history.

An instance bills `dph_total` (compute and its disk) while it holds its GPUs (running, and
while it starts, stops or reboots) and only its disk (`storage_per_hour`) otherwise, until it
is gone. The prices are Vast's current ones for the instance, and bandwidth is billed apart
and unknown until Vast's invoices, so every figure here is an estimate (the pages say so).
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.utils import timezone

from instances.models import Instance, StatusChange

# Statuses in which Vast bills the GPUs: a starting instance already holds them.
BILLED_AS_RUNNING = frozenset({"running", "starting", "stopping", "rebooting"})
NOT_BILLED = frozenset({"destroyed"})


def month_start(now=None):
    """Midnight UTC on the first day of `now`'s month."""
    now = now or timezone.now()
    return now.astimezone(datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start):
    """Midnight UTC on the first day of the month after `start` (itself a month start)."""
    return (start + datetime.timedelta(days=32)).replace(day=1)


def rate_for(row, status):
    """$/hr the instance bills in `status` (0 when unknown)."""
    if status in NOT_BILLED:
        return 0.0
    if status in BILLED_AS_RUNNING:
        return row.dph_total or 0.0
    return row.storage_per_hour or 0.0


def burn_per_hour(row):
    """$/hr the instance bills now."""
    return 0.0 if row.gone_at else rate_for(row, row.status)


@dataclass(frozen=True)
class Span:
    """The instance was in `status` from `start` to `end`."""

    status: str
    start: datetime.datetime
    end: datetime.datetime


def spans(row, changes, now):
    """The instance's life as consecutive spans, from its status changes (oldest first).

    The first span begins at Vast's start date when that is earlier than when we first saw it
    (an instance found running was running before), and the last ends when it was gone or now.
    """
    end_of_life = row.gone_at or now
    result = []
    for index, change in enumerate(changes):
        start = change.at
        if index == 0 and row.started_at and row.started_at < start:
            start = row.started_at
        end = changes[index + 1].at if index + 1 < len(changes) else end_of_life
        if end > start:
            result.append(Span(change.to_status, start, min(end, end_of_life)))
    return result


def cost_between(row, changes, since=None, until=None, now=None):
    """Estimated $ the instance billed within [since, until) (its whole life by default)."""
    now = now or timezone.now()
    total = 0.0
    for span in spans(row, changes, now):
        start = max(span.start, since) if since else span.start
        end = min(span.end, until) if until else span.end
        if end > start:
            total += rate_for(row, span.status) * (end - start).total_seconds() / 3600
    return total


def lifetime_costs(rows, now=None):
    """{vast_id: estimated $ over its life} for ledger rows (their changes prefetched here)."""
    now = now or timezone.now()
    changes = _changes_of(rows)
    return {row.vast_id: cost_between(row, changes[row.pk], now=now) for row in rows}


def _changes_of(rows):
    """{ledger pk: its status changes, oldest first} for `rows`, in one query."""
    by_instance = defaultdict(list)
    for change in StatusChange.objects.filter(instance__in=[row.pk for row in rows]).order_by("at", "id"):
        by_instance[change.instance_id].append(change)
    return by_instance


def month_rows(start):
    """Ledger rows alive at some point of the month beginning at `start`."""
    return Instance.objects.exclude(gone_at__lt=start).filter(first_seen__lt=next_month(start))


def spend_by_person(start=None, now=None):
    """{launcher name (or "" for outside the dashboard): estimated $} for the month at `start`."""
    now = now or timezone.now()
    start = start or month_start(now)
    rows = list(month_rows(start))
    changes = _changes_of(rows)
    totals = defaultdict(float)
    for row in rows:
        totals[row.launched_by_name] += cost_between(
            row, changes[row.pk], since=start, until=next_month(start), now=now
        )
    return dict(totals)


def spend_by_user(now=None):
    """{launcher's user id (None for outside the dashboard or a deleted user): estimated $} this month."""
    now = now or timezone.now()
    start = month_start(now)
    rows = list(month_rows(start))
    changes = _changes_of(rows)
    totals = defaultdict(float)
    for row in rows:
        totals[row.launched_by_id] += cost_between(row, changes[row.pk], since=start, until=next_month(start), now=now)
    return dict(totals)


def month_spend(user=None, now=None):
    """Estimated $ this month: `user`'s instances, or the whole account's."""
    now = now or timezone.now()
    start = month_start(now)
    rows = month_rows(start)
    if user is not None:
        rows = rows.filter(launched_by=user)
    rows = list(rows)
    changes = _changes_of(rows)
    return sum(cost_between(row, changes[row.pk], since=start, until=next_month(start), now=now) for row in rows)
