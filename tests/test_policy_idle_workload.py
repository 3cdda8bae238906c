"""Idle auto-stop end to end against the simulator's workload: instances launched through the
dashboard, booted and watched by the worker's syncs (Huey immediate mode: each sync samples
`gpu_util` and applies the policies) while the simulator's shared clock and the dashboard's
`timezone.now()` move forward together. A busy GPU is never stopped; one idle for the rule's
window is stopped once, by "system", through Vast; a "keep running" one and a dry run are not."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.models import Action, Notification, NotificationEvent
from instances import sync
from instances.models import Instance, PolicyAction, UtilSample
from instances.tasks import sync_now
from tests.policy_helpers import policies, stops, work
from tests.test_launch import launch_offer
from vastsim import clock, workload

pytestmark = pytest.mark.django_db
STEP = 120  # simulated seconds between the worker's syncs (the 30-min rule tolerates 7.5-min gaps)
RULE = "idle < 5 % for 30 min"


class SharedTime:
    """The simulator's clock and the dashboard's `timezone.now()`, moved forward together."""

    def __init__(self, real_now):
        self.real_now = real_now
        self.offset = timedelta()

    def now(self):
        return self.real_now() + self.offset

    def advance(self, seconds):
        clock.advance(seconds)
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def shared_time(monkeypatch):
    """Every `timezone.now()` of the dashboard (the sync's sample times, the status history, the
    rule's window) follows the simulator's clock as the test advances it."""
    moved = SharedTime(timezone.now)
    monkeypatch.setattr(timezone, "now", moved.now)
    return moved


def beat():
    """One beat of the worker: a sync that reads the account, after which the policies run."""
    sync.request_sync()
    assert sync_now.call_local() == "synced"


def launch(operator_client, mode):
    """Launch through the dashboard's launch view as the operator, with the simulated GPU in
    workload `mode` ("busy" or "idle") from the start; the instance id."""
    vast_id = launch_offer(operator_client)
    workload.set_for(vast_id, mode)
    return vast_id


def boot(shared_time, *vast_ids):
    """A minute later the instances are up, and the worker's sync saw them running."""
    shared_time.advance(60)
    beat()
    for vast_id in vast_ids:
        assert Instance.objects.get(vast_id=vast_id).status == "running"


def run_for(shared_time, minutes, upstream, vast_id, *, stops_allowed=0):
    """Let `minutes` pass, the worker syncing every STEP; at every beat Vast has seen at most
    `stops_allowed` stops of `vast_id`."""
    for _ in range(minutes * 60 // STEP):
        shared_time.advance(STEP)
        beat()
        assert len(stops(upstream, vast_id)) <= stops_allowed


def test_a_busy_instance_runs_on_and_one_idle_for_thirty_minutes_is_stopped_once_by_system(
    operator, operator_client, upstream, shared_time
):
    policies(idle_util_below=5, idle_minutes=30)
    vast_id = launch(operator_client, "busy")
    boot(shared_time, vast_id)

    run_for(shared_time, 46, upstream, vast_id)  # busy for longer than the window: no stop
    busy = list(UtilSample.objects.filter(instance__vast_id=vast_id).values_list("gpu_util", flat=True))
    assert len(busy) >= 46 * 60 // STEP
    assert min(busy) >= 85
    assert not PolicyAction.objects.exists()

    workload.set_for(vast_id, "idle")
    run_for(shared_time, 28, upstream, vast_id)  # idle, but not yet for the whole window
    assert not PolicyAction.objects.exists()
    run_for(shared_time, 4, upstream, vast_id, stops_allowed=1)  # the window is now all idle

    assert len(stops(upstream, vast_id)) == 1
    action = Action.objects.get(kind=Action.Kind.STOP)
    assert (action.username, action.outcome, action.instance_id) == ("system", "success", vast_id)
    assert action.message == f"Stopped {vast_id} (demo) by policy: {RULE}."
    assert (action.detail["policy"], action.detail["rule"]) == ("idle", RULE)
    (event,) = NotificationEvent.objects.all()
    assert event.key.startswith(f"policy:idle:{vast_id}:")
    assert (event.kind, event.text) == ("policy_action", action.message)
    assert list(Notification.objects.values_list("user__username", flat=True)) == ["otto"]
    assert Instance.objects.get(vast_id=vast_id).status in ("stopping", "stopped")

    run_for(shared_time, 10, upstream, vast_id, stops_allowed=1)  # later syncs and evaluations
    work()
    assert len(stops(upstream, vast_id)) == 1
    assert Action.objects.filter(kind=Action.Kind.STOP).count() == 1
    assert NotificationEvent.objects.count() == 1
    assert PolicyAction.objects.get().outcome == "done"
    assert Instance.objects.get(vast_id=vast_id).status == "stopped"


def test_an_idle_instance_marked_keep_running_is_not_stopped(operator_client, admin_client, upstream, shared_time):
    policies(idle_util_below=5, idle_minutes=30)
    kept = launch(operator_client, "idle")
    other = launch(operator_client, "idle")
    boot(shared_time, kept, other)
    assert admin_client.post(f"/instances/{kept}/keep/", {"keep": "on"}).status_code == 302

    run_for(shared_time, 36, upstream, other, stops_allowed=1)
    assert stops(upstream, kept) == []
    assert len(stops(upstream, other)) == 1  # the rule was on: the same idleness stopped the other
    assert Instance.objects.get(vast_id=kept).status == "running"
    assert not PolicyAction.objects.filter(instance__vast_id=kept).exists()


def test_the_idle_dry_run_stops_nothing_and_the_policies_page_says_what_it_would_stop(
    operator_client, admin_client, upstream, shared_time
):
    policies(idle_util_below=5, idle_minutes=30, idle_dry_run=True)
    vast_id = launch(operator_client, "idle")
    boot(shared_time, vast_id)

    run_for(shared_time, 40, upstream, vast_id)
    assert upstream.calls("PUT", f"/api/v0/instances/{vast_id}/") == []
    assert not Action.objects.filter(kind=Action.Kind.STOP).exists()
    assert Instance.objects.get(vast_id=vast_id).status == "running"
    (noted,) = PolicyAction.objects.all()
    assert (noted.outcome, noted.message) == ("dry_run", f"would stop {vast_id} (demo): {RULE}")
    page = admin_client.get("/team/policies/").content.decode()
    assert f"would stop {vast_id} (demo): idle &lt; 5 % for 30 min" in page
