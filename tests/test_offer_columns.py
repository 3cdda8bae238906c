"""The offers table's column chooser: fewer columns by default, each person's choice kept
server-side and audited, and unknown columns refused with a form error."""

import re

import pytest
from django.urls import reverse

from dashboard.models import Action
from offers.columns import DEFAULT_FIELDS
from offers.models import OfferColumns

pytestmark = pytest.mark.django_db

SEARCH = {"verified": "any", "disk": "10"}


def _headers(html):
    """The results table's column headers, without the sort arrow."""
    thead = re.search(r"<thead.*?</thead>", html, re.S).group(0)
    return [label.rstrip(" ▲▼") for label in re.findall(r"<th[^>]*><a [^>]*>([^<]*)</a></th>", thead)]


def _page(client, **params):
    return client.get(reverse("offers:search"), {**SEARCH, **params}).content.decode()


def _choose(client, *columns, next_url="/offers/?disk=10"):
    return client.post(reverse("offers:columns"), {"columns": columns, "next": next_url})


def test_the_default_table_has_seven_columns_and_the_rest_are_in_the_chooser(viewer_client):
    html = _page(viewer_client)
    assert _headers(html) == ["GPU", "VRAM/GPU", "$/hr", "$/GPU·hr", "DLPerf/$", "Reliability", "Location"]
    chooser = re.search(r'<details class="column-chooser".*?</details>', html, re.S).group(0)
    for label in ("ID", "DLPerf", "TFLOPS/$", "CUDA", "CPU / RAM", "Disk / bw", "Up / down Mbps", "Max days"):
        assert f"> {label}</label>" in chooser
    assert 'value="reliability" checked' in chooser
    assert 'value="cuda_max_good">' in chooser  # not checked


def test_a_person_s_choice_is_kept_for_them_and_not_for_others(operator_client, viewer_client, operator):
    response = _choose(operator_client, "gpu_name", "dph_total", "cuda_max_good", "duration")
    assert response.status_code == 302
    assert response["Location"] == "/offers/?disk=10"
    assert OfferColumns.objects.get(user=operator).columns == ["gpu_name", "dph_total", "cuda_max_good", "duration"]
    assert _headers(_page(operator_client)) == ["GPU", "$/hr", "CUDA", "Max days"]
    assert _headers(_page(operator_client, gpu="RTX 4090")) == ["GPU", "$/hr", "CUDA", "Max days"]
    assert _headers(_page(viewer_client)) == [
        "GPU",
        "VRAM/GPU",
        "$/hr",
        "$/GPU·hr",
        "DLPerf/$",
        "Reliability",
        "Location",
    ]
    # Each row has a cell per chosen column, and the actions.
    row = re.search(r'<tbody class="offer"[^>]*><tr>(.*?)</tr>', _page(operator_client), re.S).group(1)
    assert row.count("<td") == 5


def test_choosing_columns_is_an_audit_row_with_before_and_after(operator_client, operator):
    _choose(operator_client, "gpu_name", "dlperf")
    action = Action.objects.get(kind=Action.Kind.OFFER_COLUMNS)
    assert action.user == operator
    assert action.outcome == Action.Outcome.SUCCESS
    assert action.detail == {"before": list(DEFAULT_FIELDS), "after": ["gpu_name", "dlperf"]}
    assert action.message == "Offer columns: GPU, DLPerf."
    _choose(operator_client, "gpu_name", "dlperf")  # no change, no row
    assert Action.objects.filter(kind=Action.Kind.OFFER_COLUMNS).count() == 1


def test_the_gpu_column_is_always_kept_and_default_columns_come_back(operator_client, operator):
    _choose(operator_client, "reliability")
    assert OfferColumns.objects.get(user=operator).columns == ["gpu_name", "reliability"]
    response = operator_client.post(reverse("offers:columns"), {"reset": "on", "next": "/offers/"})
    assert response.status_code == 302
    assert not OfferColumns.objects.filter(user=operator).exists()
    assert _headers(_page(operator_client))[0] == "GPU"
    assert len(_headers(_page(operator_client))) == len(DEFAULT_FIELDS)
    assert Action.objects.filter(kind=Action.Kind.OFFER_COLUMNS).count() == 2


@pytest.mark.parametrize("columns", [("gpu_name", "password"), ("__class__",), ()])
def test_unknown_or_no_columns_are_a_form_error_not_a_server_error(operator_client, operator, columns):
    response = _choose(operator_client, *columns)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="column-errors"' in html
    assert "Select a valid choice" in html or "Choose at least one column" in html
    assert not OfferColumns.objects.filter(user=operator).exists()
    assert not Action.objects.filter(kind=Action.Kind.OFFER_COLUMNS).exists()


def test_the_chooser_goes_back_only_to_this_site(operator_client):
    response = _choose(operator_client, "gpu_name", "dph_total", next_url="https://evil.example/offers/")
    assert response["Location"] == reverse("offers:search")


def test_the_chooser_page_works_without_the_offers_page(viewer_client):
    response = viewer_client.get(reverse("offers:columns"), {"next": "/offers/?gpu=H200"})
    assert response.status_code == 200
    assert 'name="next" value="/offers/?gpu=H200"' in response.content.decode()


def test_sorting_by_a_hidden_column_shows_it_on_that_page_only(viewer_client, viewer):
    html = _page(viewer_client, order="-cuda_max_good")
    assert "CUDA" in _headers(html)
    assert re.search(r'aria-sort="descending"><a [^>]*>CUDA ▼', html)
    assert 'value="cuda_max_good">' in html  # the chooser still has it unticked
    assert not OfferColumns.objects.filter(user=viewer).exists()
    assert "CUDA" not in _headers(_page(viewer_client))


def test_the_columns_page_needs_a_login(client):
    response = client.post(reverse("offers:columns"), {"columns": ["gpu_name"]})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
