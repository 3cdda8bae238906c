"""Instance pages: the list, one instance, and the actions on it (start, stop, label, destroy).

Pages read the ledger the worker keeps (`instances.models`), never Vast, so they answer at
once however many people watch. The list polls every few seconds (every 2 s while something
changes) and each poll is a database read. Actions call Vast through the service module, write
the audit log, update the ledger with what Vast confirmed, and ask the worker for a sync.
"""

import logging

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from dashboard import audit, fragments, vast
from dashboard.guardrails import GuardrailExceeded
from dashboard.htmx import wants_fragment
from dashboard.models import Action
from dashboard.permissions import forbidden, require_perm
from instances import actions, ledger, spending, sync
from instances.forms import LabelForm
from instances.models import Instance
from instances.page_state import freshness, page_state
from instances.policies import lease
from instances.policies.panel import panel as policy_panel
from instances.rows import rows_for
from instances.tasks import enqueue_sync

__all__ = ["destroy", "detail", "index", "label", "row", "start", "stop"]

logger = logging.getLogger(__name__)
STOP_POLLING = 286  # htmx cancels an `every` trigger on this status


def _poll_seconds(rows):
    """How often the list polls the ledger: often while something changes."""
    return 2 if any(r.is_transitional for r in rows) else 5


def _rows(request):
    """The list's rows as (context, poll seconds), for `fragments.render_cached`."""
    rows = rows_for(request.user, Instance.objects.filter(gone_at__isnull=True))
    summary = {
        "running": sum(1 for r in rows if r.status == "running"),
        "per_hour": sum(r.burn_per_hour or 0.0 for r in rows),
    }
    return {"rows": rows, "summary": summary}, _poll_seconds(rows)


@require_GET
def index(request):
    """Every live instance of the account, with what each costs and how to connect (from the ledger).
    The rows (and the page around them) are rendered once per viewer and ledger version for a few
    seconds, so polls and reloads are cheap; the freshness line is always rendered anew."""
    state = page_state(request.user)
    version = (state.changed_at,)

    def rows():
        return fragments.render_cached(
            request, "instances/index.html#instance-rows", lambda: _rows(request), name="instance-rows", version=version
        )

    if wants_fragment(request):
        rows_html, poll_seconds = rows()
        context = {"rows_html": rows_html, "sync_html": freshness(state)(), "poll_seconds": poll_seconds}
        return render(request, "instances/index.html#instance-list", context)

    def page():
        rows_html, poll_seconds = rows()
        return {"rows_html": rows_html, "poll_seconds": poll_seconds}

    return fragments.render_page(
        request,
        "instances/index.html",
        page,
        name="instances-page",
        version=(*version, state.unread),
        fresh={"sync_html": freshness(state)},
    )


@require_GET
def row(request, instance_id):
    """One row of the list, from the ledger; 286 once the instance is gone."""
    found = Instance.objects.filter(vast_id=instance_id, gone_at__isnull=True).first()
    if found is None:
        return render(request, "instances/index.html#instance-row", {"row": None}, status=STOP_POLLING)
    (one,) = rows_for(request.user, [found])
    return render(request, "instances/index.html#instance-row", {"row": one})


@require_GET
def detail(request, instance_id):
    """Everything about one instance, live or gone, and our history of it (from the ledger)."""
    found = Instance.objects.filter(vast_id=instance_id).first()
    partial = wants_fragment(request)
    template = "instances/detail.html#instance-detail" if partial else "instances/detail.html"
    context = {"row": None, "instance_id": instance_id, "sync": sync.status()}
    if found is None:
        return render(request, template, context, status=STOP_POLLING if partial else 404)
    (one,) = rows_for(request.user, [found])
    context.update(
        row=one,
        history=audit.history(instance_id, request.user),
        changes=list(found.changes.all()),
        poll_seconds=_poll_seconds([one]),
        policy=policy_panel(found, request.user, one.now),
    )
    status = STOP_POLLING if partial and one.is_gone else 200
    return render(request, template, context, status=status)


def _refuse_not_own(request, kind, known, instance_id, verb):
    """403 (audited) for an operator acting on someone else's instance."""
    owner = known.launched_by_name if known and known.launched_by_name else "someone outside the dashboard"
    message = (
        f"You may {verb} only instances you launched; {actions.name(known, instance_id)} is {owner}'s. Ask an admin."
    )
    logger.info("forbidden: %s may not %s instance %s", request.user, verb, instance_id)
    audit.forbid(request.user, kind, message, instance_id=instance_id)
    return forbidden(request, message)


