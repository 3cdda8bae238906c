"""An operator reads an instance's logs, reboots it after confirming, and raises its bid."""

import re

import pytest
from playwright.sync_api import expect

from dashboard import vast
from dashboard.models import Action
from instances import ledger

pytestmark = pytest.mark.django_db(transaction=True)


def _launched_by(user, *, bid=False):
    """An instance launched for `user` (as the launch page would record it), with an on-start script."""
    offer = vast.search_offers({"rentable": {"eq": True}, "type": "bid" if bid else "on-demand", "limit": 1})[0]
    price = round(offer.min_bid + 0.01, 4) if bid else None
    request = vast.LaunchRequest(
        image="pytorch/pytorch", disk=10, label="console run", onstart="echo 'hello from onstart'", price=price
    )
    instance_id = vast.create_instance(offer.id, request).instance_id
    ledger.record_launch(
        user,
        instance_id,
        offer,
        price=offer.dph_total,
        label="console run",
        image="pytorch/pytorch",
        disk=10,
        started=True,
    )
    return instance_id


def test_operator_reads_the_logs_and_reboots_with_a_confirmation(page, login, operator, settings):
    settings.VASTSIM_BOOT_SECONDS = 2.0
    instance_id = _launched_by(operator)
    login(operator)
    page.goto(f"/instances/{instance_id}/")
    status = page.locator("#instance-detail [data-testid=status]")
    expect(status).to_have_text("running", timeout=15_000)

    page.get_by_test_id("logs-link").click()
    page.wait_for_url(re.compile(rf"/instances/{instance_id}/logs/"))
    expect(page.get_by_test_id("logs-message")).to_contain_text("gathering")
    lines = page.get_by_test_id("log-lines")
    expect(lines).to_contain_text("hello from onstart", timeout=15_000)
    expect(lines).to_contain_text("Pulling image pytorch/pytorch")

    page.get_by_label("Lines").select_option("100")
    expect(page.locator("#logs-panel")).to_have_attribute("data-state", "waiting")
    expect(lines).to_contain_text("hello from onstart", timeout=15_000)
    assert page.url.endswith("?lines=100")
    page.get_by_role("button", name="Refresh").click()
    expect(lines).to_contain_text("hello from onstart", timeout=15_000)

    page.goto(f"/instances/{instance_id}/")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Reboot").click()
    expect(page.locator("#alerts")).to_contain_text("Rebooting “console run”")
    assert "Reboot console run (id" in dialogs[0]
    assert "same GPU" in dialogs[0]
    expect(status).to_have_text("rebooting")
    expect(status).to_have_text("running", timeout=15_000)
    assert Action.objects.filter(kind="reboot", outcome="success", instance_id=instance_id).count() == 1


def test_operator_dismissing_the_reboot_confirmation_sends_nothing(page, login, operator, settings):
    settings.VASTSIM_BOOT_SECONDS = 2.0
    instance_id = _launched_by(operator)
    login(operator)
    page.goto(f"/instances/{instance_id}/")
    expect(page.locator("#instance-detail [data-testid=status]")).to_have_text("running", timeout=15_000)
    page.on("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Reboot").click()
    page.wait_for_timeout(500)
    assert not Action.objects.filter(kind="reboot").exists()


def test_operator_raises_the_bid_of_an_interruptible_instance(page, login, operator, settings):
    settings.VASTSIM_BOOT_SECONDS = 2.0
    instance_id = _launched_by(operator, bid=True)
    login(operator)
    page.goto(f"/instances/{instance_id}/")
    expect(page.locator("#instance-detail [data-testid=status]")).to_have_text("running", timeout=15_000)
    current = vast.get_instance(instance_id).dph_base

    page.get_by_text("Change bid", exact=True).click()
    page.get_by_label(re.compile("New bid")).fill(f"{current + 0.1:.4f}")
    page.get_by_role("button", name="Save bid").click()

    expect(page.locator("#alerts")).to_contain_text(f"is now ${current + 0.1:.4f}/hr")
    expect(page.get_by_test_id("current-bid")).to_contain_text(f"bid ${current + 0.1:.4f}/hr", timeout=10_000)
    assert vast.get_instance(instance_id).dph_base == pytest.approx(current + 0.1)
