"""Writing the audit log: every write attempt against Vast, around the call.

Each write goes through `begin` (a PENDING row, written before the call so that a crash
mid-call still leaves a trace) and then exactly one of `succeed` or `fail`; a refused
attempt is one `forbid`. The page that reads the log is `dashboard.audit_log`.
"""

from decimal import Decimal

from django.db.models import Q

from dashboard import vast
from dashboard.models import Action

# Who the worker's policy actions are by: no user account (Action.user is None), this name.
SYSTEM = "system"


def begin(user, kind, *, offer_id=None, instance_id=None, price=None, detail=None):
    """A PENDING Action for `user` (None: the "system", for a policy's action) about to do `kind`;
    `price` is $/hr (float or None)."""
    return Action.objects.create(
        user=user,
        username=user.get_username() if user is not None else SYSTEM,
        kind=kind,
        offer_id=offer_id,
        instance_id=instance_id,
        price_per_hour=None if price is None else Decimal(f"{price:.6f}"),
        outcome=Action.Outcome.PENDING,
        detail=detail or {},
    )


def succeed(action, message="", *, instance_id=None):
    """Move a pending action to SUCCESS, with the instance it created or touched."""
    action.outcome = Action.Outcome.SUCCESS
    action.message = message
    if instance_id is not None:
        action.instance_id = instance_id
    action.save(update_fields=["outcome", "message", "instance_id"])


def fail(action, error, *, unknown=None):
    """Move a pending action to FAILED with Vast's message, or to UNKNOWN when the answer was
    lost (`error.outcome_unknown`, or `unknown=True`). Any other exception is a dashboard fault,
    after the call may have been sent, so it is recorded as UNKNOWN."""
    if isinstance(error, vast.VastError):
        lost = error.outcome_unknown if unknown is None else unknown
        action.message = error.message
        action.detail = {**action.detail, "error": error.error or type(error).__name__, "status": error.status}
    else:
        lost = True
        action.message = "The dashboard failed while talking to Vast.ai; the change may have happened."
        action.detail = {**action.detail, "error": type(error).__name__}
    action.outcome = Action.Outcome.UNKNOWN if lost else Action.Outcome.FAILED
    action.save(update_fields=["outcome", "message", "detail"])


def forbid(user, kind, message, *, offer_id=None, instance_id=None, limit=None):
    """Record a refused attempt (the call was never sent); `limit` names the guardrail that refused."""
    return Action.objects.create(
        user=user,
        username=user.get_username(),
        kind=kind,
        offer_id=offer_id,
        instance_id=instance_id,
        outcome=Action.Outcome.FORBIDDEN,
        message=message,
        detail={"refused": limit} if limit else {},
    )


def history(instance_id, user, limit=50):
    """The dashboard's actions on one instance, newest first: everyone's for users who may see
    all records, else the user's own and the policies' (by "system")."""
    actions = Action.objects.filter(instance_id=instance_id)
    if not user.has_perm("dashboard.view_all_records"):
        actions = actions.filter(Q(user=user) | Q(user__isnull=True, username=SYSTEM))
    return list(actions[:limit])


def change(user, kind, message, *, before, after, subject=None, target=None):
    """Record a change made in the dashboard (a role, an activation, the guardrails, a password
    reset, a saved search): who (`user`), what (`kind`, `message`, `subject` the person it is
    about, `target` the thing changed, e.g. "saved search 12"), and the values `before` →
    `after` (JSON-ready)."""
    detail = {"before": before, "after": after}
    if subject is not None:
        detail["subject"] = subject
    if target is not None:
        detail["target"] = target
    return Action.objects.create(
        user=user,
        username=user.get_username(),
        kind=kind,
        outcome=Action.Outcome.SUCCESS,
        message=message,
        detail=detail,
    )
