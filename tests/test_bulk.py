"""Bulk Stop / Start / Destroy on /instances/: every row checked against the role, ownership and
guardrails before Vast's one bulk call, which carries exactly the allowed rows; one audit row per
instance; the ledger shows the change at once."""

import re

import pytest

from dashboard import vast
from dashboard.models import Action, Guardrails
from instances.models import Instance
from tests.test_launch import launch_offer, rentable_offer, said
from vastsim import clock, faults

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def fleet(operator_client, other_operator_client, synced):
    """Two running instances of otto's, one of olga's, one launched outside the dashboard."""
    mine = [launch_offer(operator_client, label=f"otto-{i}") for i in (1, 2)]
    theirs = launch_offer(other_operator_client, label="olga-1")
    outside = vast.create_instance(
        rentable_offer().id, vast.LaunchRequest(image="ubuntu:22.04", label="cli")
    ).instance_id
    clock.advance(30)
    synced()
    yield {"mine": mine, "theirs": theirs, "outside": outside}
    clock.reset()


def stopped(synced, *ids):
    """Stop these instances outside the dashboard and let the worker see it."""
    for instance_id in ids:
        vast.set_state(instance_id, "stopped")
    synced()


def bulk_calls(upstream):
    return [(r.method, r.body) for r in upstream.requests if r.path == "/api/v0/instances/"]


def rows(kind):
    return {a.instance_id: a for a in Action.objects.filter(kind=kind)}


def status(instance_id):
    return Instance.objects.get(vast_id=instance_id).status


