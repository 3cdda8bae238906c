"""The ledger of the account's instances, kept by the background worker, and launch tokens.

`Instance` is one row per Vast instance ever seen, `StatusChange` one row per change of its
status, and `SyncState` the single row saying when the worker last read the account (and what
the account said). Pages read these; only `instances.sync` (on the worker) and the write views
change them.
"""

from django.conf import settings
from django.db import models


class Instance(models.Model):
    """One Vast instance as the dashboard last saw it, kept after it is gone.

    `launched_by` is None for an instance launched outside the dashboard. `snapshot` holds the
    fields of Vast's answer that the pages show (see `instances.snapshot`); the columns beside
    it are what the ledger filters, sums and sorts on.
    """

    class End(models.TextChoices):
        DESTROYED = "destroyed", "Destroyed through the dashboard"
        OUTSIDE = "outside", "Destroyed outside the dashboard"

    vast_id = models.BigIntegerField(unique=True)
    label = models.CharField(max_length=1024, blank=True)
    gpu_name = models.CharField(max_length=100, blank=True)
    num_gpus = models.PositiveIntegerField(null=True, blank=True)
    image = models.CharField(max_length=1024, blank=True)
    status = models.CharField(max_length=16, help_text="The display status (vast.Instance.status).")
    dph_total = models.FloatField(null=True, blank=True, help_text="$/hr while running, storage included.")
    storage_per_hour = models.FloatField(null=True, blank=True, help_text="$/hr of the disk, billed while stopped.")
    launched_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    launched_by_name = models.CharField(max_length=150, blank=True, help_text="Kept if the user is deleted.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="Vast's start_date.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(null=True, blank=True, help_text="The last complete sync that listed it.")
    gone_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ended = models.CharField(max_length=16, choices=End.choices, blank=True)
    ended_by = models.CharField(max_length=150, blank=True, help_text="Who destroyed it through the dashboard.")
    snapshot = models.JSONField(default=dict, blank=True)
    stop_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Its time limit: the worker stops it then (instances.policies)."
    )
    keep_running = models.BooleanField(default=False, help_text="Exempt from the idle stop and the storage destroy.")

    class Meta:
        ordering = ["-vast_id"]
        default_permissions = ()

    def __str__(self):
        return f"instance {self.vast_id}"


class StatusChange(models.Model):
    """The instance's status moved from `from_status` ("" when first seen) to `to_status` at `at`."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="changes")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["at", "id"]
        default_permissions = ()

    def __str__(self):
        return f"{self.instance_id}: {self.from_status or '∅'} → {self.to_status} at {self.at:%Y-%m-%d %H:%M:%S}"


class SyncState(models.Model):
    """The one row (pk=1) the worker keeps about its reading of the account.

    `lease_until`/`lease_owner` let one sync run at a time across workers and replicas, and
    expire, so a worker killed mid-sync blocks nobody for longer than the lease. `next_due_at`
    makes every worker agree when the next periodic sync is due, so many workers sync once per
    period; `chain_id` names the one chain of scheduled ticks that drives them (see
    `instances.tasks`). `changed_at` moves whenever the ledger changes.
    """

    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True, help_text="When the last complete sync read Vast.")
    last_error = models.TextField(blank=True, help_text="A message safe to show on a page.")
    last_error_status = models.PositiveIntegerField(null=True, blank=True)
    error_since = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    next_due_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True, help_text="A write asked for a sync at once.")
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    chain_id = models.CharField(max_length=32, blank=True, help_text="The one live chain of scheduled ticks.")
    chain_beat = models.DateTimeField(null=True, blank=True, help_text="When that chain last ticked.")
    changed_at = models.DateTimeField(null=True, blank=True)
    account = models.JSONField(default=dict, blank=True, help_text="Vast's users/current, without secrets.")
    account_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self):
        return "sync state"

    @classmethod
    def current(cls):
        """The single row, created on first use."""
        return cls.objects.get_or_create(pk=1)[0]


class LaunchToken(models.Model):
    """The one-time token of one launch form. A POST may launch only after claiming it,
    with a conditional UPDATE (`claim`), so a token launches at most once even across
    processes and replicas; `action` then records what became of it."""

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    offer_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    action = models.OneToOneField(
        "dashboard.Action", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"launch token for offer {self.offer_id} ({'claimed' if self.claimed_at else 'open'})"
