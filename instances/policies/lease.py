"""The time limit (lease) of an instance: chosen at launch (`stop_after`, minutes), stored as the
ledger row's `stop_at`, warned about `lease_warn_minutes` before, and acted on by the worker.

A limit covers the stretch of running it was set in (or one that began before it expired): an
instance that someone starts again after its limit ran out is not stopped at once, and a Start
by someone whose role has a maximum gives it a fresh limit of that maximum (`on_start`).
Extending sets `stop_at` later; the new stop may be no later than now + the role's maximum.
"""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from dashboard.roles import role_of
from instances.models import Instance
from instances.policies.config import LEASE, max_stop_after
from instances.policies.facts import HOLDING, STOP, STOPPABLE, WARN, Decision, name_of, owner_and_admins, stamp

PRESETS = ((60, "1 h"), (240, "4 h"), (480, "8 h"), (1440, "24 h"))


def duration(seconds):
    """'40 s', '45 min', '2 h 10 min', '3 h', '4 days 2 h'."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        days, hours = divmod(hours, 24)
        return f"{days} days {hours} h" if hours else f"{days} days"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def presets(maximum):
    """The preset limits (minutes, words) a role with `maximum` may pick."""
    return [(minutes, words) for minutes, words in PRESETS if maximum is None or minutes <= maximum]


def clock(moment):
    """'14:05 UTC' (the server's time zone)."""
    return timezone.localtime(moment).strftime("%H:%M %Z")


def note(row, now):
    """What the pages say about a live instance's limit: "stops in 2 h 10 min", "time limit
    reached: stopping", or "" (no limit, or not holding its GPUs)."""
    if row.stop_at is None or row.gone_at is not None or row.status not in STOPPABLE:
        return ""
    left = (row.stop_at - now).total_seconds()
    return f"stops in {duration(left)}" if left > 0 else "time limit reached: stopping"


def begin(vast_id, minutes, now=None):
    """Give a just-launched instance its limit (`minutes` None: no limit)."""
    if minutes:
        now = now or timezone.now()
        Instance.objects.filter(vast_id=vast_id).update(stop_at=now + timedelta(minutes=minutes))


def on_start(vast_id, user, now=None):
    """After `user` started an instance: if their role has a maximum and the instance has no limit
    still ahead, it gets one of that maximum (so a Start cannot escape the role's maximum)."""
    maximum = max_stop_after(user)
    if maximum is None:
        return
    now = now or timezone.now()
    Instance.objects.filter(vast_id=vast_id, gone_at__isnull=True).exclude(stop_at__gt=now).update(
        stop_at=now + timedelta(minutes=maximum)
    )


class Refused(Exception):
    """An extension past the role's maximum; `message` says which and who set it."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def extend(row, user, minutes, now=None):
    """Move `row`'s stop `minutes` later (from now when it has no limit ahead). Returns (old, new)
    stop_at; raises Refused past now + the role's maximum (the limit is taken from now, so a
    long-running instance can always get up to a full maximum more, never more)."""
    now = now or timezone.now()
    old = row.stop_at
    base = old if old is not None and old > now else now
    new = base + timedelta(minutes=minutes)
    maximum = max_stop_after(user)
    if maximum is not None and new > now + timedelta(minutes=maximum):
        latest = now + timedelta(minutes=maximum)
        raise Refused(
            f"Refused: the {role_of(user)} maximum time limit is {duration(maximum * 60)} from now, so "
            f"{name_of(row)} may stop at {clock(latest)} at the latest; {minutes} more minutes would stop it at "
            f"{clock(new)}. Ask an admin to change the guardrails."
        )
    # Only if nobody moved it meanwhile (a second tab, another person): else the caller retries.
    if not Instance.objects.filter(pk=row.pk, stop_at=old).update(stop_at=new):
        raise Refused("The time limit changed meanwhile (someone else extended it); look again and retry.")
    row.stop_at = new
    return old, new


def decide(facts, config, now):
    """Stop instances whose limit is reached; warn their owners `lease_warn_minutes` before."""
    warn_before = timedelta(minutes=config.lease_warn_minutes)
    for fact in facts:
        row = fact.row
        if row.stop_at is None or row.status not in STOPPABLE:
            continue
        since = fact.since(HOLDING)
        if since is None or since >= row.stop_at:
            continue  # started again after its limit ran out: that limit is over
        occurrence = f"{row.vast_id}:{stamp(row.stop_at)}"
        if now >= row.stop_at:
            rule = f"time limit reached (stop at {clock(row.stop_at)})"
            yield Decision(LEASE, STOP, f"lease:{occurrence}", rule, row, **owner_and_admins(row))
        elif now >= row.stop_at - warn_before:
            left = duration((row.stop_at - now).total_seconds())
            text = (
                f"{name_of(row)} will be stopped at {clock(row.stop_at)} (in {left}) by its time limit. "
                "Extend it if you still need it."
            )
            yield Decision(
                LEASE,
                WARN,
                f"lease-warn:{occurrence}",
                "time limit ahead",
                row,
                kind="lease_warning",
                text=text,
                link=reverse("instances:extend", args=[row.vast_id]),
                **owner_and_admins(row),
            )
