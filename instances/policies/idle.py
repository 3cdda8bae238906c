"""Idle auto-stop: stop a running instance whose GPU utilisation stayed below `idle_util_below` %
for `idle_minutes`, unless an admin marked it "keep running".

The evidence is the ledger's utilisation samples (one per sync): the instance must have run the
whole window, and the samples must cover it with no gap longer than `max_gap` (a worker that was
down has no evidence of idleness). Once per stretch of running.
"""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings

from instances.models import UtilSample
from instances.policies.config import IDLE
from instances.policies.facts import STOP, Decision, owner_and_admins, stamp

RUNNING = frozenset({"running"})


def max_gap(window):
    """The longest stretch without a sample that still counts as watched."""
    return max(timedelta(seconds=3 * settings.VAST_SYNC_SECONDS), window / 4)


def idle_throughout(samples, below, start, now, gap):
    """True if `samples` (oldest first, all at or after `start`) cover [start, now] with no gap
    over `gap`, and every one is below `below` %."""
    if not samples or samples[0].at > start + gap or samples[-1].at < now - gap:
        return False
    if any(later.at - earlier.at > gap for earlier, later in zip(samples, samples[1:], strict=False)):
        return False
    return all(sample.gpu_util < below for sample in samples)


def decide(facts, config, now):
    if config.idle_minutes is None:
        return
    window = timedelta(minutes=config.idle_minutes)
    start = now - window
    candidates = [
        fact for fact in facts if fact.row.status in RUNNING and not fact.row.keep_running and fact.since(RUNNING)
    ]
    candidates = [fact for fact in candidates if fact.since(RUNNING) <= start]
    samples = defaultdict(list)
    for sample in UtilSample.objects.filter(instance__in=[f.row.pk for f in candidates], at__gte=start, at__lte=now):
        samples[sample.instance_id].append(sample)
    for fact in candidates:
        row = fact.row
        if idle_throughout(samples[row.pk], config.idle_below, start, now, max_gap(window)):
            key = f"idle:{row.vast_id}:{stamp(fact.since(RUNNING))}"
            yield Decision(IDLE, STOP, key, config.idle_rule, row, **owner_and_admins(row))
