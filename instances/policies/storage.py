"""Forgotten storage: a stopped instance still bills its disk every hour.

After `stopped_notify_days` stopped, its owner is told once (per stop) with its $/day and the way
to destroy it. With `stopped_destroy_days` (admins' choice, off by default) it is destroyed that
many days later, after a warning at least 24 h before, and never when marked "keep running".
"""

from datetime import timedelta

from dashboard.models import NotificationEvent
from instances.policies.config import STORAGE
from instances.policies.facts import (
    DESTROY,
    NOTIFY,
    STOPPED,
    WARN,
    Decision,
    detail_link,
    name_of,
    owner_and_admins,
    stamp,
)
from instances.policies.lease import clock, duration

WARNING = timedelta(hours=24)


def _per_day(row):
    return f"${(row.storage_per_hour or 0.0) * 24:.2f}/day"


def _warn_key(row, since):
    return f"storage-warn:{row.vast_id}:{stamp(since)}"


def warned_at(facts):
    """{warning key: when it was sent} for the stopped instances among `facts` (one query)."""
    keys = [_warn_key(f.row, f.since(STOPPED)) for f in facts if f.row.status in STOPPED]
    return dict(NotificationEvent.objects.filter(key__in=keys).values_list("key", "created_at"))


def destroy_at(since, config):
    """When an instance stopped at `since` is due for destruction, or None (off)."""
    if config.destroy_after is None:
        return None
    return since + (config.notify_after or timedelta(0)) + config.destroy_after


def decide(facts, config, now, warned):
    """`warned` is warned_at(facts). The destroy comes 24 h after the warning was sent, however
    late that was; in dry run, the warning counts as sent when due."""
    for fact in facts:
        row = fact.row
        since = fact.since(STOPPED)
        if since is None:
            continue
        stopped_for = duration((now - since).total_seconds())
        who = owner_and_admins(row)
        if config.notify_after is not None and now >= since + config.notify_after:
            text = (
                f"{name_of(row)} has been stopped for {stopped_for}; its disk still costs {_per_day(row)}. "
                "Destroy it if nobody needs its data."
            )
            key = f"storage:{row.vast_id}:{stamp(since)}"
            yield Decision(
                STORAGE, NOTIFY, key, "stopped", row, kind="storage_reminder", text=text, link=detail_link(row), **who
            )
        due = destroy_at(since, config)
        if due is None or row.keep_running:
            continue
        if now >= due - WARNING:
            warning_key = _warn_key(row, since)
            at = max(due, now + WARNING) if warning_key not in warned else due
            text = (
                f"{name_of(row)} (stopped for {stopped_for}, {_per_day(row)}) will be destroyed by policy "
                f"at {clock(at)} on {at:%Y-%m-%d}, with its disk. Start it, or ask an admin to mark it keep, "
                "to keep it."
            )
            yield Decision(
                STORAGE, WARN, warning_key, "destroy ahead", row, kind="storage_reminder", text=text,
                link=detail_link(row), admins=True, users=who["users"],
            )  # fmt: skip
        sent = warned.get(_warn_key(row, since)) or (due - WARNING if config.is_dry(STORAGE) else None)
        if sent is not None and now >= max(due, sent + WARNING):
            total = (config.notify_after or timedelta(0)) + config.destroy_after
            rule = f"stopped for over {duration(total.total_seconds())} (disk {_per_day(row)})"
            key = f"storage-destroy:{row.vast_id}:{stamp(since)}"
            yield Decision(STORAGE, DESTROY, key, rule, row, **owner_and_admins(row, admins=True))
