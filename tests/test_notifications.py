"""Notifications in the app: notify() once per key, who receives what, the bell, the list, mark
read, and each person's e-mail settings."""

import threading
import time

import pytest
from django.db import OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext

from dashboard.models import Notification, NotificationEvent, NotificationPreference
from dashboard.notify import KINDS, notify
from dashboard.roles import ADMIN, set_role

pytestmark = pytest.mark.django_db
SECRET = "sk-live-0123456789abcdefghijklmnop"


def retry_while_locked(call, *args, **kwargs):
    """`call(...)`, again while SQLite's shared in-memory test database answers "table is locked"
    (it does so at once instead of waiting, as the file database does for its busy timeout)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return call(*args, **kwargs)
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _unread_count(response):
    """The number in the nav's bell."""
    html = response.content.decode()
    start = html.index('data-testid="unread-count">') + len('data-testid="unread-count">')
    return int(html[start : html.index("<", start)])


def test_the_same_key_is_notified_once(operator):
    assert notify("lease-warn:1:a", "lease_warning", "Instance 1 stops in 15 min", users=[operator]) is True
    assert notify("lease-warn:1:a", "lease_warning", "Instance 1 stops in 15 min", users=[operator]) is False
    assert NotificationEvent.objects.count() == 1
    assert Notification.objects.filter(user=operator).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_notifying_the_same_key_at_once_create_one_event(operator):
    barrier = threading.Barrier(2, timeout=10)
    results, lock = [], threading.Lock()

    def worker():
        try:
            barrier.wait()
            created = retry_while_locked(
                notify, "budget:2026-12:80", "budget", "The team is at 80 % of its budget", users=[operator]
            )
            with lock:
                results.append(created)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert NotificationEvent.objects.count() == 1
    assert Notification.objects.count() == 1


def test_recipients_are_the_users_and_every_active_admin_once_each(django_user_model, operator, viewer, admin):
    gone = django_user_model.objects.create_user("gone", is_active=False)
    former_admin = django_user_model.objects.create_user("former", is_active=False)
    set_role(former_admin, ADMIN)
    root = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    notify("k", "budget", "Otto is at 100 % of his cap", users=[operator, admin, gone, None], admins=True)
    assert sorted(n.user.username for n in Notification.objects.select_related("user")) == ["ada", "otto", "root"]
    assert not Notification.objects.filter(user__in=[viewer, gone, former_admin]).exists()
    assert root.notifications.count() == 1


def test_texts_and_links_lose_the_vast_key(settings, operator):
    settings.VAST_API_KEY = SECRET
    notify("leak", "policy_action", f"stopped; upstream said key={SECRET}", users=[operator], link=f"/x/?k={SECRET}")
    event = NotificationEvent.objects.get()
    assert SECRET[:8] not in event.text
    assert SECRET[:8] not in event.link
    assert "[redacted]" in event.text


def test_a_link_that_is_not_a_path_or_http_url_is_dropped(operator):
    notify("js", "price_alert", "cheap", users=[operator], link="javascript:alert(1)")
    notify("proto", "price_alert", "cheap", users=[operator], link="//evil.example/")
    notify("ok", "price_alert", "cheap", users=[operator], link="/offers/?gpu=RTX_4090")
    assert dict(NotificationEvent.objects.values_list("key", "link")) == {
        "js": "",
        "proto": "",
        "ok": "/offers/?gpu=RTX_4090",
    }


def test_the_bell_shows_the_unread_count_with_one_count_query(operator, operator_client, other_operator):
    notify("a", "lease_warning", "one", users=[operator])
    notify("b", "policy_action", "two", users=[operator, other_operator])
    notify("c", "budget", "someone else's", users=[other_operator])
    Notification.objects.filter(event__key="a").update(read_at="2026-01-01T00:00Z")
    notify("d", "storage_reminder", "three", users=[operator])
    page = operator_client.get("/audit/")
    assert _unread_count(page) == 2
    assert 'href="/notifications/"' in page.content.decode()
    with CaptureQueriesContext(connection) as queries:
        bell = operator_client.get("/notifications/bell/", headers={"HX-Request": "true"})
    assert _unread_count(bell) == 2
    assert "<html" not in bell.content.decode()
    touching = [q["sql"] for q in queries.captured_queries if "dashboard_notification" in q["sql"]]
    assert len(touching) == 1
    assert "COUNT(" in touching[0].upper()


