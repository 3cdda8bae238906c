"""What the team's policies saw and did: GPU utilisation per sync, and each policy action claimed.

`UtilSample` is one reading of an instance's `gpu_util` (0-100 %) per sync, bounded by the
hourly cleanup (one per 10 minutes after a day, none after 30 days). `PolicyAction` is the
claim of one action (instance × policy × occurrence, its `key`), inserted before Vast is called,
so that no number of workers, retries or crashes takes it twice (instances.policies.engine).
"""

from django.db import models

from instances.models.ledger import Instance


class UtilSample(models.Model):
    """The instance's GPU utilisation (%, averaged over its GPUs) as the sync at `at` read it.
    `coarse` rows stand for a 10-minute bucket (the average of the samples they replaced)."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="util_samples")
    at = models.DateTimeField()
    gpu_util = models.FloatField()
    coarse = models.BooleanField(default=False)

    class Meta:
        ordering = ["at", "id"]
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["instance", "at"], name="one_util_sample_per_sync")]
        indexes = [models.Index(fields=["coarse", "at"], name="util_sample_coarse_at")]

    def __str__(self):
        return f"{self.instance_id}: {self.gpu_util:.0f} % at {self.at:%Y-%m-%d %H:%M:%S}"


class PolicyAction(models.Model):
    """One action a policy decided (stop, destroy), claimed by a unique insert before the call.

    PENDING while the call is on its way; a claim left PENDING by a crash turns UNKNOWN and is
    never retried (the next sync shows whether it happened). A FAILED claim (Vast refused, so
    nothing happened) may be claimed again by a conditional update, a few times. Dry runs are
    rows of their own (`dry:` keys, DRY_RUN), so a dry run never uses up the real action's key.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (Vast refused; may be tried again)"
        UNKNOWN = "unknown", "Unknown (never retried)"
        DRY_RUN = "dry_run", "Dry run (nothing done)"

    key = models.CharField(max_length=200, unique=True)
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="policy_actions")
    policy = models.CharField(max_length=16, db_index=True)
    act = models.CharField(max_length=16)
    rule = models.CharField(max_length=300)
    decided_at = models.DateTimeField(db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    attempts = models.PositiveSmallIntegerField(default=1)
    message = models.TextField(blank=True)
    action = models.ForeignKey("dashboard.Action", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-decided_at", "-id"]
        default_permissions = ()

    def __str__(self):
        return f"{self.key}: {self.outcome}"
