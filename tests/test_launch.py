"""Launching an offer: the form, the exact PUT body, the one-time token, and every outcome."""

import re
from decimal import Decimal

import httpx
import pytest
from django.contrib.messages import get_messages

from dashboard import vast
from dashboard.models import Action, Guardrails
from instances.launch import _claim
from instances.models import LaunchToken, SyncState
from vastsim import faults, switches

pytestmark = pytest.mark.django_db

FORM = {
    "image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
    "disk": "40",
    "runtype": "ssh",
    "args": "",
    "label": "demo",
    "env": "",
    "onstart": "",
}
REFERENCE_BODY = {
    "client_id": "me",
    "image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
    "env": {},
    "price": None,
    "disk": 40.0,
    "label": "demo",
    "extra": None,
    "onstart": None,
    "image_login": None,
    "python_utf8": False,
    "lang_utf8": False,
    "use_jupyter_lab": False,
    "jupyter_dir": None,
    "force": False,
    "cancel_unavail": False,
    "template_hash_id": None,
    "user": None,
    "runtype": "ssh_direc ssh_proxy",
}


def rentable_offer(rental="on-demand", skip=()):
    """A rentable offer from the simulator with room for 40 GB of disk."""
    query = {"rentable": {"eq": True}, "disk_space": {"gte": 60}, "type": rental, "limit": 100}
    return next(offer for offer in vast.search_offers(query) if offer.id not in skip)


def open_form(client, offer_id, query="", **headers):
    """GET the launch page; returns (response, its one-time token)."""
    response = client.get(f"/offers/{offer_id}/launch/{query}", headers=headers)
    match = re.search(rb'name="token" value="([^"]+)"', response.content)
    return response, match.group(1).decode() if match else None


def submit(client, offer_id, token, rental="on-demand", htmx=False, **changes):
    data = {**FORM, "token": token, "type": rental, "quote_disk": "40", "back": "gpu=RTX+4090&disk=40", **changes}
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/offers/{offer_id}/launch/", data, headers=headers)


def launch_offer(client, rental="on-demand", skip=(), **changes):
    """Launch a rentable offer through the dashboard; returns the new instance id."""
    offer = rentable_offer(rental, skip)
    _, token = open_form(client, offer.id, "?disk=40" + ("&type=bid" if rental == "bid" else ""))
    response = submit(client, offer.id, token, rental, **changes)
    assert response.status_code == 302, response.content.decode()[:2000]
    return int(response["Location"].strip("/").rsplit("/", 1)[-1])


def puts(upstream):
    return upstream.calls("PUT", "/api/v0/asks/")


def said(response, text):
    """Whether one of the messages queued by this response contains `text`."""
    return any(text in str(m) for m in get_messages(response.wsgi_request))


def test_launch_page_shows_the_offer_prices_and_a_prefilled_form(operator_client):
    offer = rentable_offer()
    response, token = open_form(
        operator_client, offer.id, "?disk=40&image=vllm/vllm-openai:latest&label=shared&runtype=jupyter"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{offer.num_gpus}× {offer.gpu_name}" in html
    assert 'value="vllm/vllm-openai:latest"' in html
    assert 'value="shared"' in html
    assert re.search(r'value="jupyter"[^>]*checked', html)
    assert '<datalist id="image-presets">' in html
    assert "nvidia/cuda:12.4.1-devel-ubuntu22.04" in html
    total = offer.dph_base + offer.storage_cost * 40 / 720
    assert f"Total ${total:.4f}/hr" in html
    assert 'hx-disabled-elt="find button[type=submit]"' in html
    assert ">Launch</button>" in html
    assert LaunchToken.objects.get(token=token).claimed_at is None


def test_price_updates_for_the_disk_size_without_a_new_search(operator_client, upstream):
    offer = rentable_offer()
    open_form(operator_client, offer.id, "?disk=40")
    searches = len(upstream.calls("POST", "/bundles/"))
    response = operator_client.get(
        f"/offers/{offer.id}/launch/?disk=200&quote_disk=40&type=on-demand", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith('<div id="launch-price"')
    storage = offer.storage_cost * 200 / 720
    assert f"${storage:.4f}/hr" in html
    assert f"Total ${offer.dph_base + storage:.4f}/hr" in html
    assert len(upstream.calls("POST", "/bundles/")) == searches
    assert LaunchToken.objects.count() == 1  # the price fragment hands out no token


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {}),
        ({"runtype": "jupyter"}, {"runtype": "jupyter_direc ssh_direc ssh_proxy"}),
        (
            {"runtype": "args", "args": "--model 'meta-llama/Llama 3' --port 8000"},
            {"runtype": "args", "args": ["--model", "meta-llama/Llama 3", "--port", "8000"]},
        ),
        (
            {"env": "HF_TOKEN=abc=def\r\n\r\n# comment\r\n-p 8080:8080\r\n-e MODE=fast", "onstart": "cd /w\r\necho hi"},
            {"env": {"HF_TOKEN": "abc=def", "-p 8080:8080": "1", "MODE": "fast"}, "onstart": "cd /w\necho hi"},
        ),
    ],
    ids=["ssh", "jupyter", "args", "env-and-onstart"],
)
def test_launch_sends_the_reference_body(operator_client, upstream, changes, expected):
    launch_offer(operator_client, **changes)
    (put,) = puts(upstream)
    assert put.body == {**REFERENCE_BODY, **expected}


