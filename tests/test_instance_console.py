"""The console pages and actions of one instance: logs (request, poll, lines, give up), reboot and
bid changes: exact upstream calls, roles and ownership, audit rows, validation, guardrails."""

import json
import re
from decimal import Decimal

import httpx
import pytest

from dashboard import vast
from dashboard.models import Action, Guardrails
from instances import console
from instances.models import Instance
from tests.test_launch import launch_offer, rentable_offer
from vastsim import clock, faults
from vastsim import console as sim_console
from vastsim.transport import SimulatorTransport

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def boot(synced):
    def _boot():
        clock.advance(30)
        synced()

    yield _boot
    clock.reset()


@pytest.fixture
def own(operator_client, upstream, boot):
    """A running on-demand instance that otto (the operator) launched, in the ledger."""
    instance_id = launch_offer(operator_client, onstart="echo 'hello from onstart'")
    boot()
    upstream.requests.clear()
    return instance_id


@pytest.fixture
def own_bid(operator_client, upstream, boot):
    """A running interruptible instance that otto launched at its minimum bid + 0.01."""
    offer = rentable_offer("bid")
    instance_id = launch_offer(operator_client, "bid", price=f"{offer.min_bid + 0.01:.4f}")
    boot()
    upstream.requests.clear()
    return instance_id


def console_writes(upstream):
    return [
        (r.method, r.path, r.body)
        for r in upstream.requests
        if r.method == "PUT" and ("/reboot/" in r.path or "/bid_price/" in r.path or "/request_logs/" in r.path)
    ]


def panel(client, instance_id, query=""):
    return client.get(f"/instances/{instance_id}/logs/panel/{query}", headers=HTMX)


def next_poll(response):
    """The query of the panel's next poll (its hx-get), or None when it polls no more."""
    match = re.search(
        r'hx-get="/instances/\d+/logs/panel/(\?[^"]*)" hx-trigger="load delay:([\d.]+)s"', response.content.decode()
    )
    return (match.group(1).replace("&amp;", "&"), float(match.group(2))) if match else None


# Logs.


def test_logs_page_asks_for_the_logs_once_then_polls_until_the_lines_are_there(operator_client, own, upstream):
    page = operator_client.get(f"/instances/{own}/logs/")
    assert page.status_code == 200
    assert f'hx-get="/instances/{own}/logs/panel/?lines=500" hx-trigger="load"' in page.content.decode()
    assert 'class="htmx-indicator' in page.content.decode()
    assert console_writes(upstream) == []  # the page itself does not call Vast

    asked = panel(operator_client, own, "?lines=500")
    assert console_writes(upstream) == [("PUT", f"/api/v0/instances/request_logs/{own}/", {"tail": "500"})]
    assert asked["HX-Replace-Url"] == f"/instances/{own}/logs/?lines=500"
    assert b'data-state="waiting"' in asked.content
    query, delay = next_poll(asked)
    assert delay == 1.0

    waiting = panel(operator_client, own, query)
    assert b'data-state="waiting"' in waiting.content
    assert b"is gathering the last 500 lines" in waiting.content
    query, delay = next_poll(waiting)
    assert delay == 1.5  # the delay grows

    clock.advance(sim_console.LOG_READY_SECONDS)
    ready = panel(operator_client, own, query)
    html = ready.content.decode()
    assert 'data-state="ready"' in html
    assert next_poll(ready) is None
    assert 'data-testid="log-lines"' in html
    assert "hello from onstart" in html
    assert len(console_writes(upstream)) == 1  # asked once; polling reads only the result URL
    for response in (page, asked, waiting, ready):
        assert "instance_logs" not in response.content.decode()  # the result URL stays on the server
        assert "simulated-vast-key" not in response.content.decode()


