"""Bulk actions on /instances/: Stop, Start or Destroy the selected rows in one confirmed step,
through Vast's bulk calls (`client.bulk`).

Each row is checked as its single action is (instances.views) before anything is sent: stop by
anyone who manages instances, start only one's own (admins any) and through the spend decision
(`spending.begin`, one instance after another, so a cap counts the earlier ones), destroy by
destroy_any or one's own with destroy_own. A refused row is audited as forbidden and left out of
the call; a row whose state does not fit (starting a running instance) is skipped. Every row sent
gets its own audit row, pending before the call and then succeeded or failed by Vast's answer
for its chunk; the ledger shows the change at once and the worker is asked for a sync.
"""

import logging

from django.contrib import messages
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard import audit, vast
from dashboard.converters import MAX_ID
from dashboard.guardrails import GuardrailExceeded
from dashboard.models import Action
from dashboard.permissions import forbidden
from instances import actions, ledger, spending
from instances.models import Instance
from instances.policies import lease
from instances.rows import STARTABLE, STOPPABLE
from instances.tasks import enqueue_sync

logger = logging.getLogger(__name__)

# verb → (audit kind, Vast state, permissions any of which lets a person try it at all)
ACTIONS = {
    "start": (Action.Kind.START, "running", ("manage_instance",)),
    "stop": (Action.Kind.STOP, "stopped", ("manage_instance",)),
    "destroy": (Action.Kind.DESTROY, None, ("destroy_own_instance", "destroy_any_instance")),
}
MAX_SELECTED = 500
DONE = {"start": "Starting", "stop": "Stopped", "destroy": "Destroyed"}


def _selected(values):
    """The selected instance ids (each once, in order), or None if any is not an instance id."""
    ids = []
    for value in values:
        if not value.isascii() or not value.isdigit() or len(value) > 19 or not 1 <= int(value) <= MAX_ID:
            return None
        ids.append(int(value))
    ids = list(dict.fromkeys(ids))
    return ids if 0 < len(ids) <= MAX_SELECTED else None


def _refusal(user, verb, known, instance_id):
    """Why `user` may not `verb` this instance (role and ownership), or None."""
    owner = known.launched_by_name or "someone outside the dashboard"
    if verb == "start" and not actions.may_change(user, known):
        return f"you may start only instances you launched; {actions.name(known, instance_id)} is {owner}'s"
    if verb == "destroy" and not user.has_perm("dashboard.destroy_any_instance"):
        if not user.has_perm("dashboard.destroy_own_instance"):
            return "your role does not allow destroying instances"
        if known.launched_by_id != user.pk:
            return f"you may destroy only instances you launched; {actions.name(known, instance_id)} is {owner}'s"
    return None


def _misfit(verb, known):
    """Why the instance's state does not fit the action (nothing to do), or None."""
    if verb == "start" and known.status not in STARTABLE:
        return f"it is {known.status}, not stopped"
    if verb == "stop" and known.status not in STOPPABLE:
        return f"it is {known.status}"
    return None


def _begin(request, verb, known, instance_id, count):
    """The pending audit row for one instance about to be sent, or GuardrailExceeded for a start."""
    kind, state, _ = ACTIONS[verb]
    price = known.dph_total
    detail = {"bulk": count, **actions.owner_detail(known)}
    if state:
        detail["state"] = state
    if verb == "start":
        return spending.begin(request.user, kind, price=price, instance_id=instance_id, detail=detail)
    return audit.begin(request.user, kind, instance_id=instance_id, price=price, detail=detail)


def _plan(request, verb, ids):
    """Check every selected row: (pending audit rows by id, refused [(id, reason)], skipped [(id, reason)])."""
    kind = ACTIONS[verb][0]
    known = {row.vast_id: row for row in Instance.objects.filter(vast_id__in=ids, gone_at__isnull=True)}
    checked, refused, skipped = [], [], []
    for instance_id in ids:
        row = known.get(instance_id)
        if row is None:
            skipped.append((instance_id, "it is no longer in the list"))
            continue
        reason = _refusal(request.user, verb, row, instance_id)
        if reason:
            audit.forbid(request.user, kind, f"You may not {verb} it: {reason}.", instance_id=instance_id)
            refused.append((instance_id, reason))
        elif misfit := _misfit(verb, row):
            skipped.append((instance_id, misfit))
        else:
            checked.append(instance_id)
    pending = {}
    for instance_id in checked:
        try:
            pending[instance_id] = _begin(request, verb, known[instance_id], instance_id, len(checked))
        except GuardrailExceeded as refusal:  # audited by the spend decision
            refused.append((instance_id, refusal.message))
    return known, pending, refused, skipped


