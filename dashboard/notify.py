"""The one place that tells people things: in-app notifications, e-mail and the team webhook.

    notify(key, kind, text, users=[...], admins=False, link="", webhook=None)

`key` identifies the event (e.g. "lease-warn:27000001:2026-12-07T10:00"): the same key is
notified once, whatever the number of workers or retries; the call returns False for a repeat.
Each recipient gets an unread in-app copy at once. E-mail (to those who want the kind, see
`/notifications/settings/`) and the team webhook (`NOTIFY_WEBHOOK_URL`) are sent by the worker
after the transaction commits (dashboard/tasks.py), so neither ever holds up the caller.
"""

import logging
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q

from dashboard import vast
from dashboard.models import Notification, NotificationEvent

logger = logging.getLogger(__name__)

# The kinds the policies emit, with the labels people choose from (the order of the settings page).
KINDS = {
    "lease_warning": "Lease warning: my instance will stop soon",
    "policy_action": "Policy action: an instance stopped or destroyed by a policy",
    "storage_reminder": "Storage reminder: a stopped instance still bills storage",
    "budget": "Budget alert: 80 % or 100 % of a budget",
    "price_alert": "Price alert",
}
# Without a saved choice, a person gets every kind by e-mail (when they have an address).
DEFAULT_EMAIL_KINDS = tuple(KINDS)
# Without an explicit `webhook=`, these kinds go to the team webhook (issue 14: every policy
# action and budget alert); a lease warning or a reminder is one person's business.
WEBHOOK_KINDS = frozenset({"policy_action", "budget"})


def kind_label(kind):
    """The short human name of a kind ("Lease warning"), or the kind itself when unknown."""
    return KINDS[kind].split(":")[0] if kind in KINDS else kind.replace("_", " ").capitalize()


def _admins():
    """Every active admin (the team-managing role, superusers included)."""
    users = get_user_model().objects.filter(is_active=True)
    return users.filter(Q(is_superuser=True) | Q(groups__permissions__codename="manage_team")).distinct()


def _safe_link(link):
    """`link` if it is a path on this site or an http(s) URL; "" otherwise (never javascript:)."""
    link = (link or "").strip()
    if (link.startswith("/") and not link.startswith("//")) or link.startswith(("https://", "http://")):
        return link[:500]
    if link:
        logger.warning("notification link dropped: not a path or http(s) URL")
    return ""


def _enqueue(event_id, webhook, emails):
    """Hand the event to the worker; a queue that does not answer is logged, never raised (the
    in-app copies exist already, and the worker's sweep retries an unsent webhook message)."""
    from dashboard import tasks

    try:
        if webhook:
            tasks.deliver_webhook(event_id)
        if emails:
            tasks.send_emails(event_id)
    except Exception:
        logger.exception("notification %s: could not enqueue its delivery", event_id)


def notify(key, kind, text, *, users=(), admins=False, link="", webhook=None):
    """Record the event once and give each recipient (the `users`, plus every admin with
    `admins`; inactive people are skipped) an unread notification. Returns True if this call
    created the event.

    `webhook`: send it to the team webhook too; None (the default) means "if `kind` is a policy
    action or a budget alert". Texts pass through the Vast key's redaction before they are stored.
    """
    recipients = {user.pk: user for user in users if user is not None and user.is_active}
    if admins:
        recipients.update({user.pk: user for user in _admins()})
    if webhook is None:
        webhook = kind in WEBHOOK_KINDS
    try:
        # The event and everyone's copy together: a failure half-way leaves neither, so a retry
        # of the whole call cannot find the event made and its notifications missing.
        with transaction.atomic():
            event = NotificationEvent.objects.create(
                key=key[:200],
                kind=kind,
                text=vast.redact(text),
                link=vast.redact(_safe_link(link)),
                webhook=bool(webhook and settings.NOTIFY_WEBHOOK_URL),
            )
            Notification.objects.bulk_create([Notification(event=event, user=user) for user in recipients.values()])
    except IntegrityError:
        return False
    emails = any(user.email for user in recipients.values())
    if event.webhook or emails:
        transaction.on_commit(partial(_enqueue, event.pk, event.webhook, emails))
    return True
