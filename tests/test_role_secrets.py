"""Roles that mean what they say: a viewer receives no way into the team's machines (Jupyter
token, SSH command, addresses, ports) nor anyone's on-start script, on any page, fragment or CSV;
on-start scripts reach only their launcher and admins; environment values reach nobody. Operators
stop any instance (confirmed and audited with the owner's name) but start, relabel and destroy
only their own; admins do all."""

import html
import re

import pytest

from dashboard import vast
from dashboard.models import Action
from tests.test_launch import launch_offer, rentable_offer
from vastsim import clock

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
ONSTART = "TOPSECRET_ONSTART"
ENV_VALUE = "hf_VERY_SECRET"


def body(response):
    """The text of a response, streamed (CSV) or not."""
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def secret_box(client):
    """Launch (as the client's user) a Jupyter instance carrying an on-start script and an env value."""
    return launch_offer(
        client, runtype="jupyter", onstart=f"echo {ONSTART}", env=f"HF_TOKEN={ENV_VALUE}", label="secret-box"
    )


def boot(synced):
    """Move the simulator past the boot of new instances and sync the ledger, as the worker would."""
    clock.advance(30)
    synced()


def connection_secrets(instance_id):
    """What lets someone into the running instance, read from the simulator: the Jupyter token,
    SSH host, public address and every host:port pair."""
    instance = next(i for i in vast.list_instances() if i.id == instance_id)
    assert instance.is_running
    assert all((instance.jupyter_token, instance.ssh_host, instance.ssh_port, instance.public_ipaddr))
    host_ports = {str(port) for ports in instance.ports.values() for port in ports}
    assert host_ports
    return {
        "jupyter token": instance.jupyter_token,
        "ssh host": instance.ssh_host,
        "public ip": instance.public_ipaddr,
        "ssh port": f":{instance.ssh_port}",
        **{f"host port {port}": f":{port}" for port in host_ports},
        **{f"ip:port {port}": f"{instance.public_ipaddr}:{port}" for port in host_ports},
        "ssh command": "ssh -p",
        "root login": "root@",
    }


def pages(live_id):
    """(label, path, headers) of every page and fragment that shows instances or their records."""
    return [
        ("overview", "/", {}),
        ("list", "/instances/", {}),
        ("list fragment", "/instances/", HTMX),
        ("detail", f"/instances/{live_id}/", {}),
        ("detail fragment", f"/instances/{live_id}/", HTMX),
        ("row", f"/instances/{live_id}/row/", HTMX),
        ("history", "/instances/history/", {}),
        ("history csv", "/instances/history/?format=csv", {}),
        ("account", "/account/", {}),
        ("audit", "/audit/", {}),
        ("audit csv", "/audit/?format=csv", {}),
    ]


@pytest.fixture
def secrets_world(operator_client, upstream, synced):
    """Two secret boxes launched by otto and running; the second is destroyed (so history lists it).
    Returns (live instance id, gone instance id, the live one's connection secrets)."""
    live = secret_box(operator_client)
    gone = secret_box(operator_client)
    boot(synced)
    secrets = connection_secrets(live)
    assert operator_client.post(f"/instances/{gone}/destroy/").status_code == 302
    synced()
    return live, gone, secrets


def fetch_all(client, live_id, gone_id):
    """Every page for `client`, as {label: text}; each must answer 200."""
    seen = {}
    for label, path, headers in [*pages(live_id), ("gone detail", f"/instances/{gone_id}/", {})]:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (label, response.status_code)
        seen[label] = body(response)
    return seen


def test_a_viewer_receives_no_connection_detail_on_start_script_or_env_value_anywhere(
    secrets_world, viewer_client, operator_client
):
    live, gone, secrets = secrets_world
    own = body(operator_client.get(f"/instances/{live}/"))
    assert secrets["jupyter token"] in own  # the launcher's page shows them: the scan below means something
    assert "ssh -p" in own
    assert ONSTART in own
    forbidden = {**secrets, "on-start": ONSTART, "env value": ENV_VALUE}
    seen = fetch_all(viewer_client, live, gone)
    assert str(gone) in seen["history csv"]  # the gone instance is listed
    assert "secret-box" in seen["detail"]
    leaks = [(page, what) for page, text in seen.items() for what, needle in forbidden.items() if needle in text]
    assert leaks == []
    assert "Connection details are for operators and admins." in seen["detail"]


@pytest.mark.parametrize(
    ("persona", "sees_onstart"),
    [("operator_client", True), ("other_operator_client", False), ("admin_client", True)],
    ids=["launcher", "other-operator", "admin"],
)
def test_operators_connect_and_on_start_shows_only_to_the_launcher_and_admins(
    secrets_world, request, persona, sees_onstart
):
    live, gone, secrets = secrets_world
    client = request.getfixturevalue(persona)
    seen = fetch_all(client, live, gone)
    detail = seen["detail"]
    assert f"ssh -p {secrets['ssh port'][1:]} root@{secrets['ssh host']}" in detail
    assert secrets["jupyter token"] in detail
    assert (ONSTART in detail) is sees_onstart
    assert (ONSTART in seen["gone detail"]) is sees_onstart
    if not sees_onstart:
        assert "shown only to whoever launched it and to admins" in detail
        assert [page for page, text in seen.items() if ONSTART in text] == []
    assert "HF_TOKEN=••••••" in detail
    assert [page for page, text in seen.items() if ENV_VALUE in text] == []


