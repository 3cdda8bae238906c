"""The floor's own records: the audit log of every write, the spending guardrails, Vast rate slots."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class Action(models.Model):
    """One write attempt against Vast: who, when, what, at what price, and how it ended.

    Append-only: rows are never deleted, and the only edit is the one that moves a
    PENDING row (written just before the call to Vast, so that a crash mid-call still
    leaves a trace) to its outcome. Its Meta carries the permissions the roles grant.
    """

    class Kind(models.TextChoices):
        LAUNCH = "launch", "Launch"
        START = "start", "Start"
        STOP = "stop", "Stop"
        LABEL = "label", "Relabel"
        DESTROY = "destroy", "Destroy"
        REBOOT = "reboot", "Reboot"
        BID = "bid", "Change bid"
        SSH_KEY_ADD = "ssh_key_add", "Add SSH key"
        SSH_KEY_REMOVE = "ssh_key_remove", "Remove SSH key"
        SSH_ATTACH = "ssh_attach", "Attach SSH key"
        SSH_DETACH = "ssh_detach", "Detach SSH key"
        TEMPLATE_CREATE = "template_create", "Create template"
        TEMPLATE_EDIT = "template_edit", "Edit template"
        TEMPLATE_DELETE = "template_delete", "Delete template"
        TEMPLATE_IMPORT = "template_import", "Import templates"

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
            ("manage_instance", "Can stop any instance, and start and relabel the ones they launched"),
            ("manage_any_instance", "Can start and relabel any instance"),
            ("view_connection", "Can see how to connect to instances (SSH, ports, Jupyter)"),
            ("destroy_own_instance", "Can destroy instances they launched"),
            ("destroy_any_instance", "Can destroy any instance"),
            ("view_api_keys", "Can see the account's API keys"),
            ("view_all_records", "Can see every user's actions"),
            ("manage_team", "Can manage users and guardrails"),
        ]

    def __str__(self):
        return f"{self.username} {self.kind} {self.outcome}"


class Guardrails(models.Model):
    """One row: the limits every launch is checked against before Vast is called.

    An empty limit means "no limit".
    """

    viewer_max_dph = models.DecimalField(
        "viewer: max $/hr per launch", max_digits=10, decimal_places=4, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Viewers cannot launch at all; kept for completeness.",
    )  # fmt: skip
    operator_max_dph = models.DecimalField(
        "operator: max $/hr per launch", max_digits=10, decimal_places=4, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )  # fmt: skip
    admin_max_dph = models.DecimalField(
        "admin: max $/hr per launch", max_digits=10, decimal_places=4, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )  # fmt: skip
    max_running_per_user = models.PositiveIntegerField("max running instances per user", null=True, blank=True)
    monthly_cap_per_user = models.DecimalField(
        "monthly spend cap per user ($)", max_digits=12, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Estimated from the dashboard's own records of launches, stops and destroys.",
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name_plural = "guardrails"

    def __str__(self):
        return "Guardrails"

    @classmethod
    def current(cls):
        """The single guardrails row, created empty (no limits) on first use."""
        return cls.objects.get_or_create(pk=1)[0]

    def max_dph_for(self, role):
        """The per-launch $/hr limit of a role, or None."""
        return getattr(self, f"{role}_max_dph", None) if role else None


class SpendLock(models.Model):
    """One row per person, locked (SELECT ... FOR UPDATE) while a decision to start spending is
    taken for them, so their parallel launches and starts are decided one after another across
    processes and replicas. On SQLite the write lock taken at BEGIN IMMEDIATE serializes too."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True)

    class Meta:
        default_permissions = ()

    def __str__(self):
        return f"spend lock of user {self.pk}"


class RateSlot(models.Model):
    """When an upstream endpoint may next be called (see dashboard.vast.ratelimit.DatabaseSlots)."""

    key = models.CharField(max_length=100, primary_key=True)
    next_free = models.FloatField(default=0.0, help_text="Epoch seconds.")

    def __str__(self):
        return self.key


class NotificationEvent(models.Model):
    """Something the team is told once: `key` makes the same event (an instance × policy ×
    occurrence, a budget × month × threshold) impossible to notify twice."""

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=40, db_index=True)
    text = models.TextField()
    link = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        default_permissions = ()
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.kind}: {self.text[:60]}"


class Notification(models.Model):
    """One person's copy of an event, in their in-app list until they mark it read."""

    event = models.ForeignKey(NotificationEvent, on_delete=models.CASCADE, related_name="notifications")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()
        ordering = ["-event__created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "user"], name="one_notification_per_person")]

    def __str__(self):
        return f"{self.user_id}: {self.event}"
