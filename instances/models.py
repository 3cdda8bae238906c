"""Our own records of what the team did through the dashboard."""

from django.conf import settings
from django.db import models


class Action(models.Model):
    """One write attempt against Vast: who, when, what, at what price, and how it ended.

    Append-only: rows are never deleted, and the only edit is the one that moves a
    PENDING row (written just before the call to Vast, so that a crash mid-call still
    leaves a trace) to its outcome.
    """

    class Kind(models.TextChoices):
        LAUNCH = "launch", "Launch"
        START = "start", "Start"
        STOP = "stop", "Stop"
        LABEL = "label", "Relabel"
        DESTROY = "destroy", "Destroy"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        FORBIDDEN = "forbidden", "Forbidden"
        UNKNOWN = "unknown", "Unknown (no answer from Vast)"
        PENDING = "pending", "Pending"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, help_text="Kept even if the user is deleted.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    offer_id = models.BigIntegerField(null=True, blank=True)
    instance_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    price_per_hour = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    message = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()
        permissions = [
            ("launch_instance", "Can launch instances"),
            ("manage_instance", "Can start, stop and relabel any instance"),
            ("destroy_own_instance", "Can destroy instances they launched"),
            ("destroy_any_instance", "Can destroy any instance"),
            ("view_api_keys", "Can see the account's API keys"),
            ("view_all_records", "Can see every user's actions"),
            ("manage_team", "Can manage users and guardrails"),
        ]

    def __str__(self):
        return f"{self.username} {self.kind} {self.outcome}"


class LaunchToken(models.Model):
    """The one-time token of one launch form. A POST may launch only after claiming it,
    with a conditional UPDATE (`claim`), so a token launches at most once even across
    processes and replicas; `action` then records what became of it."""

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    offer_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    action = models.OneToOneField(Action, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self):
        return f"launch token for offer {self.offer_id} ({'claimed' if self.claimed_at else 'open'})"
