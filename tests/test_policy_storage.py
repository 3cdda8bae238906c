"""Forgotten storage: the owner is reminded once per stop with the $/day and a link to destroy it;
the optional auto-destroy warns 24 h first, destroys once as "system", and never an instance
marked keep running; in dry run it only says what it would do."""

from datetime import timedelta

import pytest

from dashboard.models import Action, NotificationEvent
from instances.models import Instance, PolicyAction
from tests.policy_helpers import destroys, events, history, live, now, policies, work

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def stopped_since(row, days):
    return history(row, ("running", now() - (days + 5) * DAY), ("stopped", now() - days * DAY))


def test_the_owner_is_reminded_once_per_stop_with_the_cost_per_day(synced, operator):
    row = live(synced, owner=operator, stopped=True, label="old-run")
    stopped_since(row, 4)
    work()
    work()
    (event,) = events("storage:")
    per_day = row.storage_per_hour * 24
    assert event.kind == "storage_reminder"
    assert f"{row.vast_id} (old-run) has been stopped for 4 days;" in event.text
    assert f"${per_day:.2f}/day" in event.text
    assert event.link == f"/instances/{row.vast_id}/"
    assert [n.user for n in event.notifications.all()] == [operator]

    # Started and stopped again: a new stop, a new reminder when it is due.
    history(row, ("running", now() - 9 * DAY), ("stopped", now() - 4 * DAY), ("running", now() - 3.9 * DAY),
            ("stopped", now() - 3.5 * DAY))  # fmt: skip
    work()
    assert len(events("storage:")) == 2


def test_no_reminder_before_the_days_or_when_turned_off(synced):
    row = live(synced, stopped=True)
    stopped_since(row, 2)
    work()
    assert events("storage:") == []
    policies(stopped_notify_days=None)
    stopped_since(row, 30)
    work()
    assert events("storage:") == []


def test_auto_destroy_warns_24_hours_first_then_destroys_once_as_system(synced, operator, admin, upstream):
    policies(stopped_notify_days=1, stopped_destroy_days=2)
    row = live(synced, owner=operator, stopped=True, label="old-run")
    stopped_since(row, 3.2)  # due 0.2 days ago, but nobody was warned yet
    upstream.requests.clear()
    work()
    (warning,) = events("storage-warn:")
    assert "will be destroyed by policy" in warning.text
    assert destroys(upstream, row.vast_id) == []
    NotificationEvent.objects.filter(pk=warning.pk).update(created_at=now() - timedelta(hours=23))
    work()
    assert destroys(upstream, row.vast_id) == []

    NotificationEvent.objects.filter(pk=warning.pk).update(created_at=now() - timedelta(hours=25))
    work()
    work()
    assert len(destroys(upstream, row.vast_id)) == 1
    action = Action.objects.get(kind=Action.Kind.DESTROY)
    assert (action.username, action.user, action.outcome) == ("system", None, "success")
    assert "by policy: stopped for over 3 days" in action.message
    row.refresh_from_db()
    assert (row.ended, row.ended_by) == ("destroyed", "system")
    assert row.gone_at is not None
    (told,) = events("policy:storage-destroy:")
    assert {n.user.username for n in told.notifications.all()} == {"otto", "ada"}


def test_an_instance_marked_keep_running_is_never_destroyed(synced, upstream, admin_client):
    policies(stopped_notify_days=1, stopped_destroy_days=1)
    row = live(synced, stopped=True)
    assert admin_client.post(f"/instances/{row.vast_id}/keep/", {"keep": "on"}).status_code == 302
    stopped_since(row, 30)
    work()
    NotificationEvent.objects.filter(key__startswith="storage-warn:").update(created_at=now() - 2 * DAY)
    work()
    assert destroys(upstream, row.vast_id) == []
    assert events("storage-warn:") == []
    assert len(events("storage:")) == 1  # the reminder still comes
    assert Instance.objects.get(pk=row.pk).gone_at is None


def test_the_destroy_dry_run_warns_nobody_and_destroys_nothing(synced, upstream, admin_client):
    policies(stopped_notify_days=1, stopped_destroy_days=1, storage_dry_run=True)
    row = live(synced, stopped=True, label="old-run")
    stopped_since(row, 3)
    work()
    assert destroys(upstream, row.vast_id) == []
    assert events("storage-warn:") == []
    (claim,) = PolicyAction.objects.all()
    assert claim.outcome == "dry_run"
    assert claim.message.startswith(f"would destroy {row.vast_id} (old-run): stopped for over 2 days")
    assert "would destroy" in admin_client.get("/team/policies/").content.decode()
