"""Every URL × role: allowed, or 403 with a clear message and no call to Vast."""

import re

import pytest

from dashboard import vast
from dashboard.models import Action
from instances import ledger

pytestmark = pytest.mark.django_db

ROLES = ("viewer", "operator", "other_operator", "admin")
USERNAMES = {"viewer": "vera", "operator": "otto", "other_operator": "olga", "admin": "ada"}


@pytest.fixture
def world(operator, upstream, synced):
    """An offer, and an instance that the operator (otto) launched from the dashboard, in the ledger."""
    offers = vast.search_offers({"limit": 2, "order": [["dph_total", "asc"]]})
    launched = vast.create_instance(offers[0].id, vast.LaunchRequest(image="pytorch/pytorch", disk=10))
    Action.objects.create(
        user=operator,
        username=operator.username,
        kind=Action.Kind.LAUNCH,
        offer_id=offers[0].id,
        instance_id=launched.instance_id,
        outcome=Action.Outcome.SUCCESS,
    )
    price = offers[0].dph_total
    ledger.record_launch(
        operator, launched.instance_id, offers[0], price=price, label="", image="pytorch/pytorch", disk=10, started=True
    )
    assert synced().result == "synced"
    upstream.requests.clear()
    return {"offer": offers[1].id, "instance": launched.instance_id}


@pytest.fixture
def clients(viewer_client, operator_client, other_operator_client, admin_client):
    return {
        "viewer": viewer_client,
        "operator": operator_client,
        "other_operator": other_operator_client,
        "admin": admin_client,
    }


# (method, path template, roles allowed). {offer} and {instance} come from `world`.
PAGES = [
    ("get", "/", ROLES),
    ("get", "/healthz/worker", ROLES),
    ("get", "/offers/", ROLES),
    ("get", "/offers/{offer}/", ROLES),
    ("get", "/offers/{offer}/launch/", ("operator", "other_operator", "admin")),
    ("get", "/instances/", ROLES),
    ("get", "/instances/history/", ROLES),
    ("get", "/instances/{instance}/", ROLES),
    ("get", "/instances/{instance}/row/", ROLES),
    ("get", "/audit/", ROLES),
    ("get", "/account/", ROLES),
    ("get", "/keys/", ("operator", "other_operator", "admin")),
    ("get", "/team/", ("admin",)),
    ("get", "/team/guardrails/", ("admin",)),
    ("get", "/team/{user}/", ("admin",)),
    ("get", "/account/ssh-keys/", ROLES),
    ("get", "/templates/", ROLES),
    ("get", "/templates/new/", ("operator", "other_operator", "admin")),
    ("get", "/instances/{instance}/logs/", ("operator", "other_operator", "admin")),
    ("get", "/instances/{instance}/ssh/", ("operator", "other_operator", "admin")),
]
# The pages that read only the ledger the worker keeps: they never call Vast, whoever asks.
LEDGER_PAGES = {
    "/",
    "/healthz/worker",
    "/instances/",
    "/instances/history/",
    "/instances/{instance}/",
    "/instances/{instance}/row/",
    "/account/",
}
WRITES = [
    ("/offers/{offer}/launch/", {"image": "pytorch/pytorch", "disk": "10", "runtype": "ssh", "token": "t"},
     ("operator", "other_operator", "admin"), "PUT", "/api/v0/asks/"),
    ("/instances/{instance}/stop/", {}, ("operator", "other_operator", "admin"), "PUT", "/api/v0/instances/"),
    # Start and relabel: only the launcher (otto) among operators, and admins.
    ("/instances/{instance}/start/", {}, ("operator", "admin"), "PUT", "/api/v0/instances/"),
    ("/instances/{instance}/label/", {"label": "renamed"}, ("operator", "admin"), "PUT", "/api/v0/instances/"),
    ("/instances/{instance}/destroy/", {}, ("operator", "admin"), "DELETE", "/api/v0/instances/"),
    ("/instances/{instance}/reboot/", {}, ("operator", "admin"), "PUT", "/api/v0/instances/reboot/"),
    ("/team/add/", {"username": "z", "role": "viewer", "password1": "p", "password2": "p"}, ("admin",), None, None),
    ("/team/guardrails/", {"operator_max_dph": "2"}, ("admin",), None, None),
]  # fmt: skip


def _fill(template, world, user_pk):
    return template.format(offer=world["offer"], instance=world["instance"], user=user_pk)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "template", "allowed"), PAGES)
def test_every_page_for_every_role(clients, world, upstream, viewer, role, method, template, allowed):
    client = clients[role]
    path = _fill(template, world, viewer.pk)
    before = len(upstream.requests)
    response = client.get(path)
    if role in allowed:
        assert response.status_code == 200, (role, path, response.status_code)
        if template in LEDGER_PAGES:
            assert len(upstream.requests) == before, f"{path} called Vast during the request"
    else:
        assert response.status_code == 403, (role, path, response.status_code)
        assert "Not allowed" in response.content.decode()
        assert len(upstream.requests) == before, "a forbidden request reached Vast"
        htmx = client.get(path, headers={"HX-Request": "true"})
        assert htmx.status_code == 403
        assert htmx["HX-Retarget"] == "#alerts"
        assert 'data-testid="forbidden"' in htmx.content.decode()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("template", "data", "allowed", "up_method", "up_path"), WRITES)
def test_every_write_for_every_role(
    clients, world, upstream, viewer, role, template, data, allowed, up_method, up_path
):
    client = clients[role]
    path = _fill(template, world, viewer.pk)
    if "launch" in path and role in allowed:
        form = client.get(path).content.decode()
        data = {**data, "token": re.search(r'name="token" value="([^"]+)"', form).group(1)}
    upstream.requests.clear()
    response = client.post(path, data, headers={"HX-Request": "true"})
    writes = upstream.calls(up_method, up_path) if up_method else []
    if role in allowed:
        # Allowed: sent to Vast once (Vast may still refuse, e.g. a reboot while the instance boots).
        assert response.status_code in (200, 204, 302, 400), (role, path, response.status_code)
        if up_method:
            assert len(writes) == 1, (role, path)
    else:
        assert response.status_code == 403, (role, path, response.status_code)
        assert not upstream.requests, f"{role} reached Vast with {path}"
        if up_method:
            refused = Action.objects.get(outcome=Action.Outcome.FORBIDDEN)
            assert refused.username == USERNAMES[role]
            assert refused.message


def test_pages_show_no_button_the_role_may_not_press(clients, world):
    viewer_list = clients["viewer"].get("/instances/").content.decode()
    assert ">Destroy<" not in viewer_list
    assert ">Stop<" not in viewer_list
    assert ">Launch<" not in clients["viewer"].get("/offers/").content.decode()
    other = clients["other_operator"].get(f"/instances/{world['instance']}/").content.decode()
    assert ">Stop<" in other
    assert ">Destroy<" not in other
    owner = clients["operator"].get(f"/instances/{world['instance']}/").content.decode()
    assert ">Destroy<" in owner
    assert ">Launch<" in clients["operator"].get("/offers/").content.decode()
    assert ">Team<" in clients["admin"].get("/offers/").content.decode()
    assert ">Team<" not in clients["operator"].get("/offers/").content.decode()
    assert ">API keys<" not in clients["viewer"].get("/offers/").content.decode()
