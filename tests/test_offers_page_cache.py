"""The whole offers page kept per viewer for a few seconds (offers/page_cache.py): a reload of a
fresh answer reuses the page, a change of the person's Launch state, columns or unread count makes
a new one, a waiting message is never kept, one person's page is never another's, and nothing is
kept for an error."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from dashboard.models import Guardrails
from dashboard.notify import notify
from offers import answers, fragments
from offers.models import OfferColumns
from vastsim import faults

pytestmark = pytest.mark.django_db

PATH = "/offers/?verified=any&disk=10"
USER = re.compile(r'data-testid="current-user">([^<]+)<')
CSRF = re.compile(r'(?:name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")([^"]+)"')


@pytest.fixture(autouse=True)
def _no_memo():
    answers._memo.clear()
    yield
    answers._memo.clear()


def _page(client, path=PATH):
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def _kept_pages():
    """The cache's kept pages and fragments (local memory, or Redis in the second pass)."""
    store = cache._cache
    if isinstance(store, dict):
        return {key for key in store if ":fragment:" in key}
    return {key.decode() for key in store.get_client().keys("*:fragment:*")}


def _visited(client):
    """A first visit (sets the CSRF cookie the key needs) and a second that keeps the page."""
    _page(client)
    return _page(client)


def test_a_reload_of_a_fresh_answer_is_the_page_kept_for_this_viewer(operator, operator_client, upstream):
    first = _visited(operator_client)
    get_user_model().objects.filter(pk=operator.pk).update(username="renamed")  # behind the page's back
    again = _page(operator_client)
    assert USER.search(first).group(1) == USER.search(again).group(1) == "otto"
    tokens = [CSRF.findall(page) for page in (first, again)]
    assert CSRF.sub("", again) == CSRF.sub("", first)  # the same page
    assert len(tokens[0]) > 1
    assert not set(tokens[0]) & set(tokens[1])  # its tokens masked anew in every response (BREACH)
    assert len(upstream.calls("POST", "/bundles")) == 1


def test_a_new_limit_makes_a_new_page_with_its_launch_state(operator_client):
    first = _visited(operator_client)
    assert "launch-disabled" not in first
    Guardrails.objects.update_or_create(pk=1, defaults={"operator_max_dph": Decimal("0.01")})
    after = _page(operator_client)
    assert 'data-testid="launch-disabled"' in after
    assert "Over your operator limit of $0.010/hr" in after


def test_new_columns_make_a_new_page(operator, operator_client):
    chosen = 'value="flops_per_dphtotal" checked'
    assert chosen not in _visited(operator_client)
    OfferColumns.objects.update_or_create(user=operator, defaults={"columns": ["gpu_name", "flops_per_dphtotal"]})
    assert chosen in _page(operator_client)


def test_a_new_notification_makes_a_new_page_for_its_bell(operator, operator_client):
    assert re.search(r'data-testid="unread-count">0<', _visited(operator_client))
    notify("test:offers-page", "policy_action", "Instance 4400001 was stopped", users=[operator], webhook=False)
    assert re.search(r'data-testid="unread-count">1<', _page(operator_client))


def test_a_waiting_message_is_shown_once_and_never_kept(operator_client):
    _visited(operator_client)
    saved = operator_client.post("/notifications/settings/", {"email": "otto@example.com", "email_kinds": ["budget"]})
    assert saved.status_code == 302
    assert "Notification settings saved." in _page(operator_client)
    assert "Notification settings saved." not in _page(operator_client), "shown once, not kept"


def test_one_persons_kept_page_is_never_anothers(admin_client, viewer_client):
    for client in (admin_client, viewer_client):
        _visited(client)
    admin_page, viewer_page = _page(admin_client), _page(viewer_client)
    assert USER.search(admin_page).group(1) == "ada"
    assert USER.search(viewer_page).group(1) == "vera"
    assert "/launch/" in admin_page
    assert "/launch/" not in viewer_page
    assert not set(CSRF.findall(viewer_page)) & set(CSRF.findall(admin_page))
    assert fragments.CSRF_HOLE not in admin_page + viewer_page


def test_nothing_is_kept_for_an_error(operator_client, upstream):
    _page(operator_client)
    cache.clear()
    answers._memo.clear()
    faults.inject("bundles", method="POST", status=500)
    try:
        for _ in range(2):
            response = operator_client.get(PATH)
            assert response.status_code == 503
            assert 'data-testid="vast-error"' in response.content.decode()
    finally:
        faults.clear()
    assert _kept_pages() == set()
    assert len(upstream.calls("POST", "/bundles")) >= 2  # each page asked Vast: no answer was kept either
