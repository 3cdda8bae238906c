"""The GPU utilisation history in the ledger: one sample per sync of each running instance,
bounded by `downsample` (the worker's hourly cleanup), and the detail page's small chart.

Vast's `gpu_util` is 0-100 %, averaged over the instance's GPUs. Hosts sometimes report 0 for
utilisation and temperature together when they have no reading (shared/vast-api-more.md §6):
such an answer is no sample, not an idle GPU.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from instances.models import Instance, UtilSample

FINE_FOR = timedelta(days=1)
KEEP_FOR = timedelta(days=30)
BUCKET_SECONDS = 600
BATCH = 50_000


def reading(snapshot):
    """The utilisation (%) in a stored snapshot, or None when it holds no reading."""
    util, temp = snapshot.get("gpu_util"), snapshot.get("gpu_temp")
    if not isinstance(util, int | float) or isinstance(util, bool):
        return None
    if util == 0 and temp == 0:
        return None
    return max(0.0, min(100.0, float(util)))


def record():
    """One sample per running instance from what the last sync saw (at its `last_seen`); a sync
    already sampled adds nothing (one sample per instance and moment)."""
    rows = Instance.objects.filter(gone_at__isnull=True, status="running", last_seen__isnull=False)
    samples = []
    for row in rows.only("pk", "snapshot", "last_seen"):
        util = reading(row.snapshot or {})
        if util is not None:
            samples.append(UtilSample(instance_id=row.pk, at=row.last_seen, gpu_util=util))
    UtilSample.objects.bulk_create(samples, ignore_conflicts=True)
    return len(samples)


def downsample(now=None):
    """Samples older than a day become one per 10 minutes (their average); older than 30 days,
    none. Returns how many rows went away. Works in batches, so a long backlog takes a few runs."""
    now = now or timezone.now()
    removed, _ = UtilSample.objects.filter(at__lt=now - KEEP_FOR).delete()
    fine = UtilSample.objects.filter(coarse=False, at__lt=now - FINE_FOR).order_by("instance_id", "at")
    buckets = defaultdict(list)
    for pk, instance_id, at, util in fine.values_list("pk", "instance_id", "at", "gpu_util")[:BATCH]:
        buckets[(instance_id, int(at.timestamp()) // BUCKET_SECONDS)].append((pk, util))
    with transaction.atomic():
        for (instance_id, bucket), items in buckets.items():
            average = sum(util for _, util in items) / len(items)
            UtilSample.objects.filter(pk__in=[pk for pk, _ in items]).delete()
            at = datetime.fromtimestamp(bucket * BUCKET_SECONDS, tz=UTC)
            kept, created = UtilSample.objects.get_or_create(
                instance_id=instance_id, at=at, defaults={"gpu_util": average, "coarse": True}
            )
            if not created:  # an earlier batch ended inside this bucket
                kept.gpu_util = (kept.gpu_util + average) / 2
                kept.save(update_fields=["gpu_util"])
            removed += len(items) - 1
    return removed


WIDTH, HEIGHT, LEFT, TOP, BOTTOM = 600, 140, 36, 8, 22
POINTS = 240


@dataclass(frozen=True)
class Chart:
    """Geometry of the utilisation chart: polylines (runs without a long gap), the idle line."""

    width: int
    height: int
    lines: tuple
    threshold_y: float | None
    threshold: float | None
    start: datetime
    end: datetime
    latest: float
    count: int
    last_x: float = 0.0
    last_y: float = 0.0
    left: int = LEFT
    right: int = WIDTH - 8
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def mid_y(self):
        return (self.top + self.bottom) / 2

    @property
    def label_y(self):
        return self.bottom + 16


def _averaged(samples, start, span):
    """At most POINTS (moment, %) pairs: the samples as they are, or averaged into equal buckets."""
    if len(samples) <= POINTS:
        return samples
    buckets = defaultdict(list)
    for at, util in samples:
        buckets[min(POINTS - 1, int((at - start) / span * POINTS))].append((at, util))
    return [
        (group[len(group) // 2][0], sum(util for _, util in group) / len(group)) for _, group in sorted(buckets.items())
    ]


def chart(row, now, *, threshold=None, hours=24, gap=timedelta(minutes=15)):
    """The chart of `row`'s last `hours` of samples, or None when there are none."""
    recent = UtilSample.objects.filter(instance=row, at__gte=now - timedelta(hours=hours), at__lte=now)
    samples = list(recent.order_by("at").values_list("at", "gpu_util"))  # up to 8640 a day: no model objects
    if not samples:
        return None
    start, end = samples[0][0], max(now, samples[-1][0])
    span = max(end - start, timedelta(minutes=1))
    right, bottom = WIDTH - 8, HEIGHT - BOTTOM

    def x(at):
        return round(LEFT + (at - start) / span * (right - LEFT), 1)

    def y(util):
        return round(bottom - util / 100 * (bottom - TOP), 1)

    lines, current, previous = [], [], None
    for at, util in _averaged(samples, start, span):
        if previous is not None and at - previous > max(gap, span / POINTS * 2):
            lines.append(" ".join(current))
            current = []
        current.append(f"{x(at)},{y(util)}")
        previous = at
    lines.append(" ".join(current))
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        lines=tuple(lines),
        threshold_y=None if threshold is None else y(threshold),
        threshold=threshold,
        start=start,
        end=end,
        latest=samples[-1][1],
        count=len(samples),
        last_x=x(samples[-1][0]),
        last_y=y(samples[-1][1]),
    )
