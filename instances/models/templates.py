"""Launch templates: the team's saved launch settings, used by everyone, kept in the dashboard."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class LaunchTemplate(models.Model):
    """What to run, saved under a name: the launch form's fields (image, disk, how to connect,
    entrypoint arguments, environment, on-start script) plus ports and a note. A launch with it
    prefills the form (`instances.launch_templates.launch_initial`); the form checks everything
    again, so a template never bypasses the launch rules.

    `ports` are "8080" or "8080:80" items (optionally /tcp or /udp), sent as `-p` environment
    lines. Environment values and the on-start script are shown only to those who may launch.
    """

    name = models.CharField(max_length=100, unique=True)
    image = models.CharField(max_length=255)
    disk = models.FloatField(default=10.0, validators=[MinValueValidator(1)], help_text="GB")
    runtype = models.CharField(max_length=16, default="ssh", help_text="ssh, jupyter or args (the launch form's)")
    args = models.CharField(max_length=4096, blank=True, help_text="Entrypoint arguments (runtype args).")
    env = models.TextField(blank=True, help_text="KEY=VALUE lines, as the launch form takes them.")
    ports = models.CharField(max_length=400, blank=True)
    onstart = models.TextField(blank=True)
    note = models.TextField(blank=True)
    imported_from = models.CharField(max_length=64, blank=True, help_text="The Vast template's hash_id, if imported.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
