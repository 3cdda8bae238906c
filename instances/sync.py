"""The sync: read the whole account from Vast and write it into the ledger, one worker at a time.

`run()` is what the worker's tasks call. It first claims the sync with one conditional UPDATE
of the SyncState row (free lease, and due or asked for), so however many workers and replicas
call it, one reads Vast per period; the lease expires after VAST_SYNC_LEASE_SECONDS, so a worker
killed mid-sync blocks the others no longer than that. A sync that fails keeps the last good
ledger, records a message safe to show, and backs off.
"""

import logging
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from dashboard import vast
from instances import ledger
from instances.models import Instance, SyncState

logger = logging.getLogger(__name__)

# Display statuses that change by themselves, so the worker looks again soon.
CHANGING = frozenset({"starting", "stopping", "rebooting"})
BACKOFF_MAX_SECONDS = 120.0
KEY_REJECTED = "Vast rejected the API key"
INCOMPLETE = "Vast's instance list did not answer every page, so instances missing from it are not marked gone"


def _owner():
    """Who holds a lease: host, process and a random part (two claims never look alike)."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def request_sync():
    """A write just went to Vast: have the next tick sync at once (and say when it was asked)."""
    SyncState.current()
    SyncState.objects.filter(pk=1).update(requested_at=timezone.now())


def claim(*, force=False, now=None):
    """Take the sync lease if it is free and a sync is due (or asked for, or `force`).
    Returns the owner token, or None if another worker holds the lease or nothing is due."""
    now = now or timezone.now()
    SyncState.current()
    owner = _owner()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    due = Q(next_due_at__isnull=True) | Q(next_due_at__lte=now) | Q(requested_at__gt=F("last_attempt_at"))
    due |= Q(requested_at__isnull=False, last_attempt_at__isnull=True)
    condition = free if force else free & due
    lease = timedelta(seconds=settings.VAST_SYNC_LEASE_SECONDS)
    taken = SyncState.objects.filter(condition, pk=1).update(
        lease_owner=owner, lease_until=now + lease, last_attempt_at=now
    )
    return owner if taken else None


def _release(owner, **fields):
    """Write the outcome and free the lease, only if `owner` still holds it (a sync that ran
    past its lease must not overwrite what a newer sync wrote). True if it still held it."""
    return bool(SyncState.objects.filter(pk=1, lease_owner=owner).update(lease_owner="", lease_until=None, **fields))


def _next_interval():
    """Seconds to the next sync: fast while an instance changes state, else the full period."""
    changing = Instance.objects.filter(gone_at__isnull=True, status__in=CHANGING).exists()
    return settings.VAST_SYNC_FAST_SECONDS if changing else settings.VAST_SYNC_SECONDS


def _backoff(failures, error):
    """Seconds to wait after the `failures`-th failure in a row: doubling from the fast period,
    at least what a 429's Retry-After asked for, at most BACKOFF_MAX_SECONDS."""
    wait = min(settings.VAST_SYNC_FAST_SECONDS * 2 ** max(0, failures - 1), BACKOFF_MAX_SECONDS)
    retry_after = getattr(error, "retry_after", None)
    return max(wait, min(retry_after or 0, BACKOFF_MAX_SECONDS))


def _error_text(error):
    """The message everyone sees for a failed sync (never the key: VastError messages are safe)."""
    if isinstance(error, vast.VastAuthError):
        return f"{KEY_REJECTED} (HTTP {error.status or 401}). Check VAST_API_KEY on the server."
    return error.message


@dataclass(frozen=True)
class Outcome:
    """What one call of run() did: "synced", "failed" or "skipped" (not due, or leased elsewhere)."""

    result: str
    instances: int = 0
    changed: int = 0
    error: str = ""