def writes(upstream, instance_id):
    """The writes (PUT, DELETE) sent to Vast for one instance, as (method, body)."""
    return [
        (r.method, r.body)
        for r in upstream.requests
        if r.method in ("PUT", "DELETE") and r.path == f"/api/v0/instances/{instance_id}/"
    ]


def stop_confirmation(client, instance_id):
    """The hx-confirm text of the instance's Stop form in the list as `client` sees it ("" if none)."""
    page = body(client.get("/instances/"))
    row = re.search(rf'<tbody id="instance-{instance_id}".*?</tbody>', page, re.S).group(0)
    form = re.search(r'<form[^>]*action="/instances/\d+/stop/"[^>]*>', row)
    assert form, "no Stop button"
    confirm = re.search(r'hx-confirm="([^"]*)"', form.group(0))
    return html.unescape(confirm.group(1)) if confirm else ""


def refused(client, upstream, instance_id, verb, data=None):
    """POST `verb` as `client`: a 403 with no write sent to Vast; returns the page's text."""
    before = writes(upstream, instance_id)
    response = client.post(f"/instances/{instance_id}/{verb}/", data or {})
    assert response.status_code == 403, (verb, response.status_code)
    assert writes(upstream, instance_id) == before
    return body(response)


def test_another_operator_may_stop_an_instance_but_not_start_relabel_or_destroy_it(
    operator_client, other_operator_client, upstream, synced
):
    instance_id = launch_offer(operator_client, label="ottos-run")
    boot(synced)
    assert stop_confirmation(operator_client, instance_id) == ""  # one's own: no question asked
    confirm = stop_confirmation(other_operator_client, instance_id)
    assert "otto's" in confirm
    assert str(instance_id) in confirm
    upstream.requests.clear()
    stopped = other_operator_client.post(f"/instances/{instance_id}/stop/")
    assert stopped.status_code == 302
    assert writes(upstream, instance_id) == [("PUT", {"state": "stopped"})]
    stop = Action.objects.get(kind=Action.Kind.STOP)
    assert (stop.username, stop.outcome, stop.detail["owner"]) == ("olga", "success", "otto")
    synced()
    for verb, data in (("start", None), ("label", {"label": "mine now"}), ("destroy", None)):
        page = refused(other_operator_client, upstream, instance_id, verb, data)
        assert "Ask an admin" in page
    forbidden = Action.objects.filter(outcome=Action.Outcome.FORBIDDEN, username="olga")
    assert sorted(forbidden.values_list("kind", flat=True)) == ["destroy", "label", "start"]
    assert set(forbidden.values_list("instance_id", flat=True)) == {instance_id}
    assert writes(upstream, instance_id) == [("PUT", {"state": "stopped"})]


def test_an_instance_launched_outside_the_dashboard_operators_may_only_stop_and_admins_do_all(
    operator_client, admin_client, upstream, synced
):
    outside = vast.create_instance(rentable_offer().id, vast.LaunchRequest(image="nvidia/cuda:12.4.1")).instance_id
    boot(synced)
    assert "launched outside the dashboard" in stop_confirmation(operator_client, outside)
    upstream.requests.clear()
    assert operator_client.post(f"/instances/{outside}/stop/").status_code == 302
    assert writes(upstream, outside) == [("PUT", {"state": "stopped"})]
    stop = Action.objects.get(kind=Action.Kind.STOP)
    assert (stop.username, stop.detail["owner"]) == ("otto", "outside the dashboard")
    synced()
    for verb, data in (("start", None), ("label", {"label": "mine now"}), ("destroy", None)):
        refused(operator_client, upstream, outside, verb, data)
    assert Action.objects.filter(username="otto", outcome=Action.Outcome.FORBIDDEN).count() == 3

    assert admin_client.post(f"/instances/{outside}/start/").status_code == 302
    assert admin_client.post(f"/instances/{outside}/label/", {"label": "adopted"}).status_code == 302
    assert admin_client.post(f"/instances/{outside}/destroy/").status_code == 302
    assert writes(upstream, outside) == [
        ("PUT", {"state": "stopped"}),
        ("PUT", {"state": "running"}),
        ("PUT", {"label": "adopted"}),
        ("DELETE", {}),
    ]
    done = Action.objects.filter(username="ada").order_by("id").values_list("kind", "outcome")
    assert list(done) == [("start", "success"), ("label", "success"), ("destroy", "success")]


def test_an_admin_may_start_relabel_and_destroy_an_operators_instance(operator_client, admin_client, upstream, synced):
    instance_id = launch_offer(operator_client)
    boot(synced)
    assert "otto's" in stop_confirmation(admin_client, instance_id)
    assert admin_client.post(f"/instances/{instance_id}/stop/").status_code == 302
    synced()
    assert admin_client.post(f"/instances/{instance_id}/start/").status_code == 302
    assert admin_client.post(f"/instances/{instance_id}/label/", {"label": "by ada"}).status_code == 302
    assert admin_client.post(f"/instances/{instance_id}/destroy/").status_code == 302
    assert [method for method, _ in writes(upstream, instance_id)] == ["PUT", "PUT", "PUT", "DELETE"]
    start = Action.objects.get(kind=Action.Kind.START)
    assert (start.username, start.outcome, start.detail["owner"]) == ("ada", "success", "otto")
