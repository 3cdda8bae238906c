"""Idle auto-stop: the utilisation samples the worker keeps (one per sync, downsampled, bounded),
the rule (below X % for Y minutes, watched the whole time), the keep-running exemption (admins,
audited), the dry run shown on /team/policies/, and the chart on the instance's page."""

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.models import Action
from instances import sync
from instances.models import Instance, PolicyAction, UtilSample
from instances.policies import samples
from instances.tasks import sync_now
from tests.policy_helpers import MINUTE, history, live, now, policies, stops, utilisation, work
from vastsim import clock

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


def idle_for(row, minutes, *, value=1.0, step=MINUTE):
    """The row ran for the last two hours, idle (at `value` %) for the last `minutes`."""
    history(row, ("running", now() - 2 * HOUR))
    busy = int((2 * HOUR - timedelta(minutes=minutes)) / step)
    start = now() - 2 * HOUR
    utilisation(row, [80.0] * busy, start=start, step=step)
    idle_start = start + busy * step
    utilisation(row, [value] * minutes, start=idle_start, step=MINUTE)
    # ... and the last sync read the same (the worker samples it too).
    Instance.objects.filter(pk=row.pk).update(snapshot={**row.snapshot, "gpu_util": value, "gpu_temp": 40})


def test_an_instance_idle_for_the_window_is_stopped_by_system_naming_the_rule(synced, operator, upstream):
    policies(idle_util_below=5, idle_minutes=30)
    row = live(synced, owner=operator, label="train-a")
    idle_for(row, 40)
    upstream.requests.clear()
    work()
    work()
    assert len(stops(upstream, row.vast_id)) == 1
    action = Action.objects.get(kind=Action.Kind.STOP)
    assert (action.username, action.outcome) == ("system", "success")
    assert action.message == f"Stopped {row.vast_id} (train-a) by policy: idle < 5 % for 30 min."
    assert action.detail["rule"] == "idle < 5 % for 30 min"
    assert Instance.objects.get(pk=row.pk).status == "stopping"


def test_busy_or_not_long_enough_or_unwatched_instances_are_left_alone(synced, upstream):
    policies(idle_util_below=5, idle_minutes=30)
    busy = live(synced, label="busy")
    short = live(synced, label="short")
    gap = live(synced, label="gap")
    young = live(synced, label="young")
    idle_for(busy, 40, value=6.0)  # at the threshold's wrong side
    idle_for(short, 20)
    history(gap, ("running", now() - 2 * HOUR))
    utilisation(gap, [1.0] * 3, start=now() - timedelta(minutes=31), step=timedelta(minutes=15))
    history(young, ("running", now() - timedelta(minutes=20)))
    utilisation(young, [0.0] * 20, start=now() - timedelta(minutes=20))
    upstream.requests.clear()
    work()
    assert upstream.calls("PUT", "/api/v0/instances/") == []
    assert not PolicyAction.objects.exists()


def test_an_admin_marks_an_instance_keep_running_and_the_idle_rule_skips_it(
    synced, upstream, admin_client, operator_client
):
    policies(idle_util_below=5, idle_minutes=30)
    row = live(synced, label="notebook")
    idle_for(row, 40)
    assert operator_client.post(f"/instances/{row.vast_id}/keep/", {"keep": "on"}).status_code == 403
    assert admin_client.post(f"/instances/{row.vast_id}/keep/", {"keep": "on"}).status_code == 302
    assert Instance.objects.get(pk=row.pk).keep_running
    kept = Action.objects.get(kind=Action.Kind.KEEP, outcome="success")
    assert (kept.username, kept.detail["keep"]) == ("ada", True)
    assert Action.objects.filter(kind=Action.Kind.KEEP, outcome="forbidden").count() == 1
    upstream.requests.clear()
    work()
    assert stops(upstream, row.vast_id) == []

    assert admin_client.post(f"/instances/{row.vast_id}/keep/", {}).status_code == 302
    assert not Instance.objects.get(pk=row.pk).keep_running
    work()
    assert len(stops(upstream, row.vast_id)) == 1


