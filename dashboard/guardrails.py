"""Spending guardrails: one serialized decision before anything that starts spending reaches Vast.

Launch, Start (and later anything a policy resumes) take the decision under `person_lock(user)`,
which serializes one person's decisions across processes and replicas. The app that keeps the
ledger counts what the person runs and has in flight and what they spent this month, and passes
the numbers to `check_spend`; the floor decides without reading any app's models.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from dashboard.models import Guardrails, SpendLock
from dashboard.roles import role_of


class GuardrailExceeded(Exception):
    """Starting to spend would break a team limit; `message` names the limit and who set it,
    `limit` is its short name ("max_dph", "max_running", "monthly_cap")."""

    def __init__(self, message, limit):
        super().__init__(message)
        self.message = message
        self.limit = limit


@contextmanager
def person_lock(user):
    """A transaction holding `user`'s spend lock: decisions for one person never overlap. What is
    written inside (the pending audit row of the action) is visible to the next decision."""
    with transaction.atomic():
        SpendLock.objects.get_or_create(user=user)
        SpendLock.objects.select_for_update().get(user=user)
        yield


@dataclass(frozen=True)
class Usage:
    """What a person spends now: instances holding GPUs, actions sent to Vast and not yet answered,
    and the month's estimated spend ($, storage included)."""

    running: int
    in_flight: int
    month_spend: float

    @property
    def busy(self):
        return self.running + self.in_flight


def _who(rails):
    return f" (set by {rails.updated_by})" if rails.updated_by else " (set by your admins)"


def check_spend(user, price_per_hour, usage, *, what="launch"):
    """Raise GuardrailExceeded if `user` starting an instance at `price_per_hour` ($/hr) would break
    a limit, given their `usage`. `what` ("launch", "start") names the action in messages."""
    rails = Guardrails.current()
    role = role_of(user)
    limit = rails.max_dph_for(role)
    if limit is not None and price_per_hour is not None:
        price = Decimal(str(price_per_hour))
        if price > limit:
            raise GuardrailExceeded(
                f"Refused: ${price:.3f}/hr is over the {role} limit of ${limit:.3f}/hr per instance{_who(rails)}.",
                "max_dph",
            )
    cap = rails.max_running_per_user
    if cap is not None and usage.busy >= cap:
        flying = f" and {usage.in_flight} being started" if usage.in_flight else ""
        raise GuardrailExceeded(
            f"Refused: you have {usage.running} running{flying}; the limit is {cap} per person{_who(rails)}. "
            f"Stop one before you {what} another.",
            "max_running",
        )
    monthly = rails.monthly_cap_per_user
    if monthly is not None:
        spent = Decimal(f"{usage.month_spend:.2f}")
        if spent >= monthly:
            raise GuardrailExceeded(
                f"Refused: your estimated spend this month (${spent:.2f}, storage included) has reached the "
                f"monthly cap of ${monthly:.2f}{_who(rails)}.",
                "monthly_cap",
            )


def check_launch(user, price_per_hour, running_instances, month_spend):
    """check_spend for a launch with nothing in flight (kept for callers that count themselves)."""
    check_spend(user, price_per_hour, Usage(running_instances, 0, month_spend))


# The app that keeps the ledger registers how to count a person's usage (instances/apps.py), so
# pages outside it (the offers list) can show limits before a refusal without importing it.
_usage_provider = None


def register_usage_provider(provider):
    """Set the function `provider(user) -> Usage` that launch_limits counts with."""
    global _usage_provider
    _usage_provider = provider


@dataclass(frozen=True)
class LaunchLimits:
    """What limits a person's next launch: `max_dph` (their role's $/hr limit or None), their
    `usage`, the caps, and `blocked`, why no launch at any price would pass (or "")."""

    role: str
    max_dph: Decimal | None
    usage: Usage | None
    max_running: int | None
    monthly_cap: Decimal | None
    blocked: str

    def refusal(self, price_per_hour):
        """Why a launch at `price_per_hour` would be refused, short enough for a tooltip, or ""."""
        if self.blocked:
            return self.blocked
        if self.max_dph is not None and price_per_hour is not None and Decimal(str(price_per_hour)) > self.max_dph:
            return f"Over your {self.role} limit of ${self.max_dph:.3f}/hr"
        return ""


def launch_limits(user, *, caps_only=False):
    """The guardrails as they stand for `user`'s next launch, counted by the registered provider
    (without one, only the $/hr limit is known). With `caps_only`, the person's usage is counted
    only when a running or monthly cap needs it (`usage` is None when neither is set): the offers
    list shows only what blocks a launch, and counting costs queries on every page."""
    return limits_from(Guardrails.current(), role_of(user), caps_only=caps_only, user=user)


def limits_from(rails, role, *, caps_only, user):
    """launch_limits from the guardrails row `rails` and `user`'s `role`, already read."""
    cap, monthly = rails.max_running_per_user, rails.monthly_cap_per_user
    counted = _usage_provider is not None and (not caps_only or cap is not None or monthly is not None)
    usage = _usage_provider(user) if counted else None
    blocked = ""
    if usage is not None:
        if cap is not None and usage.busy >= cap:
            blocked = f"You are at your limit of {cap} running"
        elif monthly is not None and Decimal(f"{usage.month_spend:.2f}") >= monthly:
            blocked = f"You have reached the monthly cap of ${monthly:.2f}"
    return LaunchLimits(
        role=role,
        max_dph=rails.max_dph_for(role),
        usage=usage,
        max_running=cap,
        monthly_cap=monthly,
        blocked=blocked,
    )
