"""Instance pages: the list, one instance, and the actions on it (start, stop, label, destroy).

Pages read Vast's list through the shared cache (`vast.list_instances_cached`), so however
many people watch, Vast is asked about once a second. A row or detail region that is changing
state polls every 2 s and stops (status 286, no trigger) once it is stable. Actions answer htmx
with a message for the alert region plus an `instances-changed` event that refreshes the page.
"""

import logging

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from dashboard import vast
from dashboard.htmx import wants_fragment
from dashboard.permissions import forbidden, require_perm
from instances import records
from instances.forms import LabelForm
from instances.launch import launch
from instances.models import Action
from instances.rows import rows_for

__all__ = ["destroy", "detail", "index", "label", "launch", "row", "start", "stop"]

logger = logging.getLogger(__name__)
STOP_POLLING = 286  # htmx cancels an `every` trigger on this status


def _find(instance_id, *, max_age=1.0):
    """The instance from the shared list, else asked of Vast directly (it may be brand new);
    None if Vast has no such instance."""
    for instance in vast.list_instances_cached(max_age=max_age):
        if instance.id == instance_id:
            return instance
    try:
        return vast.get_instance(instance_id)
    except vast.VastNotFound:
        return None


def _known(instance_id):
    """The instance if the shared list (as the page last polled it) has it, for messages and
    records; never asks Vast, so an action makes exactly one upstream call."""
    return next((i for i in vast.peek_instances() if i.id == instance_id), None)


def _name(instance, instance_id):
    """How messages name an instance: its label and id when known."""
    return f"“{instance.label}” ({instance_id})" if instance and instance.label else f"instance {instance_id}"


def _next_url(request, default):
    """The `next` field if it is a safe local URL, else `default`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


def _done(request, level, message, default_next):
    """After an action: for htmx, the message in the alert region plus `instances-changed`;
    otherwise a redirect (to `next` or `default_next`) that shows the message."""
    messages.add_message(request, level, message)
    if wants_fragment(request):
        response = reswap(retarget(render(request, "_messages.html"), "#alerts"), "innerHTML")
        return trigger_client_event(response, "instances-changed")
    return redirect(_next_url(request, default_next))


@require_GET
def index(request):
    """Every instance of the account, with what each costs and how to connect."""
    rows = rows_for(request.user, vast.list_instances_cached())
    template = "instances/index.html#instance-list" if wants_fragment(request) else "instances/index.html"
    summary = {
        "running": sum(1 for r in rows if r.status == "running"),
        "per_hour": sum(r.burn_per_hour or 0.0 for r in rows),
    }
    return render(request, template, {"rows": rows, "summary": summary})


@require_GET
def row(request, instance_id):
    """One row of the list, polled while the instance changes state; 286 once it is stable."""
    instance = _find(instance_id)
    if instance is None:
        return render(request, "instances/index.html#instance-row", {"row": None}, status=STOP_POLLING)
    (one,) = rows_for(request.user, [instance])
    status = 200 if instance.is_transitional else STOP_POLLING
    return render(request, "instances/index.html#instance-row", {"row": one}, status=status)


@require_GET
def detail(request, instance_id):
    """Everything about one instance and our history of it; the region polls while it changes."""
    instance = _find(instance_id)
    partial = wants_fragment(request)
    template = "instances/detail.html#instance-detail" if partial else "instances/detail.html"
    if instance is None:
        status = STOP_POLLING if partial else 404
        return render(request, template, {"row": None, "instance_id": instance_id}, status=status)
    (one,) = rows_for(request.user, [instance])
    context = {"row": one, "instance_id": instance_id, "history": records.history(instance_id, request.user)}
    status = 200 if not partial or instance.is_transitional else STOP_POLLING
    return render(request, template, context, status=status)


def _set_state(request, instance_id, state):
    """Start ("running") or stop ("stopped") an instance, recorded; a queued start is a warning."""
    kind = Action.Kind.START if state == "running" else Action.Kind.STOP
    known = _known(instance_id)
    price = known.dph_total if known else None
    action = records.begin(request.user, kind, instance_id=instance_id, price=price, detail={"state": state})
    try:
        change = vast.set_state(instance_id, state)
    except Exception as exc:
        records.fail(action, exc)
        raise
    name = _name(known, instance_id)
    if change.queued:
        message = f"Vast.ai has no free GPU for {name} right now: the start is queued, waiting for the GPU."
        level = messages.WARNING
    elif state == "running":
        message, level = f"Starting {name}.", messages.SUCCESS
    else:
        per_day = known.storage_cost_per_day if known else None
        storage = f" Its disk still costs ${per_day:.2f}/day while stopped." if per_day is not None else ""
        message, level = f"Stopped {name}.{storage}", messages.SUCCESS
    records.succeed(action, change.message or message)
    return _done(request, level, message, reverse("instances:detail", args=[instance_id]))


@require_POST
@require_perm("manage_instance", action=Action.Kind.START)
def start(request, instance_id):
    return _set_state(request, instance_id, "running")


@require_POST
@require_perm("manage_instance", action=Action.Kind.STOP)
def stop(request, instance_id):
    return _set_state(request, instance_id, "stopped")


@require_POST
@require_perm("manage_instance", action=Action.Kind.LABEL)
def label(request, instance_id):
    """Set (or, when empty, clear) an instance's label."""
    form = LabelForm(request.POST)
    if not form.is_valid():
        message = f"Label not changed: {' '.join(form.errors['label'])}"
        return _done(request, messages.ERROR, message, reverse("instances:detail", args=[instance_id]))
    new = form.cleaned_data["label"]
    known = _known(instance_id)
    action = records.begin(
        request.user,
        Action.Kind.LABEL,
        instance_id=instance_id,
        detail={"label": new, "previous": known.label if known else None},
    )
    try:
        vast.relabel(instance_id, new)
    except Exception as exc:
        records.fail(action, exc)
        raise
    message = (
        f"Instance {instance_id} is now labelled “{new}”." if new else f"Cleared the label of instance {instance_id}."
    )
    records.succeed(action, message)
    return _done(request, messages.SUCCESS, message, reverse("instances:detail", args=[instance_id]))


@require_POST
def destroy(request, instance_id):
    """Destroy an instance: anyone with destroy_any_instance, or its launcher with destroy_own_instance."""
    user = request.user
    if not user.has_perm("instances.destroy_any_instance"):
        if not user.has_perm("instances.destroy_own_instance"):
            message = "Your role does not allow destroying instances."
        elif not records.launched_by(instance_id, user):
            message = "You may destroy only instances you launched from the dashboard. Ask an admin."
        else:
            message = None
        if message:
            logger.info("forbidden: %s may not destroy instance %s", user, instance_id)
            records.forbid(user, Action.Kind.DESTROY, message, instance_id=instance_id)
            return forbidden(request, message)
    known = _known(instance_id)
    action = records.begin(user, Action.Kind.DESTROY, instance_id=instance_id, price=known.dph_total if known else None)
    try:
        vast.destroy(instance_id)
    except Exception as exc:
        records.fail(action, exc)
        raise
    message = f"Destroyed {_name(known, instance_id)}. Its disk is deleted and billing has stopped."
    records.succeed(action, message)
    list_url = reverse("instances:index")
    if request.POST.get("from") == "detail":
        # The instance's own page no longer exists.
        messages.success(request, message)
        return HttpResponseClientRedirect(list_url) if request.htmx else redirect(list_url)
    return _done(request, messages.SUCCESS, message, list_url)
