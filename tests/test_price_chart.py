"""The $/GPU·hr strip chart above the offers table, drawn in Python from the whole answer."""

import dataclasses
import re
import statistics

import pytest
from django.urls import reverse

from dashboard import vast
from offers.chart import chart_html, price_chart

pytestmark = pytest.mark.django_db


def _answer():
    return vast.search_offers(vast.OfferSearch(disk_gb=10, verified_only=False, limit=256))


def test_the_page_draws_one_row_per_gpu_model_of_the_whole_answer(viewer_client):
    answer = _answer()
    html = viewer_client.get(reverse("offers:search"), {"verified": "any"}).content.decode()
    chart = re.search(r'<figure class="card chart">.*?</figure>', html, re.S).group(0)
    labels = re.findall(r'class="chart-label">([^<]+)</text>', chart)
    assert sorted(labels) == sorted({offer.gpu_name for offer in answer})
    assert len(answer) > 64  # the chart covers offers beyond the rows shown


def test_each_row_names_its_median_and_cheapest_price_per_gpu():
    answer = _answer()
    html = chart_html(price_chart(answer))
    for name in {offer.gpu_name for offer in answer}:
        prices = [offer.price_per_gpu for offer in answer if offer.gpu_name == name]
        title = (
            f"{name}: median ${statistics.median(prices):.3f}, cheapest ${min(prices):.3f} over {len(prices)} offers"
        )
        assert f"<title>{title}</title>" in html
    dots = sum(path.count("h0") for path in re.findall(r'class="chart-dots" d="([^"]*)"', html))
    assert dots == len(answer)


def test_rows_are_ordered_by_median_price():
    html = chart_html(price_chart(_answer()))
    medians = [float(m) for m in re.findall(r": median \$([0-9.]+),", html)]
    assert medians == sorted(medians)


def test_a_model_name_is_escaped():
    offer = dataclasses.replace(_answer()[0], gpu_name='<img src=x onerror="alert(1)">')
    html = chart_html(price_chart([offer]))
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
