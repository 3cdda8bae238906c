"""People's SSH public keys, and which of them the dashboard attached to which instance.

`SshKey` is one person's key (parsed and fingerprinted by `instances.ssh_keys`); `SshAttachment`
is one attach through the dashboard, kept after a detach (or the key's removal) as a record.
Vast's own list of an instance's keys is read live; these rows say whose key each one is.
"""

from django.conf import settings
from django.db import models


class SshKey(models.Model):
    """An OpenSSH public key of one person; a person holds each key (fingerprint) once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ssh_keys")
    name = models.CharField(max_length=100)
    public_key = models.TextField(help_text="One line: type, base64 blob and comment, as pasted.")
    fingerprint = models.CharField(max_length=64, help_text="SHA256:… as `ssh-keygen -lf` prints it.")
    key_type = models.CharField(max_length=32, help_text="The OpenSSH type name, e.g. ssh-ed25519.")
    bits = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["user", "fingerprint"], name="ssh_key_once_per_person")]

    def __str__(self):
        return f"{self.name} ({self.fingerprint})"


class SshAttachment(models.Model):
    """A person's key attached to a Vast instance through the dashboard (at launch or with
    "Add my key"); `detached_at` is set when it is taken off. `vast_key_id` is the id Vast gave
    the key on that instance, which a detach needs (None until known)."""

    instance_id = models.BigIntegerField(db_index=True, help_text="The Vast instance id.")
    key = models.ForeignKey(SshKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, help_text="Whose key; kept if the user is deleted.")
    key_name = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    vast_key_id = models.BigIntegerField(null=True, blank=True)
    attached_at = models.DateTimeField(auto_now_add=True)
    detached_at = models.DateTimeField(null=True, blank=True)
    detached_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["attached_at", "id"]
        default_permissions = ()

    def __str__(self):
        return f"{self.fingerprint} on instance {self.instance_id}"
