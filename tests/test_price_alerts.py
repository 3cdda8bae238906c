"""Price alerts on saved searches: the worker's round in Huey's immediate mode, against the simulator."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from dashboard.models import Notification, NotificationEvent, RateSlot
from offers import alerts, tasks
from offers.models import AlertMatch, SavedSearch
from vastsim import catalog

NEW_OFFER_ID = 29_999_001


def add_cheap_offer(monkeypatch, offer_id=NEW_OFFER_ID, gpu="RTX 4090", per_gpu=0.05):
    """Make the simulator list one more offer: a copy of a verified 1-GPU `gpu` offer at `per_gpu`
    $/hr. Returns the new offer's catalog row."""
    original, original_by_id = catalog.offers, catalog.offers_by_id
    base = next(
        o for o in original(settings.VASTSIM_SEED) if o["gpu_name"] == gpu and o["num_gpus"] == 1 and o["vericode"] == 1
    )
    new = dict(base, id=offer_id, ask_contract_id=offer_id, dph_base=per_gpu, min_bid=per_gpu / 2)
    monkeypatch.setattr(catalog, "offers", lambda seed: (*original(seed), new))
    monkeypatch.setattr(catalog, "offers_by_id", lambda seed: {**original_by_id(seed), offer_id: new})
    return new


def remove_offer(monkeypatch, offer_id=NEW_OFFER_ID):
    current = catalog.offers
    monkeypatch.setattr(catalog, "offers", lambda seed: tuple(o for o in current(seed) if o["id"] != offer_id))


def make_due():
    """Every alert was last checked an ALERT_CHECK_SECONDS ago: the next round runs them all."""
    past = timezone.now() - timedelta(seconds=settings.ALERT_CHECK_SECONDS + 1)
    SavedSearch.objects.update(checked_at=past)
    AlertMatch.objects.update(last_seen=past, episode_start=past)


def save_alert(client, name="cheap 4090", query="gpu=RTX+4090", ceiling="0.20", **extra):
    response = client.post("/offers/saved/", {"name": name, "query": query, "max_dph_per_gpu": ceiling, **extra})
    assert response.status_code == 302
    return SavedSearch.objects.get(name=name)


def price_events():
    return NotificationEvent.objects.filter(kind="price_alert")


@pytest.fixture(autouse=True)
def _no_market_round(settings):
    """The market's hourly default round would add one search; its own tests are elsewhere."""
    settings.MARKET_DEFAULT_GPUS = ()


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(alerts.time, "sleep", lambda seconds: None)


def test_a_cheaper_offer_is_notified_once_with_a_working_launch_link(
    operator_client, operator, upstream, monkeypatch, no_sleep
):
    saved = save_alert(operator_client)
    tasks.check_price_alerts()
    assert not price_events().exists(), "no RTX 4090 is that cheap in the catalog"
    assert len(upstream.calls("POST", "/bundles")) == 1

    add_cheap_offer(monkeypatch)
    make_due()
    tasks.check_price_alerts()
    event = price_events().get()
    assert event.key.startswith(f"price:{saved.id}:{NEW_OFFER_ID}:")
    assert "cheap 4090" in event.text
    assert str(NEW_OFFER_ID) in event.text
    assert event.link.startswith(f"/offers/{NEW_OFFER_ID}/launch/")
    assert Notification.objects.filter(event=event, user=operator).count() == 1
    worker_searches = len(upstream.calls("POST", "/bundles"))
    assert worker_searches == 2
    page = operator_client.get(event.link)
    assert page.status_code == 200
    assert str(NEW_OFFER_ID) in page.content.decode()

    make_due()
    before = len(upstream.calls("POST", "/bundles"))
    tasks.check_price_alerts()
    assert price_events().count() == 1, "the same offer is not notified at the next round"
    assert len(upstream.calls("POST", "/bundles")) == before + 1


