"""Whole ledger pages (`/instances/`, `/`) from the viewer's cache (`dashboard.fragments.render_page`):
a reload within a few seconds reuses the page but never its freshness line, a change of the ledger
or of the viewer's unread count makes a new one, a waiting message is never cached, and one
person's page is never another's."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.notify import notify
from instances.models import Instance, SyncState

pytestmark = pytest.mark.django_db

PAGES = ["/instances/", "/"]
AGE = re.compile(r'id="sync-status"[^>]*data-age-seconds="(\d+)"')


def _synced(seconds_ago, **fields):
    SyncState.current()
    SyncState.objects.filter(pk=1).update(last_success_at=timezone.now() - timedelta(seconds=seconds_ago), **fields)


def _page(client, path):
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def running(operator):
    _synced(0, changed_at=timezone.now())
    return Instance.objects.create(
        vast_id=4_400_001,
        label="first-label",
        gpu_name="RTX 4090",
        num_gpus=1,
        status="running",
        dph_total=0.5,
        storage_per_hour=0.01,
        first_seen=timezone.now() - timedelta(hours=1),
        launched_by=operator,
        launched_by_name=operator.get_username(),
    )


@pytest.mark.parametrize("path", PAGES)
def test_a_reload_reuses_the_page_until_the_ledger_changes_but_the_freshness_line_is_new(
    operator_client, running, path
):
    _page(operator_client, path)  # the first visit sets the CSRF cookie the cache key needs
    _synced(3)
    first = _page(operator_client, path)
    assert "first-label" in first
    assert AGE.search(first).group(1) in {"3", "4"}

    Instance.objects.filter(pk=running.pk).update(label="second-label")  # behind the ledger's back
    _synced(25)
    again = _page(operator_client, path)
    assert "first-label" in again, "served from the cache"
    assert "second-label" not in again
    assert AGE.search(again).group(1) in {"25", "26"}, "the freshness line is rendered anew"
    assert again.count('id="sync-status"') == 1

    SyncState.objects.filter(pk=1).update(changed_at=timezone.now())  # what the ledger does on a change
    assert "second-label" in _page(operator_client, path)


@pytest.mark.parametrize("path", PAGES)
def test_a_new_notification_makes_a_new_page_for_its_bell(operator, operator_client, running, path):
    _page(operator_client, path)
    before = _page(operator_client, path)
    assert re.search(r'data-testid="unread-count">0<', before)
    notify("test:page-cache", "policy_action", "Instance 4400001 was stopped", users=[operator], webhook=False)
    after = _page(operator_client, path)
    assert re.search(r'data-testid="unread-count">1<', after)


@pytest.mark.parametrize("path", PAGES)
def test_a_waiting_message_is_shown_once_and_never_kept_in_the_cache(operator_client, running, path):
    _page(operator_client, path)
    _page(operator_client, path)
    # A form post that leaves a message for the next page (its redirect is not followed).
    saved = operator_client.post("/notifications/settings/", {"email": "otto@example.com", "email_kinds": ["budget"]})
    assert saved.status_code == 302
    assert "Notification settings saved." in _page(operator_client, path)
    assert "Notification settings saved." not in _page(operator_client, path), "shown once, not kept"


@pytest.mark.parametrize("path", PAGES)
def test_one_persons_cached_page_is_never_anothers(admin_client, viewer_client, running, path):
    for client in (admin_client, viewer_client):
        _page(client, path)
    admin_page = _page(admin_client, path)
    viewer_page = _page(viewer_client, path)
    assert 'data-testid="current-user">ada<' in admin_page
    assert 'data-testid="current-user">vera<' in viewer_page
    if path == "/instances/":
        assert "Destroy" in admin_page
        assert "Destroy" not in viewer_page
    csrf = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
    assert not set(csrf.findall(viewer_page)) & set(csrf.findall(admin_page))


def test_cached_pages_carry_no_template_indentation(operator_client, running):
    _page(operator_client, "/instances/")
    page = _page(operator_client, "/instances/")
    assert not re.search(r"\n[ \t]{2,}<", page)
