"""Pages read the ledger, never Vast: no upstream call while serving, `#sync-status` saying how
fresh the ledger is, `/healthz/worker` for monitors, and launches written to the ledger at once."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import vast
from instances import ledger, sync
from instances.models import Instance, SyncState
from vastsim import clock

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
LAUNCH_FORM = {
    "image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
    "disk": "40",
    "runtype": "ssh",
    "args": "",
    "label": "from-the-dashboard",
    "env": "",
    "onstart": "",
    "type": "on-demand",
    "quote_disk": "40",
}


@pytest.fixture(autouse=True)
def _cadence(settings):
    settings.VAST_SYNC_SECONDS = 10.0
    settings.VAST_SYNC_FAST_SECONDS = 2.0


def rentable_offer(skip=()):
    query = {"rentable": {"eq": True}, "disk_space": {"gte": 60}, "type": "on-demand", "limit": 100}
    return next(offer for offer in vast.search_offers(query) if offer.id not in skip)


def launch(client, skip=()):
    """Launch an offer through the dashboard's launch form; returns the new instance's id."""
    offer = rentable_offer(skip)
    form = client.get(f"/offers/{offer.id}/launch/?disk=40")
    token = re.search(rb'name="token" value="([^"]+)"', form.content).group(1).decode()
    response = client.post(f"/offers/{offer.id}/launch/", {**LAUNCH_FORM, "token": token})
    assert response.status_code == 302, response.content.decode()[:2000]
    return int(response["Location"].strip("/").rsplit("/", 1)[-1])


def outside():
    """An instance rented straight through the service module, as from Vast's own console."""
    offer = rentable_offer()
    return vast.create_instance(offer.id, vast.LaunchRequest(image="nvidia/cuda:12.4.1")).instance_id


def sync_status(response):
    """The `#sync-status` element's attributes and text."""
    html = response.content.decode()
    match = re.search(r'<div id="sync-status"[^>]*>.*?</div>', html, re.S)
    assert match, "no #sync-status on the page"
    element = match.group(0)
    age = re.search(r'data-age-seconds="([^"]*)"', element).group(1)
    stale = re.search(r'data-stale="([^"]*)"', element).group(1)
    return age, stale, element


def set_last_success(seconds_ago):
    SyncState.current()
    at = None if seconds_ago is None else timezone.now() - timedelta(seconds=seconds_ago)
    SyncState.objects.filter(pk=1).update(last_success_at=at, last_error="", error_since=None)


def test_pages_make_no_upstream_call_for_any_role(upstream, viewer_client, operator_client, admin_client):
    live = launch(operator_client)
    gone = outside()
    sync.run(force=True)
    vast.destroy(gone)
    sync.run(force=True)
    assert Instance.objects.get(vast_id=gone).gone_at is not None
    before = len(upstream.requests)
    pages = ["/", "/instances/", f"/instances/{live}/", f"/instances/{gone}/", "/account/", "/instances/history/"]
    for client in (viewer_client, operator_client, admin_client):
        for url in pages:
            assert client.get(url).status_code == 200, url
            assert client.get(url, headers=HTMX).status_code in (200, 286), url
        assert client.get(f"/instances/{live}/row/", headers=HTMX).status_code in (200, 286)
        assert client.get("/instances/history/?format=csv").status_code == 200
    assert upstream.requests[before:] == []


def test_pages_keep_serving_the_last_known_state_while_vast_is_down(upstream, viewer_client):
    from vastsim import faults

    instance_id = outside()
    sync.run(force=True)
    faults.inject("*", status=500)
    sync.run(force=True)
    page = viewer_client.get("/instances/")
    assert page.status_code == 200
    assert f'id="instance-{instance_id}"' in page.content.decode()
    assert "failing since" in sync_status(page)[2]


@pytest.mark.parametrize("url", ["/", "/instances/", "/account/", "/instances/history/"])
def test_sync_status_is_stale_before_any_sync(viewer_client, url):
    age, stale, element = sync_status(viewer_client.get(url))
    assert (age, stale) == ("", "true")
    assert "has not synced the account yet" in element


def test_sync_status_is_fresh_then_stale_after_three_periods(viewer_client, upstream):
    instance_id = outside()
    sync.run(force=True)
    set_last_success(4)
    for url in ("/", "/instances/", f"/instances/{instance_id}/", "/account/", "/instances/history/"):
        age, stale, element = sync_status(viewer_client.get(url))
        assert stale == "false", url
        assert 4 <= int(age) <= 6, url
        assert "(4 s ago)" in element or "(5 s ago)" in element
        assert "sync-banner" not in element

    set_last_success(29)
    assert sync_status(viewer_client.get("/instances/"))[1] == "false"
    set_last_success(31)
    age, stale, element = sync_status(viewer_client.get("/instances/"))
    assert stale == "true"
    assert int(age) >= 31
    assert "has not synced for 3" in element
    assert "is it running?" in element
    set_last_success(6 * 60 + 5)
    element = sync_status(viewer_client.get(f"/instances/{instance_id}/"))[2]
    assert "has not synced for 6 min — is it running?" in element
    assert f'id="instance-{instance_id}"' in viewer_client.get("/instances/").content.decode()


