"""What the instance actions share (the one-instance pages, the console, bulk actions): how an
instance is found and named in messages, who may change it, whose it is for the audit row, and
the answer after an action (an alert region for htmx, else a redirect with the message)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import reswap, retarget, trigger_client_event

from dashboard.htmx import wants_fragment
from instances.models import Instance


def known(instance_id):
    """The instance's ledger row (live or gone) for messages and records, or None."""
    return Instance.objects.filter(vast_id=instance_id).first()


def name(instance, instance_id):
    """How messages name an instance: its label and id when known."""
    return f"“{instance.label}” ({instance_id})" if instance and instance.label else f"instance {instance_id}"


def next_url(request, default):
    """The `next` field if it is a safe local URL, else `default`."""
    target = request.POST.get("next", "")
    # Only a path: redirect() takes anything else ("0", "home") for a URL name to reverse.
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


def done(request, level, message, default_next):
    """After an action: for htmx, the message in the alert region plus `instances-changed`;
    otherwise a redirect (to `next` or `default_next`) that shows the message."""
    messages.add_message(request, level, message)
    if wants_fragment(request):
        response = reswap(retarget(render(request, "_messages.html"), "#alerts"), "innerHTML")
        return trigger_client_event(response, "instances-changed")
    return redirect(next_url(request, default_next))


def may_change(user, known):
    """Start and relabel: admins any instance, operators only those they launched."""
    if user.has_perm("dashboard.manage_any_instance"):
        return True
    return known is not None and known.launched_by_id is not None and known.launched_by_id == user.pk


def owner_detail(known):
    """Whose instance it is, for the audit row (both names are kept: actor and owner)."""
    return {"owner": known.launched_by_name if known and known.launched_by_name else "outside the dashboard"}