def test_bid_launch_sends_the_price_and_refuses_a_bid_below_the_minimum(operator_client, upstream):
    offer = rentable_offer("bid")
    response, token = open_form(operator_client, offer.id, "?disk=40&type=bid")
    assert b'name="price"' in response.content
    low = submit(operator_client, offer.id, token, "bid", price=f"{offer.min_bid / 2:.4f}")
    assert low.status_code == 200
    assert b"Bid at least" in low.content
    assert puts(upstream) == []
    bid = round(offer.min_bid + 0.05, 4)
    response = submit(operator_client, offer.id, token, "bid", price=str(bid))
    assert response.status_code == 302
    (put,) = puts(upstream)
    assert put.path == f"/api/v0/asks/{offer.id}/"
    assert put.body == {**REFERENCE_BODY, "price": bid}
    action = Action.objects.get(kind="launch")
    assert float(action.price_per_hour) == pytest.approx(bid + offer.storage_cost * 40 / 720, abs=1e-6)


def test_bad_env_line_is_named_and_nothing_is_sent(operator_client, upstream):
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    response = submit(operator_client, offer.id, token, env="GOOD=1\nthis is wrong")
    assert response.status_code == 200
    assert "Line 2 (“this is wrong”) is not KEY=VALUE" in response.content.decode()
    assert puts(upstream) == []
    assert LaunchToken.objects.get(token=token).claimed_at is None


def test_success_goes_to_the_instance_and_records_who_launched_it(operator_client, operator, upstream):
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    response = submit(operator_client, offer.id, token)
    action = Action.objects.get(kind="launch")
    assert response["Location"] == f"/instances/{action.instance_id}/"
    assert action.outcome == "success"
    assert (action.user, action.username, action.offer_id) == (operator, "otto", offer.id)
    assert float(action.price_per_hour) == pytest.approx(offer.dph_base + offer.storage_cost * 40 / 720, abs=1e-6)
    assert action.detail["env_keys"] == []
    assert said(response, "Launched instance")


def test_htmx_submit_answers_with_a_client_redirect(operator_client):
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    response = submit(operator_client, offer.id, token, htmx=True)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/instances/")


def test_same_token_twice_sends_one_put_and_leads_to_the_instance(operator_client, upstream):
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    first = submit(operator_client, offer.id, token)
    second = submit(operator_client, offer.id, token, htmx=True)
    assert len(puts(upstream)) == 1
    assert second["HX-Redirect"] == first["Location"]
    assert said(second, "already submitted")


def test_two_tabs_each_launch_once(operator_client, upstream):
    offer_a = rentable_offer()
    offer_b = rentable_offer(skip={offer_a.id})
    _, token_a = open_form(operator_client, offer_a.id)
    _, token_b = open_form(operator_client, offer_b.id)
    assert token_a != token_b
    submit(operator_client, offer_a.id, token_a)
    submit(operator_client, offer_b.id, token_b)
    submit(operator_client, offer_a.id, token_a)
    submit(operator_client, offer_b.id, token_b)
    assert [p.path for p in puts(upstream)] == [f"/api/v0/asks/{offer_a.id}/", f"/api/v0/asks/{offer_b.id}/"]
    assert Action.objects.filter(kind="launch", outcome="success").count() == 2


def test_a_token_is_claimed_by_one_request_only(operator):
    token = LaunchToken.objects.create(token="t", user=operator, offer_id=1)
    assert _claim(token) is True
    assert _claim(token) is False


def test_a_token_from_another_user_or_none_sends_nothing(operator_client, other_operator_client, upstream):
    offer = rentable_offer()
    _, token = open_form(other_operator_client, offer.id)
    for stolen in (token, ""):
        response = submit(operator_client, offer.id, stolen)
        assert response.status_code == 200
        assert b"This launch form had expired" in response.content
    assert puts(upstream) == []


def test_created_but_stopped_says_so_and_goes_to_the_instance(operator_client, upstream):
    switches.enable("create_stopped")
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    response = submit(operator_client, offer.id, token)
    action = Action.objects.get(kind="launch")
    assert response["Location"] == f"/instances/{action.instance_id}/"
    assert said(response, "left it stopped")
    assert action.outcome == "success"
    assert "left it stopped" in action.message


def test_offer_gone_goes_back_to_the_search_with_its_filters(operator_client, other_operator_client, upstream):
    offer = rentable_offer()
    _, mine = open_form(operator_client, offer.id)
    _, theirs = open_form(other_operator_client, offer.id)
    submit(other_operator_client, offer.id, theirs)
    response = submit(operator_client, offer.id, mine)
    assert len(puts(upstream)) == 2
    assert response["Location"] == "/offers/?gpu=RTX+4090&disk=40"
    assert said(response, "rented by someone else")
    assert Action.objects.get(username="otto").outcome == "failed"


