"""Team access in a real browser: what a viewer sees, a guardrail refusal, the audit trail."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from dashboard import vast
from dashboard.models import Guardrails
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_viewer_sees_no_launch_or_destroy(page, login, viewer):
    offer = vast.search_offers({"limit": 1})[0]
    vast.create_instance(offer.id, vast.LaunchRequest(image="pytorch/pytorch", label="team run"))
    login(viewer)
    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    expect(page.locator("#offer-results tbody.offer").first).to_be_visible()
    expect(page.get_by_role("link", name="Launch")).to_have_count(0)
    page.get_by_role("link", name="Instances").click()
    expect(page.locator("tbody.instance").first).to_contain_text("team run")
    for name in ("Destroy", "Stop", "Start"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="API keys")).to_have_count(0)


def test_operator_over_the_price_limit_sees_the_refusal_and_admin_finds_it_in_the_audit_log(
    browser, live_server, page, login, operator, admin
):
    Guardrails.objects.update_or_create(pk=1, defaults={"operator_max_dph": Decimal("0.01")})
    login(operator)
    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    first = page.locator("#offer-results tbody.offer").first
    # The offer list already says why: a disabled Launch with the reason, on hover and for screen readers.
    disabled = first.get_by_test_id("launch-disabled")
    expect(disabled).to_be_disabled()
    expect(disabled).to_have_attribute("title", re.compile(r"Over your operator limit of \$0\.010/hr"))
    # The server still refuses a launch sent anyway (an old tab, a shared link).
    page.goto(f"/offers/{first.get_attribute('data-offer-id')}/launch/")
    page.get_by_label("Docker image").fill("pytorch/pytorch")
    page.get_by_role("button", name="Launch").click()
    expect(page.get_by_text(re.compile(r"over the operator limit of \$0\.010/hr"))).to_be_visible()
    assert not vast.list_instances()

    Guardrails.objects.filter(pk=1).update(operator_max_dph=None)
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/instances/\d+/$"))
    instance_id = re.search(r"/instances/(\d+)/$", page.url).group(1)

    admin_context = browser.new_context(base_url=live_server.url)
    admin_page = admin_context.new_page()
    admin_page.goto("/accounts/login/")
    admin_page.get_by_label("Username").fill(admin.username)
    admin_page.get_by_label("Password").fill(PASSWORD)
    admin_page.get_by_role("button", name="Log in").click()
    admin_page.get_by_role("link", name="Audit log", exact=True).click()
    admin_page.get_by_label("User").select_option("otto")
    expect(admin_page).to_have_url(re.compile(r"user=otto"))
    rows = admin_page.get_by_test_id("audit").locator("tbody tr")
    expect(rows.filter(has_text="Forbidden").first).to_contain_text("over the operator limit")
    launched = rows.filter(has_text=instance_id)
    expect(launched).to_contain_text("Launch")
    expect(launched).to_contain_text("Success")
    admin_context.close()
