"""WCAG AA contrast on every page, light and dark, at both sizes: each visible text's rendered
colour against its effective background is at least 4.5:1 (3:1 for large text). The phone's menu
is opened on every page, so the nav and the account controls in it are measured too."""

import pytest
from playwright.sync_api import expect

from tests.browser.layout_helpers import ANONYMOUS_PAGES, SIZES, contrast_failures, log_in, new_page, pages, seed, visit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(live_server, worker, admin, operator, viewer, settings):
    settings.VASTSIM_BOOT_SECONDS = 0.0
    return seed(admin, operator, viewer)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_every_text_meets_wcag_aa_contrast(browser, live_server, site, admin, color_scheme, size):
    page = new_page(browser, live_server.url, size, color_scheme)
    failures = {}
    for name, path in ANONYMOUS_PAGES.items():
        visit(page, path)
        if found := contrast_failures(page):
            failures[name] = found
    log_in(page, admin)
    for name, path in pages(site).items():
        assert visit(page, path) < 400, name
        if size == "phone":
            menu = page.get_by_role("button", name="Menu")
            menu.click()
            expect(menu).to_have_attribute("aria-expanded", "true")
        if found := contrast_failures(page):
            failures[name] = found
    page.context.close()
    assert not failures, "\n".join(f"{name}: {found}" for name, found in failures.items())
    assert not page.js_errors


def test_the_contrast_check_sees_a_faint_text(browser, live_server, admin):
    """The check itself: a grey that is too light on white is caught, large text gets 3:1."""
    page = new_page(browser, live_server.url, "desktop")
    visit(page, "/accounts/login/")
    page.evaluate(
        """() => {
          const box = document.createElement("div"), faint = document.createElement("p");
          const large = document.createElement("p");
          box.style.background = "#fff";
          faint.textContent = "faint";
          faint.style.color = "#999";
          large.textContent = "large enough";
          large.style.color = "#888";
          large.style.fontSize = "24px";
          box.append(faint, large);
          document.querySelector("main").append(box);
        }"""
    )
    found = {failure["text"]: failure for failure in contrast_failures(page)}
    assert found["faint"]["needed"] == 4.5
    assert 2.8 < found["faint"]["ratio"] < 2.9
    assert "large enough" not in found
    page.context.close()