def _send(verb, ids):
    """Vast's bulk call for these ids: a BulkOutcome per chunk."""
    if verb == "destroy":
        return vast.bulk().destroy(ids)
    return vast.bulk().set_state(ids, ACTIONS[verb][1])


def _apply(request, verb, known, pending, outcomes):
    """Each sent row's outcome into its audit row and the ledger: ([done ids], [queued ids], [(id, error)])."""
    done, queued, failed = [], [], []
    for outcome in outcomes:
        for instance_id in outcome.ids:
            action = pending[instance_id]
            if not outcome.ok:
                audit.fail(action, outcome.error)
                failed.append((instance_id, outcome.error))
                continue
            name = actions.name(known.get(instance_id), instance_id)
            if verb == "destroy":
                audit.succeed(action, f"Destroyed {name} (bulk). Its disk is deleted and billing has stopped.")
                ledger.record_destroyed(instance_id, request.user)
            else:
                ledger.record_state(instance_id, "starting" if verb == "start" else "stopping")
                if verb == "start":
                    lease.on_start(instance_id, request.user)  # as a single Start: the role's maximum holds
                note = " Vast.ai queued the start until a GPU is free." if outcome.queued else ""
                audit.succeed(action, f"{DONE[verb]} {name} (bulk).{note}")
            (queued if outcome.queued else done).append(instance_id)
    return done, queued, failed


def _names(known, ids):
    return ", ".join(actions.name(known.get(i), i) for i in ids)


def _summary(verb, known, done, queued, failed, refused, skipped):
    """(message level, one message) for the whole bulk action."""
    parts = []
    if done:
        tail = " Their disks are deleted and billing has stopped." if verb == "destroy" else ""
        parts.append(f"{DONE[verb]} {len(done)} instance{'s' if len(done) != 1 else ''}: {_names(known, done)}.{tail}")
    if queued:
        parts.append(f"Vast.ai has no free GPU right now for {_names(known, queued)}: the start is queued.")
    for instance_id, error in failed:
        parts.append(f"{actions.name(known.get(instance_id), instance_id)}: {error.message}")
    for instance_id, reason in refused:
        parts.append(f"Not {DONE[verb].lower()} {actions.name(known.get(instance_id), instance_id)}: {reason}")
    for instance_id, reason in skipped:
        parts.append(f"Skipped {actions.name(known.get(instance_id), instance_id)}: {reason}.")
    if not parts:
        parts.append("Nothing to do.")
    if (done or queued) and not (failed or refused or skipped):
        level = messages.WARNING if queued else messages.SUCCESS
    elif done or queued:
        level = messages.WARNING
    else:
        level = messages.ERROR
    return level, " ".join(parts)


@require_POST
def bulk(request):
    """POST `action` (start, stop, destroy) and `ids` (the selected rows): check each row, send the
    allowed ones in Vast's bulk call, and say what happened to each."""
    list_url = reverse("instances:index")
    verb, ids = request.POST.get("action", ""), _selected(request.POST.getlist("ids"))
    if verb not in ACTIONS or ids is None:
        message = "Select one or more instances and an action (Stop, Start or Destroy)."
        return actions.done(request, messages.ERROR, message, list_url)
    kind, _, perms = ACTIONS[verb]
    if not any(request.user.has_perm(f"dashboard.{perm}") for perm in perms):
        message = f"Your role does not allow this: {verb} instances."
        logger.info("forbidden: %s may not %s instances in bulk", request.user, verb)
        for instance_id in ids:
            audit.forbid(request.user, kind, message, instance_id=instance_id)
        return forbidden(request, message)
    known, pending, refused, skipped = _plan(request, verb, ids)
    done, queued, failed = [], [], []
    if pending:
        try:
            outcomes = _send(verb, list(pending))
        except Exception as exc:
            for action in pending.values():
                audit.fail(action, exc)
            raise
        done, queued, failed = _apply(request, verb, known, pending, outcomes)
        enqueue_sync()
    level, message = _summary(verb, known, done, queued, failed, refused, skipped)
    if not pending and refused:
        return forbidden(request, message)
    return actions.done(request, level, message, list_url)
