"""The time limit (lease): `stop_after` on the launch form (presets, the role's maximum as default
and ceiling), the warning with its Extend link, the stop by "system" through the worker, the
extend form (audited, refused past the maximum), and "stops in" on the pages."""

import re
from datetime import timedelta

import pytest

from dashboard.models import Action, Notification
from instances.models import Instance, PolicyAction
from tests.policy_helpers import events, history, live, now, policies, rails, stops, work
from tests.test_launch import launch_offer, open_form, puts, rentable_offer, submit

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


def test_the_launch_form_offers_presets_up_to_the_role_maximum_which_is_the_default(operator_client):
    rails(operator_max_stop_after_minutes=240)
    offer = rentable_offer()
    response, _ = open_form(operator_client, offer.id, "?disk=40")
    page = response.content.decode()
    assert re.search(r'<input[^>]*name="stop_after"[^>]*value="240"', page)
    presets = re.search(r'<datalist id="stop-after-presets">(.*?)</datalist>', page, re.S).group(1)
    assert 'value="60"' in presets
    assert 'value="240"' in presets
    assert 'value="480"' not in presets
    assert "at most 240 minutes (4 h)" in page


def test_a_stop_after_over_the_role_maximum_is_a_form_error_and_nothing_reaches_vast(operator_client, upstream):
    rails(operator_max_stop_after_minutes=240)
    offer = rentable_offer()
    for value in ("241", ""):
        _, token = open_form(operator_client, offer.id, "?disk=40")
        response = submit(operator_client, offer.id, token, stop_after=value)
        assert response.status_code == 200
        assert "Your role may launch with a time limit of at most 240 minutes (4 h)" in response.content.decode()
    assert puts(upstream) == []
    assert not Instance.objects.exists()


def test_without_a_maximum_an_empty_stop_after_means_never(operator_client):
    vast_id = launch_offer(operator_client, stop_after="")
    assert Instance.objects.get(vast_id=vast_id).stop_at is None


def test_a_launch_with_stop_after_keeps_the_limit_and_the_pages_say_when_it_stops(operator_client):
    vast_id = launch_offer(operator_client, stop_after="130")
    row = Instance.objects.get(vast_id=vast_id)
    assert abs(row.stop_at - (now() + timedelta(minutes=130))) < timedelta(seconds=30)
    launch = Action.objects.get(kind=Action.Kind.LAUNCH)
    assert launch.detail["stop_after"] == 130
    listing = operator_client.get("/instances/").content.decode()
    assert re.search(r'data-testid="stops-in">stops in 2 h (9|10) min<', listing)
    page = operator_client.get(f"/instances/{vast_id}/").content.decode()
    assert re.search(r'data-testid="stops-in">stops in 2 h (9|10) min<', page)
    assert f'href="/instances/{vast_id}/extend/"' in page


def test_a_limit_shorter_than_the_warning_warns_the_owner_at_once_and_once(operator, operator_client):
    vast_id = launch_offer(operator_client, stop_after="1")
    work()
    work()
    (event,) = events("lease-warn:")
    assert event.kind == "lease_warning"
    assert event.link == f"/instances/{vast_id}/extend/"
    assert "will be stopped at" in event.text
    assert "Extend it" in event.text
    assert list(Notification.objects.filter(event=event).values_list("user__username", flat=True)) == ["otto"]


def test_no_warning_before_the_warning_time(synced, operator):
    row = live(synced, owner=operator)
    Instance.objects.filter(pk=row.pk).update(stop_at=now() + timedelta(minutes=16))
    work()
    assert events("lease-warn:") == []
    policies(lease_warn_minutes=20)
    work()
    assert len(events("lease-warn:")) == 1


def test_an_expired_limit_is_stopped_once_by_system_through_vast(synced, operator, upstream):
    row = live(synced, owner=operator)
    history(row, ("starting", now() - 2 * HOUR), ("running", now() - 2 * HOUR + timedelta(minutes=1)))
    Instance.objects.filter(pk=row.pk).update(stop_at=now() - timedelta(minutes=1))
    upstream.requests.clear()
    work()
    work()
    assert len(stops(upstream, row.vast_id)) == 1
    row.refresh_from_db()
    assert row.status == "stopping"
    (action,) = Action.objects.filter(kind=Action.Kind.STOP)
    assert (action.user, action.username, action.outcome) == (None, "system", "success")
    assert "by policy: time limit reached" in action.message
    assert action.detail["policy"] == "lease"
    assert action.detail["owner"] == "otto"
    (claim,) = PolicyAction.objects.all()
    assert (claim.policy, claim.outcome, claim.action_id) == ("lease", "done", action.pk)
    (told,) = events("policy:lease:")
    assert told.kind == "policy_action"
    assert told.notifications.get().user == operator
    synced()
    assert Instance.objects.get(pk=row.pk).status in ("stopping", "stopped")


