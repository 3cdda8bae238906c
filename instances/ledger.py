"""Writing the ledger: what a sync saw, what a launch created, what a destroy ended.

Only the worker's sync (`instances.sync`) and the write views call these. Each function is
idempotent: applying the same listing twice changes nothing the second time.
"""

import logging

from django.db import transaction
from django.utils import timezone

from dashboard import audit, vast
from instances.models import Instance, StatusChange, SyncState

logger = logging.getLogger(__name__)


def _snapshot(instance):
    """The instance's public fields as stored: JSON-safe, and never holding the account's key."""
    return vast.redact(dict(instance.raw))


def _columns(instance):
    """The ledger columns that come from Vast's answer."""
    return {
        "label": (instance.label or "")[:1024],
        "gpu_name": (instance.gpu_name or "")[:100],
        "num_gpus": instance.num_gpus,
        "image": (instance.image or "")[:1024],
        "status": instance.status,
        "dph_total": instance.dph_total,
        "storage_per_hour": instance.storage_per_hour,
        "started_at": instance.start_date,
        "snapshot": _snapshot(instance),
    }


def _touch(now):
    """Note that the ledger changed, for pages that poll."""
    SyncState.objects.filter(pk=1).update(changed_at=now)


def apply_listing(instances, *, complete, now=None):
    """Write one answer of Vast's instance list into the ledger; returns how many rows changed.

    Every listed instance is created or updated, with a StatusChange when its status moved.
    With `complete` (every page answered), a live ledger row missing from the answer is marked
    gone: destroyed by us if a destroy through the dashboard already ended it, else "outside".
    """
    now = now or timezone.now()
    SyncState.current()
    changed = 0
    listed = {instance.id: instance for instance in instances}
    with transaction.atomic():
        known = {row.vast_id: row for row in Instance.objects.select_for_update().filter(vast_id__in=listed)}
        # A write through the dashboard after this answer was read knows better than the answer.
        newer = set(
            StatusChange.objects.filter(at__gt=now, instance__vast_id__in=listed).values_list("instance_id", flat=True)
        )
        for vast_id, instance in listed.items():
            row = known.get(vast_id)
            columns = _columns(instance)
            if row is None:
                row = Instance.objects.create(vast_id=vast_id, first_seen=now, last_seen=now, **columns)
                StatusChange.objects.create(instance=row, from_status="", to_status=row.status, at=now)
                changed += 1
                continue
            if row.ended == Instance.End.DESTROYED:
                continue  # we destroyed it; a list read before that (or Vast's lag) cannot undo it
            previous = row.status
            if row.pk in newer:
                columns["status"] = row.status
            dirty = [name for name, value in columns.items() if getattr(row, name) != value]
            for name in dirty:
                setattr(row, name, columns[name])
            if row.gone_at is not None:
                # Listed again after we thought it gone (a partial answer, or Vast's lag): alive.
                row.gone_at, row.ended, row.ended_by = None, "", ""
                dirty += ["gone_at", "ended", "ended_by"]
            row.last_seen = now
            row.save(update_fields=[*dirty, "last_seen"])
            if previous != row.status:
                StatusChange.objects.create(instance=row, from_status=previous, to_status=row.status, at=now)
            # The snapshot moves at every answer (Vast's `duration`, `gpu_util`...): only the columns
            # the pages sort, sum and filter on count as a change.
            changed += any(name != "snapshot" for name in dirty)
        if complete:
            # Rows written after the answer was read (a launch just now) cannot be missing from it.
            vanished = (
                Instance.objects.select_for_update()
                .filter(gone_at__isnull=True, first_seen__lt=now)
                .exclude(vast_id__in=listed)
            )
            for row in vanished:
                _end(row, now, Instance.End.OUTSIDE, "")
                changed += 1
        if changed:
            _touch(now)
    return changed


def _end(row, now, how, by):
    """Mark a ledger row gone at `now`, with a final status change to "destroyed"."""
    previous = row.status
    row.gone_at, row.ended, row.ended_by, row.status = now, how, by, "destroyed"
    row.save(update_fields=["gone_at", "ended", "ended_by", "status"])
    if previous != "destroyed":
        StatusChange.objects.create(instance=row, from_status=previous, to_status="destroyed", at=now)
    logger.info("ledger: instance %s gone (%s)", row.vast_id, how)


def record_launch(user, vast_id, offer, *, price, label, image, disk, started):
    """The row of an instance just launched through the dashboard, written before any sync so
    that it shows at once. A sync that already listed it keeps its columns; the launcher is set."""
    now = timezone.now()
    status = "starting" if started else "stopped"
    storage = None if offer.storage_cost is None else offer.storage_cost * disk / 720
    with transaction.atomic():
        row, created = Instance.objects.select_for_update().get_or_create(
            vast_id=vast_id,
            defaults={
                "label": (label or "")[:1024],
                "gpu_name": offer.gpu_name or "",
                "num_gpus": offer.num_gpus,
                "image": image[:1024],
                "status": status,
                "dph_total": price,
                "storage_per_hour": storage,
                "first_seen": now,
                "started_at": now,
            },
        )
        row.launched_by, row.launched_by_name = user, user.get_username()
        row.save(update_fields=["launched_by", "launched_by_name"])
        if created:
            StatusChange.objects.create(instance=row, from_status="", to_status=status, at=now)
        _touch(now)
    return row


def record_destroyed(vast_id, user):
    """Vast confirmed our destroy: the row ends now, destroyed by `user` (None: by a policy, "system")."""
    now = timezone.now()
    with transaction.atomic():
        row = Instance.objects.select_for_update().filter(vast_id=vast_id, gone_at__isnull=True).first()
        if row is not None:
            _end(row, now, Instance.End.DESTROYED, user.get_username() if user is not None else audit.SYSTEM)
            _touch(now)


def record_state(vast_id, status):
    """Vast accepted a start or stop: the row shows `status` ("starting", "stopping") at once."""
    now = timezone.now()
    with transaction.atomic():
        row = Instance.objects.select_for_update().filter(vast_id=vast_id, gone_at__isnull=True).first()
        if row is not None and row.status != status:
            StatusChange.objects.create(instance=row, from_status=row.status, to_status=status, at=now)
            row.status = status
            row.save(update_fields=["status"])
            _touch(now)


def record_label(vast_id, label):
    """Vast confirmed a relabel: show it at once, before the next sync."""
    Instance.objects.filter(vast_id=vast_id).update(label=label[:1024])
    _touch(timezone.now())


def as_vast(row):
    """The ledger row as the service module's Instance (from its stored snapshot), or None when
    there is no snapshot yet (launched, not yet synced) or it no longer parses."""
    if not row.snapshot:
        return None
    try:
        return vast.instance_from_raw(row.snapshot)
    except vast.VastError:
        logger.warning("ledger: stored snapshot of instance %s does not parse", row.vast_id)
        return None