def test_fragments_that_do_not_show_the_bell_do_not_count(operator, operator_client):
    with CaptureQueriesContext(connection) as queries:
        operator_client.get("/audit/", headers={"HX-Request": "true"})
    assert not any("dashboard_notification" in q["sql"] for q in queries.captured_queries)


def test_the_list_shows_ones_own_notifications_newest_first_with_links(operator, operator_client, other_operator):
    notify("old", "lease_warning", "Instance 31 stops in 15 min", users=[operator], link="/instances/31/")
    notify("new", "policy_action", "Stopped 32 by policy: idle < 5 % for 30 min", users=[operator])
    notify("theirs", "budget", "Olga is at 80 %", users=[other_operator])
    Notification.objects.filter(event__key="old").update(read_at="2026-01-01T00:00Z")
    html = operator_client.get("/notifications/").content.decode()
    assert html.index("Stopped 32 by policy") < html.index("Instance 31 stops")
    assert "Olga is at 80 %" not in html
    assert 'href="/instances/31/"' in html
    assert html.count('class="notification unread"') == 1
    assert html.count('class="notification"') == 1
    assert "Policy action" in html
    assert "Lease warning" in html


def test_the_list_is_paged_and_htmx_gets_just_the_list(operator, operator_client):
    for number in range(30):
        notify(f"n{number}", "price_alert", f"alert number {number:02d}", users=[operator])
    first = operator_client.get("/notifications/").content.decode()
    assert first.count('data-testid="notification"') == 25
    second = operator_client.get("/notifications/?page=2", headers={"HX-Request": "true"}).content.decode()
    assert second.count('data-testid="notification"') == 5
    assert second.lstrip().startswith('<section id="notification-list">')
    assert "alert number 00" in second


def test_an_empty_list_says_so(viewer_client):
    html = viewer_client.get("/notifications/").content.decode()
    assert 'data-testid="no-notifications"' in html
    assert "Mark all read" not in html


