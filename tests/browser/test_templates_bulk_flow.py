"""An operator saves a launch template, launches an offer with it (the form comes prefilled), and
stops two instances at once from the list after one confirmation naming them."""

import re

import pytest
from playwright.sync_api import expect

from dashboard import vast
from vastsim.models import Instance

pytestmark = pytest.mark.django_db(transaction=True)


def test_operator_creates_a_template_and_launches_with_it(page, login, operator):
    login(operator)
    page.get_by_role("link", name="Templates", exact=True).click()
    expect(page.get_by_test_id("templates-empty")).to_be_visible()
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Name").fill("notebook")
    page.get_by_label("Docker image").fill("nvidia/cuda:12.4.1-devel-ubuntu22.04")
    page.get_by_label("Disk (GB)").fill("24")
    page.get_by_label("Jupyter + SSH").check()
    page.get_by_label("Ports").fill("6006")
    page.get_by_label("Environment").fill("WANDB_MODE=offline")
    page.get_by_label("On-start script").fill("nvidia-smi")
    page.get_by_role("button", name="Save template").click()
    expect(page.locator("#alerts")).to_contain_text("Saved launch template “notebook”")
    expect(page.get_by_test_id("template-name")).to_have_text("notebook")

    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    page.locator("#offer-results tbody.offer").first.get_by_role("link", name="Launch").click()
    page.wait_for_url(re.compile(r"/offers/\d+/launch/"))
    page.get_by_label("Launch with…").select_option(label="notebook · nvidia/cuda:12.4.1-devel-ubuntu22.04")
    page.get_by_role("button", name="Use template").click()
    page.wait_for_url(re.compile(r"template=\d+"))
    expect(page.get_by_test_id("template-chosen")).to_contain_text("Prefilled from “notebook”")
    expect(page.get_by_label("Docker image")).to_have_value("nvidia/cuda:12.4.1-devel-ubuntu22.04")
    expect(page.get_by_label("Disk (GB)")).to_have_value("24")
    expect(page.get_by_label("Jupyter + SSH")).to_be_checked()
    expect(page.get_by_label("Environment")).to_have_value("WANDB_MODE=offline\n-p 6006:6006")
    expect(page.get_by_label("On-start script")).to_have_value("nvidia-smi")
    expect(page.get_by_test_id("launch-price")).to_contain_text("storage 24 GB")
    page.get_by_role("button", name="Launch").click()

    page.wait_for_url(re.compile(r"/instances/\d+/$"))
    expect(page.locator("#alerts")).to_contain_text("Launched instance")
    launched = Instance.objects.get()
    assert (launched.image, launched.disk, launched.onstart) == (
        "nvidia/cuda:12.4.1-devel-ubuntu22.04",
        24.0,
        "nvidia-smi",
    )
    assert dict(launched.env) == {"WANDB_MODE": "offline", "-p 6006:6006": "1"}
    assert launched.runtype == "jupyter_direc ssh_direc ssh_proxy"


def test_operator_stops_two_instances_at_once_after_one_confirmation(page, login, operator, settings):
    settings.VASTSIM_BOOT_SECONDS = 1.0
    offers = vast.search_offers({"rentable": {"eq": True}, "num_gpus": {"eq": 1}, "limit": 3})
    ids = [
        vast.create_instance(offer.id, vast.LaunchRequest(image="ubuntu:22.04", label=label)).instance_id
        for offer, label in zip(offers, ("alpha", "beta", "gamma"), strict=True)
    ]
    login(operator)
    page.goto("/instances/")
    for instance_id in ids:
        status = page.locator(f"#instance-{instance_id} [data-testid=status]")
        expect(status).to_have_text("running", timeout=15_000)
    stop = page.get_by_role("button", name="Stop selected")
    expect(stop).to_be_disabled()
    page.get_by_label(f"Select alpha (#{ids[0]})").check()
    page.get_by_label(f"Select beta (#{ids[1]})").check()
    expect(page.get_by_test_id("bulk-bar")).to_contain_text("2 selected")
    # The list refreshes itself (a new #instance-list replaces the marked one); the ticks stay.
    page.evaluate("document.getElementById('instance-list').dataset.old = 'yes'")
    expect(page.locator("#instance-list[data-old]")).to_have_count(0, timeout=10_000)
    expect(page.get_by_label(f"Select alpha (#{ids[0]})")).to_be_checked()
    expect(page.get_by_label(f"Select beta (#{ids[1]})")).to_be_checked()

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    stop.click()
    expect(page.locator("#alerts")).to_contain_text("Stopped 2 instances")
    assert len(dialogs) == 1
    assert dialogs[0].startswith(f"Stop 2 instances: beta (#{ids[1]}), alpha (#{ids[0]})?")
    assert "gamma" not in dialogs[0]
    assert "Not all are yours (outside the dashboard)" in dialogs[0]
    for instance_id in ids[:2]:
        expect(page.locator(f"#instance-{instance_id} [data-testid=status]")).to_have_text("stopped", timeout=10_000)
    expect(page.locator(f"#instance-{ids[2]} [data-testid=status]")).to_have_text("running")
    expect(page.get_by_test_id("bulk-bar")).to_contain_text("Tick instances")
