"""The floor's own records: the audit log of every write, the spending guardrails, Vast rate slots."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
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
        EXTEND = "extend", "Extend time limit"
        KEEP = "keep", "Keep running (policy exemption)"
        POLICIES = "policies", "Change policies"
        ROLE = "role", "Change role"
        ACTIVATION = "activation", "Activate or deactivate"
        GUARDRAILS = "guardrails", "Change guardrails"
        PASSWORD_RESET = "password_reset", "Issue password reset"
        PASSWORD_CHANGE = "password_change", "Change own password"
        PASSWORD_SET = "password_set", "Set password by reset link"
        OFFER_COLUMNS = "offer_columns", "Choose offer columns"
        SEARCH_SAVE = "search_save", "Save search"
        SEARCH_RENAME = "search_rename", "Rename saved search"
        SEARCH_DELETE = "search_delete", "Delete saved search"
        SEARCH_ALERT = "search_alert", "Set or clear price alert"

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
    operator_max_stop_after_minutes = models.PositiveIntegerField(
        "operator: max time limit (minutes)", null=True, blank=True,
        help_text="The longest time limit (stop after) an operator may give a launch or extend to; empty = no maximum.",
    )  # fmt: skip
    admin_max_stop_after_minutes = models.PositiveIntegerField(
        "admin: max time limit (minutes)", null=True, blank=True,
        help_text="The same for admins; empty = no maximum.",
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

    def max_stop_after_for(self, role):
        """The longest time limit (minutes) a role may set, or None for no maximum."""
        return getattr(self, f"{role}_max_stop_after_minutes", None) if role else None


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
    # Delivery to the team webhook (dashboard/delivery.py): claimed by a conditional UPDATE that
    # moves `webhook_next_at` past the attempt (so a second worker skips it), then recorded.
    webhook = models.BooleanField(default=False)
    webhook_attempts = models.PositiveSmallIntegerField(default=0)
    webhook_next_at = models.DateTimeField(null=True, blank=True)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    webhook_error = models.CharField(max_length=300, blank=True)

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
    emailed_at = models.DateTimeField(null=True, blank=True)  # claimed just before the e-mail is sent

    class Meta:
        default_permissions = ()
        ordering = ["-event__created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "user"], name="one_notification_per_person")]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self):
        return f"{self.user_id}: {self.event}"

    @classmethod
    def unread_count(cls, user):
        """How many of `user`'s notifications are unread (the bell in every page's header)."""
        return cls.objects.filter(user_id=user.pk, read_at=None).count()


class NotificationPreference(models.Model):
    """Which kinds of notification (dashboard.notify.KINDS) a person also wants by e-mail, at
    their User's address. No row: the defaults of dashboard.notify.DEFAULT_EMAIL_KINDS."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email_kinds = models.JSONField(default=list, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self):
        return f"{self.user_id}: {', '.join(self.email_kinds) or 'no e-mail'}"


class PolicySettings(models.Model):
    """One row: the team's policies, which the worker applies after every sync (instances.policies).

    An empty number turns its rule off. A rule in dry run decides as usual but acts on nothing
    (no stop, no destroy, no warning of one): /team/policies/ shows what it would have done.
    """

    idle_util_below = models.FloatField(
        "idle: GPU utilisation below (%)", default=5.0, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)]
    )
    idle_minutes = models.PositiveIntegerField(
        "idle: for (minutes)", null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Stop a running instance whose GPU stayed below the utilisation above this long; empty = off.",
    )  # fmt: skip
    idle_dry_run = models.BooleanField("idle: dry run", default=False)
    lease_warn_minutes = models.PositiveIntegerField(
        "time limit: warn (minutes before)", default=15,
        help_text="The owner is told this long before a time limit stops an instance (at once if the limit is shorter).",
    )  # fmt: skip
    lease_dry_run = models.BooleanField("time limit: dry run", default=False)
    stopped_notify_days = models.DecimalField(
        "stopped: remind after (days)", max_digits=8, decimal_places=3, null=True, blank=True, default=Decimal(3),
        validators=[MinValueValidator(Decimal("0.001"))],
        help_text="Tell the owner once per stop, with its storage $/day; empty = no reminder.",
    )  # fmt: skip
    stopped_destroy_days = models.DecimalField(
        "stopped: destroy after (more days)", max_digits=8, decimal_places=3, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.001"))],
        help_text="Destroy a stopped instance this many days after the reminder (24 h warning first; never one marked "
        "keep running); empty = off.",
    )  # fmt: skip
    storage_dry_run = models.BooleanField("stopped: dry run", default=False)
    team_monthly_budget = models.DecimalField(
        "team monthly budget ($)", max_digits=12, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Admins are told at 80 % and 100 % of the month's estimate; empty = none.",
    )  # fmt: skip
    stop_at_cap = models.BooleanField(
        "stop at the monthly cap", default=False,
        help_text="When a person's estimate reaches the monthly cap per user (guardrails), stop their running "
        "instances, and nobody else's.",
    )  # fmt: skip
    budget_dry_run = models.BooleanField("budget: dry run", default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name_plural = "policy settings"
        default_permissions = ()

    def __str__(self):
        return "Policy settings"

    @classmethod
    def current(cls):
        """The single row, created with the defaults on first use."""
        return cls.objects.get_or_create(pk=1)[0]
