"""The settings the policies read, in one frozen value per evaluation."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from dashboard.models import Guardrails, PolicySettings
from dashboard.roles import role_of

LEASE, IDLE, STORAGE, BUDGET = "lease", "idle", "storage", "budget"
POLICIES = (LEASE, IDLE, STORAGE, BUDGET)


def _days(value):
    """A number of days (Decimal) as a timedelta, or None."""
    return None if value is None else timedelta(seconds=float(Decimal(value) * 86400))


@dataclass(frozen=True)
class Config:
    """The team's policy settings (see PolicySettings for what each means)."""

    idle_below: float = 5.0
    idle_minutes: int | None = None
    lease_warn_minutes: int = 15
    notify_after: timedelta | None = None
    destroy_after: timedelta | None = None
    team_budget: Decimal | None = None
    person_cap: Decimal | None = None
    stop_at_cap: bool = False
    dry: frozenset = frozenset()

    @classmethod
    def current(cls):
        """The settings as saved now (one query each for the policies and the guardrails)."""
        saved, rails = PolicySettings.current(), Guardrails.current()
        return cls(
            idle_below=saved.idle_util_below,
            idle_minutes=saved.idle_minutes,
            lease_warn_minutes=saved.lease_warn_minutes,
            notify_after=_days(saved.stopped_notify_days),
            destroy_after=_days(saved.stopped_destroy_days),
            team_budget=saved.team_monthly_budget,
            person_cap=rails.monthly_cap_per_user,
            stop_at_cap=saved.stop_at_cap,
            dry=frozenset(policy for policy in POLICIES if getattr(saved, f"{policy}_dry_run")),
        )

    def is_dry(self, policy):
        return policy in self.dry

    @property
    def idle_rule(self):
        """The idle rule in words ("idle < 5 % for 30 min"), or "" when it is off."""
        return "" if self.idle_minutes is None else f"idle < {self.idle_below:g} % for {self.idle_minutes} min"


def max_stop_after(user):
    """The longest time limit (minutes) `user`'s role may set, or None for no maximum."""
    return Guardrails.current().max_stop_after_for(role_of(user))
