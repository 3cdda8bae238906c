"""SSH keys: each person's own keys (`/account/ssh-keys/`), and who can SSH into an instance
(the "SSH access" section of its page, loaded on its own, with "Add my key" and Detach).

The keys page and the access section read Vast live (the account's keys, the instance's keys):
both lists are short, never cached, and a failure to read them leaves the rest of the page working.
"""

import logging

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from dashboard import audit, vast
from dashboard.htmx import wants_fragment
from dashboard.models import Action
from dashboard.permissions import forbidden, require_perm
from instances import ssh_access
from instances.models import Instance, SshKey
from instances.ssh_keys import SshKeyForm, fingerprint_of

__all__ = ["access", "attach", "detach", "keys", "remove"]

logger = logging.getLogger(__name__)
ACCOUNT_KEYS_NOTE = (
    "Vast.ai adds the account's own SSH keys to every instance it creates; they belong to the account, not to a person."
)


def _account_keys(request):
    """(the account's keys with fingerprints, an error message or None), read live from Vast for
    people who may see connection details; ([], None) for the others."""
    if not request.user.has_perm("dashboard.view_connection"):
        return [], None
    try:
        keys = vast.ssh_keys().account_keys()
    except vast.VastError as exc:
        logger.warning("reading the account's ssh keys failed: %s", exc.log_message())
        return [], exc.message
    return [(key, fingerprint_of(key.public_key)) for key in keys], None


def _done(request, outcomes, instance_id):
    """After Add my key or Detach: each outcome as a message; for htmx the messages in the alert
    region and `ssh-changed` (the access section reloads), else back to the instance's page."""
    for outcome in outcomes:
        messages.add_message(request, messages.SUCCESS if outcome.ok else messages.WARNING, outcome.message)
    if wants_fragment(request):
        response = reswap(retarget(render(request, "_messages.html"), "#alerts"), "innerHTML")
        return trigger_client_event(response, "ssh-changed")
    return redirect(reverse("instances:detail", args=[instance_id]))


def _live(instance_id):
    """The ledger row of an instance that is not gone, or None."""
    return Instance.objects.filter(vast_id=instance_id, gone_at__isnull=True).first()


@require_http_methods(["GET", "POST"])
@never_cache
def keys(request):
    """One's own SSH keys: add (parsed and fingerprinted), list, remove; the account's keys
    (operators and admins); and for admins who holds which fingerprints."""
    form = SshKeyForm(request.POST if request.method == "POST" else None, user=request.user)
    if form.is_bound and form.is_valid():
        key = form.save()
        action = audit.begin(request.user, Action.Kind.SSH_KEY_ADD, detail=ssh_access.key_detail(key))
        message = f"Added your SSH key “{key.name}” ({key.fingerprint})."
        audit.succeed(action, message)
        messages.success(request, f"{message} Launches attach it; “Add my key” puts it on a running instance.")
        return redirect(reverse("ssh_keys:index"))
    account_keys, account_error = _account_keys(request)
    context = {
        "form": form,
        "my_keys": SshKey.objects.filter(user=request.user),
        "account_keys": account_keys,
        "account_error": account_error,
        "account_note": ACCOUNT_KEYS_NOTE,
        "everyone": (
            SshKey.objects.select_related("user").order_by("user__username", "created_at")
            if request.user.has_perm("dashboard.manage_team")
            else None
        ),
    }
    return render(request, "account/ssh_keys.html", context)


@require_POST
def remove(request, key_id):
    """Remove one of one's own keys, after detaching it from the live instances the dashboard
    attached it to (someone else's key is a 404)."""
    key = get_object_or_404(SshKey, pk=key_id, user=request.user)
    live_ids = list(Instance.objects.filter(gone_at__isnull=True).values_list("vast_id", flat=True))
    for outcome in ssh_access.remove_key(request.user, key, live_ids):
        messages.add_message(request, messages.SUCCESS if outcome.ok else messages.WARNING, outcome.message)
    messages.success(request, f"Removed your SSH key “{key.name}” ({key.fingerprint}).")
    url = reverse("ssh_keys:index")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@never_cache
