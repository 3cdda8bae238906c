"""The worker's notification tasks (Huey): the team webhook and e-mail, never in a request.

`notify()` enqueues these after its transaction commits. A webhook attempt that fails schedules
the next one itself (NOTIFY_WEBHOOK_RETRY_SECONDS, doubling, NOTIFY_WEBHOOK_ATTEMPTS in all), so
a dead receiver never holds a worker; the attempts are counted on the event, where admins see
them. A once-a-minute sweep picks up messages whose task was lost.
"""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from dashboard import delivery

# E-mail: three more tries, 1, 2 and 4 minutes apart, when the mail server refuses.
EMAIL_RETRIES = 3
EMAIL_RETRY_DELAY = 60


@db_task()
def deliver_webhook(event_id):
    """One attempt to send an event to the team webhook; on failure, schedule the next."""
    attempt = delivery.attempt_webhook(event_id)
    if attempt.retry_in is not None:
        deliver_webhook.schedule((event_id,), delay=attempt.retry_in)
    return attempt.result


@db_task(retries=EMAIL_RETRIES, retry_delay=EMAIL_RETRY_DELAY, retry_backoff=2)
def send_emails(event_id):
    """E-mail an event to the recipients who want it (each at most once)."""
    return delivery.send_emails(event_id)


@db_periodic_task(crontab(minute="*"))
def sweep_webhooks():
    """Enqueue webhook messages that are due but have no task in sight."""
    for event_id in delivery.unsent_webhooks():
        deliver_webhook(event_id)