def test_an_offer_back_after_a_quiet_period_is_new_again(operator_client, upstream, monkeypatch, no_sleep, settings):
    settings.ALERT_QUIET_SECONDS = 600
    save_alert(operator_client)
    add_cheap_offer(monkeypatch)
    tasks.check_price_alerts()
    assert price_events().count() == 1
    remove_offer(monkeypatch)
    make_due()
    tasks.check_price_alerts()  # gone: nothing to say
    assert price_events().count() == 1
    add_cheap_offer(monkeypatch)
    # Last seen an hour ago, missed by the check since: a new episode.
    SavedSearch.objects.update(checked_at=timezone.now() - timedelta(seconds=settings.ALERT_CHECK_SECONDS + 1))
    AlertMatch.objects.update(
        last_seen=timezone.now() - timedelta(hours=1), episode_start=timezone.now() - timedelta(hours=2)
    )
    tasks.check_price_alerts()
    assert price_events().count() == 2


def test_identical_queries_run_once_per_round(operator_client, other_operator_client, upstream, no_sleep):
    save_alert(operator_client, name="mine")
    save_alert(other_operator_client, name="theirs")
    stats = alerts.run_round()
    assert len(upstream.calls("POST", "/bundles")) == 1
    assert len(stats.checked) == 2


def test_min_offers_alert_and_team_webhook(operator_client, upstream, no_sleep, settings):
    settings.NOTIFY_WEBHOOK_URL = "https://hooks.example.com/x"
    saved = save_alert(operator_client, name="many", ceiling="", min_offers="1", notify_to="team")
    assert (saved.min_offers, saved.max_dph_per_gpu, saved.notify_to) == (1, None, "team")
    tasks.check_price_alerts()
    events = price_events()
    assert 1 <= events.count() <= alerts.MAX_NOTICES
    assert all(event.webhook for event in events)


def test_too_few_offers_notify_nothing(operator_client, upstream, no_sleep):
    save_alert(operator_client, name="lots", ceiling="", min_offers="5000")
    tasks.check_price_alerts()
    assert not price_events().exists()


def _minute(start):
    """The rounds of one minute from `start` (a virtual clock): the periodic round, then the
    further rounds it schedules. Returns the upstream searches and the deferred groups."""
    searched, deferred = 0, 0
    for offset in [0.0, *alerts.round_delays()]:
        stats = alerts.run_round(clock=lambda offset=offset: start + offset)
        searched += stats.searched
        deferred += stats.deferred
    return searched, deferred


def test_a_hundred_alerts_stay_within_a_third_of_the_search_budget(django_user_model, upstream, no_sleep, settings):
    settings.MARKET_DEFAULT_GPUS = ("RTX 4090", "H100 SXM")  # its round shares the worker's budget
    owner = django_user_model.objects.create_user("bulk")
    gpus = ["RTX 4090", "RTX 3090", "H100 SXM", "A100 SXM4", "RTX 5090", "L40S", "A40"]
    for index in range(100):
        query = f"gpu={gpus[index % len(gpus)].replace(' ', '+')}&num_gpus={1 + index % 8}&min_reliability={index}"
        SavedSearch.objects.create(owner=owner, name=f"s{index}", query=query, max_dph_per_gpu="0.01")
    assert alerts.search_spacing() == pytest.approx(6.0), "Vast allows a search per 2 s; the worker a third"
    assert len(alerts.round_delays()) == 9, "ten rounds a minute, one search slot apart"
    searched = []
    for minute in range(5):
        before = len(upstream.calls("POST", "/bundles"))
        count, deferred = _minute(1_000_000.0 + 60 * minute)
        searched.append(len(upstream.calls("POST", "/bundles")) - before)
        assert count == searched[-1]
        assert deferred > 0
    assert all(count <= 10 for count in searched), searched
    assert sum(searched) >= 40, "the budget is used, not starved"
    # Deferred searches come first at the next rounds: no alert waits forever.
    assert SavedSearch.objects.filter(checked_at__isnull=True).count() == 100 - sum(searched)


def test_a_saved_search_that_no_longer_validates_is_skipped(django_user_model, upstream, no_sleep):
    owner = django_user_model.objects.create_user("old")
    SavedSearch.objects.create(owner=owner, name="bad", query="num_gpus=abc", max_dph_per_gpu="1")
    stats = alerts.run_round()
    assert stats.searched <= 1  # the market's default round only
    assert SavedSearch.objects.get(name="bad").checked_at is not None


