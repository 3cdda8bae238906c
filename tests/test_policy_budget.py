"""Budgets: the team's monthly budget and the per-person cap tell the person and the admins at
80 % and 100 %, once per month and threshold; with stop_at_cap the person's running instances,
and nobody else's, are stopped by "system" (once)."""

from datetime import timedelta

import pytest

from dashboard.models import Action
from instances import costs
from instances.models import Instance, PolicyAction
from tests.policy_helpers import events, history, live, now, policies, rails, stops, work

pytestmark = pytest.mark.django_db


def spent(row, dollars):
    """Make the row's estimate this month `dollars`: running since a while ago at the right $/hr."""
    since = max(costs.month_start(now()), now() - timedelta(hours=2))
    history(row, ("running", since))
    hours = (now() - since).total_seconds() / 3600
    Instance.objects.filter(pk=row.pk).update(dph_total=dollars / hours, started_at=since)
    return row


def month():
    return f"{costs.month_start(now()):%Y-%m}"


def test_the_team_budget_tells_the_admins_at_80_and_100_percent_once_each(synced, admin, operator):
    policies(team_monthly_budget=100)
    row = spent(live(synced, owner=operator), 85)
    work()
    work()
    (eighty,) = events("budget:team:")
    assert eighty.key == f"budget:team:{month()}:80"
    assert eighty.kind == "budget"
    assert "passed 80 % of its budget of $100.00" in eighty.text
    assert [n.user for n in eighty.notifications.all()] == [admin]
    spent(row, 105)
    work()
    work()
    keys = sorted(event.key for event in events("budget:team:"))
    assert keys == [f"budget:team:{month()}:100", f"budget:team:{month()}:80"]
    assert not PolicyAction.objects.exists()  # the team budget stops nothing


def test_a_jump_past_both_thresholds_says_it_once(synced, admin):
    policies(team_monthly_budget=10)
    spent(live(synced), 50)
    work()
    assert [event.key for event in events("budget:team:")] == [f"budget:team:{month()}:100"]
    work()
    assert len(events("budget:team:")) == 1


def test_the_cap_per_person_tells_that_person_and_the_admins(synced, admin, operator, other_operator):
    rails(monthly_cap_per_user=50)
    mine, theirs = live(synced, owner=operator), live(synced, owner=other_operator)
    spent(mine, 45)
    spent(theirs, 10)  # (rows are set after every sync: a sync brings Vast's prices back)
    work()
    (event,) = events("budget:user:")
    assert event.key == f"budget:user:{operator.pk}:{month()}:80"
    assert "otto's estimated spend this month ($45.00) has passed 80 % of the cap of $50.00" in event.text
    assert {n.user.username for n in event.notifications.all()} == {"otto", "ada"}


def test_at_the_cap_without_stop_at_cap_nothing_is_stopped(synced, admin, operator, upstream):
    rails(monthly_cap_per_user=50)
    row = spent(live(synced, owner=operator), 60)
    upstream.requests.clear()
    work()
    (event,) = events("budget:user:")
    assert event.key.endswith(":100")
    assert "launches and starts are refused until next month." in event.text
    assert stops(upstream, row.vast_id) == []


def test_stop_at_cap_stops_that_persons_running_instances_and_nobody_elses(
    synced, admin, operator, other_operator, upstream
):
    rails(monthly_cap_per_user=50)
    policies(stop_at_cap=True)
    first, second = live(synced, owner=operator, label="a"), live(synced, owner=operator, label="b")
    stopped = live(synced, owner=operator, stopped=True, label="c")
    others, outside = live(synced, owner=other_operator, label="d"), live(synced, label="e")
    spent(first, 40)
    spent(second, 20)
    spent(others, 49)
    spent(outside, 500)
    upstream.requests.clear()
    work()
    work()
    assert len(stops(upstream, first.vast_id)) == 1
    assert len(stops(upstream, second.vast_id)) == 1
    for untouched in (stopped, others, outside):
        assert upstream.calls("PUT", f"/api/v0/instances/{untouched.vast_id}/") == []
    actions = Action.objects.filter(kind=Action.Kind.STOP).order_by("instance_id")
    assert [a.instance_id for a in actions] == sorted([first.vast_id, second.vast_id])
    assert all(a.username == "system" and "reached the monthly cap of $50.00" in a.message for a in actions)
    assert "and their running instances are stopped" in events("budget:user:")[0].text


def test_the_budget_dry_run_stops_nothing_but_still_tells(synced, admin, operator, upstream):
    rails(monthly_cap_per_user=50)
    policies(stop_at_cap=True, budget_dry_run=True)
    row = spent(live(synced, owner=operator, label="a"), 60)
    upstream.requests.clear()
    work()
    assert stops(upstream, row.vast_id) == []
    assert PolicyAction.objects.get().outcome == "dry_run"
    assert len(events("budget:user:")) == 1
