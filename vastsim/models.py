"""What changes in the simulated world: rentals, SSH keys, API keys, faults, switches.

The offer catalog is generated (see catalog.py); everything here lives in the
database so all gunicorn workers and restarts see the same state. Times are
floats from `vastsim.clock.now()` so tests can move the clock.
"""

from django.db import models

# Instance ids look like real contract ids; the row's primary key stays small.
CONTRACT_ID_OFFSET = 27_000_000
SSH_KEY_ID_OFFSET = 610_000


class Instance(models.Model):
    """A rented instance (contract) created on a catalog offer."""

    offer = models.JSONField(help_text="Snapshot of the offer's static fields at rental time.")
    offer_id = models.BigIntegerField(db_index=True)
    machine_id = models.BigIntegerField()
    num_gpus = models.PositiveSmallIntegerField()
    created_at = models.FloatField()
    started_at = models.FloatField(help_text="When the instance was last asked to run.")
    ready_at = models.FloatField(help_text="When the container is up (actual_status running).")
    intended_status = models.CharField(max_length=16, default="running")
    cur_state = models.CharField(max_length=16, default="running")
    status_msg = models.TextField(blank=True)
    # The API tells a null label or onstart from an empty one, so these keep NULL.
    label = models.TextField(null=True, blank=True)  # noqa: DJ001
    image = models.CharField(max_length=512)
    env = models.JSONField(default=list, help_text="List of [key, value] pairs.")
    onstart = models.TextField(null=True, blank=True)  # noqa: DJ001
    runtype = models.CharField(max_length=64, default="ssh")
    args = models.JSONField(null=True, blank=True)
    disk = models.FloatField()
    bid_price = models.FloatField(null=True, blank=True)
    template_hash_id = models.CharField(max_length=64, blank=True)
    jupyter_dir = models.CharField(max_length=512, blank=True)
    rebooted_at = models.FloatField(null=True, blank=True, help_text="When the last reboot was asked for.")
    workload = models.JSONField(
        null=True, blank=True, help_text="Override of the on-start workload until the next start (vastsim.workload)."
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"instance {self.contract_id} on offer {self.offer_id}"

    @property
    def contract_id(self):
        return CONTRACT_ID_OFFSET + self.pk

    @classmethod
    def for_contract(cls, contract_id):
        """The instances (zero or one) with this contract id."""
        pk = contract_id - CONTRACT_ID_OFFSET
        return cls.objects.filter(pk=pk) if 0 < pk < 2**63 else cls.objects.none()


class Clock(models.Model):
    """The simulator's clock, one row that every process reads (vastsim.clock): simulated time is
    `anchor + (real - anchor) * speed + offset`, with `real` the wall clock in epoch seconds."""

    anchor = models.FloatField(help_text="Wall-clock time (epoch s) from which `speed` counts.")
    speed = models.FloatField(default=1.0, help_text="Simulated seconds per real second.")
    offset = models.FloatField(default=0.0, help_text="Simulated minus wall-clock seconds at anchor; advance adds.")

    def __str__(self):
        return f"clock at {self.speed:g}x, offset {self.offset:g} s"


class SshKey(models.Model):
    """An SSH public key: the account's (`instance` null), which Vast copies onto each new
    instance, or one attached to a single instance (also each copy of an account key)."""

    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE, related_name="ssh_keys")
    public_key = models.TextField()
    created_at = models.FloatField()

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"ssh key {self.key_id}"

    @property
    def key_id(self):
        """The id the API shows (offset like contract ids, so it never looks like a row number)."""
        return SSH_KEY_ID_OFFSET + self.pk

    @classmethod
    def for_key_id(cls, key_id):
        """The keys (zero or one) with this API id."""
        pk = key_id - SSH_KEY_ID_OFFSET
        return cls.objects.filter(pk=pk) if 0 < pk < 2**63 else cls.objects.none()


class LogRequest(models.Model):
    """Logs gathered for one request_logs call, served at its result URL once `ready_at` passes."""

    token = models.CharField(max_length=64, unique=True)
    contract_id = models.BigIntegerField()
    text = models.TextField()
    created_at = models.FloatField()
    ready_at = models.FloatField()

    def __str__(self):
        return f"logs of instance {self.contract_id}"


class ApiKey(models.Model):
    """An entry of the account's API-key listing (values are never stored)."""

    name = models.CharField(max_length=100)
    key_type = models.CharField(max_length=16, default="api")
    created_at = models.FloatField()

    def __str__(self):
        return self.name


class Template(models.Model):
    """A Vast template: public ones (Vast's recommended) and the account's own. `fields` holds
    what the API shows besides id, hash_id, creator_id and created_at (see vastsim.templates)."""

    hash_id = models.CharField(max_length=32, db_index=True)
    creator_id = models.BigIntegerField()
    created_at = models.FloatField()
    fields = models.JSONField(default=dict)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"template {self.pk} {self.fields.get('name')!r}"


class Fault(models.Model):
    """An injected failure for requests matching an endpoint and method."""

    endpoint = models.CharField(max_length=200, help_text='Route name, "*", or a path regex starting with "/".')
    method = models.CharField(max_length=8, blank=True, help_text="Blank matches every method.")
    kind = models.CharField(max_length=16)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency = models.FloatField(default=0.0, help_text="Seconds added before answering.")
    retry_after = models.CharField(max_length=32, blank=True, help_text="Retry-After header value; blank = none.")
    body = models.JSONField(null=True, blank=True, help_text="Overrides the generated body.")
    remaining = models.PositiveIntegerField(
        null=True, blank=True, help_text="Fires this many more times; null = forever."
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"{self.kind} on {self.method or '*'} {self.endpoint}"


class Switch(models.Model):
    """A named scenario flag, e.g. rate_limits or legacy_instances."""

    name = models.CharField(max_length=64, primary_key=True)
    value = models.JSONField()

    def __str__(self):
        return f"{self.name}={self.value!r}"


class RateLimitHit(models.Model):
    """The last accepted call per caller identity and endpoint."""

    identity = models.CharField(max_length=64)
    endpoint = models.CharField(max_length=64)
    last_at = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["identity", "endpoint"], name="vastsim_ratelimit_unique")]

    def __str__(self):
        return f"{self.endpoint} by {self.identity[:8]}"
