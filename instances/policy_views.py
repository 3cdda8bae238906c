"""Policy pages: extend an instance's time limit, exempt it from the policies (admins), and the
team's policy settings with what the policies would do now (/team/policies/, admins)."""

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from dashboard import audit
from dashboard.forms import PolicySettingsForm
from dashboard.models import Action, PolicySettings
from dashboard.permissions import forbidden, require_perm
from instances.models import Instance, PolicyAction
from instances.policies import engine, lease
from instances.policies.config import Config, max_stop_after
from instances.policies.facts import name_of
from instances.policies.panel import may_extend

ADMINS_ONLY = "Only admins manage the team's policies."
RECENT = 50


class ExtendForm(forms.Form):
    extend_minutes = forms.IntegerField(
        label="Extend by (minutes)",
        min_value=1,
        max_value=366 * 24 * 60,
        initial=60,
        widget=forms.NumberInput(attrs={"list": "extend-presets", "step": "1"}),
    )


def _live(instance_id):
    """The live ledger row, or 404."""
    row = Instance.objects.filter(vast_id=instance_id, gone_at__isnull=True).select_related("launched_by").first()
    if row is None:
        raise Http404("No such live instance.")
    return row


def _owner(row):
    return row.launched_by_name or "outside the dashboard"


@require_http_methods(["GET", "POST"])
@require_perm("manage_instance", action=Action.Kind.EXTEND)
def extend(request, instance_id):
    """GET: the instance's time limit and a form to extend it; POST `extend_minutes`: move the stop
    later, up to now + the role's maximum (audited; a refusal too)."""
    row = _live(instance_id)
    if not may_extend(request.user, row):
        message = f"You may extend only instances you launched; {name_of(row)} is {_owner(row)}'s. Ask an admin."
        audit.forbid(request.user, Action.Kind.EXTEND, message, instance_id=instance_id)
        return forbidden(request, message)
    maximum = max_stop_after(request.user)
    form = ExtendForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        minutes = form.cleaned_data["extend_minutes"]
        try:
            old, new = lease.extend(row, request.user, minutes)
        except lease.Refused as refusal:
            audit.forbid(
                request.user, Action.Kind.EXTEND, refusal.message, instance_id=instance_id, limit="max_stop_after"
            )
            form.add_error("extend_minutes", refusal.message)
            status = 403
        else:
            detail = {"minutes": minutes, "from": old.isoformat() if old else None, "to": new.isoformat()}
            action = audit.begin(request.user, Action.Kind.EXTEND, instance_id=instance_id, detail=detail)
            message = f"{name_of(row)} now stops at {lease.clock(new)} on {new:%Y-%m-%d} ({minutes} min later)."
            audit.succeed(action, message)
            messages.success(request, message)
            return redirect("instances:detail", instance_id)
    context = {
        "row": row,
        "form": form,
        "note": lease.note(row, timezone.now()),
        "maximum": maximum,
        "maximum_words": lease.duration(maximum * 60) if maximum else "",
        "presets": lease.presets(maximum),
    }
    return render(request, "instances/extend.html", context, status=status)


@require_POST
@require_perm("manage_team", action=Action.Kind.KEEP, message="Only admins exempt instances from the policies.")
def keep(request, instance_id):
    """Mark (keep=on) or unmark an instance "keep running": no idle stop, no storage destroy."""
    row = _live(instance_id)
    keep_running = request.POST.get("keep") == "on"
    with transaction.atomic():
        Instance.objects.filter(pk=row.pk).update(keep_running=keep_running)
        action = audit.begin(
            request.user,
            Action.Kind.KEEP,
            instance_id=instance_id,
            detail={"keep": keep_running, "owner": _owner(row)},
        )
        if keep_running:
            message = f"{name_of(row)} is kept running: no idle stop and no storage destroy by policy."
        else:
            message = f"{name_of(row)} is no longer exempt from the idle stop and the storage destroy."
        audit.succeed(action, message)
    messages.success(request, message)
    return redirect("instances:detail", instance_id)


@require_http_methods(["GET", "POST"])
@require_perm("manage_team", message=ADMINS_ONLY)
def policies(request):
    """The team's policy settings (every change audited), what the policies would do now, and
    what they did lately (dry runs included)."""
    saved = PolicySettings.current()
    form = PolicySettingsForm(request.POST or None, instance=saved)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        with transaction.atomic():
            saved = form.save(commit=False)
            saved.updated_by = request.user.get_username()
            saved.save()
            if changes:
                action = audit.begin(request.user, Action.Kind.POLICIES, detail={"changes": changes})
                audit.succeed(action, "Changed the policies: " + ", ".join(sorted(changes)) + ".")
        messages.success(request, "Policies saved." if changes else "Nothing changed.")
        return redirect(reverse("team:policies"))
    config = Config.current()
    context = {
        "form": form,
        "saved": saved,
        "config": config,
        "preview": [(decision, config.is_dry(decision.policy)) for decision in engine.preview(config=config)],
        "recent": PolicyAction.objects.select_related("instance")[:RECENT],
    }
    return render(request, "team/policies.html", context)
