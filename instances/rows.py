"""An instance as the pages show it: the ledger's row and Vast's Instance (rebuilt from the row's
snapshot), who launched it, what the viewer may do to it, and the derived numbers (age,
estimated cost so far from the status history, masked environment)."""

from dataclasses import dataclass, replace
from datetime import datetime

from django.utils import timezone

from dashboard import vast
from dashboard.vast.values import TRANSITIONAL_STATUSES
from instances import costs, ledger
from instances.policies import lease

STOPPED = frozenset({"stopped", "exited"})
STARTABLE = STOPPED
STOPPABLE = frozenset({"running", "starting", "rebooting"})
# Vast's own word while a new instance comes up, shown instead of the generic "starting".
_BOOT_STATES = frozenset({"created", "scheduling", "loading"})
SECRET_MASK = "••••••"


@dataclass(frozen=True, kw_only=True)
class InstanceRow:
    """One instance for a page. `launched_by` is None when it was launched outside the dashboard."""

    instance: vast.Instance
    ledger: object
    launched_by: str | None
    can_manage: bool  # start and relabel: their own instances, or any for admins
    can_destroy: bool
    now: datetime
    cost_so_far: float | None = None
    may_stop: bool = False  # stop: any instance (it saves money)
    is_own: bool = False
    can_connect: bool = False  # else the instance carries no connection details at all

    @property
    def id(self):
        return self.instance.id

    @property
    def name(self):
        """The label, else "instance ID"."""
        return self.instance.label or f"instance {self.instance.id}"

    @property
    def status(self):
        """The ledger's status: what the last sync saw, or what a write just made it (a stop
        shows "stopping" at once, before the next sync brings a new snapshot)."""
        return "destroyed" if self.ledger.gone_at else self.ledger.status

    @property
    def is_transitional(self):
        """True while the status changes, so a page showing it should poll often."""
        return self.status in TRANSITIONAL_STATUSES

    @property
    def status_label(self):
        """The status word for the badge: Vast's boot stage while a new instance comes up."""
        actual = self.instance.actual_status
        if self.status == "starting" and actual in _BOOT_STATES:
            return actual
        if self.status == "starting" and actual is None:
            return "provisioning"
        return self.status

    @property
    def is_stopped(self):
        return self.status in STOPPED

    @property
    def lease_note(self):
        """The time limit in words ("stops in 2 h 10 min"), or "" when it has none running."""
        return lease.note(self.ledger, self.now)

    @property
    def can_start(self):
        return self.can_manage and self.status in STARTABLE

    @property
    def can_stop(self):
        return self.may_stop and self.status in STOPPABLE

    @property
    def owner(self):
        """Who the instance belongs to, in words."""
        return self.launched_by or "outside the dashboard"

    @property
    def confirm_stop(self):
        """The confirmation for stopping an instance somebody else launched ("" for one's own)."""
        if self.is_own:
            return ""
        whose = f"{self.launched_by}'s" if self.launched_by else "an instance launched outside the dashboard:"
        return f"Stop {whose} {self.name} (id {self.id})? They will see that you stopped it."

    @property
    def age_hours(self):
        start = self.instance.start_date
        return None if start is None else max(0.0, (self.now - start).total_seconds() / 3600)

    @property
    def is_gone(self):
        return self.ledger.gone_at is not None

    @property
    def burn_per_hour(self):
        """What it bills per hour now: everything while up, only the disk while stopped."""
        return costs.burn_per_hour(self.ledger)

    @property
    def reliability_percent(self):
        value = self.instance.reliability2
        return None if value is None else value * 100

    @property
    def storage_per_hour(self):
        return self.ledger.storage_per_hour

    @property
    def storage_per_day(self):
        per_hour = self.ledger.storage_per_hour
        return None if per_hour is None else per_hour * 24

    @property
    def direct_ssh_command(self):
        """`ssh -p PORT root@IP` straight to the machine, while running with port 22 mapped."""
        ports = self.instance.ports.get("22/tcp")
        if not (self.instance.is_running and ports and self.instance.public_ipaddr):
            return None
        return f"ssh -p {ports[0]} root@{self.instance.public_ipaddr}"

    @property
    def ports(self):
        """[(container port, "ip:host port", ...)] for the direct connections."""
        ip = self.instance.public_ipaddr
        return [
            (port, [f"{ip}:{host}" if ip else str(host) for host in hosts])
            for port, hosts in sorted(self.instance.ports.items())
        ]

    @property
    def env(self):
        """The environment as shown: docker flags (-p 8080:8080) as they are, KEY=•••••• for the rest
        (no value is ever kept on the row)."""
        return [key if key.startswith("-") else f"{key}={SECRET_MASK}" for key in self.instance.env]

    @property
    def confirm_destroy(self):
        """The destroy confirmation text: which instance, and what it has cost."""
        gpu = f"{self.instance.num_gpus or '?'}× {self.instance.gpu_name or 'GPU'}"
        cost = "" if self.cost_so_far is None else f" It has cost about ${self.cost_so_far:.2f} so far"
        rate = "" if self.instance.dph_total is None else f" at ${self.instance.dph_total:.3f}/hr."
        return (
            f"Destroy {self.name} ({gpu}, id {self.id})?{cost}{rate if cost else ''} "
            "Its disk and data are deleted; this cannot be undone."
        )