def test_logs_give_up_after_a_minute_with_a_clear_message(operator_client, own, monkeypatch):
    asked = panel(operator_client, own)
    query, _ = next_poll(asked)
    start = console._now()
    monkeypatch.setattr(console, "_now", lambda: start + console.GIVE_UP_SECONDS + 1)
    gave_up = panel(operator_client, own, query)
    assert b'data-state="gave_up"' in gave_up.content
    assert b"has not published the logs after 61 s" in gave_up.content
    assert next_poll(gave_up) is None
    again = panel(operator_client, own, query)  # the ticket is forgotten
    assert b'data-state="expired"' in again.content


def test_lines_selector_sets_the_tail_and_ignores_anything_else(operator_client, own, upstream):
    panel(operator_client, own, "?lines=5000")
    panel(operator_client, own, "?lines=7")
    panel(operator_client, own, "?lines=abc")
    tails = [body["tail"] for _, _, body in console_writes(upstream)]
    assert tails == ["5000", "500", "500"]
    page = operator_client.get(f"/instances/{own}/logs/?lines=1000")
    assert '<option value="1000" selected>' in page.content.decode()


def test_a_ticket_of_another_instance_or_session_is_refused(operator_client, admin_client, own, upstream):
    query, _ = next_poll(panel(operator_client, own))
    upstream.requests.clear()
    assert b'data-state="expired"' in panel(admin_client, own, query).content
    assert b'data-state="expired"' in panel(operator_client, own + 1, query).content
    assert upstream.calls("GET", "/instance_logs/") == []


def test_the_panel_without_htmx_leads_to_the_page(operator_client, own):
    response = operator_client.get(f"/instances/{own}/logs/panel/?lines=100")
    assert response.status_code == 302
    assert response["Location"] == f"/instances/{own}/logs/?lines=100"


def test_a_vast_error_shows_in_the_panel(operator_client, own):
    gone = operator_client.get(f"/instances/{own + 99}/logs/")
    assert gone.status_code == 404
    refused = panel(operator_client, own + 99)
    assert refused.status_code == 200
    assert b'data-state="error"' in refused.content
    assert b"Press Refresh" in refused.content


def test_the_result_url_on_another_host_gets_no_key_and_redirects_are_not_followed(operator_client, own, settings):
    seen = []
    simulator = SimulatorTransport()

    def handler(request):
        if request.url.host == "vast-logs.s3.example.com":
            seen.append(request)
            if request.url.path.endswith("moved.log"):
                return httpx.Response(302, headers={"Location": "https://console.vast.ai/api/v0/users/current"})
            return httpx.Response(200, text="\x1b[32mstep 1\x1b[0m\nstep 2\n")
        if "/request_logs/" in request.url.path:
            name = "moved" if json.loads(request.content)["tail"] == "100" else "ok"
            url = f"https://vast-logs.s3.example.com/logs/{name}.log?sig=x"
            return httpx.Response(200, json={"success": True, "result_url": url})
        return simulator.handle_request(request)

    vast._client = vast.VastClient(
        settings.VASTSIM_API_KEY, settings.VAST_URL, transport=httpx.MockTransport(handler), sleep=lambda s: None
    )
    ready = panel(operator_client, own, next_poll(panel(operator_client, own))[0])
    assert b'data-state="ready"' in ready.content
    assert b"step 1\nstep 2" in ready.content
    moved = panel(operator_client, own, next_poll(panel(operator_client, own, "?lines=100"))[0])
    assert b'data-state="error"' in moved.content
    assert b"will not follow" in moved.content
    assert len(seen) == 2
    for request in seen:
        assert "authorization" not in {name.lower() for name in request.headers}
        assert settings.VASTSIM_API_KEY not in str(request.url) + str(request.headers)


def test_viewers_may_not_see_logs_and_nothing_reaches_vast(viewer_client, own, upstream):
    for response in (
        viewer_client.get(f"/instances/{own}/logs/"),
        viewer_client.get(f"/instances/{own}/logs/panel/", headers=HTMX),
    ):
        assert response.status_code == 403
        assert b"Logs are for operators and admins" in response.content
    assert console_writes(upstream) == []
    assert b'data-testid="logs-link"' not in viewer_client.get(f"/instances/{own}/").content