def test_the_dry_run_stops_nothing_and_the_policies_page_names_what_it_would_do(synced, upstream, admin_client):
    policies(idle_util_below=5, idle_minutes=30, idle_dry_run=True)
    row = live(synced, label="train-a")
    idle_for(row, 40)
    upstream.requests.clear()
    work()
    work()
    assert stops(upstream, row.vast_id) == []
    assert not Action.objects.filter(kind=Action.Kind.STOP).exists()
    (claim,) = PolicyAction.objects.all()
    assert (claim.outcome, claim.message) == ("dry_run", f"would stop {row.vast_id} (train-a): idle < 5 % for 30 min")
    page = admin_client.get("/team/policies/").content.decode()
    assert f"would stop {row.vast_id} (train-a): idle &lt; 5 % for 30 min" in page
    assert "dry run" in page

    policies(idle_util_below=5, idle_minutes=30, idle_dry_run=False)
    work()  # the dry run used none of the real action's key
    assert len(stops(upstream, row.vast_id)) == 1


def test_each_sync_leaves_one_sample_per_running_instance_and_no_reading_is_no_sample(synced):
    row = live(synced)
    Instance.objects.filter(pk=row.pk).update(snapshot={**row.snapshot, "gpu_util": 42.5, "gpu_temp": 60})
    work()
    work()
    (sample,) = UtilSample.objects.filter(instance=row)
    assert (sample.gpu_util, sample.at) == (42.5, row.last_seen)
    later = row.last_seen + timedelta(seconds=10)
    Instance.objects.filter(pk=row.pk).update(last_seen=later, snapshot={**row.snapshot, "gpu_util": 0, "gpu_temp": 0})
    work()
    assert UtilSample.objects.filter(instance=row).count() == 1
    assert samples.reading({"gpu_util": 0, "gpu_temp": 55}) == 0.0
    assert samples.reading({"gpu_util": None}) is None


def test_every_sync_of_the_worker_samples_the_simulators_gpu_util(synced):
    row = live(synced)
    for _ in range(2):
        clock.advance(30)
        sync.request_sync()
        assert sync_now.call_local() == "synced"  # the sync enqueues the policies, which sample
    assert UtilSample.objects.filter(instance=row).count() == 2
    assert all(0 <= s.gpu_util <= 100 for s in UtilSample.objects.filter(instance=row))


def test_old_samples_are_downsampled_to_one_per_ten_minutes_and_dropped_after_thirty_days(synced):
    row = live(synced)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    at = base + timedelta(days=40)
    utilisation(row, [10.0, 20.0, 30.0] + [50.0] * 57, start=at - timedelta(days=2), step=timedelta(seconds=10))
    utilisation(row, [70.0] * 30, start=at - timedelta(hours=1), step=timedelta(seconds=10))
    utilisation(row, [5.0], start=at - timedelta(days=31))
    samples.downsample(at)
    old = list(UtilSample.objects.filter(instance=row, at__lt=at - timedelta(days=1)))
    assert [s.coarse for s in old] == [True]
    assert old[0].gpu_util == pytest.approx((10 + 20 + 30 + 50 * 57) / 60)
    assert UtilSample.objects.filter(instance=row, at__gte=at - timedelta(days=1), coarse=False).count() == 30
    samples.downsample(at)
    assert UtilSample.objects.filter(instance=row).count() == 31


def test_the_instance_page_draws_the_utilisation_with_the_idle_threshold(synced, viewer_client):
    policies(idle_util_below=5, idle_minutes=30)
    row = live(synced)
    utilisation(row, [90.0, 60.0, 3.0, 2.0], start=now() - timedelta(minutes=4))
    page = viewer_client.get(f"/instances/{row.vast_id}/").content.decode()
    assert 'data-testid="util-chart"' in page
    assert "<polyline points=" in page
    assert 'class="util-threshold"' in page
    assert "stopped when idle &lt; 5 % for 30 min" in page
    assert "Mark keep running" not in page  # viewers may not


def test_a_full_day_of_samples_draws_at_most_240_points(synced):
    row = live(synced)
    utilisation(
        row, [float(i % 100) for i in range(2000)], start=now() - timedelta(hours=20), step=timedelta(seconds=30)
    )
    chart = samples.chart(row, now())
    assert chart.count == 2000
    assert sum(len(line.split()) for line in chart.lines) <= samples.POINTS
