"""Budgets: the team's monthly budget and the per-person monthly cap (the guardrails'), both on
the ledger's estimate of this month's spend, storage included.

At 80 % and at 100 % the person and the admins are told, once per month and threshold (only the
highest threshold crossed, so a jump past both says one thing). At a person's 100 % their launches
and Starts are refused by the spend decision; with `stop_at_cap`, their running instances (and
nobody else's) are stopped, once per instance, month and stretch of running.
"""

from django.contrib.auth import get_user_model
from django.urls import reverse

from instances import costs
from instances.policies.config import BUDGET
from instances.policies.facts import HOLDING, NOTIFY, STOP, STOPPABLE, Decision, stamp

THRESHOLDS = (100, 80)


def _crossed(spent, limit):
    """The highest threshold (%) `spent` reached of `limit`, or None."""
    for threshold in THRESHOLDS:
        if spent >= float(limit) * threshold / 100:
            return threshold
    return None


def _team(config, month, spent):
    threshold = _crossed(spent, config.team_budget)
    if threshold is None:
        return
    verb = "reached" if threshold == 100 else f"passed {threshold} % of"
    text = f"The team's estimated spend this month (${spent:.2f}) has {verb} its budget of ${config.team_budget:.2f}."
    yield Decision(
        BUDGET, NOTIFY, f"budget:team:{month}:{threshold}", f"team budget {threshold} %",
        kind="budget", text=text, admins=True, link=reverse("home"),
    )  # fmt: skip


def _person(config, month, user, spent):
    threshold = _crossed(spent, config.person_cap)
    if threshold is None:
        return
    cap = config.person_cap
    if threshold == 100:
        consequence = " Their launches and starts are refused until next month"
        consequence += ", and their running instances are stopped." if config.stop_at_cap else "."
        text = f"{user.get_username()}'s estimated spend this month (${spent:.2f}) has reached the cap of ${cap:.2f}."
        text += consequence
    else:
        text = f"{user.get_username()}'s estimated spend this month (${spent:.2f}) has passed 80 % of the cap of ${cap:.2f}."
    yield Decision(
        BUDGET, NOTIFY, f"budget:user:{user.pk}:{month}:{threshold}", f"monthly cap {threshold} %",
        kind="budget", text=text, users=(user,), admins=True, link=reverse("home"),
    )  # fmt: skip


def decide(facts, config, now):
    if config.team_budget is None and config.person_cap is None:
        return
    month = f"{costs.month_start(now):%Y-%m}"
    spend = costs.spend_by_user(now=now)  # the team's spend is its people's and outside launches'
    if config.team_budget is not None:
        yield from _team(config, month, sum(spend.values()))
    if config.person_cap is None:
        return
    users = get_user_model().objects.in_bulk([user_id for user_id in spend if user_id is not None])
    for user_id, spent in spend.items():
        user = users.get(user_id)
        if user is None:
            continue
        yield from _person(config, month, user, spent)
        if not config.stop_at_cap or spent < float(config.person_cap):
            continue
        rule = f"{user.get_username()}'s spend this month (${spent:.2f}) reached the monthly cap of ${config.person_cap:.2f}"
        for fact in facts:
            row = fact.row
            if row.launched_by_id == user_id and row.status in STOPPABLE:
                key = f"budget:{row.vast_id}:{month}:{stamp(fact.since(HOLDING))}"
                yield Decision(BUDGET, STOP, key, rule, row, users=(user,), admins=True)
