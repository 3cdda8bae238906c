"""Spending guardrails: refuse a launch over a team limit before any upstream call."""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.utils import timezone

from dashboard.models import Guardrails
from dashboard.roles import role_of


class GuardrailExceeded(Exception):
    """A launch would break a team limit; `message` names the limit."""

    def __init__(self, message, limit):
        super().__init__(message)
        self.message = message
        self.limit = limit


def month_start(now=None):
    """Midnight UTC on the first day of `now`'s month."""
    now = now or timezone.now()
    return now.astimezone(datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def estimated_month_spend(user, now=None):
    """What `user`'s launches cost this month, from our own records.

    Each instance the user launched bills its launch price from launch or start until a
    stop or destroy; the overlap with the current month is summed. Storage while stopped
    is left out (small, and not in our records), so this is an estimate.
    """
    from instances.models import Action

    now = now or timezone.now()
    start = month_start(now)
    launched = dict(
        Action.objects.filter(
            user=user, kind=Action.Kind.LAUNCH, outcome=Action.Outcome.SUCCESS, instance_id__isnull=False
        ).values_list("instance_id", "price_per_hour")
    )
    if not launched:
        return Decimal(0)
    events = defaultdict(list)
    rows = Action.objects.filter(instance_id__in=launched, outcome=Action.Outcome.SUCCESS).order_by("created_at", "id")
    for kind, instance_id, at in rows.values_list("kind", "instance_id", "created_at"):
        events[instance_id].append((kind, at))
    total = Decimal(0)
    for instance_id, price in launched.items():
        price = price or Decimal(0)
        running_since = None
        for kind, at in events[instance_id]:
            if kind in ("launch", "start") and running_since is None:
                running_since = at
            elif kind in ("stop", "destroy") and running_since is not None:
                total += _billed(price, running_since, at, start)
                running_since = None
        if running_since is not None:
            total += _billed(price, running_since, now, start)
    return total.quantize(Decimal("0.01"))


def _billed(price, begin, end, since):
    """price × hours of [begin, end] that fall after `since`."""
    begin = max(begin, since)
    if end <= begin:
        return Decimal(0)
    hours = Decimal((end - begin).total_seconds()) / Decimal(3600)
    return price * hours


def check_launch(user, price_per_hour, running_instances):
    """Raise GuardrailExceeded if launching at `price_per_hour` breaks a limit.

    `running_instances` is how many of the user's instances run now.
    """
    rails = Guardrails.current()
    role = role_of(user)
    price = Decimal(str(price_per_hour))
    limit = rails.max_dph_for(role)
    if limit is not None and price > limit:
        raise GuardrailExceeded(
            f"${price:.3f}/hr is over the {role} limit of ${limit:.3f}/hr per launch set by your admins.",
            "max_dph",
        )
    cap = rails.max_running_per_user
    if cap is not None and running_instances >= cap:
        raise GuardrailExceeded(
            f"You already run {running_instances} instance{'s' if running_instances != 1 else ''}; "
            f"the limit is {cap} per person.",
            "max_running",
        )
    monthly = rails.monthly_cap_per_user
    if monthly is not None:
        spent = estimated_month_spend(user)
        if spent >= monthly:
            raise GuardrailExceeded(
                f"Your estimated spend this month (${spent:.2f}) has reached the monthly cap of ${monthly:.2f}.",
                "monthly_cap",
            )
