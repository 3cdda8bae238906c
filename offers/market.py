"""Market history: offers count and $/GPU·hr per GPU model and rental type over time.

Each alert round records what it saw (`record`); a light default round covers the most common
models at most hourly. `downsample` keeps the table bounded: rows older than a day are merged
into one per hour, rows older than a month into one per day.
"""

import statistics
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from dashboard import vast
from offers.models import MarketSample

DEFAULT_EVERY, DEFAULT_KEY = timedelta(hours=1), "offers:market-default-round"
HOURLY_AFTER, DAILY_AFTER = timedelta(days=1), timedelta(days=30)
KEEP_FOR = timedelta(days=400)


def record(offers_by_type, now):
    """One raw sample per GPU model and rental type from `{rental type: {offer id: Offer}}`."""
    rows = []
    for rental_type, offers in offers_by_type.items():
        by_model = {}
        for offer in offers.values():
            if offer.price_per_gpu is not None:
                by_model.setdefault(offer.gpu_name, []).append(offer.price_per_gpu)
        for gpu_name, prices in by_model.items():
            rows.append(
                MarketSample(
                    at=now,
                    gpu_name=gpu_name[:60],
                    rental_type=rental_type,
                    offers=len(prices),
                    min_price=min(prices),
                    median_price=statistics.median(prices),
                )
            )
    MarketSample.objects.bulk_create(rows)
    return len(rows)


def default_search():
    """The default round's one search: every offer of the common models, on-demand."""
    return vast.OfferSearch(gpu_names=tuple(settings.MARKET_DEFAULT_GPUS), limit=250)


def default_round_due():
    """Whether the default round has not run within the hour (per shared cache)."""
    return bool(settings.MARKET_DEFAULT_GPUS) and cache.get(DEFAULT_KEY) is None


def default_round_done():
    cache.set(DEFAULT_KEY, True, int(DEFAULT_EVERY.total_seconds()))


def _bucket_start(at, period):
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if period == "day" else at


def _merge(rows, period):
    """The rows of one model, type and bucket as one: mean count, lowest min, median of medians."""
    first = rows[0]
    return MarketSample(
        at=_bucket_start(first.at, period),
        gpu_name=first.gpu_name,
        rental_type=first.rental_type,
        period=period,
        offers=round(statistics.mean(r.offers for r in rows)),
        min_price=min(r.min_price for r in rows),
        median_price=statistics.median(r.median_price for r in rows),
    )


def _downsample(source_periods, period, before):
    old = MarketSample.objects.filter(period__in=source_periods, at__lt=before).order_by("at")
    buckets = {}
    for row in old:
        key = (row.gpu_name, row.rental_type, _bucket_start(row.at, period))
        buckets.setdefault(key, []).append(row)
    with transaction.atomic():
        ids = [row.id for rows in buckets.values() for row in rows]
        merged = [
            _merge(rows, period) for rows in buckets.values() if not (len(rows) == 1 and rows[0].period == period)
        ]
        keep = {rows[0].id for rows in buckets.values() if len(rows) == 1 and rows[0].period == period}
        MarketSample.objects.filter(id__in=[i for i in ids if i not in keep]).delete()
        MarketSample.objects.bulk_create(merged)
    return len(merged)


def downsample(now=None):
    """Merge rows past a day into hourly ones and rows past a month into daily ones; drop rows past
    KEEP_FOR. Buckets end on whole hours (days), so a bucket is merged only once it is complete."""
    now = now or timezone.now()
    hour_edge = _bucket_start(now - HOURLY_AFTER, "hour")
    day_edge = _bucket_start(now - DAILY_AFTER, "day")
    merged = _downsample(("raw",), "hour", hour_edge)
    merged += _downsample(("raw", "hour"), "day", day_edge)
    MarketSample.objects.filter(at__lt=now - KEEP_FOR).delete()
    return merged


def history(gpu_names, rental_type, days, now=None):
    """{gpu name: [(at, offers, min, median), ...]} of the last `days` days, oldest first."""
    now = now or timezone.now()
    rows = MarketSample.objects.filter(
        gpu_name__in=gpu_names, rental_type=rental_type, at__gte=now - timedelta(days=days)
    ).order_by("at")
    series = {}
    for row in rows:
        series.setdefault(row.gpu_name, []).append((row.at, row.offers, row.min_price, row.median_price))
    return series