def test_alert_form_sets_and_clears(operator_client, other_operator_client, operator):
    saved = SavedSearch.objects.create(owner=operator, name="x", query="gpu=A40", shared=True)
    response = operator_client.post(f"/offers/saved/{saved.id}/alert/", {"max_dph_per_gpu": "0.3", "notify_to": "me"})
    assert response.status_code == 302
    saved.refresh_from_db()
    assert str(saved.max_dph_per_gpu) == "0.3000"
    assert saved.has_alert
    refused = other_operator_client.post(f"/offers/saved/{saved.id}/alert/", {"max_dph_per_gpu": "9"})
    assert refused.status_code == 403
    operator_client.post(f"/offers/saved/{saved.id}/alert/", {"max_dph_per_gpu": "", "min_offers": ""})
    saved.refresh_from_db()
    assert not saved.has_alert


def test_a_round_sends_one_search_and_leaves_the_other_groups_due(django_user_model, upstream):
    owner = django_user_model.objects.create_user("slow")
    for index in range(30):
        SavedSearch.objects.create(
            owner=owner, name=f"s{index}", query=f"min_reliability={index}", max_dph_per_gpu="0.01"
        )
    clock = [2_000_000.0]

    def sleep(seconds):
        clock[0] += seconds

    stats = alerts.run_round(sleep=sleep, clock=lambda: clock[0])
    assert (stats.searched, stats.deferred) == (1, 29), "one search; the others wait for the next rounds"
    assert clock[0] == 2_000_000.0
    clock[0] += 1.0  # a round before the next slot (rounds called back to back) waits for it
    stats = alerts.run_round(sleep=sleep, clock=lambda: clock[0])
    assert (stats.searched, stats.deferred) == (1, 28)
    assert clock[0] == pytest.approx(2_000_006.0)


def test_further_rounds_are_spread_over_the_minute_one_per_search_slot(operator, settings):
    SavedSearch.objects.create(owner=operator, name="plain", query="gpu=A40")
    assert alerts.round_delays() == [], "no alert: the periodic round is enough"
    SavedSearch.objects.create(owner=operator, name="alert", query="gpu=A40", min_offers=1)
    assert alerts.round_delays() == [6.0 * k for k in range(1, 10)]
    settings.ALERT_SEARCH_SHARE = 2 / 7  # a slot per 7 s: 8 rounds a minute, 7.5 s apart
    assert alerts.round_delays() == [7.5 * k for k in range(1, 8)]
    settings.ALERT_SEARCH_SHARE = 1 / 60  # a slot per two minutes: the periodic round is enough
    assert alerts.round_delays() == []


def test_the_periodic_round_schedules_the_minutes_further_rounds(operator_client, upstream, no_sleep):
    from huey.contrib.djhuey import HUEY

    save_alert(operator_client)
    before = {task.id for task in HUEY.scheduled()}
    tasks.check_price_alerts()
    further = sorted(
        (task for task in HUEY.scheduled() if task.id not in before and task.name.endswith("price_alert_round")),
        key=lambda task: task.eta,
    )
    assert len(further) == 9
    gaps = [(later.eta - earlier.eta).total_seconds() for earlier, later in zip(further, further[1:], strict=False)]
    assert gaps == pytest.approx([6.0] * 8, abs=0.1)
    make_due()
    searches = len(upstream.calls("POST", "/bundles"))
    tasks.price_alert_round()  # too early (a duplicate): the worker's next slot is 6 s away
    assert len(upstream.calls("POST", "/bundles")) == searches
    RateSlot.objects.all().delete()  # 6 s later (the slots live in the database or the cache)
    cache.clear()
    tasks.price_alert_round()
    assert len(upstream.calls("POST", "/bundles")) == searches + 1


def test_a_viewers_alert_links_to_the_offer_page_they_may_open(viewer_client, viewer, upstream, monkeypatch, no_sleep):
    save_alert(viewer_client)
    add_cheap_offer(monkeypatch)
    tasks.check_price_alerts()
    event = price_events().get()
    assert event.link.startswith(f"/offers/{NEW_OFFER_ID}/?")
    page = viewer_client.get(event.link)
    assert page.status_code == 200
    assert str(NEW_OFFER_ID) in page.content.decode()
