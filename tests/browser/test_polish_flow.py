"""Day-one polish in a real browser: the offers count and Show more, disabled Launch buttons with
the reason, the usage and the red quote on the launch form, times in the viewer's zone, and
passwords (changed by their owner, reset through an admin's one-time link)."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.http import QueryDict
from playwright.sync_api import expect

from dashboard import audit, guardrails, vast
from dashboard.models import Action, Guardrails
from instances import ledger
from instances.forms import quote
from offers.forms import OfferSearchForm
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1440, "height": 900}
NEW_PASSWORD = "a much longer passphrase for otto 42"
OFFER_ROWS = "#offer-results tbody.offer"


def _log_in(page, username, password=PASSWORD):
    """Log in through the real form; returns once the login page is left."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


@pytest.fixture
def open_context(browser, live_server, worker):
    """New browser contexts at the desktop size (a time zone of one's choice, no cookies);
    each is closed at the end and must have raised no JavaScript error."""
    opened = []

    def _open(timezone_id="UTC"):
        context = browser.new_context(
            base_url=live_server.url, viewport=DESKTOP, timezone_id=timezone_id, locale="en-US"
        )
        context.set_default_timeout(10_000)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        opened.append((context, errors))
        return page

    yield _open
    for context, errors in opened:
        context.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def _default_answer():
    """The offers page's default search as the page itself runs it (the cached answer); the GPU
    model list only offers choices, and no model is chosen here."""
    form = OfferSearchForm(QueryDict(""), gpu_names=())
    assert form.is_valid(), form.errors
    return vast.search_offers_cached(form.search())


def _launched_by(user):
    """A running instance launched for `user`, recorded as the launch page would record it."""
    offer = vast.search_offers({"rentable": {"eq": True}, "type": "on-demand", "limit": 1})[0]
    request = vast.LaunchRequest(image="pytorch/pytorch", disk=10, label="polish run")
    instance_id = vast.create_instance(offer.id, request).instance_id
    ledger.record_launch(
        user, instance_id, offer, price=offer.dph_total, label="polish run", image="pytorch/pytorch", disk=10,
        started=True,
    )  # fmt: skip
    return instance_id


def _colour(locator):
    """The element's computed text colour as (red, green, blue)."""
    return tuple(int(n) for n in re.findall(r"\d+", locator.evaluate("el => getComputedStyle(el).color"))[:3])


# 1. Counts and Show more


def test_show_more_appends_the_next_rows_from_the_answer_already_fetched(page, login, viewer, upstream):
    page.set_viewport_size(DESKTOP)
    login(viewer)
    page.goto("/offers/")
    count = page.get_by_test_id("offer-count")
    expect(count).to_have_text(re.compile(r"^Showing 64 of \d+ offers$"))
    total = int(re.search(r"of (\d+) offers", count.inner_text()).group(1))
    assert total > 64
    rows = page.locator(OFFER_ROWS)
    expect(rows).to_have_count(64)
    first_ids = rows.evaluate_all("rows => rows.map(r => r.dataset.offerId)")
    searches = len(upstream.calls("POST", "/bundles"))
    assert searches == 1
    page.evaluate("window.__noReload = true")

    page.get_by_test_id("offers-more").get_by_role("link", name="Show more").click()

    shown = min(128, total)
    expect(rows).to_have_count(shown)
    expected = f"Showing {shown} of {total} offers" if total > shown else f"{total} offers"
    expect(count).to_have_text(expected)
    ids = rows.evaluate_all("rows => rows.map(r => r.dataset.offerId)")
    assert ids[:64] == first_ids  # appended below, the first rows untouched
    assert len(set(ids)) == shown
    expect(page.get_by_test_id("offers-more")).to_have_count(1 if total > shown else 0)
    if total > shown:
        expect(page.get_by_test_id("offers-more")).to_contain_text(f"({shown} of {total} shown)")
    assert page.evaluate("window.__noReload") is True
    assert page.url.endswith("/offers/")  # Show more does not push a URL
    assert len(upstream.calls("POST", "/bundles")) == searches  # no second search upstream


# 2. Guardrails before the refusal


