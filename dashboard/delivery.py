"""Delivering an event beyond the app: the team webhook and e-mail (run by dashboard/tasks.py).

Both follow healthchecks' sendalerts: claim with a conditional UPDATE, act, record. So however
many workers run the same task, each webhook message and each person's e-mail is sent once (a
worker that dies between the claim and the record loses the e-mail, and re-sends the webhook
message once its claim has lapsed). The Vast key is redacted from everything sent.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from dashboard import vast, webhook
from dashboard.models import Notification, NotificationEvent, NotificationPreference
from dashboard.notify import DEFAULT_EMAIL_KINDS, kind_label

logger = logging.getLogger(__name__)

# The sweep re-sends messages whose task was lost (a queue that did not answer, a worker killed
# mid-attempt), up to this old.
SWEEP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Attempt:
    """What one webhook attempt did: "sent", "failed" (retry in `retry_in` s), "gave_up", or
    "skipped" (already sent, given up, not due, or claimed by another worker)."""

    result: str
    retry_in: float | None = None


def absolute_link(link):
    """`link` as an absolute URL when DASHBOARD_URL is set (a path otherwise); "" for none."""
    if link.startswith("/") and settings.DASHBOARD_URL:
        return settings.DASHBOARD_URL + link
    return link


def webhook_payload(event):
    """The Slack-compatible message for an event: {"text": "<text>\\n<absolute link>"}."""
    link = absolute_link(event.link)
    return {"text": vast.redact(event.text + (f"\n{link}" if link else ""))}


def idempotency_key(event):
    """The webhook message's `Idempotency-Key`: one per event, the same on every attempt (a hash:
    the event's key names instances and people)."""
    return hashlib.sha256(f"vast-team-dashboard:{event.key}".encode()).hexdigest()[:32]


def _claim_lapse():
    """How long a claimed attempt keeps others off: longer than any one attempt can take."""
    return timedelta(seconds=2 * settings.NOTIFY_WEBHOOK_TIMEOUT + 30)


def retry_delay(attempts):
    """Seconds to wait after the `attempts`-th failure: NOTIFY_WEBHOOK_RETRY_SECONDS, doubling."""
    return settings.NOTIFY_WEBHOOK_RETRY_SECONDS * 2 ** (attempts - 1)


def attempt_webhook(event_id):
    """Make one attempt to send the event to the team webhook, if it is due and unclaimed."""
    url, limit = settings.NOTIFY_WEBHOOK_URL, settings.NOTIFY_WEBHOOK_ATTEMPTS
    now = timezone.now()
    due = NotificationEvent.objects.filter(
        Q(webhook_next_at=None) | Q(webhook_next_at__lte=now),
        pk=event_id,
        webhook=True,
        webhook_sent_at=None,
        webhook_attempts__lt=limit,
    )
    if not url or not due.update(webhook_attempts=F("webhook_attempts") + 1, webhook_next_at=now + _claim_lapse()):
        return Attempt("skipped")
    event = NotificationEvent.objects.get(pk=event_id)
    rows = NotificationEvent.objects.filter(pk=event_id)
    try:
        webhook.post(url, webhook_payload(event), idempotency_key=idempotency_key(event))
    except webhook.WebhookError as exc:
        error = vast.redact(str(exc))[:300]
        if event.webhook_attempts >= limit:
            rows.update(webhook_error=error, webhook_next_at=None)
            logger.error("webhook: gave up on %s after %d attempts: %s", event.key, event.webhook_attempts, error)
            return Attempt("gave_up")
        delay = retry_delay(event.webhook_attempts)
        rows.update(webhook_error=error, webhook_next_at=timezone.now() + timedelta(seconds=delay))
        logger.warning(
            "webhook: attempt %d for %s failed (%s); next in %g s", event.webhook_attempts, event.key, error, delay
        )
        return Attempt("failed", delay)
    rows.update(webhook_sent_at=timezone.now(), webhook_error="", webhook_next_at=None)
    logger.info("webhook: sent %s (attempt %d)", event.key, event.webhook_attempts)
    return Attempt("sent")


def unsent_webhooks(limit=50):
    """Ids of events whose webhook message is due but has no task in sight: never attempted a
    minute after the event, or past its retry time (its scheduled retry was lost)."""
    now = timezone.now()
    pending = NotificationEvent.objects.filter(
        webhook=True,
        webhook_sent_at=None,
        webhook_attempts__lt=settings.NOTIFY_WEBHOOK_ATTEMPTS,
        created_at__gte=now - SWEEP_WINDOW,
    )
    stale = Q(webhook_next_at=None, created_at__lte=now - timedelta(minutes=1)) | Q(
        webhook_next_at__lte=now - timedelta(minutes=1)
    )
    return list(pending.filter(stale).order_by("created_at").values_list("pk", flat=True)[:limit])


def email_kinds(user):
    """The kinds `user` wants by e-mail: their saved choice, else DEFAULT_EMAIL_KINDS."""
    try:
        return list(user.notification_preference.email_kinds)
    except NotificationPreference.DoesNotExist:
        return list(DEFAULT_EMAIL_KINDS)


def _email_body(event):
    link = absolute_link(event.link)
    lines = [event.text, ""]
    if link:
        lines += [f"Open: {link}", ""]
    settings_path = reverse("notifications:settings")
    lines.append(f"Choose what you get by e-mail: {absolute_link(settings_path)}")
    return vast.redact("\n".join(lines))


def send_emails(event_id):
    """E-mail the event to each recipient who wants its kind and has an address; returns the
    number sent. A failed send is released (emailed_at cleared) for the task's retry, and
    raised once every other recipient has had their turn."""
    event = NotificationEvent.objects.filter(pk=event_id).first()
    if event is None:
        return 0
    copies = (
        Notification.objects.filter(event=event, emailed_at=None, user__is_active=True)
        .exclude(user__email="")
        .select_related("user", "user__notification_preference")
    )
    subject = vast.redact(f"[Vast.ai dashboard] {kind_label(event.kind)}: {' '.join(event.text.split())}")[:120]
    body = _email_body(event)
    sent, failure = 0, None
    for copy in copies:
        if event.kind not in email_kinds(copy.user):
            continue
        if not Notification.objects.filter(pk=copy.pk, emailed_at=None).update(emailed_at=timezone.now()):
            continue  # another worker has it
        try:
            send_mail(subject, body, None, [copy.user.email])
        except Exception as exc:  # SMTP and socket errors alike; the message names no password
            Notification.objects.filter(pk=copy.pk).update(emailed_at=None)
            logger.warning("e-mail for %s to user %s failed: %s", event.key, copy.user_id, type(exc).__name__)
            failure = exc
        else:
            sent += 1
    if failure is not None:
        raise failure
    return sent
