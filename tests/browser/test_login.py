"""A person logs in, lands on the overview, and sees offers from the simulator."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_person_logs_in_lands_on_the_overview_and_sees_offers_from_the_simulator(page, login, viewer):
    page.goto("/instances/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/instances/"))
    login(viewer)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_have_text("vera")
    expect(page.get_by_text("Simulated Vast.ai")).to_be_visible()
    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    rows = page.locator("#offer-results tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() > 10
    expect(rows.first).to_contain_text("$")


def test_an_htmx_request_that_fails_unexpectedly_says_so(page, login, viewer):
    login(viewer)
    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    page.route("**/offers/?*", lambda route: route.fulfill(status=500, body="boom"))
    page.get_by_label("Min GPUs").fill("2")
    expect(page.locator("#alerts")).to_contain_text("could not complete that (error 500)")
