"""An operator launches an offer and runs the instance's whole life without reloading the page."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_operator_launches_watches_relabels_stops_starts_and_destroys(page, login, operator, settings):
    settings.VASTSIM_BOOT_SECONDS = 3.0
    login(operator)
    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    page.locator("#offer-results tbody.offer").first.get_by_role("link", name="Launch").click()
    page.wait_for_url(re.compile(r"/offers/\d+/launch/"))

    page.get_by_label("Docker image").fill("nvidia/cuda:12.4.1-devel-ubuntu22.04")
    page.get_by_label("Disk (GB)").fill("32")
    expect(page.get_by_test_id("launch-price")).to_contain_text("storage 32 GB")
    page.get_by_label("Label", exact=True).fill("browser run")
    page.get_by_label("Environment").fill("HF_TOKEN=secret-value\n-p 8080:8080")
    page.get_by_role("button", name="Launch").click()

    page.wait_for_url(re.compile(r"/instances/\d+/$"))
    expect(page.locator("#alerts")).to_contain_text("Launched instance")
    page.evaluate("window.stillTheSamePage = true")
    status = page.locator("#instance-detail [data-testid=status]")
    expect(status).to_have_text(re.compile(r"^(provisioning|loading)$"))
    expect(status).to_have_text("running", timeout=15_000)
    expect(page.get_by_role("button", name="Copy").first).to_be_visible()
    expect(page.locator("[data-testid=env]")).not_to_contain_text("secret-value")

    page.get_by_text("Rename", exact=True).click()
    page.get_by_label(re.compile("New label")).fill("renamed run")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#instance-detail [data-testid=label]")).to_have_text("renamed run")

    page.get_by_role("button", name="Stop").click()
    expect(status).to_have_text("stopped")
    expect(page.locator("#alerts")).to_contain_text("while stopped")
    page.get_by_role("button", name="Start").click()
    expect(status).to_have_text("running")
    assert page.evaluate("window.stillTheSamePage") is True

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Destroy").click()
    page.wait_for_url(re.compile(r"/instances/$"))
    assert "renamed run" in dialogs[0]
    expect(page.locator("#alerts")).to_contain_text("Destroyed")
    expect(page.get_by_test_id("instances-empty")).to_be_visible()


def test_list_row_comes_up_by_itself(page, login, operator, settings):
    settings.VASTSIM_BOOT_SECONDS = 2.0
    from dashboard import vast

    offer = vast.search_offers({"rentable": {"eq": True}, "limit": 1})[0]
    vast.create_instance(offer.id, vast.LaunchRequest(image="vllm/vllm-openai:latest", label="from cli"))
    login(operator)
    page.goto("/instances/")
    row = page.locator("tbody.instance").first
    expect(row).to_contain_text("outside the dashboard")
    expect(row.locator("[data-testid=status]")).to_have_text("running", timeout=10_000)
    # Nothing changes any more, so the list polls the ledger at its slow pace.
    expect(page.locator("#instance-list")).to_have_attribute("hx-trigger", "every 5s, instances-changed from:body")
