"""The instance list and detail pages, live polling, the actions on an instance, roles and records."""

import re

import pytest

from dashboard import vast
from dashboard.models import Action
from tests.test_launch import launch_offer, rentable_offer, said
from vastsim import clock, faults, switches

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def boot(synced):
    """Moves the simulator's clock past a new instance's boot and syncs the ledger, as the worker
    would; the clock is put back afterwards."""

    def _boot():
        clock.advance(30)
        synced()

    yield _boot
    clock.reset()


def writes(upstream, instance_id):
    return [
        (r.method, r.path, r.body)
        for r in upstream.requests
        if r.method in ("PUT", "DELETE") and r.path == f"/api/v0/instances/{instance_id}/"
    ]


def row_html(response, instance_id):
    return row_html_text(response.content.decode(), instance_id)


def row_html_text(html, instance_id):
    match = re.search(rf'<tbody id="instance-{instance_id}".*?</tbody>', html, re.S)
    return match.group(0) if match else None


def test_empty_list_links_to_the_offers(viewer_client):
    response = viewer_client.get("/instances/")
    assert response.status_code == 200
    assert b'data-testid="instances-empty"' in response.content
    assert b'href="/offers/"' in response.content


def test_sync_reads_every_page_of_v1_and_the_list_shows_them_without_calling_vast(operator_client, upstream, synced):
    created, skip = 0, set()
    query = {"rentable": {"eq": True}, "num_gpus": {"eq": 1}, "limit": 200, "allocated_storage": 10}
    for offer in vast.search_offers(query):
        try:
            vast.create_instance(offer.id, vast.LaunchRequest(image="nvidia/cuda:12.4.1-devel-ubuntu22.04"))
        except vast.VastOfferUnavailable:
            skip.add(offer.id)
            continue
        created += 1
        if created == 30:
            break
    assert created == 30
    upstream.requests.clear()
    assert synced().instances == 30
    pages = upstream.calls("GET", "/api/v1/instances/")
    assert len(pages) == 2
    assert "after_token" in str(pages[1].request.url)
    upstream.requests.clear()
    response = operator_client.get("/instances/")
    assert response.content.count(b'<tbody id="instance-') == 30
    assert upstream.requests == []


def test_row_shows_cost_launcher_connection_and_the_list_polls_fast_while_booting(
    operator_client, viewer_client, synced, boot
):
    mine = launch_offer(operator_client, label="train")
    outside = vast.create_instance(rentable_offer().id, vast.LaunchRequest(image="nvidia/cuda:12.4.1")).instance_id
    assert b'<tbody id="instance-' + str(outside).encode() not in viewer_client.get("/instances/").content
    synced()  # the worker finds the instance launched outside the dashboard
    response = viewer_client.get("/instances/")
    booting = row_html(response, mine)
    assert "train" in booting
    assert "otto" in booting
    assert "badge badge-starting" in booting
    assert 'hx-trigger="every 2s, instances-changed from:body"' in response.content.decode()
    assert "outside the dashboard" in row_html(response, outside)
    assert ">Stop</button>" not in booting  # a viewer sees no buttons

    boot()
    page = viewer_client.get("/instances/").content.decode()
    running = row_html(viewer_client.get("/instances/"), mine)
    assert "every 2s" not in page
    assert 'hx-trigger="every 5s, instances-changed from:body"' in page
    assert "badge badge-running" in running
    assert not re.search(r"ssh -p \d+", running)  # a viewer never sees how to connect
    assert "operators only" in running
    assert re.search(r'data-copy="ssh -p \d+ root@ssh\d\.vast\.ai"', row_html(operator_client.get("/instances/"), mine))
    assert "est." in running


def test_row_answers_200_while_the_instance_lives_and_286_once_it_is_gone(operator_client, boot):
    instance_id = launch_offer(operator_client)
    booting = operator_client.get(f"/instances/{instance_id}/row/", headers=HTMX)
    assert booting.status_code == 200
    assert b"badge-starting" in booting.content
    boot()
    running = operator_client.get(f"/instances/{instance_id}/row/", headers=HTMX)
    assert running.status_code == 200
    assert b"badge-running" in running.content
    operator_client.post(f"/instances/{instance_id}/destroy/", headers=HTMX)
    gone = operator_client.get(f"/instances/{instance_id}/row/", headers=HTMX)
    assert gone.status_code == 286
    assert b"<tbody" not in gone.content