def test_offer_not_found_on_open_goes_back_to_the_search_from_the_referer(operator_client):
    response = operator_client.get(
        "/offers/1/launch/?disk=10", headers={"Referer": "http://testserver/offers/?gpu=H100+SXM&num_gpus=2"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/offers/?gpu=H100+SXM&num_gpus=2"
    assert said(response, "no longer available")


@pytest.mark.parametrize(
    ("body", "rental", "where"),
    [
        ({"error": "invalid_price", "msg": "Your bid is below the minimum bid."}, "bid", "errors-price"),
        ({"error": "invalid_args", "msg": "label_too_long"}, "on-demand", "errors-label"),
        ({"error": "invalid_args", "msg": "error 400/3467: Invalid args: blacklisted"}, "on-demand", "launch-error"),
    ],
    ids=["price", "label", "form"],
)
def test_rejected_launch_shows_the_reason_by_its_field_with_a_fresh_token(
    operator_client, upstream, body, rental, where
):
    faults.inject("asks", method="PUT", status=400, body={"success": False, **body}, times=1)
    offer = rentable_offer(rental)
    _, token = open_form(operator_client, offer.id, "?disk=40" + ("&type=bid" if rental == "bid" else ""))
    changes = {"price": f"{offer.min_bid + 0.01:.4f}"} if rental == "bid" else {}
    response = submit(operator_client, offer.id, token, rental, htmx=True, **changes)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith('<form id="launch-form"')
    assert re.search(rf'(id="{where}"|data-testid="{where}")', html)
    fresh = re.search(r'name="token" value="([^"]+)"', html).group(1)
    assert fresh != token
    assert Action.objects.get(kind="launch").outcome == "failed"
    submit(operator_client, offer.id, fresh, rental, **changes)
    assert len(puts(upstream)) == 2


class AnswerLost(httpx.BaseTransport):
    """Passes the launch to Vast, then loses the answer: a read timeout after the fact."""

    def __init__(self, inner):
        self.inner = inner

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        if request.method == "PUT":
            raise httpx.ReadTimeout("timed out", request=request)
        return response


def test_lost_answer_says_the_launch_may_have_happened_and_never_retries(operator_client, upstream, synced):
    upstream.inner = AnswerLost(upstream.inner)
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    response = submit(operator_client, offer.id, token)
    assert response["Location"] == "/instances/"
    assert said(response, "may have happened")
    assert len(puts(upstream)) == 1
    action = Action.objects.get(kind="launch")
    assert action.outcome == "unknown"
    again = submit(operator_client, offer.id, token)
    assert again["Location"] == "/instances/"
    assert len(puts(upstream)) == 1
    assert SyncState.current().requested_at is not None  # the worker is asked to look at once
    synced()
    listed = operator_client.get("/instances/")
    assert listed.content.count(b'class="instance"') == 1  # it did happen; after the sync the list shows it


def test_gateway_timeout_on_launch_is_an_unknown_outcome(operator_client, upstream):
    faults.inject("asks", method="PUT", status=504, times=1)
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    response = submit(operator_client, offer.id, token)
    assert response["Location"] == "/instances/"
    assert len(puts(upstream)) == 1
    assert Action.objects.get(kind="launch").outcome == "unknown"


def test_viewer_cannot_open_or_submit_the_launch_form(viewer_client, operator_client, upstream):
    offer = rentable_offer()
    assert viewer_client.get(f"/offers/{offer.id}/launch/").status_code == 403
    _, token = open_form(operator_client, offer.id)
    response = submit(viewer_client, offer.id, token)
    assert response.status_code == 403
    assert puts(upstream) == []
    refused = Action.objects.get()
    assert (refused.kind, refused.outcome, refused.offer_id, refused.username) == (
        "launch",
        "forbidden",
        offer.id,
        "vera",
    )


def test_guardrails_refuse_a_launch_before_vast_and_keep_the_token(operator_client, upstream):
    Guardrails.objects.update_or_create(pk=1, defaults={"operator_max_dph": Decimal("0.01")})
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    response = submit(operator_client, offer.id, token, htmx=True)
    assert response.status_code == 200
    assert "over the operator limit of $0.010/hr" in response.content.decode()
    assert puts(upstream) == []
    assert Action.objects.get().outcome == "forbidden"
    Guardrails.objects.filter(pk=1).update(operator_max_dph=None, max_running_per_user=1)
    assert submit(operator_client, offer.id, token).status_code == 302  # same form, now allowed
    second = rentable_offer(skip={offer.id})
    _, another = open_form(operator_client, second.id)
    refused = submit(operator_client, second.id, another)
    assert b"limit is 1 per person" in refused.content
    assert len(puts(upstream)) == 1


def test_entrypoint_arguments_show_on_the_instance_page(operator_client, upstream, synced):
    instance_id = launch_offer(operator_client, runtype="args", args="--model 'meta-llama/Llama 3' --port 8000")
    synced()  # the arguments come with Vast's view of the instance
    html = operator_client.get(f"/instances/{instance_id}/").content.decode()
    assert 'data-testid="args">--model meta-llama/Llama 3 --port 8000</dd>' in html
