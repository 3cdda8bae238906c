"""Delivery beyond the app, by the worker (Huey in immediate mode): the team webhook to a real
HTTP receiver on loopback, and e-mail through Django's locmem backend; plus EMAIL_URL parsing."""

import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connections
from django.utils import timezone

from dashboard import delivery, mail_config, tasks
from dashboard.models import Notification, NotificationEvent, NotificationPreference
from dashboard.notify import notify
from tests.test_notifications import retry_while_locked

pytestmark = pytest.mark.django_db
SECRET = "sk-live-0123456789abcdefghijklmnop"


class Receiver:
    """A Slack-like incoming webhook on a free loopback port. `script` lists what the next
    requests get: a status code, or ("sleep", seconds) before a 200; then 200 for ever."""

    def __init__(self):
        self.bodies, self.script = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(
                    {
                        "body": json.loads(body),
                        "content_type": self.headers["Content-Type"],
                        "idempotency_key": self.headers.get("Idempotency-Key"),
                    }
                )
                step = receiver.script.pop(0) if receiver.script else 200
                if isinstance(step, tuple):
                    time.sleep(step[1])
                    step = 200
                try:
                    self.send_response(step)
                    self.end_headers()
                    self.wfile.write(b"ok" if step == 200 else b"invalid_payload")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/hook-token"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def texts(self):
        return [entry["body"]["text"] for entry in self.bodies]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    """A live receiver set as NOTIFY_WEBHOOK_URL, with no wait between retries."""
    live = Receiver()
    settings.NOTIFY_WEBHOOK_URL = live.url
    settings.NOTIFY_WEBHOOK_RETRY_SECONDS = 0
    settings.NOTIFY_WEBHOOK_TIMEOUT = 2
    settings.NOTIFY_WEBHOOK_ATTEMPTS = 5
    yield live
    live.close()


