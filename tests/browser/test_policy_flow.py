"""An operator launches with a time limit, sees the countdown, finds the warning under the nav's
bell and on /notifications/, follows its Extend link to extend once (a second time past the
maximum is refused), and later finds the instance stopped by policy, audited as "system", with
the stop announced to the team webhook (a real HTTP receiver on the loopback)."""

import json
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboard.models import Guardrails
from instances.models import Instance
from tests.test_launch import rentable_offer

pytestmark = pytest.mark.django_db(transaction=True)
EVERY = 0.5  # seconds between the stand-in worker's policy evaluations
WAIT = 15  # seconds any one thing the worker does may take to show


@pytest.fixture
def policy_worker(live_server, worker):
    """The stand-in worker also applies the policies, in the live server's thread (as its syncs do;
    see tests/browser/conftest.py for why), at most every half second before a request."""
    from instances.policies import engine, samples

    httpd = live_server.thread.httpd
    app = httpd.get_app()
    lock, last = threading.Lock(), [0.0]

    def evaluating_app(environ, start_response):
        with lock:
            if time.monotonic() - last[0] >= EVERY:
                samples.record()
                engine.evaluate()
                last[0] = time.monotonic()
        return app(environ, start_response)

    httpd.set_app(evaluating_app)
    yield
    with lock:  # no evaluation still running when the database is flushed
        httpd.set_app(app)


class Receiver:
    """A Slack-style webhook receiver on a free loopback port: keeps every POST it answers 200."""

    def __init__(self):
        self.messages = []  # (Content-Type, parsed JSON body)
        self.lock = threading.Lock()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with received.lock:
                    received.messages.append((self.headers.get("Content-Type", ""), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/team"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def texts(self):
        with self.lock:
            return [body.get("text", "") for _, body in self.messages]

    def wait_for(self, predicate, timeout=WAIT):
        """The messages once `predicate(messages)` holds; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                messages = list(self.messages)
            if predicate(messages):
                return messages
            assert time.monotonic() < deadline, f"the webhook receiver got only {messages}"
            time.sleep(0.05)


@pytest.fixture
def webhook_receiver(settings):
    """A running Receiver, set as the team's NOTIFY_WEBHOOK_URL for this test."""
    receiver = Receiver()
    receiver.thread.start()
    settings.NOTIFY_WEBHOOK_URL = receiver.url  # read at each notify() and each delivery attempt
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    receiver.thread.join(timeout=5)


def reload_until(page, locator, text, timeout=WAIT, *, contains=False):
    """Reload `page` (each request lets the stand-in worker act) until `locator` has `text` (or,
    with `contains`, holds it)."""
    deadline = time.monotonic() + timeout
    while True:
        page.reload()
        shown = locator.first.inner_text().strip() if locator.count() else ""
        if (text in shown) if contains else (shown == text):
            return
        assert time.monotonic() < deadline, f"{locator} never showed {text!r}"
        page.wait_for_timeout(200)


def test_launch_with_a_limit_extend_once_and_find_it_stopped_by_policy(
    page, login, operator, policy_worker, webhook_receiver
):
    Guardrails.objects.update_or_create(pk=1, defaults={"operator_max_stop_after_minutes": 60, "updated_by": "ada"})
    offer = rentable_offer()
    login(operator)
    page.goto(f"/offers/{offer.id}/launch/?disk=40")
    limit = page.get_by_label("Stop after (minutes)")
    expect(limit).to_have_value("60")
    limit.fill("1")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/instances/\d+/$"))
    instance_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    expect(page.locator("#policy [data-testid=stops-in]")).to_have_text(re.compile(r"stops in (\d+ s|1 min)"))

    # The stand-in worker warns at once (1 min < 15 min): the bell counts it, the list shows it.
    bell = page.get_by_test_id("notification-bell")
    reload_until(page, bell.get_by_test_id("unread-count"), "1")
    expect(bell).to_have_class(re.compile(r"\bhas-unread\b"))
    bell.click()
    page.wait_for_url(re.compile(r"/notifications/$"))
    (warning,) = page.get_by_test_id("notification").all()
    expect(warning).to_contain_text("Lease warning")
    expect(warning).to_contain_text(f"{instance_id} will be stopped at")
    expect(warning).to_contain_text("unread")
    extend_link = warning.get_by_role("link", name="Extend")
    expect(extend_link).to_have_attribute("href", f"/instances/{instance_id}/extend/")
    assert webhook_receiver.texts() == []  # a lease warning is its owner's business, not the team's

    extend_link.click()
    page.wait_for_url(re.compile(rf"/instances/{instance_id}/extend/$"))
    page.get_by_label("Extend by (minutes)").fill("30")
    page.get_by_role("button", name="Extend").click()
    page.wait_for_url(re.compile(rf"/instances/{instance_id}/$"))
    expect(page.locator("#policy [data-testid=stops-in]")).to_have_text(re.compile(r"stops in (30|31) min"))

    page.goto(f"/instances/{instance_id}/extend/")
    page.get_by_label("Extend by (minutes)").fill("60")
    page.get_by_role("button", name="Extend").click()
    expect(page.get_by_test_id("extend-error")).to_contain_text("Refused: the operator maximum time limit is 1 h")

    Instance.objects.filter(vast_id=instance_id).update(stop_at=timezone.now() - timedelta(seconds=1))
    page.goto(f"/instances/{instance_id}/")
    history = page.get_by_test_id("history")
    # The stand-in worker acts before a request at most every half second; the history is not polled.
    reload_until(page, history, "by policy: time limit reached", contains=True)
    expect(history).to_contain_text("system")
    expect(page.locator("#instance-detail [data-testid=status]")).to_have_text(re.compile("stopping|stopped"))

    messages = webhook_receiver.wait_for(lambda got: any(str(instance_id) in body["text"] for _, body in got))
    ((content_type, body),) = messages
    assert content_type.startswith("application/json")
    assert list(body) == ["text"]
    assert body["text"].startswith(f"Stopped {instance_id} by policy: time limit reached")
