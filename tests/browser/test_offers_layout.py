"""The offers table fits a 1440×900 laptop screen, scrolls inside its own box on a phone, and a
person's column choice stays with them."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 812}
ROWS = "#offer-results tbody.offer"


@pytest.fixture
def open_page(browser, live_server, worker):
    """A logged-in page at a given viewport size; must raise no JavaScript error."""
    opened = []

    def _open(user, viewport):
        context = browser.new_context(base_url=live_server.url, viewport=viewport)
        context.set_default_timeout(10_000)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        opened.append((context, errors))
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    yield _open
    for context, errors in opened:
        context.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def _headers(page):
    return [text.rstrip(" ▲▼") for text in page.locator("#offer-results thead th a").all_inner_texts()]


def test_at_1440_the_launch_buttons_are_on_screen_without_horizontal_scrolling(open_page, operator):
    page = open_page(operator, DESKTOP)
    page.goto("/offers/")
    expect(page.locator(ROWS)).to_have_count(64)
    launch = page.locator(ROWS).first.get_by_role("link", name="Launch")
    box = launch.bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= DESKTOP["width"], f"Launch ends at x={box['x'] + box['width']:.0f}"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    scroller = page.locator("#offer-results .table-scroll")
    assert scroller.evaluate("el => el.scrollWidth <= el.clientWidth"), "the table itself overflows its box"


def test_details_still_open_under_the_row(open_page, viewer):
    page = open_page(viewer, DESKTOP)
    page.goto("/offers/")
    first = page.locator(ROWS).first
    first.get_by_role("link", name="Details").click()
    expect(first.get_by_test_id("offer-fields")).to_contain_text("storage_cost")
    first.get_by_role("link", name="Details").click()
    expect(first.locator("tr.offer-details")).to_be_hidden()


def test_the_column_chooser_adds_a_column_that_stays_after_reload(open_page, operator):
    page = open_page(operator, DESKTOP)
    page.goto("/offers/?gpu=RTX+4090")
    assert "CUDA" not in _headers(page)
    chooser = page.get_by_test_id("column-chooser")
    chooser.locator("summary").click()
    chooser.get_by_label("CUDA").check()
    chooser.get_by_label("Reliability").uncheck()
    chooser.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/offers/\?gpu=RTX(\+|%20)4090$"))
    expect(page.locator("#offer-results thead")).to_contain_text("CUDA")
    page.reload()
    headers = _headers(page)
    assert "CUDA" in headers
    assert "Reliability" not in headers
    page.goto("/offers/")  # another search, the same columns
    assert "CUDA" in _headers(page)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_test_id("column-chooser").locator("summary").click()
    page.get_by_test_id("column-chooser").get_by_role("button", name="Default columns").click()
    expect(page.locator("#offer-results thead")).to_contain_text("Reliability")
    assert "CUDA" not in _headers(page)


def test_on_a_phone_the_table_scrolls_inside_its_own_box(open_page, operator):
    page = open_page(operator, PHONE)
    page.goto("/offers/")
    expect(page.locator(ROWS)).to_have_count(64)
    scroller = page.locator("#offer-results .table-scroll")
    box = scroller.bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"] + 0.5
    assert scroller.evaluate("el => el.scrollWidth > el.clientWidth")  # the table is wider: it scrolls here
    scroller.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    launch = page.locator(ROWS).first.get_by_role("link", name="Launch")
    launch.scroll_into_view_if_needed()
    right = launch.bounding_box()
    assert right["x"] + right["width"] <= PHONE["width"] + 0.5


def test_on_a_phone_the_filters_fold_so_the_results_come_first_and_the_chart_stays_legible(open_page, operator):
    page = open_page(operator, PHONE)
    page.goto("/offers/")
    expect(page.locator(ROWS)).to_have_count(64)
    toggle = page.get_by_text("Filters and sort")
    expect(toggle).to_be_visible()
    expect(page.get_by_label("Min GPUs")).to_be_hidden()
    assert page.locator("#offer-results").bounding_box()["y"] < PHONE["height"], "results start on the first screen"
    chart = page.locator(".price-chart")
    assert chart.bounding_box()["width"] >= 640, "drawn at a legible size, scrolling inside its card"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    toggle.click()
    page.get_by_label("Min GPUs").fill("4")
    expect(page).to_have_url(re.compile(r"num_gpus=4"))
    expect(page.locator(ROWS).first).to_contain_text("4×")


def test_at_1440_the_filters_are_open_with_no_toggle(open_page, operator):
    page = open_page(operator, DESKTOP)
    page.goto("/offers/")
    expect(page.get_by_label("Min GPUs")).to_be_visible()
    expect(page.get_by_text("Filters and sort")).to_be_hidden()
