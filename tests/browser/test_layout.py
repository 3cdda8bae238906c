"""Every page at a laptop's 1440×900 and a phone's 375×812: nothing scrolls the page sideways, the
nav folds behind a menu button on the phone, and the account controls stay reachable there.

`UPDATE_SCREENSHOTS=1` also writes the screenshots of docs/screenshots/ that the README shows."""

import pytest
from playwright.sync_api import expect

from tests.browser.layout_helpers import (
    ANONYMOUS_PAGES,
    NOT_PAGES,
    SIZES,
    log_in,
    new_page,
    overflow,
    pages,
    screenshot,
    seed,
    url_names,
    visit,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The README's screenshots: URL name → (file name, what to scroll to first on a phone).
SCREENSHOTS = {
    "home": ("overview", None),
    "offers:search": ("offers", "#offer-results"),
    "instances:index": ("instances", None),
    "instances:detail": ("instance", None),
    "team:users": ("team", None),
}


@pytest.fixture
def site(live_server, worker, admin, operator, viewer, settings):
    """The seeded team's ids, with the instances already up."""
    settings.VASTSIM_BOOT_SECONDS = 0.0
    return seed(admin, operator, viewer)


def test_the_layout_tests_visit_every_page_of_the_urlconf():
    ids = dict.fromkeys(("instance_id", "offer_id", "template_id", "saved_id", "user_id"), 1)
    visited = set(pages(ids)) | set(ANONYMOUS_PAGES)
    assert set(url_names()) - NOT_PAGES == visited


@pytest.mark.parametrize("size", SIZES)
def test_no_page_scrolls_sideways(browser, live_server, site, admin, size):
    page = new_page(browser, live_server.url, size)
    too_wide = {}
    for name, path in ANONYMOUS_PAGES.items():
        status = visit(page, path)
        if (result := overflow(page))["scrollWidth"] > result["innerWidth"] or status >= 500:
            too_wide[name] = {"status": status, **result}
    log_in(page, admin)
    for name, path in pages(site).items():
        status = visit(page, path)
        if (result := overflow(page))["scrollWidth"] > result["innerWidth"] or status >= 500:
            too_wide[name] = {"status": status, **result}
        if name in SCREENSHOTS:
            shot, scroll_to = SCREENSHOTS[name]
            if scroll_to and size == "phone":
                page.locator(scroll_to).scroll_into_view_if_needed()
            screenshot(page, shot, size)
    page.context.close()
    assert not too_wide, "\n".join(f"{name}: {result}" for name, result in too_wide.items())
    assert not page.js_errors


def test_on_a_phone_the_nav_folds_behind_a_menu_button_that_moves_nothing(browser, live_server, site, admin):
    page = new_page(browser, live_server.url, "phone")
    log_in(page, admin)
    visit(page, "/instances/")
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#" + menu.get_attribute("aria-controls"))).to_be_hidden()
    expect(nav).to_be_hidden()
    # The bell stays in the bar, big enough to tap.
    bell = page.get_by_test_id("notification-bell")
    box = bell.bounding_box()
    assert 0 <= box["x"] <= box["x"] + box["width"] <= 375, box
    assert box["height"] >= 24, box
    heading_before = page.get_by_role("heading", name="Instances", exact=True).bounding_box()

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Offers", exact=True)).to_be_visible()
    # The menu opens over the page: the content below does not jump.
    assert page.get_by_role("heading", name="Instances", exact=True).bounding_box() == heading_before
    for control in (page.get_by_role("button", name="Log out"), page.get_by_test_id("password-change-link")):
        expect(control).to_be_visible()
        box = control.bounding_box()
        assert 0 <= box["x"] <= box["x"] + box["width"] <= 375, box
    assert overflow(page)["scrollWidth"] <= 375

    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    expect(menu).to_be_focused()
    menu.click()
    page.mouse.click(200, 790)  # below the open menu
    expect(menu).to_have_attribute("aria-expanded", "false")

    menu.click()
    nav.get_by_role("link", name="Team", exact=True).click()
    page.wait_for_url("**/team/")
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")
    page.context.close()
    assert not page.js_errors


def test_on_a_laptop_the_nav_shows_without_a_menu_button(browser, live_server, admin):
    page = new_page(browser, live_server.url, "desktop")
    log_in(page, admin)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    nav = page.get_by_role("navigation", name="Main")
    for link in ("Overview", "Offers", "Instances", "Audit log", "Team"):
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.context.close()
