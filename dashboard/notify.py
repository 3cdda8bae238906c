"""The one place that tells people things: in-app notifications (and, through the same call,
e-mail and the team webhook).

    notify(key, kind, text, users=[...], admins=False, link="")

`key` identifies the event (e.g. "lease-warn:27000001:2026-12-07T10:00"): the same key is
notified once, whatever the number of workers or retries; the call returns False for a repeat.
"""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from dashboard.models import Notification, NotificationEvent


def _admins():
    return get_user_model().objects.filter(is_active=True, groups__permissions__codename="manage_team").distinct()


def notify(key, kind, text, *, users=(), admins=False, link=""):
    """Record the event once and give each recipient (the `users`, plus every admin with
    `admins`) an unread notification. Returns True if this call created the event."""
    recipients = {user.pk: user for user in users if user is not None and user.is_active}
    if admins:
        recipients.update({user.pk: user for user in _admins()})
    try:
        with transaction.atomic():
            event = NotificationEvent.objects.create(key=key[:200], kind=kind, text=text, link=link)
    except IntegrityError:
        return False
    Notification.objects.bulk_create([Notification(event=event, user=user) for user in recipients.values()])
    return True