def test_the_stale_limit_follows_vast_sync_seconds(viewer_client, settings):
    settings.VAST_SYNC_SECONDS = 60.0
    set_last_success(150)
    assert sync_status(viewer_client.get("/"))[1] == "false"
    set_last_success(185)
    assert sync_status(viewer_client.get("/"))[1] == "true"


def test_worker_health_is_503_before_any_sync_without_login(client):
    response = client.get("/healthz/worker")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["last_sync_age_s"] is None


def test_worker_health_is_200_while_fresh_and_503_once_stale(client):
    set_last_success(7)
    response = client.get("/healthz/worker")
    assert response.status_code == 200
    assert 7 <= json.loads(response.content)["last_sync_age_s"] <= 8
    head = client.head("/healthz/worker")
    assert head.status_code == 200
    assert head.content == b""
    set_last_success(45)
    stale = client.get("/healthz/worker")
    assert stale.status_code == 503
    assert json.loads(stale.content)["last_sync_age_s"] >= 45
    assert client.head("/healthz/worker").status_code == 503
    assert client.post("/healthz/worker").status_code == 405


def test_worker_health_names_the_last_error(client, upstream):
    from vastsim import faults

    sync.run(force=True)
    faults.inject("instances", status=401)
    sync.run(force=True)
    body = json.loads(client.get("/healthz/worker").content)
    assert sync.KEY_REJECTED in body["last_error"]
    assert "simulated-vast-key" not in json.dumps(body)


def test_a_launch_writes_its_ledger_row_at_once_with_its_launcher(operator_client, operator, upstream):
    instance_id = launch(operator_client)
    assert SyncState.current().last_success_at is None  # no sync ran
    row = Instance.objects.get(vast_id=instance_id)
    assert row.launched_by == operator
    assert row.launched_by_name == "otto"
    assert row.status == "starting"
    assert row.label == "from-the-dashboard"
    assert row.dph_total
    assert row.storage_per_hour
    assert row.storage_per_hour < row.dph_total
    assert list(row.changes.values_list("from_status", "to_status")) == [("", "starting")]
    before = len(upstream.requests)
    page = operator_client.get("/instances/").content.decode()
    assert upstream.requests[before:] == []
    shown = re.search(rf'<tbody id="instance-{instance_id}".*?</tbody>', page, re.S).group(0)
    assert "from-the-dashboard" in shown
    assert "otto" in shown
    assert "outside the dashboard" not in shown


def test_a_sync_after_a_launch_keeps_the_launcher(operator_client, operator, upstream):
    instance_id = launch(operator_client)
    sync.run(force=True)
    clock.advance(60)
    sync.run(force=True)
    row = Instance.objects.get(vast_id=instance_id)
    assert (row.launched_by, row.launched_by_name, row.status) == (operator, "otto", "running")
    assert row.snapshot["id"] == instance_id


def test_an_answer_read_before_a_launch_does_not_end_the_new_instance(operator_client, upstream):
    read_at = timezone.now()
    listing = vast.list_instances()
    instance_id = launch(operator_client)
    ledger.apply_listing(listing, complete=True, now=read_at)
    assert Instance.objects.get(vast_id=instance_id).gone_at is None


def test_an_answer_read_before_a_stop_does_not_undo_it(operator_client, upstream):
    instance_id = outside()
    clock.advance(60)
    sync.run(force=True)
    read_at = timezone.now()
    listing = vast.list_instances()
    assert operator_client.post(f"/instances/{instance_id}/stop/").status_code == 302
    assert Instance.objects.get(vast_id=instance_id).status == "stopping"
    ledger.apply_listing(listing, complete=True, now=read_at)
    assert Instance.objects.get(vast_id=instance_id).status == "stopping"


def test_outside_instances_say_so_on_the_list_and_the_detail_page(viewer_client, upstream):
    instance_id = outside()
    sync.run(force=True)
    page = viewer_client.get("/instances/").content.decode()
    shown = re.search(rf'<tbody id="instance-{instance_id}".*?</tbody>', page, re.S).group(0)
    assert "outside the dashboard" in shown
    assert "outside the dashboard" in viewer_client.get(f"/instances/{instance_id}/").content.decode()


def test_a_row_poll_reads_the_ledger_and_stops_once_gone(viewer_client, upstream):
    instance_id = outside()
    sync.run(force=True)
    assert viewer_client.get(f"/instances/{instance_id}/row/", headers=HTMX).status_code == 200
    vast.destroy(instance_id)
    assert viewer_client.get(f"/instances/{instance_id}/row/", headers=HTMX).status_code == 200  # not synced yet
    sync.run(force=True)
    assert viewer_client.get(f"/instances/{instance_id}/row/", headers=HTMX).status_code == 286
