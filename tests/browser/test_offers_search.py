"""A person filters offers: results refresh in place, the URL follows, Back restores."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def _first_gpu_cells(page):
    """The GPU cell (the first column: "2× RTX 4090", then any badges) of each row."""
    return page.locator("#offer-results tbody.offer tr:first-child td:first-child").all_inner_texts()


def test_changing_a_filter_updates_results_in_place_and_back_restores_them(page, login, viewer):
    login(viewer)
    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    expect(page.get_by_test_id("offers-summary")).to_contain_text(re.compile(r"Showing 64 of \d+ offers"))
    page.evaluate("window.__noReload = true")

    page.get_by_label("GPU model", exact=True).select_option("RTX 4090")
    expect(page).to_have_url(re.compile(r"/offers/\?gpu=RTX(\+|%20)4090$"))
    expect(page.locator("#offer-results tbody.offer").first).to_contain_text("RTX 4090")
    assert all("RTX 4090" in cell for cell in _first_gpu_cells(page))
    filtered = page.get_by_test_id("offers-summary").inner_text()

    page.get_by_label("Min GPUs").fill("2")
    expect(page).to_have_url(re.compile(r"num_gpus=2"))
    expect(page.get_by_test_id("offers-summary")).not_to_have_text(filtered)
    assert all(re.match(r"(2|4|8)× RTX 4090", cell) for cell in _first_gpu_cells(page))
    assert page.evaluate("window.__noReload") is True

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"num_gpus"))
    expect(page.get_by_test_id("offers-summary")).to_have_text(filtered)
    assert all("RTX 4090" in cell for cell in _first_gpu_cells(page))


def test_clicking_a_column_header_sorts_and_bad_input_shows_a_field_error(page, login, viewer):
    login(viewer)
    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    page.get_by_role("link", name="DLPerf/$").click()
    expect(page).to_have_url(re.compile(r"order=-dlperf_per_dphtotal"))
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("DLPerf/$")

    page.get_by_label("Max $/hr (total)").fill("-3")
    expect(page.locator("#errors-max_dph")).to_contain_text("greater than or equal to 0")


def test_details_row_expands_with_every_field(page, login, viewer):
    login(viewer)
    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    first = page.locator("#offer-results tbody.offer").first
    first.get_by_role("link", name="Details").click()
    expect(first.get_by_test_id("offer-fields")).to_contain_text("storage_cost")