def test_an_operator_stops_anyones_instances_in_one_call_with_one_audit_row_each(operator_client, fleet, upstream):
    ids = [*fleet["mine"], fleet["theirs"], fleet["outside"]]
    response = operator_client.post("/instances/bulk/", {"action": "stop", "ids": ids}, headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#alerts"
    assert "instances-changed" in response["HX-Trigger"]
    assert bulk_calls(upstream) == [("PUT", {"state": "stopped", "ids": ids})]
    audit = rows("stop")
    assert sorted(audit) == sorted(ids)
    assert {a.outcome for a in audit.values()} == {"success"}
    assert {a.username for a in audit.values()} == {"otto"}
    assert audit[fleet["theirs"]].detail == {"bulk": 4, "owner": "olga", "state": "stopped"}
    assert audit[fleet["outside"]].detail["owner"] == "outside the dashboard"
    assert {status(i) for i in ids} == {"stopping"}
    assert "Stopped 4 instances" in response.content.decode()


def test_a_start_sends_only_own_rows_the_guardrails_allow(operator_client, fleet, upstream, synced):
    first, second = fleet["mine"]
    stopped(synced, first, second, fleet["theirs"])
    Guardrails.objects.update_or_create(pk=1, defaults={"max_running_per_user": 1})
    upstream.requests.clear()
    ids = [first, second, fleet["theirs"]]
    response = operator_client.post("/instances/bulk/", {"action": "start", "ids": ids}, headers=HTMX)
    assert response.status_code == 200
    assert bulk_calls(upstream) == [("PUT", {"state": "running", "ids": [first]})]
    audit = Action.objects.filter(kind="start")
    assert sorted((a.instance_id, a.outcome) for a in audit) == sorted(
        [(first, "success"), (second, "forbidden"), (fleet["theirs"], "forbidden")]
    )
    assert audit.get(instance_id=second).detail == {"refused": "max_running"}
    assert "only instances you launched" in audit.get(instance_id=fleet["theirs"]).message
    assert status(first) == "starting"
    assert status(second) == "stopped"
    page = response.content.decode()
    assert "Starting 1 instance" in page
    assert "olga" in page


def test_nothing_allowed_sends_nothing_and_answers_403(operator_client, fleet, upstream, synced):
    stopped(synced, fleet["theirs"])
    upstream.requests.clear()
    response = operator_client.post("/instances/bulk/", {"action": "start", "ids": [fleet["theirs"]]}, headers=HTMX)
    assert response.status_code == 403
    assert bulk_calls(upstream) == []
    assert Action.objects.get(kind="start").outcome == "forbidden"


def test_an_operator_destroys_only_their_own(operator_client, fleet, upstream):
    ids = [fleet["mine"][0], fleet["theirs"], fleet["outside"]]
    response = operator_client.post("/instances/bulk/", {"action": "destroy", "ids": ids})
    assert response.status_code == 302
    assert said(response, "Destroyed 1 instance")
    assert bulk_calls(upstream) == [("DELETE", {"instance_ids": [fleet["mine"][0]]})]
    audit = rows("destroy")
    assert audit[fleet["mine"][0]].outcome == "success"
    assert audit[fleet["theirs"]].outcome == audit[fleet["outside"]].outcome == "forbidden"
    gone = Instance.objects.get(vast_id=fleet["mine"][0])
    assert (gone.ended, gone.ended_by) == (Instance.End.DESTROYED, "otto")
    assert Instance.objects.get(vast_id=fleet["theirs"]).gone_at is None


def test_an_admin_destroys_any(admin_client, fleet, upstream):
    ids = [*fleet["mine"], fleet["theirs"], fleet["outside"]]
    admin_client.post("/instances/bulk/", {"action": "destroy", "ids": ids}, headers=HTMX)
    assert bulk_calls(upstream) == [("DELETE", {"instance_ids": ids})]
    assert {a.outcome for a in rows("destroy").values()} == {"success"}
    assert not Instance.objects.filter(gone_at__isnull=True).exists()


def test_a_viewer_is_refused_per_instance_and_nothing_is_sent(viewer_client, fleet, upstream):
    ids = [fleet["theirs"], fleet["outside"]]
    for verb in ("stop", "start", "destroy"):
        assert viewer_client.post("/instances/bulk/", {"action": verb, "ids": ids}).status_code == 403
    assert bulk_calls(upstream) == []
    refused = Action.objects.filter(username="vera")
    assert refused.count() == 6
    assert {a.outcome for a in refused} == {"forbidden"}


def test_vast_refusing_the_call_fails_each_row(operator_client, fleet, upstream):
    faults.inject(
        "instances_bulk", method="PUT", status=400, body={"error": "insufficient_credit", "msg": "No credit."}
    )
    response = operator_client.post("/instances/bulk/", {"action": "stop", "ids": fleet["mine"]}, headers=HTMX)
    assert len(bulk_calls(upstream)) == 1
    assert {a.outcome for a in rows("stop").values()} == {"failed"}
    assert "No credit." in response.content.decode()
    assert {status(i) for i in fleet["mine"]} == {"running"}


def test_a_lost_answer_leaves_each_row_unknown_and_is_never_resent(operator_client, fleet, upstream):
    faults.inject("instances_bulk", method="DELETE", status=504)
    operator_client.post("/instances/bulk/", {"action": "destroy", "ids": fleet["mine"]}, headers=HTMX)
    assert len(bulk_calls(upstream)) == 1
    assert {a.outcome for a in rows("destroy").values()} <= {"unknown", "failed"}
    assert Instance.objects.filter(vast_id__in=fleet["mine"], gone_at__isnull=True).count() == 2


def test_rows_whose_state_does_not_fit_are_skipped_unaudited(operator_client, fleet, upstream, synced):
    stopped(synced, fleet["mine"][0])
    upstream.requests.clear()
    response = operator_client.post("/instances/bulk/", {"action": "start", "ids": fleet["mine"]})
    assert bulk_calls(upstream) == [("PUT", {"state": "running", "ids": [fleet["mine"][0]]})]
    assert said(response, "it is running, not stopped")
    assert list(rows("start")) == [fleet["mine"][0]]


@pytest.mark.parametrize(
    "data",
    [{"action": "stop"}, {"action": "reboot", "ids": ["1"]}, {"action": "stop", "ids": ["x"]}, {"ids": ["1"]}],
)
def test_bad_selections_send_nothing(operator_client, upstream, data):
    response = operator_client.post("/instances/bulk/", data, headers=HTMX)
    assert response.status_code == 200
    assert "Select one or more instances" in response.content.decode()
    assert bulk_calls(upstream) == []
    assert not Action.objects.exists()


def test_the_list_has_checkboxes_only_where_the_person_may_act(operator_client, viewer_client, fleet, synced):
    stopped(synced, fleet["theirs"])
    page = operator_client.get("/instances/").content.decode()
    assert 'id="bulk-form"' in page
    assert 'id="select-all"' in page
    for instance_id in (*fleet["mine"], fleet["outside"]):
        assert f'name="ids" value="{instance_id}" form="bulk-form" id="select-{instance_id}" hx-preserve' in page
    assert f'value="{fleet["theirs"]}" form="bulk-form"' not in page  # olga's and stopped: nothing otto may do
    cell = re.search(
        rf'<td class="select" data-bulk-actions="([^"]*)" data-bulk-name="otto-1 \(#{fleet["mine"][0]}\)"', page
    )
    assert cell.group(1).split() == ["stop", "destroy"]
    viewer_page = viewer_client.get("/instances/").content.decode()
    assert 'id="bulk-form"' not in viewer_page
    assert 'name="ids"' not in viewer_page