def test_operator_sees_disabled_launch_with_reasons_and_the_launch_form_shows_usage_and_a_red_quote(
    page, login, operator, monkeypatch
):
    page.set_viewport_size(DESKTOP)
    _launched_by(operator)
    answer = _default_answer()
    prices = {str(offer.id): Decimal(str(offer.dph_total)) for offer in answer}
    ordered = sorted(Decimal(str(offer.dph_total)) for offer in answer[:64])
    limit = ordered[len(ordered) // 2].quantize(Decimal("0.001"))
    assert ordered[0] <= limit < ordered[-1]
    Guardrails.objects.update_or_create(
        pk=1, defaults={"operator_max_dph": limit, "max_running_per_user": 3, "monthly_cap_per_user": Decimal("100")}
    )
    reason = f"Over your operator limit of ${limit:.3f}/hr"

    login(operator)
    page.goto("/offers/")
    rows = page.locator(OFFER_ROWS)
    expect(rows).to_have_count(64)
    allowed = []
    for row in rows.all():
        offer_id = row.get_attribute("data-offer-id")
        if prices[offer_id] > limit:
            button = row.get_by_test_id("launch-disabled")
            expect(button).to_be_disabled()
            expect(button).to_have_attribute("title", reason)
            expect(button.locator(".visually-hidden")).to_have_text(f" unavailable: {reason[0].lower()}{reason[1:]}")
            expect(button).to_have_accessible_name(re.compile(r"Launch unavailable: over your operator limit"))
            expect(row.get_by_role("link", name="Launch")).to_have_count(0)
        else:
            expect(row.get_by_role("link", name="Launch")).to_be_enabled()
            expect(row.get_by_test_id("launch-disabled")).to_have_count(0)
            allowed.append(offer_id)
    assert allowed
    assert len(allowed) < 64

    # The allowed offer closest to the limit: a bigger disk takes its quote over.
    offer_id = max(allowed, key=lambda i: prices[i])
    offer = next(o for o in answer if str(o.id) == offer_id)
    disk = next(d for d in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if quote(offer, d)["total"] > limit)
    page.locator(f'{OFFER_ROWS}[data-offer-id="{offer_id}"]').get_by_role("link", name="Launch").click()
    page.wait_for_url(re.compile(rf"/offers/{offer_id}/launch/"))
    usage = page.get_by_test_id("launch-usage")
    expect(usage).to_contain_text(re.compile(r"\b1 of 3 running"))
    expect(usage).to_contain_text(re.compile(r"\$\d+ of \$100 this month"))
    expect(usage).to_contain_text(f"your operator limit is ${limit:.3f}/hr")
    price = page.get_by_test_id("launch-price")
    expect(price).not_to_have_class(re.compile(r"\bover-limit\b"))
    expect(page.get_by_test_id("over-limit")).to_have_count(0)
    plain = _colour(price.locator(".total"))

    page.get_by_label("Disk (GB)").fill(str(disk))
    expect(price).to_contain_text(f"storage {disk} GB")
    expect(price).to_have_class(re.compile(r"\bover-limit\b"))
    expect(page.get_by_test_id("over-limit")).to_have_text(f"over your ${limit:.3f}/hr limit")
    red, green, blue = _colour(price.locator(".total"))
    assert (red, green, blue) != plain
    assert red > 2 * max(green, blue), f"the over-limit total is not red: rgb({red}, {green}, {blue})"

    page.get_by_label("Disk (GB)").fill("10")
    expect(price).to_contain_text("storage 10 GB")
    expect(price).not_to_have_class(re.compile(r"\bover-limit\b"))

    # At the running cap, and over the monthly cap, no offer can be launched, whatever its price.
    Guardrails.objects.filter(pk=1).update(max_running_per_user=1)
    page.goto("/offers/")
    expect(rows).to_have_count(64)
    expect(page.locator(OFFER_ROWS).get_by_role("link", name="Launch")).to_have_count(0)
    expect(page.get_by_test_id("launch-disabled")).to_have_count(64)
    expect(page.get_by_test_id("launch-disabled").first).to_have_attribute(
        "title", "You are at your limit of 1 running"
    )

    Guardrails.objects.filter(pk=1).update(max_running_per_user=None)
    monkeypatch.setattr(guardrails, "_usage_provider", lambda user: guardrails.Usage(0, 0, month_spend=100.5))
    page.goto("/offers/")
    expect(rows).to_have_count(64)
    expect(page.get_by_test_id("launch-disabled")).to_have_count(64)
    first = page.get_by_test_id("launch-disabled").first
    expect(first).to_have_attribute("title", "You have reached the monthly cap of $100.00")
    expect(first.locator(".visually-hidden")).to_have_text(" unavailable: You have reached the monthly cap of $100.00")


# 3. Times in the viewer's zone


def _assert_local_times(page, zone):
    """Every <time data-local> on the page shows its UTC datetime in `zone`, with the UTC time
    in its title; returns how many there were."""
    times = page.locator("time[data-local]")
    expect(times.first).to_be_attached()
    expect(times.filter(has_text=re.compile(r"UTC$"))).to_have_count(0)  # app.js has run
    checked = 0
    for element in times.all():
        moment = datetime.strptime(element.get_attribute("datetime"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        local = moment.astimezone(ZoneInfo(zone))
        pattern = "%Y-%m-%d %H:%M:%S" if element.get_attribute("data-seconds") is not None else "%Y-%m-%d %H:%M"
        if element.get_attribute("data-time-only") is not None:  # the ledger's freshness line
            pattern = pattern[len("%Y-%m-%d ") :]
        # expect() retries: a polled region may be swapped in (still in UTC) a moment before app.js runs.
        expect(element).to_have_text(re.compile("^" + re.escape(local.strftime(pattern)) + r" \S+$"))
        expect(element).to_have_attribute("title", moment.strftime("%Y-%m-%d %H:%M UTC"))
        checked += 1
    return checked


@pytest.mark.parametrize(("zone", "name"), [("Asia/Tokyo", "GMT+9"), ("America/New_York", "EDT")])
def test_times_show_in_the_viewers_zone_with_utc_in_the_title(open_context, admin, operator, synced, zone, name):
    instance_id = _launched_by(operator)
    synced()
    # An evening in UTC: the next morning in Tokyo, the afternoon in New York (summer time).
    evening = audit.change(admin, Action.Kind.GUARDRAILS, "Changed the guardrails.", before=None, after=None)
    Action.objects.filter(pk=evening.pk).update(created_at=datetime(2026, 7, 1, 20, 30, 15, tzinfo=UTC))
    audit.change(admin, Action.Kind.ROLE, "otto: role viewer → operator.", before="viewer", after="operator")
    page = open_context(timezone_id=zone)
    _log_in(page, admin.username)

    page.goto("/audit/")
    cell = page.get_by_test_id("audit").locator("tbody tr", has_text="Changed the guardrails.").locator("time")
    expect(cell).to_have_attribute("datetime", "2026-07-01T20:30:15Z")
    local = {"Asia/Tokyo": "2026-07-02 05:30:15", "America/New_York": "2026-07-01 16:30:15"}[zone]
    expect(cell).to_have_text(f"{local} {name}")
    expect(cell).to_have_attribute("title", "2026-07-01 20:30 UTC")
    expect(page.get_by_test_id("audit").locator("thead")).not_to_contain_text("UTC")
    assert _assert_local_times(page, zone) >= 2

    page.goto(f"/instances/{instance_id}/")
    expect(page.locator("#instance-detail")).to_contain_text("polish run")
    assert _assert_local_times(page, zone) >= 2


# 4. Passwords


def test_a_person_changes_their_password_and_logs_in_with_the_new_one(page, login, operator):
    page.set_viewport_size(DESKTOP)
    login(operator)
    expect(page.get_by_test_id("password-change-link")).to_have_attribute("href", "/accounts/password_change/")
    page.goto("/accounts/password_change/")
    page.get_by_label("Old password").fill("not my password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".has-error .errorlist")).to_contain_text("Your old password was entered incorrectly")
    expect(page).to_have_url(re.compile(r"/accounts/password_change/$"))

    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(re.compile(r"/accounts/password_change/done/$"))
    expect(page.get_by_test_id("password-changed")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill(operator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    _log_in(page, operator.username, NEW_PASSWORD)
    expect(page.get_by_test_id("current-user")).to_have_text(operator.username)


def test_admin_issues_a_one_time_reset_link_that_sets_a_new_password_once(page, login, admin, viewer, open_context):
    page.set_viewport_size(DESKTOP)
    login(admin)
    page.goto("/team/")
    # Last login, like every time, is a <time> in the viewer's zone (this context's is UTC).
    admin_row = page.get_by_test_id("users").locator("tbody tr", has_text=admin.username)
    expect(admin_row.locator("time[data-local]")).to_have_attribute(
        "title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")
    )
    expect(page.get_by_test_id("users").locator("tbody tr", has_text=viewer.username)).to_contain_text("never")
    page.get_by_test_id("users").locator("tbody tr", has_text=viewer.username).get_by_role("link", name="Edit").click()
    page.get_by_role("button", name="Issue a password reset link").click()
    link = page.get_by_test_id("reset-link").input_value()
    assert re.search(r"/accounts/reset/[^/]+/[^/]+/$", link), link

    stranger = open_context()
    stranger.goto(link)
    stranger.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    stranger.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    stranger.get_by_role("button", name="Set password").click()
    expect(stranger.get_by_test_id("password-reset-complete")).to_be_visible()
    _log_in(stranger, viewer.username, NEW_PASSWORD)
    expect(stranger.get_by_test_id("current-user")).to_have_text(viewer.username)

    again = open_context()
    again.goto(link)
    expect(again.get_by_test_id("reset-link-invalid")).to_be_visible()
    expect(again.get_by_role("button", name="Set password")).to_have_count(0)

    page.goto("/audit/")
    issued = page.get_by_test_id("audit").locator(
        "tbody tr", has_text=f"Issued a password reset link for {viewer.username}"
    )
    expect(issued).to_have_count(1)
    expect(issued).to_contain_text("Issue password reset")
    expect(issued).to_contain_text(admin.username)