def _fallback(row):
    """A service-module Instance from the ledger's columns, for a row with no snapshot yet (just
    launched through the dashboard, not yet synced)."""
    intended = "stopped" if row.status == "stopped" else "running"
    return vast.Instance(
        id=row.vast_id,
        label=row.label or None,
        gpu_name=row.gpu_name or None,
        num_gpus=row.num_gpus,
        image=row.image or None,
        dph_total=row.dph_total,
        start_date=row.started_at,
        actual_status="stopped" if row.status == "stopped" else None,
        intended_status=intended,
    )


def _visible(instance, *, connect, onstart):
    """The instance as this person may see it: without connection details (SSH, addresses, ports,
    Jupyter token) unless `connect`, without the on-start script unless `onstart`, and never with
    environment values or the raw answer, so no template can show what the role may not see."""
    hidden = {"raw": {}, "env": dict.fromkeys(instance.env, "")}
    if not connect:
        hidden.update(jupyter_token=None, ssh_host=None, ssh_port=None, public_ipaddr=None, ports={})
        hidden.update(direct_port_start=None, direct_port_end=None)
    if not onstart:
        hidden["onstart"] = None
    return replace(instance, **hidden)


def rows_for(user, ledger_rows, now=None):
    """The InstanceRows of these ledger rows for `user`, newest first, with lifetime costs."""
    ledger_rows = list(ledger_rows)
    now = now or timezone.now()
    spent = costs.lifetime_costs(ledger_rows, now=now)
    may_manage = user.has_perm("dashboard.manage_instance")
    manage_any = user.has_perm("dashboard.manage_any_instance")
    destroy_any = user.has_perm("dashboard.destroy_any_instance")
    destroy_own = user.has_perm("dashboard.destroy_own_instance")
    connect = user.has_perm("dashboard.view_connection")
    sees_all_scripts = user.has_perm("dashboard.view_all_records")
    rows = []
    for row in sorted(ledger_rows, key=lambda r: r.vast_id, reverse=True):
        alive = row.gone_at is None
        own = row.launched_by_id is not None and row.launched_by_id == user.pk
        instance = ledger.as_vast(row) or _fallback(row)
        rows.append(
            InstanceRow(
                instance=_visible(instance, connect=connect, onstart=own or sees_all_scripts),
                ledger=row,
                launched_by=row.launched_by_name or None,
                can_manage=alive and may_manage and (manage_any or own),
                can_destroy=alive and (destroy_any or (destroy_own and own)),
                may_stop=alive and may_manage,
                is_own=own,
                can_connect=connect,
                now=now,
                cost_so_far=spent.get(row.vast_id),
            )
        )
    return rows
