"""The worker's tasks (Huey): keep the ledger in step with Vast.

Huey's periodic tasks run at most once a minute, and the ledger wants a sync every
VAST_SYNC_SECONDS (every ~2 s while something changes). So one *chain* of scheduled `tick`s
drives the syncs: each tick syncs if due and schedules the next one for when the next sync is
due. The chain's id lives in the SyncState row, so a duplicate chain (two workers starting at
once) notices it is not the live one and ends. Every consumer starts a fresh chain when it
starts, and a once-a-minute `keep_ticking` restarts it if it died (a worker killed mid-tick).
Whatever the number of chains, `sync.run` claims each sync with a conditional UPDATE, so the
account is read once per period. After each sync that read the account, `evaluate_policies`
applies the team's policies (instances.policies).
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from instances import sync
from instances.models import SyncState
from instances.policies import engine, samples

logger = logging.getLogger(__name__)

MIN_DELAY_SECONDS = 0.5


@db_task()
def sync_now():
    """Sync at once if a write asked for it (and nobody is syncing): enqueued after each write."""
    return _after(sync.run()).result


def _after(outcome):
    """After a sync that read the account, the policies look at it (a task of its own)."""
    if outcome.result == "synced":
        evaluate_policies()
    return outcome


@db_task()
def evaluate_policies():
    """Note the GPU utilisation the sync saw, then apply the team's policies (instances.policies):
    every action in it is claimed once, so two workers evaluating together act once."""
    samples.record()
    engine.evaluate()


@db_periodic_task(crontab(minute="17"))
def prune_policy_records():
    """Hourly: bound the utilisation history (one sample per 10 min after a day, none after 30
    days) and settle policy claims whose worker died before their outcome."""
    samples.downsample()
    engine.settle_stale()


def start_chain(expected=None):
    """Start a new chain of ticks, replacing the current one (or only `expected`, if given)."""
    new = uuid.uuid4().hex
    rows = SyncState.objects.filter(pk=1)
    if expected is not None:
        rows = rows.filter(chain_id=expected)
    SyncState.current()
    if rows.update(chain_id=new, chain_beat=timezone.now()):
        tick(new)
        return new
    return None


@db_task()
def tick(chain_id):
    """One beat of the chain: sync if due, then schedule the next beat for when the next sync is due."""
    now = timezone.now()
    if not SyncState.objects.filter(pk=1, chain_id=chain_id).update(chain_beat=now):
        return "superseded"
    outcome = _after(sync.run())
    state = SyncState.current()
    due = state.next_due_at or now
    if outcome.result == "skipped" and state.lease_until and state.lease_until > due:
        due = min(state.lease_until, timezone.now() + timedelta(seconds=settings.VAST_SYNC_FAST_SECONDS))
    delay = max(MIN_DELAY_SECONDS, (due - timezone.now()).total_seconds())
    tick.schedule(args=(chain_id,), delay=min(delay, settings.VAST_SYNC_SECONDS))
    return outcome.result


@db_periodic_task(crontab(minute="*"))
def keep_ticking():
    """Once a minute: restart the chain if it missed its beats (its worker died mid-tick)."""
    state = SyncState.current()
    silent = settings.VAST_SYNC_SECONDS + settings.VAST_SYNC_LEASE_SECONDS
    if state.chain_beat is None or state.chain_beat < timezone.now() - timedelta(seconds=silent):
        logger.warning("sync chain was silent; starting a new one")
        start_chain(expected=state.chain_id)


@HUEY.on_startup()
def _start_chain_on_startup():
    """A consumer that starts takes over the chain, so a restarted worker syncs at once."""
    try:
        start_chain()
    except Exception:
        logger.exception("could not start the sync chain")


def enqueue_sync():
    """For views, after a write: ask for a sync, and enqueue it once the transaction commits."""
    sync.request_sync()
    transaction.on_commit(sync_now)