def test_mark_read_marks_ones_own_and_updates_the_bell(operator, operator_client):
    notify("a", "lease_warning", "first", users=[operator])
    notify("b", "lease_warning", "second", users=[operator])
    note = Notification.objects.get(event__key="a")
    response = operator_client.post(f"/notifications/{note.pk}/read/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<li id="notification-{note.pk}" class="notification"' in html
    assert "Mark read" not in html
    assert 'hx-swap-oob="true"' in html
    assert _unread_count(response) == 1
    note.refresh_from_db()
    assert note.read_at is not None
    plain = operator_client.post(f"/notifications/{Notification.objects.get(event__key='b').pk}/read/")
    assert plain.status_code == 302
    assert not Notification.objects.filter(read_at=None).exists()


def test_nobody_marks_someone_elses_notification(operator, other_operator_client, admin_client):
    notify("a", "lease_warning", "otto's", users=[operator])
    note = Notification.objects.get()
    assert other_operator_client.post(f"/notifications/{note.pk}/read/").status_code == 404
    assert admin_client.post(f"/notifications/{note.pk}/read/").status_code == 404
    assert other_operator_client.get(f"/notifications/{note.pk}/read/").status_code == 405  # a GET changes nothing
    note.refresh_from_db()
    assert note.read_at is None


def test_mark_all_read_touches_only_ones_own(operator, operator_client, other_operator):
    notify("a", "lease_warning", "one", users=[operator, other_operator])
    notify("b", "budget", "two", users=[operator])
    response = operator_client.post("/notifications/read-all/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'class="notification unread"' not in html
    assert "Mark all read" not in html
    assert _unread_count(response) == 0
    assert not Notification.objects.filter(user=operator, read_at=None).exists()
    assert Notification.objects.filter(user=other_operator, read_at=None).count() == 1
    assert operator_client.post("/notifications/read-all/").status_code == 302


@pytest.mark.parametrize("persona", ["viewer", "operator", "admin"])
def test_everyone_logged_in_has_their_own_notifications(request, persona, viewer, operator, admin):
    people = {"viewer": viewer, "operator": operator, "admin": admin}
    for name, user in people.items():
        notify(f"for-{name}", "storage_reminder", f"a note for {name}", users=[user])
    client = request.getfixturevalue(f"{persona}_client")
    html = client.get("/notifications/").content.decode()
    assert f"a note for {persona}" in html
    assert sum(f"a note for {name}" in html for name in people) == 1
    assert client.get("/notifications/settings/").status_code == 200


def test_settings_show_the_defaults_and_save_address_and_kinds(operator, operator_client):
    html = operator_client.get("/notifications/settings/").content.decode()
    assert 'value="otto@example.com"' in html
    for kind, label in KINDS.items():
        assert f'value="{kind}"' in html
        assert label in html
    assert html.count("checked") == len(KINDS)
    assert 'data-testid="webhook-status"' not in html
    response = operator_client.post(
        "/notifications/settings/", {"email": "otto@team.example", "email_kinds": ["lease_warning", "budget"]}
    )
    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.email == "otto@team.example"
    assert NotificationPreference.objects.get(user=operator).email_kinds == ["lease_warning", "budget"]
    assert operator_client.get("/notifications/settings/").content.decode().count("checked") == 2


def test_settings_refuse_a_bad_address_and_an_unknown_kind(operator, operator_client):
    response = operator_client.post("/notifications/settings/", {"email": "not an address", "email_kinds": ["nope"]})
    assert response.status_code == 200
    assert "Enter a valid email address" in response.content.decode()
    operator.refresh_from_db()
    assert operator.email == "otto@example.com"
    assert not NotificationPreference.objects.exists()


def test_no_email_at_all_is_a_choice(operator, operator_client):
    operator_client.post("/notifications/settings/", {"email": ""})
    operator.refresh_from_db()
    assert operator.email == ""
    assert NotificationPreference.objects.get(user=operator).email_kinds == []


def test_admins_see_the_webhook_deliveries_but_never_its_url(settings, admin_client, viewer_client):
    settings.NOTIFY_WEBHOOK_URL = "https://hooks.slack.example/services/T000/B000/very-secret-token"
    notify("sent", "policy_action", "stopped 41 by policy")
    NotificationEvent.objects.filter(key="sent").update(webhook_sent_at="2026-12-07T10:00Z", webhook_attempts=1)
    notify("dead", "budget", "team at 100 %")
    NotificationEvent.objects.filter(key="dead").update(webhook_attempts=5, webhook_error="HTTP 500")
    html = admin_client.get("/notifications/settings/").content.decode()
    assert 'data-testid="webhook-status"' in html
    assert "hooks.slack.example" in html
    assert "very-secret-token" not in html
    assert "gave up" in html
    assert "HTTP 500" in html
    assert "sent" in html
    assert 'data-testid="webhook-status"' not in viewer_client.get("/notifications/settings/").content.decode()


def test_only_admins_send_a_test_message(settings, admin_client, operator_client):
    settings.NOTIFY_WEBHOOK_URL = "https://hooks.slack.example/services/x"
    assert operator_client.post("/notifications/settings/test-webhook/").status_code == 403
    assert not NotificationEvent.objects.exists()
    assert admin_client.post("/notifications/settings/test-webhook/").status_code == 302
    event = NotificationEvent.objects.get()
    assert event.webhook
    assert "sent by ada" in event.text
    assert not event.notifications.exists()