def _set_state(request, instance_id, state, action):
    """Start ("running") or stop ("stopped") an instance whose pending `action` is written; a
    queued start is a warning."""
    known = actions.known(instance_id)
    try:
        change = vast.set_state(instance_id, state)
    except Exception as exc:
        audit.fail(action, exc)
        raise
    name = actions.name(known, instance_id)
    if change.queued:
        message = f"Vast.ai has no free GPU for {name} right now: the start is queued, waiting for the GPU."
        level = messages.WARNING
    elif state == "running":
        message, level = f"Starting {name}.", messages.SUCCESS
    else:
        per_day = known.storage_per_hour * 24 if known and known.storage_per_hour is not None else None
        storage = f" Its disk still costs ${per_day:.2f}/day while stopped." if per_day is not None else ""
        whose = (
            ""
            if known is None or known.launched_by_id == request.user.pk
            else f" ({actions.owner_detail(known)['owner']}'s)"
        )
        message, level = f"Stopped {name}{whose}.{storage}", messages.SUCCESS
    # The ledger first: at every moment the spend decision counts this start (in flight, then running).
    ledger.record_state(instance_id, "starting" if state == "running" else "stopping")
    if state == "running":
        lease.on_start(instance_id, request.user)  # a Start cannot escape the role's maximum time limit
    audit.succeed(action, change.message or message)
    enqueue_sync()
    return actions.done(request, level, message, reverse("instances:detail", args=[instance_id]))


@require_POST
@require_perm("manage_instance", action=Action.Kind.START)
def start(request, instance_id):
    """Start a stopped instance: it spends like a launch, so it passes the same guardrail decision."""
    known = actions.known(instance_id)
    if not actions.may_change(request.user, known):
        return _refuse_not_own(request, Action.Kind.START, known, instance_id, "start")
    price = known.dph_total if known else None
    try:
        action = spending.begin(
            request.user,
            Action.Kind.START,
            price=price,
            instance_id=instance_id,
            detail={"state": "running", **actions.owner_detail(known)},
        )
    except GuardrailExceeded as refusal:
        return forbidden(request, refusal.message)
    return _set_state(request, instance_id, "running", action)


@require_POST
@require_perm("manage_instance", action=Action.Kind.STOP)
def stop(request, instance_id):
    """Stop any instance (it saves money); stopping someone else's is audited with both names."""
    known = actions.known(instance_id)
    price = known.dph_total if known else None
    detail = {"state": "stopped", **actions.owner_detail(known)}
    action = audit.begin(request.user, Action.Kind.STOP, instance_id=instance_id, price=price, detail=detail)
    return _set_state(request, instance_id, "stopped", action)


@require_POST
@require_perm("manage_instance", action=Action.Kind.LABEL)
def label(request, instance_id):
    """Set (or, when empty, clear) an instance's label."""
    form = LabelForm(request.POST)
    if not form.is_valid():
        message = f"Label not changed: {' '.join(form.errors['label'])}"
        return actions.done(request, messages.ERROR, message, reverse("instances:detail", args=[instance_id]))
    new = form.cleaned_data["label"]
    known = actions.known(instance_id)
    if not actions.may_change(request.user, known):
        return _refuse_not_own(request, Action.Kind.LABEL, known, instance_id, "relabel")
    action = audit.begin(
        request.user,
        Action.Kind.LABEL,
        instance_id=instance_id,
        detail={"label": new, "previous": known.label if known else None},
    )
    try:
        vast.relabel(instance_id, new)
    except Exception as exc:
        audit.fail(action, exc)
        raise
    message = (
        f"Instance {instance_id} is now labelled “{new}”." if new else f"Cleared the label of instance {instance_id}."
    )
    audit.succeed(action, message)
    ledger.record_label(instance_id, new)
    enqueue_sync()
    return actions.done(request, messages.SUCCESS, message, reverse("instances:detail", args=[instance_id]))


@require_POST
def destroy(request, instance_id):
    """Destroy an instance: anyone with destroy_any_instance, or its launcher with destroy_own_instance."""
    user = request.user
    if not user.has_perm("dashboard.destroy_any_instance"):
        if not user.has_perm("dashboard.destroy_own_instance"):
            message = "Your role does not allow destroying instances."
        elif not Instance.objects.filter(vast_id=instance_id, launched_by=user).exists():
            message = "You may destroy only instances you launched from the dashboard. Ask an admin."
        else:
            message = None
        if message:
            logger.info("forbidden: %s may not destroy instance %s", user, instance_id)
            audit.forbid(user, Action.Kind.DESTROY, message, instance_id=instance_id)
            return forbidden(request, message)
    known = actions.known(instance_id)
    action = audit.begin(user, Action.Kind.DESTROY, instance_id=instance_id, price=known.dph_total if known else None)
    try:
        vast.destroy(instance_id)
    except Exception as exc:
        audit.fail(action, exc)
        raise
    message = f"Destroyed {actions.name(known, instance_id)}. Its disk is deleted and billing has stopped."
    audit.succeed(action, message)
    ledger.record_destroyed(instance_id, user)
    enqueue_sync()
    list_url = reverse("instances:index")
    if request.POST.get("from") == "detail":
        # The instance's own page no longer exists.
        messages.success(request, message)
        return HttpResponseClientRedirect(list_url) if request.htmx else redirect(list_url)
    return actions.done(request, messages.SUCCESS, message, list_url)