@require_perm("view_connection", message="Who can SSH into instances is shown to operators and admins.")
def access(request, instance_id):
    """The SSH access section of an instance's page: the keys the dashboard attached (whose, which
    fingerprint) and Vast's own list of the instance's keys, read live."""
    known = Instance.objects.filter(vast_id=instance_id).first()
    if known is None:
        return render(request, "instances/_ssh_access.html", {"instance_id": instance_id, "missing": True}, status=404)
    entries, vast_error = [], None
    if known.gone_at is None:
        try:
            entries = ssh_access.vast_entries(instance_id)
        except vast.VastNotFound:
            vast_error = "Vast.ai no longer lists this instance."
        except vast.VastError as exc:
            logger.warning("reading instance %s's ssh keys failed: %s", instance_id, exc.log_message())
            vast_error = exc.message
    user = request.user
    records = list(ssh_access.live_attachments(instance_id))
    may_attach = known.gone_at is None and user.has_perm("dashboard.manage_instance")
    attached = {record.key_id for record in records if record.user_id == user.pk}
    context = {
        "instance_id": instance_id,
        "gone": known.gone_at is not None,
        "records": records,
        "entries": entries,
        "vast_error": vast_error,
        "may_attach": may_attach,
        "may_detach_any": known.gone_at is None and user.has_perm("dashboard.manage_any_instance"),
        "may_detach_own": may_attach,
        "addable": [key for key in SshKey.objects.filter(user=user) if key.pk not in attached] if may_attach else [],
        "has_keys": SshKey.objects.filter(user=user).exists(),
        "account_note": ACCOUNT_KEYS_NOTE,
    }
    return render(request, "instances/_ssh_access.html", context)


@require_POST
@require_perm("manage_instance", action=Action.Kind.SSH_ATTACH, message="Your role does not allow adding SSH keys.")
def attach(request, instance_id):
    """Add my key: attach one of one's own keys (`key`), or all not yet attached, to a live instance."""
    if _live(instance_id) is None:
        message = f"Instance {instance_id} is not one of the team's live instances."
        audit.forbid(request.user, Action.Kind.SSH_ATTACH, message, instance_id=instance_id)
        return forbidden(request, message)
    mine = SshKey.objects.filter(user=request.user)
    chosen = request.POST.get("key", "")
    if chosen:
        mine = mine.filter(pk=int(chosen)) if chosen.isdigit() and len(chosen) < 19 else mine.none()
    else:
        attached = ssh_access.live_attachments(instance_id).filter(user=request.user).values("key_id")
        mine = mine.exclude(pk__in=attached)
    if not mine:
        messages.warning(request, "You have no SSH key to add here: add your public key under SSH keys first.")
        return _done(request, [], instance_id)
    return _done(
        request, [ssh_access.attach(request.user, instance_id, key, via="detail") for key in mine], instance_id
    )


@require_POST
@require_perm("manage_instance", action=Action.Kind.SSH_DETACH, message="Your role does not allow detaching SSH keys.")
def detach(request, instance_id, key_id):
    """Detach a key (Vast's id for it on the instance): one's own that the dashboard attached;
    admins any key on the instance."""
    if _live(instance_id) is None:
        message = f"Instance {instance_id} is not one of the team's live instances."
        audit.forbid(request.user, Action.Kind.SSH_DETACH, message, instance_id=instance_id)
        return forbidden(request, message)
    record = ssh_access.find_record(instance_id, key_id)
    own = record is not None and record.user_id == request.user.pk
    if not own and not request.user.has_perm("dashboard.manage_any_instance"):
        whose = f"{record.username}'s" if record else "not one you attached through the dashboard"
        message = f"You may detach only your own keys; key {key_id} on instance {instance_id} is {whose}. Ask an admin."
        audit.forbid(request.user, Action.Kind.SSH_DETACH, message, instance_id=instance_id)
        return forbidden(request, message)
    return _done(request, [ssh_access.detach(request.user, instance_id, key_id, record, via="detail")], instance_id)
