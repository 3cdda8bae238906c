"""Spending guardrails: refuse a launch over a team limit before any upstream call."""

from decimal import Decimal

from dashboard.models import Guardrails
from dashboard.roles import role_of


class GuardrailExceeded(Exception):
    """A launch would break a team limit; `message` names the limit."""

    def __init__(self, message, limit):
        super().__init__(message)
        self.message = message
        self.limit = limit


def check_launch(user, price_per_hour, running_instances, month_spend):
    """Raise GuardrailExceeded if launching at `price_per_hour` breaks a limit.

    `running_instances` is how many of the user's instances run now, and `month_spend` what
    their instances cost this month ($, the ledger's estimate, storage included): the apps that
    keep the ledger pass them in, so this floor decides without reading any app's models.
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
        spent = Decimal(f"{month_spend:.2f}")
        if spent >= monthly:
            raise GuardrailExceeded(
                f"Your estimated spend this month (${spent:.2f}) has reached the monthly cap of ${monthly:.2f}.",
                "monthly_cap",
            )
