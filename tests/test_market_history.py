"""Market history: samples from the alert rounds and the hourly default round, the chart on
/offers/, and the table kept bounded by downsampling."""

import re
import statistics
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import vast
from offers import alerts, market, tasks
from offers.models import MarketSample, SavedSearch


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(alerts.time, "sleep", lambda seconds: None)


def test_an_alert_round_records_count_min_and_median_per_model(django_user_model, upstream, settings):
    settings.MARKET_DEFAULT_GPUS = ()
    owner = django_user_model.objects.create_user("m")
    SavedSearch.objects.create(owner=owner, name="a", query="gpu=RTX+4090&gpu=A40", max_dph_per_gpu="0.01")
    tasks.check_price_alerts()
    offers = vast.search_offers(vast.OfferSearch(gpu_names=("RTX 4090", "A40")))
    samples = {s.gpu_name: s for s in MarketSample.objects.all()}
    assert set(samples) == {"RTX 4090", "A40"}
    prices = [o.price_per_gpu for o in offers if o.gpu_name == "A40"]
    a40 = samples["A40"]
    assert (a40.rental_type, a40.period, a40.offers) == ("on-demand", "raw", len(prices))
    assert a40.min_price == pytest.approx(min(prices))
    assert a40.median_price == pytest.approx(statistics.median(prices))


def test_the_default_round_samples_the_common_models_at_most_hourly(db, upstream, settings):
    settings.MARKET_DEFAULT_GPUS = ("RTX 4090", "RTX 3090")
    alerts.run_round()
    assert set(MarketSample.objects.values_list("gpu_name", flat=True)) == {"RTX 4090", "RTX 3090"}
    searches = len(upstream.calls("POST", "/bundles"))
    assert searches == 1
    alerts.run_round()
    assert len(upstream.calls("POST", "/bundles")) == searches, "not again within the hour"


def _sample(at, gpu="RTX 4090", offers=10, low=0.3, median=0.4, period="raw"):
    return MarketSample.objects.create(
        at=at, gpu_name=gpu, rental_type="on-demand", period=period, offers=offers, min_price=low, median_price=median
    )


def test_downsampling_keeps_the_table_bounded(db):
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    for minutes in range(0, 60 * 24 * 3, 5):  # three days of 5-minute rounds
        _sample(now - timedelta(minutes=minutes), low=0.3 + minutes / 100000)
    for days in range(31, 40):
        for hour in range(24):
            _sample(now - timedelta(days=days, hours=hour), offers=hour, period="hour")
    cheapest = MarketSample.objects.order_by("min_price").first().min_price
    before = MarketSample.objects.count()
    tasks.downsample_market_history()
    after = MarketSample.objects.count()
    assert after < before / 3  # a day of rounds, then one row per hour, then one per day
    day_ago = now - timedelta(days=1)
    assert not MarketSample.objects.filter(period="raw", at__lt=day_ago - timedelta(hours=1)).exists()
    assert MarketSample.objects.filter(period="raw", at__gte=day_ago).count() >= 12 * 23
    hourly = MarketSample.objects.filter(period="hour")
    assert hourly.exists()
    assert all(s.at.minute == 0 for s in hourly)
    daily = MarketSample.objects.filter(period="day")
    assert 9 <= daily.count() <= 11
    assert all((s.at.hour, s.at.minute) == (0, 0) for s in daily)
    assert MarketSample.objects.order_by("min_price").first().min_price == pytest.approx(cheapest)
    assert market.downsample() == 0, "a second pass changes nothing"
    assert MarketSample.objects.count() == after


def test_the_offers_page_charts_the_selected_models_history(viewer_client, upstream):
    now = timezone.now()
    for hours in range(0, 24 * 20, 6):
        _sample(now - timedelta(hours=hours), low=0.30, median=0.42)
        _sample(now - timedelta(hours=hours), gpu="A40", low=0.2, median=0.25)
    page = viewer_client.get("/offers/?gpu=RTX+4090").content.decode()
    assert 'data-testid="market-history"' in page
    assert "last 7 days" in page
    assert page.count("<polyline") == 2, "median and cheapest of the one selected model"
    assert "RTX 4090: now $0.300–$0.420" in page
    month = viewer_client.get("/offers/?gpu=RTX+4090&gpu=A40&history=30").content.decode()
    assert "last 30 days" in month
    assert month.count("<polyline") == 4
    # Drawn by the server: no chart library fetched from elsewhere (a random CSRF token may hold "cdn").
    assert not re.search(r'(?:src|href)="(?:https?:)?//', month)


def test_no_chart_without_a_selected_model_or_history(viewer_client, upstream):
    _sample(timezone.now())
    assert 'data-testid="market-history"' not in viewer_client.get("/offers/").content.decode()
    assert 'data-testid="market-history"' not in viewer_client.get("/offers/?gpu=A40").content.decode()
