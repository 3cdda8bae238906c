"""Guardrails shown before a refusal: disabled Launch buttons with the reason on the offers page,
and the person's usage and an over-limit quote on the launch form."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from dashboard import guardrails
from dashboard.models import Guardrails
from instances import spending
from tests.test_launch import launch_offer, open_form, rentable_offer
from vastsim import clock

pytestmark = pytest.mark.django_db

SEARCH = {"verified": "any", "disk": "10"}


def _rails(**limits):
    Guardrails.objects.update_or_create(pk=1, defaults=limits)


def _launch_cells(html):
    """(offer id, the row's actions cell) for each row."""
    return re.findall(r'data-offer-id="(\d+)".*?<td class="row-actions">(.*?)</td>', html, re.S)


def test_the_instances_app_registers_the_usage_provider():
    assert guardrails._usage_provider is spending.usage


def test_offers_over_the_role_limit_show_a_disabled_launch_with_the_reason(operator_client):
    _rails(operator_max_dph=Decimal("0.500"))
    html = operator_client.get(reverse("offers:search"), {**SEARCH, "order": "-dph_total"}).content.decode()
    html += operator_client.get(reverse("offers:search"), SEARCH).content.decode()
    cells = _launch_cells(html)
    over = [cell for _, cell in cells if "disabled" in cell]
    under = [cell for _, cell in cells if "disabled" not in cell]
    assert over
    assert under
    for cell in over:
        assert 'title="Over your operator limit of $0.500/hr"' in cell
        assert '<span class="visually-hidden"> unavailable: over your operator limit of $0.500/hr</span>' in cell
        assert "/launch/" not in cell
    assert all("/launch/" in cell for cell in under)


def test_at_max_running_every_launch_is_disabled(operator_client, synced):
    launch_offer(operator_client)
    clock.advance(30)
    synced()
    _rails(max_running_per_user=1)
    cells = _launch_cells(operator_client.get(reverse("offers:search"), SEARCH).content.decode())
    assert cells
    assert all('title="You are at your limit of 1 running"' in cell for _, cell in cells)


def test_over_the_monthly_cap_every_launch_is_disabled(operator_client, operator, monkeypatch):
    _rails(monthly_cap_per_user=Decimal("100"))
    monkeypatch.setattr(
        guardrails, "_usage_provider", lambda user: guardrails.Usage(running=0, in_flight=0, month_spend=100.5)
    )
    cells = _launch_cells(operator_client.get(reverse("offers:search"), SEARCH).content.decode())
    assert cells
    assert all("You have reached the monthly cap of $100.00" in cell for _, cell in cells)


def test_viewers_see_no_launch_at_all(viewer_client):
    cells = _launch_cells(viewer_client.get(reverse("offers:search"), SEARCH).content.decode())
    assert cells
    assert not any("Launch" in cell for _, cell in cells)


def test_launch_form_shows_usage_against_the_caps(operator_client, synced):
    launch_offer(operator_client)
    clock.advance(30)
    synced()
    _rails(max_running_per_user=3, monthly_cap_per_user=Decimal("100"), operator_max_dph=Decimal("5"))
    offer = rentable_offer()
    response, _ = open_form(operator_client, offer.id, "?disk=40")
    html = " ".join(response.content.decode().split())
    assert re.search(r"1 of 3 running, \$\d+ of \$100 this month · your operator limit is \$5\.000/hr", html)
    assert "over-limit" not in html


def test_quote_turns_red_when_the_disk_takes_it_over_the_limit(operator_client):
    offer = rentable_offer()
    storage_40 = offer.storage_cost * 40 / 720
    _rails(operator_max_dph=Decimal(f"{offer.dph_base + storage_40 + 0.0005:.4f}"))
    page, _ = open_form(operator_client, offer.id, "?disk=40")
    assert 'data-testid="over-limit"' not in page.content.decode()
    fragment = operator_client.get(
        f"/offers/{offer.id}/launch/?disk=2000&quote_disk=40&type=on-demand", headers={"HX-Request": "true"}
    ).content.decode()
    assert 'class="launch-price over-limit"' in fragment
    assert re.search(r"over your \$[\d.]+/hr limit", fragment)
