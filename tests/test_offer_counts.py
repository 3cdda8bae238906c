"""The offers page says how many offers the answer holds, and Show more appends the next rows
from the answer already fetched."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

SEARCH = {"verified": "any", "disk": "10"}


def _rows(html):
    return re.findall(r'<tbody class="offer" data-offer-id="(\d+)"', html)


def test_count_and_show_more_without_a_second_upstream_call(viewer_client, upstream):
    page = viewer_client.get(reverse("offers:search"), SEARCH).content.decode()
    first = _rows(page)
    assert len(first) == 64
    total = int(re.search(r"Showing <strong>64</strong> of <strong>(\d+)</strong> offers", page).group(1))
    assert total > 64
    searches = len(upstream.calls("POST", "/bundles"))
    assert searches == 1

    more = viewer_client.get(
        reverse("offers:search"), {**SEARCH, "show": "128"}, headers={"HX-Request": "true", "HX-Target": "offers-more"}
    ).content.decode()
    added = _rows(more)
    assert len(added) == min(64, total - 64)
    assert not set(added) & set(first)
    assert len(upstream.calls("POST", "/bundles")) == searches  # the cached answer, no new search
    assert 'id="offer-count"' in more
    assert 'hx-swap-oob="true"' in more
    assert f"of <strong>{total}</strong>" in more
    if total > 128:
        assert 'id="offers-more"' in more
        assert "show=192" in more


def test_full_page_with_show_lists_more_rows_and_chart_covers_the_answer(viewer_client, upstream):
    page = viewer_client.get(reverse("offers:search"), {**SEARCH, "show": "128"}).content.decode()
    assert len(_rows(page)) == 128
    # The chart has one dot per offer of the whole answer, not only the shown rows.
    total = int(re.search(r"of <strong>(\d+)</strong> offers", page).group(1))
    chart = re.search(r'<svg [^>]*aria-label="Distribution of price.*?</svg>', page, re.S).group(0)
    assert chart.count("h0") == total  # one dot (a zero-length stroke) per offer


def test_no_count_line_or_show_more_when_everything_shows(viewer_client):
    page = viewer_client.get(reverse("offers:search"), {**SEARCH, "gpu": "H200"}).content.decode()
    rows = _rows(page)
    assert rows
    assert len(rows) < 64
    assert "Showing" not in page
    assert 'id="offers-more"' not in page