def test_operators_may_read_the_logs_of_any_instance(other_operator_client, own, upstream):
    assert other_operator_client.get(f"/instances/{own}/logs/").status_code == 200
    assert b'data-state="waiting"' in panel(other_operator_client, own).content


# Reboot.


def test_reboot_asks_for_confirmation_and_reaches_vast_once_audited(operator_client, own, upstream, synced):
    detail = operator_client.get(f"/instances/{own}/").content.decode()
    form = re.search(rf'<form[^>]*action="/instances/{own}/reboot/"[^>]*>', detail).group(0)
    assert 'hx-confirm="Reboot “demo”' in form or 'hx-confirm="Reboot demo' in form
    assert "on the same GPU" in form

    response = operator_client.post(f"/instances/{own}/reboot/", headers=HTMX)

    assert response.status_code == 200
    assert "instances-changed" in response["HX-Trigger"]
    assert b"Rebooting" in response.content
    assert console_writes(upstream) == [("PUT", f"/api/v0/instances/reboot/{own}/", {})]
    action = Action.objects.get(kind=Action.Kind.REBOOT)
    assert (action.outcome, action.instance_id, action.username) == (Action.Outcome.SUCCESS, own, "otto")
    assert Instance.objects.get(vast_id=own).status in ("rebooting", "running")
    assert vast.get_instance(own).status == "rebooting"


def test_reboot_follows_the_start_rule_operators_their_own_admins_any(
    other_operator_client, admin_client, viewer_client, own, upstream
):
    assert b"/reboot/" not in other_operator_client.get(f"/instances/{own}/").content
    assert other_operator_client.post(f"/instances/{own}/reboot/").status_code == 403
    assert viewer_client.post(f"/instances/{own}/reboot/").status_code == 403
    assert console_writes(upstream) == []
    refused = list(Action.objects.filter(kind=Action.Kind.REBOOT).values_list("username", "outcome"))
    assert sorted(refused) == [("olga", "forbidden"), ("vera", "forbidden")]
    assert admin_client.post(f"/instances/{own}/reboot/").status_code == 302
    assert len(console_writes(upstream)) == 1


