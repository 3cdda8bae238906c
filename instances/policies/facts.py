"""What the rules read (`Facts`: a live ledger row with its status history) and what they decide
(`Decision`). Nothing here writes."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.urls import reverse

from instances.models import Instance, StatusChange

STOP, DESTROY, WARN, NOTIFY = "stop", "destroy", "warn", "notify"
# Statuses a stop applies to: the GPUs are held and no stop is on its way.
STOPPABLE = frozenset({"running", "starting", "rebooting"})
# One stretch of holding the GPUs (a stop that failed and went back to running does not end it).
HOLDING = frozenset({"running", "starting", "rebooting", "stopping"})
# Only the disk bills.
STOPPED = frozenset({"stopped", "exited"})


def stamp(moment):
    """A moment as it goes into an idempotency key (second precision, UTC)."""
    return moment.strftime("%Y%m%dT%H%M%SZ")


def name_of(row):
    """How policies name an instance: "31270012 (train-a)"."""
    return f"{row.vast_id} ({row.label})" if row.label else str(row.vast_id)


@dataclass(frozen=True)
class Facts:
    """A live ledger row and its status changes, oldest first."""

    row: Instance
    changes: tuple

    def since(self, statuses):
        """When the current stretch of `statuses` began (the row is in one of them now), else None."""
        if self.row.status not in statuses:
            return None
        start = None
        for change in reversed(self.changes):
            if change.to_status not in statuses:
                break
            start = change.at
        return start or self.row.first_seen

    @property
    def owner(self):
        """The user who launched it, or None (outside the dashboard)."""
        return self.row.launched_by


def live_facts():
    """Facts for every live ledger row (two queries)."""
    rows = list(Instance.objects.filter(gone_at__isnull=True).select_related("launched_by"))
    changes = defaultdict(list)
    for change in StatusChange.objects.filter(instance__in=[row.pk for row in rows]).order_by("at", "id"):
        changes[change.instance_id].append(change)
    return [Facts(row, tuple(changes[row.pk])) for row in rows]


@dataclass(frozen=True)
class Decision:
    """What a rule decided about one instance (or the team) now.

    `act` is STOP or DESTROY (through Vast, claimed once by `key`), WARN (a notification that
    announces one, held back in dry run) or NOTIFY (information, always sent). `rule` says why
    in words; the notification fields say whom to tell what.
    """

    policy: str
    act: str
    key: str
    rule: str
    row: Instance | None = None
    kind: str = ""
    text: str = ""
    users: tuple = field(default=())
    admins: bool = False
    link: str = ""
    decided_at: datetime | None = None

    @property
    def acts_on_vast(self):
        return self.act in (STOP, DESTROY)

    @property
    def would(self):
        """The dry-run sentence: "would stop 31270012 (train-a): idle < 5 % for 30 min"."""
        return f"would {self.act} {name_of(self.row)}: {self.rule}"


def detail_link(row):
    return reverse("instances:detail", args=[row.vast_id])


def owner_and_admins(row, *, admins=False):
    """Whom to tell about an instance: its launcher, and the admins when asked or when it has none."""
    owner = row.launched_by
    return {"users": (owner,) if owner else (), "admins": admins or owner is None}
