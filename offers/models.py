"""Saved offer searches with their price alerts, what each alert has already told, and market history."""

from django.conf import settings
from django.db import models


class SavedSearch(models.Model):
    """An offer search (the /offers/ query string) kept under a name, optionally shared with the
    team, optionally carrying a price alert that the worker checks every ALERT_CHECK_SECONDS."""

    NOTIFY_CHOICES = [("me", "Me"), ("team", "Me and the team webhook")]

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True)
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    max_dph_per_gpu = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    min_offers = models.PositiveIntegerField(null=True, blank=True)
    notify_to = models.CharField(max_length=8, choices=NOTIFY_CHOICES, default="me")
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    @property
    def has_alert(self):
        return self.max_dph_per_gpu is not None or self.min_offers is not None

    @property
    def ceiling(self):
        """The $/GPU·hr ceiling without trailing zeros ("0.25"), or "" when there is none."""
        return "" if self.max_dph_per_gpu is None else f"{self.max_dph_per_gpu.normalize():f}"


class AlertMatch(models.Model):
    """An offer an alert has matched: notified once when its episode began. An offer unseen for
    ALERT_QUIET_SECONDS starts a new episode (and a new notification) when it matches again."""

    search = models.ForeignKey(SavedSearch, on_delete=models.CASCADE, related_name="matches")
    offer_id = models.BigIntegerField()
    episode_start = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["search", "offer_id"], name="offers_alertmatch_unique")]

    def __str__(self):
        return f"{self.search_id}:{self.offer_id}"


class MarketSample(models.Model):
    """Offers count and $/GPU·hr (min, median) of one GPU model and rental type at one moment;
    older samples are merged into hourly, then daily, rows (`period`)."""

    PERIODS = [("raw", "Round"), ("hour", "Hour"), ("day", "Day")]

    at = models.DateTimeField(db_index=True)
    gpu_name = models.CharField(max_length=60)
    rental_type = models.CharField(max_length=12)
    period = models.CharField(max_length=4, choices=PERIODS, default="raw")
    offers = models.PositiveIntegerField()
    min_price = models.FloatField()
    median_price = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["gpu_name", "rental_type", "at"], name="offers_sample_model_at")]

    def __str__(self):
        return f"{self.gpu_name} {self.rental_type} {self.at:%Y-%m-%d %H:%M}"


class OfferColumns(models.Model):
    """The columns a person chose for the offers table (field names of offers.columns.COLUMNS).
    No row: the default columns."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="offer_columns"
    )
    columns = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        default_permissions = ()
        verbose_name_plural = "offer columns"

    def __str__(self):
        return f"{self.user_id}: {', '.join(self.columns)}"