def test_reboot_vast_refuses_is_audited_as_failed(operator_client, own, upstream):
    operator_client.post(f"/instances/{own}/reboot/")
    again = operator_client.post(f"/instances/{own}/reboot/", headers=HTMX)  # still rebooting
    assert b"Is the container started?" in again.content
    outcomes = list(Action.objects.filter(kind=Action.Kind.REBOOT).order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["success", "failed"]
    assert len(console_writes(upstream)) == 2


# Bid.


def test_bid_form_shows_the_current_bid_and_the_minimum(operator_client, own_bid, own):
    instance = vast.get_instance(own_bid)
    html = operator_client.get(f"/instances/{own_bid}/").content.decode()
    assert f"Your bid ${instance.dph_base:.4f}/hr · minimum ${instance.min_bid:.4f}/hr" in html
    assert f'action="/instances/{own_bid}/bid/"' in html
    assert "/bid/" not in operator_client.get(f"/instances/{own}/").content.decode()  # on-demand: no bid


def test_bid_change_reaches_vast_once_audited_with_the_new_price(operator_client, own_bid, upstream, synced):
    instance = vast.get_instance(own_bid)
    new = round(instance.dph_base + 0.05, 4)

    response = operator_client.post(f"/instances/{own_bid}/bid/", {"price": str(new)}, headers=HTMX)

    assert response.status_code == 200
    assert "instances-changed" in response["HX-Trigger"]
    assert f"is now ${new:.4f}/hr".encode() in response.content
    assert console_writes(upstream) == [
        ("PUT", f"/api/v0/instances/bid_price/{own_bid}/", {"client_id": "me", "price": new})
    ]
    action = Action.objects.get(kind=Action.Kind.BID)
    assert action.outcome == Action.Outcome.SUCCESS
    assert action.detail["bid"] == new
    assert action.detail["previous"] == pytest.approx(instance.dph_base)
    assert float(action.price_per_hour) == pytest.approx(new + instance.storage_per_hour, abs=1e-5)
    assert vast.get_instance(own_bid).dph_base == pytest.approx(new)


@pytest.mark.parametrize("price", ["", "0", "-1", "0.0001", "129", "abc", "nan", "inf"])
def test_bid_input_is_validated_before_anything_reaches_vast(operator_client, own_bid, upstream, price):
    response = operator_client.post(f"/instances/{own_bid}/bid/", {"price": price}, headers=HTMX)
    assert response.status_code == 200
    assert b"Bid not changed" in response.content
    assert console_writes(upstream) == []
    assert not Action.objects.filter(kind=Action.Kind.BID).exists()


def test_a_bid_under_the_minimum_is_a_form_error(operator_client, own_bid, upstream):
    minimum = vast.get_instance(own_bid).min_bid
    response = operator_client.post(f"/instances/{own_bid}/bid/", {"price": f"{minimum / 2:.4f}"}, headers=HTMX)
    assert b"minimum bid" in response.content
    assert console_writes(upstream) == []


def test_an_on_demand_instance_has_no_bid_to_change(operator_client, own, upstream):
    response = operator_client.post(f"/instances/{own}/bid/", {"price": "1.0"}, headers=HTMX)
    assert b"not an interruptible instance" in response.content
    assert console_writes(upstream) == []


def test_a_higher_bid_passes_the_spend_limit_and_a_lower_one_needs_not(operator_client, own_bid, upstream, synced):
    instance = vast.get_instance(own_bid)
    Guardrails.objects.update_or_create(pk=1, defaults={"operator_max_dph": Decimal("0.01"), "max_running_per_user": 1})
    higher = operator_client.post(f"/instances/{own_bid}/bid/", {"price": f"{instance.dph_base + 0.05:.4f}"})
    assert higher.status_code == 403
    assert b"over the operator limit" in higher.content
    refused = Action.objects.get(kind=Action.Kind.BID)
    assert (refused.outcome, refused.detail) == ("forbidden", {"refused": "max_dph"})
    assert console_writes(upstream) == []

    Guardrails.objects.filter(pk=1).update(operator_max_dph=None)  # one running instance (this one) of one allowed
    raised = operator_client.post(f"/instances/{own_bid}/bid/", {"price": f"{instance.dph_base + 0.05:.4f}"})
    assert raised.status_code == 302
    synced()
    Guardrails.objects.filter(pk=1).update(operator_max_dph=Decimal("0.01"))
    lower = operator_client.post(f"/instances/{own_bid}/bid/", {"price": f"{instance.dph_base + 0.01:.4f}"})
    assert lower.status_code == 302
    assert len(console_writes(upstream)) == 2


def test_bid_follows_the_start_rule_and_a_refusal_by_vast_is_audited(
    other_operator_client, admin_client, own_bid, upstream
):
    assert other_operator_client.post(f"/instances/{own_bid}/bid/", {"price": "1"}).status_code == 403
    assert console_writes(upstream) == []
    assert admin_client.post(f"/instances/{own_bid}/bid/", {"price": "1"}).status_code == 302
    outcomes = list(Action.objects.filter(kind=Action.Kind.BID).order_by("id").values_list("username", "outcome"))
    assert outcomes == [("olga", "forbidden"), ("ada", "success")]


def test_a_bid_vast_refuses_is_audited_as_failed(operator_client, own_bid, upstream):
    refusal = {"success": False, "error": "invalid_price", "msg": "Your bid is too low for this machine."}
    faults.inject("bid_price", method="PUT", status=400, body=refusal, times=1)
    response = operator_client.post(f"/instances/{own_bid}/bid/", {"price": "1"}, headers=HTMX)
    assert b"Your bid is too low for this machine." in response.content
    action = Action.objects.get(kind=Action.Kind.BID)
    assert (action.outcome, action.detail["error"]) == ("failed", "invalid_price")
    assert len(console_writes(upstream)) == 1
