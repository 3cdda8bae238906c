"""The offers page's caches: rows rendered once per answer, query, columns and Launch state, never
one person's Launch state shown to another; answers kept parsed while fresh; pages gzipped."""

import dataclasses
import gzip
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import reverse

from dashboard import guardrails, vast
from dashboard.models import Guardrails
from offers import answers, rows
from offers.columns import DEFAULT_FIELDS

pytestmark = pytest.mark.django_db

SEARCH = {"verified": "any", "disk": "10"}


def _actions(html):
    """{offer id: the row's actions cell} for each row."""
    return dict(re.findall(r'data-offer-id="(\d+)".*?<td class="row-actions">(.*?)</td>', html, re.S))


def _page(client):
    return client.get(reverse("offers:search"), SEARCH).content.decode()


def _rails(**limits):
    Guardrails.objects.update_or_create(pk=1, defaults=limits)


def _row_keys():
    """The row cache's keys, in local memory or in Redis (the second test pass)."""
    store = cache._cache
    if isinstance(store, dict):
        return {key for key in store if ":offers:rows:" in key}
    return {key.decode() for key in store.get_client().keys("*:offers:rows:*")}


def test_a_viewer_and_an_operator_on_the_same_answer_each_see_their_own_launch(
    viewer_client, operator_client, upstream
):
    first = _actions(_page(viewer_client))
    assert first
    assert not any("Launch" in cell for cell in first.values())
    second = _actions(_page(operator_client))
    assert second.keys() == first.keys()
    assert all("/launch/" in cell for cell in second.values())
    again = _actions(_page(viewer_client))
    assert not any("Launch" in cell for cell in again.values())
    assert len(upstream.calls("POST", "/bundles")) == 1  # one answer, rows of two kinds


def test_rows_are_shared_by_people_whose_rows_are_the_same(operator_client, other_operator_client):
    _page(operator_client)
    keys = _row_keys()
    assert len(keys) == 1
    _page(other_operator_client)  # same role, limits and usage: the same rows
    assert _row_keys() == keys


def test_one_operator_at_the_running_cap_does_not_block_another(
    operator_client, other_operator_client, operator, monkeypatch
):
    _rails(max_running_per_user=1)
    monkeypatch.setattr(
        guardrails, "_usage_provider", lambda user: guardrails.Usage(1 if user == operator else 0, 0, month_spend=0.0)
    )
    blocked = _actions(_page(operator_client))
    assert all('title="You are at your limit of 1 running"' in cell for cell in blocked.values())
    free = _actions(_page(other_operator_client))
    assert all("/launch/" in cell and "disabled" not in cell for cell in free.values())
    assert all("disabled" in cell for cell in _actions(_page(operator_client)).values())


def test_a_new_limit_shows_at_once_though_the_rows_were_cached(operator_client, admin_client):
    before = _actions(_page(operator_client))
    assert all("/launch/" in cell for cell in before.values())
    _rails(operator_max_dph=Decimal("0.300"))
    after = _actions(_page(operator_client))
    assert any('title="Over your operator limit of $0.300/hr"' in cell for cell in after.values())
    # Admins have their own (here: no) limit.
    assert all("/launch/" in cell for cell in _actions(_page(admin_client)).values())
    _rails(operator_max_dph=None)
    assert all("/launch/" in cell for cell in _actions(_page(operator_client)).values())


def test_rows_follow_the_answer_they_were_built_from(operator, upstream):
    search = vast.OfferSearch(verified_only=False)
    offers = list(vast.search_offers_cached(search))[:3]
    request = RequestFactory().get("/offers/")
    request.user = operator
    limits = guardrails.launch_limits(operator)

    def render(offers, as_of):
        return rows.render_rows(request, offers, search, as_of, fields=DEFAULT_FIELDS, limits=limits, launch_query="")

    first = render(offers, 100.0)
    cheaper = [dataclasses.replace(offers[0], dph_total=0.0011), *offers[1:]]
    assert render(cheaper, 100.0) == first  # the same answer (search and as_of): from the cache
    changed = render(cheaper, 101.0)  # a new answer from Vast
    assert changed != first
    assert "$0.001</strong>" in changed


def test_a_fresh_answer_is_read_from_memory_until_the_shared_cache_drops_or_replaces_it(viewer_client, upstream):
    search = vast.OfferSearch(verified_only=False)
    first = answers.search_offers(search)
    assert answers.search_offers(search) is first
    cache.clear()
    second = answers.search_offers(search)
    assert second is not first
    assert len(upstream.calls("POST", "/bundles")) == 2
    # Another caller reads a newer answer into the shared cache (after it was dropped): the page
    # follows it rather than its memo.
    cache.clear()
    newer = vast.search_offers_cached(search)
    assert answers.search_offers(search).as_of == newer.as_of != second.as_of


def test_pages_are_gzipped_for_browsers_that_ask_with_a_fresh_csrf_mask_each_time(operator_client):
    url = reverse("offers:search")
    plain = operator_client.get(url, SEARCH)
    assert "Content-Encoding" not in plain
    one = operator_client.get(url, SEARCH, headers={"Accept-Encoding": "gzip, br"})
    two = operator_client.get(url, SEARCH, headers={"Accept-Encoding": "gzip"})
    assert one["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in one["Vary"]
    html_one, html_two = gzip.decompress(one.content).decode(), gzip.decompress(two.content).decode()
    assert len(one.content) < len(html_one) / 4
    tokens = [re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', h).group(1) for h in (html_one, html_two)]
    assert tokens[0] != tokens[1]  # BREACH: the token is masked anew in every response


def test_a_page_row_is_under_a_kilobyte_of_html(operator_client):
    html = _page(operator_client)
    count = len(_actions(html))
    assert count == 64
    assert len(html.encode()) / count < 1024
    fragment = operator_client.get(
        reverse("offers:search"), SEARCH, headers={"HX-Request": "true", "HX-Target": "offer-results"}
    ).content
    assert len(fragment) / count < 1024
