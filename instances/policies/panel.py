"""The detail page's policy card: the time limit, the keep-running exemption, the utilisation chart."""

from dataclasses import dataclass
from datetime import datetime

from instances.policies import lease, samples
from instances.policies.config import Config


def may_extend(user, row):
    """Extending follows the Start rule: one's own instances, admins any."""
    if row.gone_at is not None or not user.has_perm("dashboard.manage_instance"):
        return False
    own = row.launched_by_id is not None and row.launched_by_id == user.pk
    return own or user.has_perm("dashboard.manage_any_instance")


@dataclass(frozen=True)
class Panel:
    note: str
    stop_at: datetime | None
    can_extend: bool
    keep_running: bool
    can_keep: bool
    chart: samples.Chart | None
    idle_rule: str


def panel(row, user, now):
    """The card's content for `user` looking at ledger row `row`."""
    config = Config.current()
    idle_rule = config.idle_rule
    return Panel(
        note=lease.note(row, now),
        stop_at=row.stop_at if row.gone_at is None else None,
        can_extend=may_extend(user, row),
        keep_running=row.keep_running,
        can_keep=row.gone_at is None and user.has_perm("dashboard.manage_team"),
        chart=samples.chart(row, now, threshold=config.idle_below if idle_rule else None),
        idle_rule=idle_rule,
    )