def test_a_limit_that_ran_out_while_stopped_does_not_stop_a_later_start(synced, operator, upstream):
    row = live(synced, owner=operator)
    history(row, ("running", now() - 3 * HOUR), ("stopped", now() - 2 * HOUR), ("running", now() - 0.2 * HOUR))
    Instance.objects.filter(pk=row.pk).update(stop_at=now() - HOUR)
    upstream.requests.clear()
    work()
    assert stops(upstream, row.vast_id) == []
    assert not PolicyAction.objects.exists()


def test_in_dry_run_the_limit_stops_nothing_and_warns_nobody(synced, operator, upstream, admin_client):
    policies(lease_dry_run=True)
    row = live(synced, owner=operator, label="train-a")
    history(row, ("running", now() - 2 * HOUR))
    Instance.objects.filter(pk=row.pk).update(stop_at=now() - timedelta(minutes=1))
    upstream.requests.clear()
    work()
    assert stops(upstream, row.vast_id) == []
    (claim,) = PolicyAction.objects.all()
    assert claim.outcome == "dry_run"
    assert claim.key.startswith("dry:lease:")
    page = admin_client.get("/team/policies/").content.decode()
    assert f"would stop {row.vast_id} (train-a): time limit reached" in page


def test_extending_moves_the_stop_later_and_is_audited_up_to_the_role_maximum(synced, operator, operator_client):
    rails(operator_max_stop_after_minutes=120)
    row = live(synced, owner=operator)
    Instance.objects.filter(pk=row.pk).update(stop_at=now() + timedelta(minutes=10))
    page = operator_client.get(f"/instances/{row.vast_id}/extend/")
    assert page.status_code == 200
    assert 'name="extend_minutes"' in page.content.decode()
    assert "at most 2 h from now" in page.content.decode()

    response = operator_client.post(f"/instances/{row.vast_id}/extend/", {"extend_minutes": "60"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert abs(row.stop_at - (now() + timedelta(minutes=70))) < timedelta(seconds=30)
    extended = Action.objects.get(kind=Action.Kind.EXTEND, outcome="success")
    assert (extended.username, extended.instance_id, extended.detail["minutes"]) == ("otto", row.vast_id, 60)

    before = row.stop_at
    refused = operator_client.post(f"/instances/{row.vast_id}/extend/", {"extend_minutes": "60"})
    assert refused.status_code == 403
    assert "Refused: the operator maximum time limit is 2 h from now" in refused.content.decode()
    row.refresh_from_db()
    assert row.stop_at == before
    forbidden = Action.objects.get(kind=Action.Kind.EXTEND, outcome="forbidden")
    assert forbidden.detail == {"refused": "max_stop_after"}


def test_extending_a_warned_limit_gives_a_new_warning_later(synced, operator, operator_client):
    row = live(synced, owner=operator)
    history(row, ("running", now() - HOUR))
    Instance.objects.filter(pk=row.pk).update(stop_at=now() + timedelta(minutes=5))
    work()
    operator_client.post(f"/instances/{row.vast_id}/extend/", {"extend_minutes": "60"})
    work()
    assert len(events("lease-warn:")) == 1  # the new stop is 65 min away: no warning yet
    Instance.objects.filter(pk=row.pk).update(stop_at=now() + timedelta(minutes=3))
    work()
    assert len(events("lease-warn:")) == 2


def test_only_the_owner_or_an_admin_may_extend(synced, operator, other_operator_client, viewer_client, admin_client):
    row = live(synced, owner=operator)
    Instance.objects.filter(pk=row.pk).update(stop_at=now() + timedelta(minutes=10))
    for client in (other_operator_client, viewer_client):
        assert client.post(f"/instances/{row.vast_id}/extend/", {"extend_minutes": "5"}).status_code == 403
    assert Action.objects.filter(kind=Action.Kind.EXTEND, outcome="forbidden").count() == 2
    assert admin_client.post(f"/instances/{row.vast_id}/extend/", {"extend_minutes": "5"}).status_code == 302
    assert Action.objects.get(kind=Action.Kind.EXTEND, outcome="success").username == "ada"


def test_a_start_by_a_role_with_a_maximum_gets_a_fresh_limit(synced, operator, operator_client):
    rails(operator_max_stop_after_minutes=60)
    row = live(synced, owner=operator, stopped=True)
    assert operator_client.post(f"/instances/{row.vast_id}/start/").status_code == 302
    row.refresh_from_db()
    assert abs(row.stop_at - (now() + HOUR)) < timedelta(seconds=30)
