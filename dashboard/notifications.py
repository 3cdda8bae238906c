"""Everyone's own notifications: the list (mark read, mark all read), the nav's bell, and which
kinds come by e-mail. Admins also see the team webhook's deliveries there and can test it."""

import uuid
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.htmx import wants_fragment
from dashboard.models import Notification, NotificationEvent, NotificationPreference
from dashboard.notify import KINDS, notify
from dashboard.permissions import require_perm

PAGE_SIZE = 25


class PreferenceForm(forms.Form):
    email = forms.EmailField(required=False, label="E-mail address", help_text="Leave empty to get no e-mail at all.")
    email_kinds = forms.MultipleChoiceField(
        choices=list(KINDS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Send me by e-mail",
    )


def _with_bell(request, html):
    """`html` followed by the nav's bell as an out-of-band swap, so its count follows the change."""
    bell = render_to_string("notifications/_bell.html", {"oob": True}, request)
    return HttpResponse(html + bell)


def _page(request):
    """The requested page of the user's own notifications, newest first."""
    rows = Notification.objects.filter(user=request.user).select_related("event")
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def _webhook_status():
    """For admins: whether a webhook is set (its host only: the URL is a secret) and the latest
    deliveries with their state."""
    url = settings.NOTIFY_WEBHOOK_URL
    return {
        "host": urlsplit(url).hostname if url else None,
        "events": NotificationEvent.objects.filter(webhook=True)[:20],
        "attempts": settings.NOTIFY_WEBHOOK_ATTEMPTS,
    }


@require_GET
def index(request):
    """The user's notifications, newest first, unread ones highlighted; paged."""
    context = {"page": _page(request)}
    template = "notifications/index.html"
    if wants_fragment(request):
        template += "#notification-list"
    return render(request, template, context)


@require_GET
def bell(request):
    """The nav's bell alone (it polls this to keep its count fresh)."""
    return render(request, "notifications/_bell.html")


@require_POST
def read(request, notification_id):
    """Mark one of the user's own notifications read (someone else's is a 404)."""
    note = get_object_or_404(Notification.objects.select_related("event"), pk=notification_id, user=request.user)
    if note.read_at is None:
        Notification.objects.filter(pk=note.pk, read_at=None).update(read_at=timezone.now())
        note.refresh_from_db(fields=["read_at"])
    if wants_fragment(request):
        html = render_to_string("notifications/index.html#notification-item", {"note": note}, request)
        return _with_bell(request, html)
    return redirect("notifications:index")


@require_POST
def read_all(request):
    """Mark every unread notification of the user read (nobody else's)."""
    Notification.objects.filter(user=request.user, read_at=None).update(read_at=timezone.now())
    if wants_fragment(request):
        html = render_to_string("notifications/index.html#notification-list", {"page": _page(request)}, request)
        return _with_bell(request, html)
    return redirect("notifications:index")


@require_http_methods(["GET", "POST"])
def preferences(request):
    """The user's e-mail address and the kinds they want by e-mail."""
    saved = NotificationPreference.objects.filter(user=request.user).first()
    initial = {
        "email": request.user.email,
        "email_kinds": saved.email_kinds if saved else list(KINDS),
    }
    form = PreferenceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        request.user.email = form.cleaned_data["email"]
        request.user.save(update_fields=["email"])
        NotificationPreference.objects.update_or_create(
            user=request.user, defaults={"email_kinds": form.cleaned_data["email_kinds"]}
        )
        messages.success(request, "Notification settings saved.")
        return redirect("notifications:settings")
    context = {"form": form}
    if request.user.has_perm("dashboard.manage_team"):
        context["webhook"] = _webhook_status()
    return render(request, "notifications/settings.html", context)


@require_POST
@require_perm("manage_team", message="Only admins can test the team webhook.")
def test_webhook(request):
    """Send a test message to the team webhook (through the worker, like every message)."""
    if not settings.NOTIFY_WEBHOOK_URL:
        messages.error(request, "No team webhook is set (NOTIFY_WEBHOOK_URL).")
    else:
        notify(
            f"webhook-test:{uuid.uuid4().hex}",
            "test",
            f"Test message from the Vast.ai team dashboard, sent by {request.user.get_username()}.",
            webhook=True,
        )
        messages.success(request, "Test message queued; its delivery shows below.")
    return redirect("notifications:settings")
