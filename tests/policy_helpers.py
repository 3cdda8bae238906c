"""Helpers of the policy tests (tests/test_policy_*.py): instances rented on the simulator and
synced into the ledger, histories and utilisation samples set at explicit times, the policy
settings, and the worker's policy task run in Huey's immediate mode."""

from datetime import timedelta

from django.utils import timezone

from dashboard import vast
from dashboard.models import Guardrails, NotificationEvent, PolicySettings
from instances.models import Instance, StatusChange, UtilSample
from vastsim import clock

MINUTE = timedelta(minutes=1)


def rent(label="train-a", onstart=None):
    """Rent a rentable offer on the simulator (as from Vast's console); its instance id."""
    query = {"rentable": {"eq": True}, "num_gpus": {"eq": 1}, "limit": 40, "allocated_storage": 10}
    for offer in vast.search_offers(query):
        try:
            request = vast.LaunchRequest(image="nvidia/cuda:12.4.1", label=label, onstart=onstart)
            return vast.create_instance(offer.id, request).instance_id
        except vast.VastOfferUnavailable:
            continue
    raise AssertionError("no offer could be rented")


def live(synced, *, owner=None, label="train-a", stopped=False):
    """An instance running (or stopped) on the simulator and in the ledger, launched by `owner`
    (None: outside the dashboard); its ledger row."""
    vast_id = rent(label)
    if stopped:
        vast.set_state(vast_id, "stopped")
    clock.advance(60)
    synced()
    row = Instance.objects.get(vast_id=vast_id)
    if owner is not None:
        row.launched_by, row.launched_by_name = owner, owner.get_username()
        row.save(update_fields=["launched_by", "launched_by_name"])
    assert row.status == ("stopped" if stopped else "running"), row.status
    return row


def history(row, *steps):
    """Replace the row's status history with [(status, at), ...] (the last is its status now)."""
    StatusChange.objects.filter(instance=row).delete()
    previous = ""
    for status, at in steps:
        StatusChange.objects.create(instance=row, from_status=previous, to_status=status, at=at)
        previous = status
    row.status = steps[-1][0]
    row.first_seen = min(row.first_seen, steps[0][1])
    row.save(update_fields=["status", "first_seen"])
    return row


def utilisation(row, values, *, start, step=MINUTE):
    """Samples of `values` (%), one every `step` from `start`."""
    UtilSample.objects.bulk_create(
        UtilSample(instance=row, at=start + index * step, gpu_util=value) for index, value in enumerate(values)
    )


def policies(**fields):
    """Save the team's policy settings (unnamed ones keep their defaults)."""
    PolicySettings.objects.update_or_create(pk=1, defaults={"updated_by": "ada", **fields})


def rails(**limits):
    Guardrails.objects.update_or_create(pk=1, defaults={"updated_by": "ada", **limits})


def work():
    """The worker's policy task, run here as the worker runs it after a sync; raises if it failed
    (Huey keeps no results, so an enqueued task's error would only be logged)."""
    from instances.tasks import evaluate_policies

    evaluate_policies.call_local()


def stops(upstream, vast_id):
    """The stop requests sent to Vast for `vast_id`."""
    return [r for r in upstream.calls("PUT", f"/api/v0/instances/{vast_id}/") if r.body == {"state": "stopped"}]


def destroys(upstream, vast_id):
    return upstream.calls("DELETE", f"/api/v0/instances/{vast_id}/")


def events(prefix):
    """The notification events whose key starts with `prefix`."""
    return list(NotificationEvent.objects.filter(key__startswith=prefix))


def now():
    return timezone.now()