def run(*, force=False):
    """Sync once if due (or `force`) and no other worker is syncing. See the module docstring."""
    owner = claim(force=force)
    if owner is None:
        return Outcome("skipped")
    started = timezone.now()
    try:
        instances = vast.list_instances()
        account = vast.current_user()
    except vast.VastError as error:
        return _failed(owner, error, started)
    except Exception as error:
        logger.exception("sync failed in the dashboard")
        return _failed(owner, vast.VastBadResponse(msg=type(error).__name__), started)
    with transaction.atomic():
        if not SyncState.objects.select_for_update().filter(pk=1, lease_owner=owner).exists():
            logger.warning("sync outlived its lease; its answer is dropped")
            return Outcome("skipped")
        changed = ledger.apply_listing(instances, complete=instances.complete, now=started)
        now = timezone.now()
        fields = {
            "last_error": "",
            "last_error_status": None,
            "error_since": None,
            "failures": 0,
            "account": _account_fields(account),
            "account_at": started,
            "next_due_at": now + timedelta(seconds=_next_interval()),
        }
        if instances.complete:
            fields["last_success_at"] = started
        else:
            # Nothing is marked gone from a partial answer, and the pages must not blame the worker.
            fields["last_error"] = INCOMPLETE
            fields["error_since"] = SyncState.current().error_since or started
        _release(owner, **fields)
    logger.info(
        "sync: %d instances, %d changed, %s",
        len(instances),
        changed,
        "complete" if instances.complete else "incomplete list",
        extra={"instances": len(instances), "changed": changed, "ms": _ms(started)},
    )
    return Outcome("synced", len(instances), changed)


def _account_fields(account):
    """The account's fields the pages show (the service module never keeps a secret in it)."""
    return {
        key: value for key, value in asdict(account).items() if value is None or isinstance(value, str | int | float)
    }


def _ms(started):
    return round((timezone.now() - started).total_seconds() * 1000, 1)


def _failed(owner, error, started):
    """Record a failed sync (keeping the last good ledger) and schedule its retry with backoff."""
    state = SyncState.current()
    failures = state.failures + 1
    wait = _backoff(failures, error)
    text = _error_text(error)
    same_error = state.last_error_status == error.status and state.error_since is not None
    _release(
        owner,
        last_error=text,
        last_error_status=error.status,
        error_since=state.error_since if same_error else started,
        failures=failures,
        next_due_at=timezone.now() + timedelta(seconds=wait),
    )
    logger.warning("sync failed (%s); retrying in %.0f s", error.log_message(), wait)
    return Outcome("failed", error=text)


@dataclass(frozen=True)
class Status:
    """How fresh the ledger is, for `#sync-status` on every page that reads it."""

    as_of: datetime | None
    age_seconds: int | None
    stale: bool
    error: str
    error_since: datetime | None
    worker_silent_seconds: int | None

    @property
    def banner(self):
        """The sentence a stale or failing ledger shows, or ""."""
        if self.error and self.error_since:
            return f"{self.error} — failing since {timezone.localtime(self.error_since):%H:%M:%S}."
        if self.as_of is None:
            return "The background worker has not synced the account yet — is it running? (python manage.py run_huey)"
        if self.stale:
            return (
                f"The background worker has not synced for {_duration(self.age_seconds)} — is it running? "
                "Showing the last known state."
            )
        return ""


def _duration(seconds):
    """'45 s', '6 min', '2 h 10 min'."""
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def status(now=None, state=None):
    """The ledger's freshness now, from `state` (the SyncState row) if the caller has already read
    it, else one query."""
    now = now or timezone.now()
    state = state or SyncState.current()
    age = None if state.last_success_at is None else max(0, int((now - state.last_success_at).total_seconds()))
    stale = age is None or age > 3 * settings.VAST_SYNC_SECONDS
    attempt_age = None if state.last_attempt_at is None else int((now - state.last_attempt_at).total_seconds())
    return Status(
        as_of=state.last_success_at,
        age_seconds=age,
        stale=stale,
        error=state.last_error,
        error_since=state.error_since,
        worker_silent_seconds=attempt_age,
    )