@pytest.fixture
def delivered(django_capture_on_commit_callbacks):
    """Run what notify() hands the worker once the test's transaction "commits"."""

    def _notify(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return notify(*args, **kwargs)

    return _notify


def test_a_policy_action_reaches_the_webhook_once_as_slack_json(receiver, delivered, settings, operator):
    settings.DASHBOARD_URL = "https://gpu.team.example"
    text = "Stopped 31270012 (train-a) by policy: idle < 5 % for 30 min (owner otto)"
    assert delivered("idle:31270012:1", "policy_action", text, users=[operator], link="/instances/31270012/")
    assert not delivered("idle:31270012:1", "policy_action", text, users=[operator], link="/instances/31270012/")
    assert receiver.texts == [f"{text}\nhttps://gpu.team.example/instances/31270012/"]
    assert receiver.bodies[0]["content_type"] == "application/json"
    event = NotificationEvent.objects.get()
    assert event.webhook_sent_at is not None
    assert (event.webhook_attempts, event.webhook_error) == (1, "")
    assert tasks.deliver_webhook.call_local(event.pk) == "skipped"
    assert len(receiver.bodies) == 1


def test_without_dashboard_url_the_link_stays_a_path(receiver, delivered):
    delivered("b:1", "budget", "Team at 80 % of $500", admins=True, link="/team/policies/")
    assert receiver.texts == ["Team at 80 % of $500\n/team/policies/"]


def test_only_policy_actions_and_budgets_go_to_the_webhook_unless_asked(receiver, delivered, operator):
    delivered("lease", "lease_warning", "31 stops in 15 min", users=[operator])
    delivered("store", "storage_reminder", "32 stopped for 3 days", users=[operator])
    delivered("asked", "lease_warning", "asked for the team", users=[operator], webhook=True)
    delivered("quiet", "policy_action", "told nobody outside", users=[operator], webhook=False)
    assert receiver.texts == ["asked for the team"]


def _in_threads(count, target):
    """Run `target(number)` in `count` threads released at once; each closes its connections."""
    barrier = threading.Barrier(count, timeout=10)

    def run(number):
        try:
            barrier.wait()
            target(number)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.django_db(transaction=True)
def test_two_workers_notifying_the_same_event_send_one_message(receiver, operator, monkeypatch):
    handed, lock = [], threading.Lock()
    monkeypatch.setattr("dashboard.notify._enqueue", lambda *args: handed.append(args))
    created = []

    def worker(number):
        made = retry_while_locked(
            notify, "cap:otto:2026-12:100", "budget", "otto at 100 % of his cap", users=[operator]
        )
        with lock:
            created.append(made)

    _in_threads(2, worker)
    assert sorted(created) == [False, True]
    assert len(handed) == 1
    for _ in range(2):  # the queue delivers a task twice (two workers, a retry): still one message
        tasks.deliver_webhook.call_local(handed[0][0])
    assert receiver.texts == ["otto at 100 % of his cap"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_attempting_one_message_at_once_send_it_once(receiver, monkeypatch):
    monkeypatch.setattr("dashboard.notify._enqueue", lambda *args: None)  # the threads below deliver it
    notify("race", "policy_action", "stopped 40 by policy")
    event = NotificationEvent.objects.get()
    receiver.script = [("sleep", 0.5)]
    results, lock = [], threading.Lock()

    def worker(number):
        result = retry_while_locked(delivery.attempt_webhook, event.pk).result
        with lock:
            results.append(result)

    _in_threads(2, worker)
    assert sorted(results) == ["sent", "skipped"]
    assert receiver.texts == ["stopped 40 by policy"]


def test_a_500_is_retried_with_backoff_until_it_goes_through(receiver, delivered):
    receiver.script = [500, 503]
    delivered("retry", "policy_action", "stopped 33 by policy")
    assert receiver.texts == ["stopped 33 by policy"] * 3
    event = NotificationEvent.objects.get()
    assert event.webhook_sent_at is not None
    assert (event.webhook_attempts, event.webhook_error) == (3, "")


def test_every_attempt_at_one_message_carries_its_idempotency_key(receiver, delivered):
    receiver.script = [500]
    delivered("key-one", "policy_action", "stopped 34 by policy")
    delivered("key-two", "policy_action", "stopped 35 by policy")
    keys = [body["idempotency_key"] for body in receiver.bodies]
    assert len(keys) == 3  # the first message twice (a 500, then through), the second once
    assert keys[0] == keys[1] != keys[2]
    assert all(key and len(key) == 32 for key in keys)
    assert "key-one" not in keys[0]  # a hash: event keys name instances and people


def test_the_retry_waits_doubling_and_frees_the_worker_meanwhile(receiver, delivered, settings):
    settings.NOTIFY_WEBHOOK_RETRY_SECONDS = 10
    assert [delivery.retry_delay(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    receiver.script = [500]
    started = time.monotonic()
    delivered("later", "budget", "team at 100 %")
    assert time.monotonic() - started < 2
    event = NotificationEvent.objects.get()
    assert (event.webhook_attempts, event.webhook_error, event.webhook_sent_at) == (
        1,
        "HTTP 500: invalid_payload",
        None,
    )
    assert timedelta(seconds=8) < event.webhook_next_at - timezone.now() <= timedelta(seconds=10)
    assert delivery.attempt_webhook(event.pk).result == "skipped"  # not due yet
    assert len(receiver.bodies) == 1


def test_after_the_last_attempt_it_gives_up_without_raising(receiver, delivered, settings, operator, caplog):
    settings.NOTIFY_WEBHOOK_ATTEMPTS = 3
    receiver.script = [500] * 10
    assert delivered("dead", "policy_action", "stopped 34 by policy", users=[operator]) is True
    assert len(receiver.bodies) == 3
    event = NotificationEvent.objects.get()
    assert (event.webhook_attempts, event.webhook_sent_at) == (3, None)
    assert event.webhook_error.startswith("HTTP 500")
    assert "gave up on dead after 3 attempts" in caplog.text
    assert receiver.url not in caplog.text
    assert Notification.objects.filter(user=operator, read_at=None).count() == 1
    assert delivery.attempt_webhook(event.pk).result == "skipped"


def test_a_slow_receiver_is_cut_off_at_the_timeout(receiver, delivered, settings):
    settings.NOTIFY_WEBHOOK_TIMEOUT = 0.3
    settings.NOTIFY_WEBHOOK_ATTEMPTS = 1
    receiver.script = [("sleep", 2)]
    started = time.monotonic()
    delivered("slow", "budget", "team at 80 %")
    assert time.monotonic() - started < 1.5
    assert NotificationEvent.objects.get().webhook_error == "timed out after 0.3 s"


def test_a_receiver_that_is_not_there_is_a_logged_failure(settings, delivered, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.NOTIFY_WEBHOOK_URL = f"http://127.0.0.1:{port}/hook"
    settings.NOTIFY_WEBHOOK_RETRY_SECONDS = 0
    settings.NOTIFY_WEBHOOK_ATTEMPTS = 2
    delivered("nobody", "policy_action", "stopped 35")
    event = NotificationEvent.objects.get()
    assert event.webhook_error == "could not reach the receiver (ConnectError)"
    assert event.webhook_attempts == 2
    assert f":{port}" not in caplog.text


def test_no_webhook_url_means_no_message_and_nothing_pending(settings, delivered):
    settings.NOTIFY_WEBHOOK_URL = ""
    delivered("none", "policy_action", "stopped 36")
    assert NotificationEvent.objects.get().webhook is False
    assert delivery.unsent_webhooks() == []


def test_nothing_leaves_before_the_transaction_commits(receiver, django_capture_on_commit_callbacks, operator):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notify("uncommitted", "policy_action", "stopped 37", users=[operator])
    assert len(callbacks) == 1
    assert receiver.bodies == []
    assert mail.outbox == []


def test_the_sweep_resends_only_lost_messages(receiver, settings):
    notify("lost", "policy_action", "lost on the way")  # its on_commit never ran: no task
    notify("fresh", "policy_action", "just made")
    notify("sent", "policy_action", "already sent")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    NotificationEvent.objects.exclude(key="fresh").update(created_at=an_hour_ago)
    NotificationEvent.objects.filter(key="sent").update(webhook_sent_at=an_hour_ago, webhook_attempts=1)
    NotificationEvent.objects.create(key="ancient", kind="budget", text="x", webhook=True)
    NotificationEvent.objects.filter(key="ancient").update(created_at=timezone.now() - timedelta(days=3))
    lost = NotificationEvent.objects.get(key="lost")
    assert delivery.unsent_webhooks() == [lost.pk]
    tasks.sweep_webhooks.call_local()
    assert receiver.texts == ["lost on the way"]
    assert delivery.unsent_webhooks() == []


def test_no_vast_key_in_webhook_or_email(receiver, delivered, settings, operator):
    settings.VAST_API_KEY = SECRET
    delivered("leak", "policy_action", f"Vast said: bad key {SECRET}", users=[operator], link=f"/i/?{SECRET}")
    (message,) = mail.outbox
    for sent in (receiver.texts[0], message.subject, message.body):
        assert SECRET[:8] not in sent
        assert SECRET[-8:] not in sent
    assert "[redacted]" in receiver.texts[0]


def test_email_goes_to_those_who_want_the_kind(delivered, settings, django_user_model, operator, other_operator, admin):
    settings.DASHBOARD_URL = "https://gpu.team.example"
    NotificationPreference.objects.create(user=other_operator, email_kinds=["budget"])
    no_address = django_user_model.objects.create_user("noaddr")
    delivered(
        "lease:31:1",
        "lease_warning",
        "Instance 31 (train-a) stops in 15 min. Extend it if it should keep running.",
        users=[operator, other_operator, no_address],
        link="/instances/31/",
    )
    (message,) = mail.outbox
    assert message.to == ["otto@example.com"]
    assert message.subject == (
        "[Vast.ai dashboard] Lease warning: Instance 31 (train-a) stops in 15 min. Extend it if it should keep running."
    )
    assert "Open: https://gpu.team.example/instances/31/" in message.body
    assert "https://gpu.team.example/notifications/settings/" in message.body
    assert Notification.objects.get(user=operator).emailed_at is not None
    assert Notification.objects.get(user=other_operator).emailed_at is None
    delivered("budget:1", "budget", "Team at 80 %", users=[other_operator], admins=True)
    assert sorted(m.to[0] for m in mail.outbox[1:]) == ["ada@example.com", "olga@example.com"]


def test_each_person_is_emailed_once_however_often_the_task_runs(delivered, operator):
    delivered("once", "storage_reminder", "32 stopped for 3 days", users=[operator])
    event = NotificationEvent.objects.get()
    assert tasks.send_emails.call_local(event.pk) == 0
    assert delivery.send_emails(event.pk) == 0
    assert len(mail.outbox) == 1


def test_nobody_gets_an_email_for_a_kind_they_turned_off(delivered, operator):
    NotificationPreference.objects.create(user=operator, email_kinds=[])
    delivered("off", "policy_action", "stopped 38", users=[operator])
    assert mail.outbox == []
    assert Notification.objects.filter(user=operator).count() == 1


class RefusingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


def test_a_mail_server_that_is_down_blocks_nothing_and_is_retried_later(delivered, settings, operator, receiver):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    assert delivered("down", "policy_action", "stopped 39", users=[operator]) is True
    note = Notification.objects.get()
    assert note.emailed_at is None  # released for the task's next try
    assert receiver.texts == ["stopped 39"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert tasks.send_emails.call_local(note.event_id) == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example:2525", ("mail.example", 2525, "", "", False, False)),
        ("smtp://u:p@mail.example", ("mail.example", 25, "u", "p", False, False)),
        ("smtp+tls://bot%40team.example:p%2Fw%3Ad@smtp.example", ("smtp.example", 587, "bot@team.example", "p/w:d", True, False)),
        ("smtps://u:p@smtp.example", ("smtp.example", 465, "u", "p", False, True)),
        ("SMTPS://u:p@smtp.example:2465", ("smtp.example", 2465, "u", "p", False, True)),
    ],
)  # fmt: skip
def test_email_url_is_parsed(url, expected):
    config = mail_config.from_environ({"EMAIL_URL": url, "EMAIL_HOST": "ignored"})
    assert config["EMAIL_BACKEND"] == mail_config.SMTP
    keys = ["EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS", "EMAIL_USE_SSL"]
    assert tuple(config[key] for key in keys) == expected


def test_email_host_variables_and_the_console_default():
    assert mail_config.from_environ({}) == {"EMAIL_BACKEND": mail_config.CONSOLE}
    assert mail_config.from_environ({"EMAIL_URL": "console://"})["EMAIL_BACKEND"] == mail_config.CONSOLE
    config = mail_config.from_environ(
        {"EMAIL_HOST": "smtp.example", "EMAIL_HOST_USER": "bot", "EMAIL_USE_TLS": "true"}, password="pw"
    )
    assert config["EMAIL_PORT"] == 587
    assert (config["EMAIL_HOST_USER"], config["EMAIL_HOST_PASSWORD"], config["EMAIL_USE_TLS"]) == ("bot", "pw", True)
    assert mail_config.from_environ({"EMAIL_HOST": "h", "EMAIL_PORT": "2525"})["EMAIL_PORT"] == 2525


@pytest.mark.parametrize(
    "environ",
    [
        {"EMAIL_URL": "imap://u:hunter2@mail.example"},
        {"EMAIL_URL": "smtp://u:hunter2@mail.example:notaport"},
        {"EMAIL_URL": "smtp://u:hunter2@:25"},
        {"EMAIL_HOST": "h", "EMAIL_PORT": "0"},
        {"EMAIL_HOST": "h", "EMAIL_USE_TLS": "yes", "EMAIL_USE_SSL": "yes"},
        {"EMAIL_HOST": "h", "EMAIL_USE_TLS": "maybe"},
    ],
)
def test_bad_email_settings_are_refused_without_repeating_the_password(environ):
    with pytest.raises(mail_config.MailConfigError) as refused:
        mail_config.from_environ(environ)
    assert "hunter2" not in str(refused.value)