def test_detail_polls_fast_while_booting_slower_once_running_stops_once_gone_and_masks_env_values(
    operator_client, synced, boot
):
    instance_id = launch_offer(
        operator_client, env="HF_TOKEN=hf_secret_value\n-p 8080:8080", onstart="echo ready", runtype="jupyter"
    )
    synced()
    page = operator_client.get(f"/instances/{instance_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "every 2s, instances-changed from:body" in html
    assert "hf_secret_value" not in html
    assert "HF_TOKEN=••••••" in html
    assert "-p 8080:8080" in html
    assert "echo ready" in html
    assert "otto" in html
    assert "Launched instance" in html  # our record of it
    boot()
    partial = operator_client.get(f"/instances/{instance_id}/", headers=HTMX)
    assert partial.status_code == 200
    body = partial.content.decode()
    assert body.strip().startswith('<section id="instance-detail"')
    assert 'hx-trigger="every 5s, instances-changed from:body"' in body
    assert "Open Jupyter" in body
    assert "8080/tcp" in body
    assert "hf_secret_value" not in body
    operator_client.post(f"/instances/{instance_id}/destroy/", {"from": "detail"})
    gone = operator_client.get(f"/instances/{instance_id}/", headers=HTMX)
    assert gone.status_code == 286  # htmx stops polling
    body = gone.content.decode()
    assert 'hx-trigger="instances-changed from:body"' in body
    assert 'data-testid="gone"' in body
    assert "destroyed by otto through the dashboard" in body
    assert "hf_secret_value" not in body


def test_unknown_instance_is_a_404_page_with_a_clear_message(viewer_client):
    response = viewer_client.get("/instances/99999999/")
    assert response.status_code == 404
    assert b"Instance 99999999 not found" in response.content
    assert b"The dashboard has never seen an instance 99999999" in response.content


def test_start_stop_and_label_send_the_reference_requests(operator_client, upstream, boot):
    instance_id = launch_offer(operator_client)
    boot()
    operator_client.get("/instances/")  # people act from the list they see
    stop = operator_client.post(f"/instances/{instance_id}/stop/", headers=HTMX)
    assert stop.status_code == 200
    assert "instances-changed" in stop["HX-Trigger"]
    assert stop["HX-Retarget"] == "#alerts"
    assert b"Stopped \xe2\x80\x9cdemo\xe2\x80\x9d" in stop.content
    assert b"/day while stopped" in stop.content
    start = operator_client.post(f"/instances/{instance_id}/start/")
    assert start.status_code == 302
    assert start["Location"] == f"/instances/{instance_id}/"
    relabel = operator_client.post(f"/instances/{instance_id}/label/", {"label": "  fine-tune  "}, headers=HTMX)
    assert "now labelled “fine-tune”" in relabel.content.decode()
    assert writes(upstream, instance_id) == [
        ("PUT", f"/api/v0/instances/{instance_id}/", {"state": "stopped"}),
        ("PUT", f"/api/v0/instances/{instance_id}/", {"state": "running"}),
        ("PUT", f"/api/v0/instances/{instance_id}/", {"label": "fine-tune"}),
    ]
    kinds = list(Action.objects.filter(instance_id=instance_id).order_by("id").values_list("kind", "outcome"))
    assert kinds == [("launch", "success"), ("stop", "success"), ("start", "success"), ("label", "success")]


def test_stopped_instance_shows_what_its_disk_costs_per_day(operator_client, synced, boot):
    instance_id = launch_offer(operator_client)
    boot()
    operator_client.post(f"/instances/{instance_id}/stop/")
    assert "badge badge-stopping" in row_html(operator_client.get("/instances/"), instance_id)  # at once
    synced()
    row = row_html(operator_client.get("/instances/"), instance_id)
    assert "badge badge-stopped" in row
    per_day = re.search(r"disk \$(\d+\.\d\d)/day while stopped", row)
    assert per_day
    instance = next(i for i in vast.list_instances() if i.id == instance_id)
    assert float(per_day.group(1)) == pytest.approx(instance.storage_cost_per_day, abs=0.01)
    assert ">Start</button>" in row
    assert ">Stop</button>" not in row


def test_start_without_a_free_gpu_says_it_is_queued(operator_client, synced, boot):
    instance_id = launch_offer(operator_client)
    boot()
    operator_client.post(f"/instances/{instance_id}/stop/")
    synced()
    switches.enable("start_unavailable", [instance_id])
    response = operator_client.post(f"/instances/{instance_id}/start/", headers=HTMX)
    assert "queued, waiting for the GPU" in response.content.decode()
    assert Action.objects.filter(kind="start").get().outcome == "success"
    synced()
    page = operator_client.get("/instances/").content.decode()
    assert "badge badge-starting" in row_html_text(page, instance_id)  # Vast still schedules it
    assert 'hx-trigger="every 2s, instances-changed from:body"' in page  # still changing: the list polls fast


def test_too_long_label_is_refused_before_vast(operator_client, upstream):
    instance_id = launch_offer(operator_client)
    response = operator_client.post(f"/instances/{instance_id}/label/", {"label": "x" * 1025}, headers=HTMX)
    assert "Label not changed" in response.content.decode()
    assert writes(upstream, instance_id) == []


def test_destroy_from_the_list_refreshes_it_and_from_the_detail_page_goes_to_the_list(operator_client, upstream):
    first = launch_offer(operator_client)
    second = launch_offer(operator_client, skip={first})
    operator_client.get("/instances/")  # people act from the list they see
    from_list = operator_client.post(f"/instances/{first}/destroy/", headers=HTMX)
    assert "instances-changed" in from_list["HX-Trigger"]
    assert f"Destroyed “demo” ({first})" in from_list.content.decode()
    from_detail = operator_client.post(f"/instances/{second}/destroy/", {"from": "detail"}, headers=HTMX)
    assert from_detail["HX-Redirect"] == "/instances/"
    assert said(from_detail, f"Destroyed “demo” ({second})")
    assert writes(upstream, first) == [("DELETE", f"/api/v0/instances/{first}/", {})]
    assert writes(upstream, second) == [("DELETE", f"/api/v0/instances/{second}/", {})]
    assert b'<tbody id="instance-' not in operator_client.get("/instances/").content


def test_destroy_confirmation_names_the_instance_and_its_cost(operator_client):
    instance_id = launch_offer(operator_client, label="big run")
    html = operator_client.get(f"/instances/{instance_id}/").content.decode()
    confirm = re.search(r'hx-confirm="([^"]+)"', html).group(1)
    assert "big run" in confirm
    assert str(instance_id) in confirm
    assert "so far" in confirm


def test_failed_action_is_recorded_with_vasts_message(operator_client, upstream):
    instance_id = launch_offer(operator_client)
    faults.inject("instance", method="PUT", status=400, body={"success": False, "msg": "You lack credit."}, times=1)
    response = operator_client.post(f"/instances/{instance_id}/start/", headers=HTMX)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#alerts"
    assert b"You lack credit." in response.content
    action = Action.objects.get(kind="start")
    assert action.outcome == "failed"
    assert "You lack credit." in action.message


def test_destroying_a_gone_instance_is_recorded_as_failed(admin_client):
    response = admin_client.post("/instances/99999999/destroy/", headers=HTMX)
    assert response.status_code == 404
    assert Action.objects.get(kind="destroy").outcome == "failed"


@pytest.mark.parametrize(("verb", "data"), [("start", {}), ("stop", {}), ("label", {"label": "x"}), ("destroy", {})])
def test_viewer_may_not_act_and_nothing_reaches_vast(viewer_client, operator_client, upstream, verb, data):
    instance_id = launch_offer(operator_client)
    response = viewer_client.post(f"/instances/{instance_id}/{verb}/", data, headers=HTMX)
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#alerts"
    assert writes(upstream, instance_id) == []
    refused = Action.objects.get(outcome="forbidden")
    assert (refused.kind, refused.instance_id, refused.username) == (verb, instance_id, "vera")


def test_operator_destroys_only_their_own_instances_and_admin_any(
    operator_client, other_operator_client, admin_client, upstream
):
    olgas = launch_offer(other_operator_client)
    ottos = launch_offer(operator_client, skip={olgas})
    page = operator_client.get("/instances/")
    assert ">Destroy</button>" not in row_html(page, olgas)
    assert ">Destroy</button>" in row_html(page, ottos)
    refused = operator_client.post(f"/instances/{olgas}/destroy/")
    assert refused.status_code == 403
    assert b"only instances you launched" in refused.content
    assert writes(upstream, olgas) == []
    assert Action.objects.get(outcome="forbidden").username == "otto"
    assert operator_client.post(f"/instances/{ottos}/destroy/").status_code == 302
    assert admin_client.post(f"/instances/{olgas}/destroy/").status_code == 302
    assert [w[0] for w in writes(upstream, olgas)] == ["DELETE"]
    assert [w[0] for w in writes(upstream, ottos)] == ["DELETE"]


def test_history_shows_only_own_actions_unless_the_role_sees_all(operator_client, admin_client, boot):
    instance_id = launch_offer(operator_client)
    boot()
    admin_client.post(f"/instances/{instance_id}/stop/")
    own = operator_client.get(f"/instances/{instance_id}/").content.decode()
    assert "otto" in own
    assert "You see only your own actions" in own
    assert "<td>ada</td><td>Stop</td>" not in own
    everyone = admin_client.get(f"/instances/{instance_id}/").content.decode()
    assert "<td>ada</td><td>Stop</td>" in everyone
    assert "<td>otto</td><td>Launch</td>" in everyone
