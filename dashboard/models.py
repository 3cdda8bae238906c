"""The team's spending guardrails, set by admins in the dashboard."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


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


class RateSlot(models.Model):
    """When an upstream endpoint may next be called (see dashboard.vast.ratelimit.DatabaseSlots)."""

    key = models.CharField(max_length=100, primary_key=True)
    next_free = models.FloatField(default=0.0, help_text="Epoch seconds.")

    def __str__(self):
        return self.key
