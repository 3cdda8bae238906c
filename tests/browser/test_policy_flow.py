"""An operator launches with a time limit, sees the countdown, follows the warning's Extend link,
extends once (a second time past the maximum is refused), and later finds the instance stopped by
policy, audited as "system"."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboard.models import Guardrails, NotificationEvent
from instances.models import Instance
from tests.test_launch import rentable_offer

pytestmark = pytest.mark.django_db(transaction=True)
EVERY = 0.5  # seconds between the stand-in worker's policy evaluations


@pytest.fixture
def policy_worker(live_server, worker):
    """The stand-in worker also applies the policies, in the live server's thread (as its syncs do;
    see tests/browser/conftest.py for why), at most every half second before a request."""
    import threading
    import time

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
    httpd.set_app(app)


def test_launch_with_a_limit_extend_once_and_find_it_stopped_by_policy(page, login, operator, policy_worker):
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

    page.reload()  # a request: the stand-in worker evaluates, and warns at once (1 min < 15 min)
    warning = NotificationEvent.objects.get(key__startswith=f"lease-warn:{instance_id}:")
    page.goto(warning.link)
    page.get_by_label("Extend by (minutes)").fill("30")
    page.get_by_role("button", name="Extend").click()
    page.wait_for_url(re.compile(rf"/instances/{instance_id}/$"))
    expect(page.locator("#policy [data-testid=stops-in]")).to_have_text(re.compile(r"stops in (30|31) min"))

    page.goto(warning.link)
    page.get_by_label("Extend by (minutes)").fill("60")
    page.get_by_role("button", name="Extend").click()
    expect(page.get_by_test_id("extend-error")).to_contain_text("Refused: the operator maximum time limit is 1 h")

    Instance.objects.filter(vast_id=instance_id).update(stop_at=timezone.now() - timedelta(seconds=1))
    page.goto(f"/instances/{instance_id}/")
    history = page.get_by_test_id("history")
    expect(history).to_contain_text("by policy: time limit reached", timeout=15_000)
    expect(history).to_contain_text("system")
    expect(page.locator("#instance-detail [data-testid=status]")).to_have_text(re.compile("stopping|stopped"))
