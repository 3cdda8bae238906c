"""The offer search page: filters → query JSON, value columns, sorting, errors, cache, htmx."""

import re
import time

import pytest
from django.core.cache import cache

from dashboard.vast import offer_cache
from vastsim import faults

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def _searches(upstream):
    return upstream.calls("POST", "/api/v0/bundles")


def _rows(response):
    """(offer id, row html) for each result row of the page."""
    html = response.content.decode()
    return re.findall(r'<tbody class="offer" data-offer-id="(\d+)">(.*?)</tbody>', html, re.S)


def test_full_page_has_filters_and_results(viewer_client, upstream):
    response = viewer_client.get("/offers/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<form id="offer-filters"' in html
    assert 'id="offer-results"' in html
    assert len(_rows(response)) == 64
    assert "hx-swap-oob" not in html


def test_htmx_request_gets_only_the_results_fragment(viewer_client, upstream):
    response = viewer_client.get("/offers/?num_gpus=2", headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="offer-results"')
    assert "<html" not in html
    assert "offer-filters" not in html
    assert 'id="errors-num_gpus" class="field-errors" hx-swap-oob="true"' in html


def test_history_restore_request_gets_the_full_page(viewer_client, upstream):
    response = viewer_client.get("/offers/?num_gpus=2", headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


def test_each_filter_is_translated_to_the_query_json(viewer_client, upstream):
    viewer_client.get(
        "/offers/?gpu=RTX+4090&gpu=H100+SXM&num_gpus=2&min_gpu_ram=24&max_dph=1.5&min_reliability=98"
        "&min_cuda=12.4&disk=50&min_inet_down=500&geolocation=US&geolocation=DE&verified=any"
        "&datacenter=on&type=bid&order=-dlperf_per_dphtotal"
    )
    (call,) = _searches(upstream)
    assert call.body == {
        "external": {"eq": False},
        "rentable": {"eq": True},
        "gpu_name": {"in": ["RTX 4090", "H100 SXM"]},
        "num_gpus": {"gte": 2},
        "gpu_ram": {"gte": 24064.0},
        "reliability": {"gte": 0.98},
        "cuda_max_good": {"gte": 12.4},
        "inet_down": {"gte": 500.0},
        "dph_total": {"lte": 1.5},
        "geolocation": {"in": ["US", "DE"]},
        "datacenter": {"eq": True},
        "order": [["dlperf_per_dphtotal", "desc"]],
        "type": "bid",
        "limit": 256,
        "allocated_storage": 50.0,
    }


def test_defaults_are_verified_on_demand_cheapest_first_with_ten_gb(viewer_client, upstream):
    viewer_client.get("/offers/?gpu=RTX+4090")
    (call,) = _searches(upstream)
    assert call.body["verified"] == {"eq": True}
    assert call.body["gpu_name"] == {"eq": "RTX 4090"}
    assert call.body["type"] == "on-demand"
    assert call.body["order"] == [["dph_total", "asc"]]
    assert call.body["allocated_storage"] == 10.0


def test_value_columns_are_per_gpu_and_per_dollar_with_storage_priced_in(viewer_client, viewer, upstream):
    from dashboard import vast
    from offers.columns import DEFAULT_FIELDS
    from offers.models import OfferColumns

    offers = vast.search_offers({"num_gpus": {"eq": 4}, "allocated_storage": 100, "limit": 1})
    offer = offers[0]
    assert offer.dph_total == pytest.approx(offer.dph_base + offer.storage_cost * 100 / 720)
    url = f"/offers/?num_gpus=4&disk=100&verified=any&max_dph={offer.dph_total + 0.001:.4f}"
    row = dict(_rows(viewer_client.get(url)))[str(offer.id)]
    assert f"${offer.dph_total:.3f}" in row
    assert f"${offer.dph_total / 4:.3f}" in row
    assert f"{offer.dlperf / offer.dph_total:.1f}" in row
    assert f"${offer.dph_base:.3f} + ${offer.storage_cost * 100 / 720:.4f}" in row  # the $/hr cell's tooltip
    # TFLOPS/$ is not a default column any more: the person adds it with the column chooser.
    assert f"{offer.total_flops / offer.dph_total:.1f}" not in row
    OfferColumns.objects.create(user=viewer, columns=[*DEFAULT_FIELDS, "flops_per_dphtotal"])
    row = dict(_rows(viewer_client.get(url)))[str(offer.id)]
    assert f"{offer.total_flops / offer.dph_total:.1f}" in row


def test_summary_line_names_count_and_cheapest_prices(viewer_client, upstream):
    response = viewer_client.get("/offers/?gpu=RTX+4090")
    html = response.content.decode()
    summary = re.search(r'data-testid="offers-summary">(.*?)</p>', html, re.S).group(1)
    count = len(_rows(response))
    assert re.search(rf"<strong>{count}</strong>\s+offers", summary)
    assert "cheapest" in summary
    assert "/GPU·hr" in summary


def test_server_side_sort_descending_by_dlperf(viewer_client, upstream):
    response = viewer_client.get("/offers/?order=-dlperf")
    assert _searches(upstream)[0].body["order"] == [["dlperf", "desc"]]
    html = response.content.decode()
    assert 'aria-sort="descending"' in html


def test_price_per_gpu_sort_is_done_locally_and_ascending(viewer_client, upstream):
    from dashboard import vast

    response = viewer_client.get("/offers/?order=price_per_gpu")
    ids = [int(offer_id) for offer_id, _ in _rows(response)]
    offers = {o.id: o for o in vast.search_offers_cached(vast.OfferSearch(order="price_per_gpu"))}
    prices = [offers[i].price_per_gpu for i in ids]
    assert prices == sorted(prices)


def test_column_headers_link_to_the_toggled_order_keeping_filters(viewer_client, upstream):
    html = viewer_client.get("/offers/?num_gpus=2&order=dph_total").content.decode()
    assert 'href="?num_gpus=2&amp;order=-dph_total"' in html
    assert 'href="?num_gpus=2&amp;order=-dlperf_per_dphtotal"' in html  # DLPerf itself moved to the chooser


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("max_dph=abc", "max_dph", "Enter a number."),
        ("min_reliability=150", "min_reliability", "less than or equal to 100"),
        ("num_gpus=0", "num_gpus", "greater than or equal to 1"),
        ("gpu=RTX_4090", "gpu", "Select a valid choice. RTX_4090 is not one of the available choices."),
        ("order=bogus", "order", "Cannot sort by"),
        ("geolocation=ZZZ", "geolocation", "Select a valid choice"),
    ],
)
def test_bad_input_is_a_form_error_next_to_the_field_and_no_search(viewer_client, upstream, query, field, message):
    response = viewer_client.get(f"/offers/?{query}", headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    errors = re.search(rf'<div id="errors-{field}" class="field-errors" hx-swap-oob="true">(.*?)</div>', html, re.S)
    assert message in errors.group(1)
    assert not _searches(upstream)


def test_empty_result_says_which_filter_to_loosen(viewer_client, upstream):
    response = viewer_client.get("/offers/?gpu=H100+SXM&max_dph=0.01")
    html = response.content.decode()
    assert 'data-testid="offers-empty"' in html
    assert "Drop max $/hr (0.01)" in html
    assert 'href="?gpu=H100+SXM"' in html


def test_identical_search_is_served_from_the_cache(viewer_client, operator_client, upstream):
    viewer_client.get("/offers/?gpu=RTX+4090")
    operator_client.get("/offers/?gpu=RTX+4090", headers=HX)
    assert len(_searches(upstream)) == 1
    viewer_client.get("/offers/?gpu=RTX+3090")
    assert len(_searches(upstream)) == 2
    cache.clear()
    viewer_client.get("/offers/?gpu=RTX+4090")
    assert len(_searches(upstream)) == 3


def test_chart_shows_each_gpu_model_of_the_results(viewer_client, upstream):
    html = viewer_client.get("/offers/?gpu=RTX+4090&gpu=RTX+3090").content.decode()
    svg = re.search(r'<svg [^>]*aria-label="Distribution of price.*?</svg>', html, re.S).group(0)  # not the bell
    assert 'class="chart-label">RTX 4090</text>' in svg
    assert 'class="chart-label">RTX 3090</text>' in svg
    assert svg.count("h0") == len(re.findall(r'<tbody class="offer"', html))  # one dot (a zero-length stroke) each


@pytest.mark.parametrize(
    ("fault", "status", "text"),
    [
        ({"status": 500}, 503, "Vast.ai"),
        ({"status": 502}, 503, "Vast.ai"),
        ({"status": 429, "retry_after": 30}, 429, "Try again in 30"),
        ({"status": 429}, 429, "Vast.ai"),
        ({"status": 401}, 502, "API key"),
        ({"kind": "malformed"}, 502, "Vast.ai"),
        ({"kind": "wrong_shape"}, 502, "Vast.ai"),
    ],
)
def test_upstream_failure_is_a_clear_message_in_the_results_with_filters_kept(
    viewer_client, upstream, fault, status, text
):
    faults.inject("bundles", **fault)
    response = viewer_client.get("/offers/?gpu=RTX+4090&num_gpus=2")
    assert response.status_code == status
    html = response.content.decode()
    results = html[html.index('id="offer-results"') :]
    assert 'data-testid="vast-error"' in results
    assert text in results
    assert "Traceback" not in html
    assert 'value="2"' in html  # the filter the person typed is still there
    partial = viewer_client.get("/offers/?gpu=RTX+4090&num_gpus=2", headers=HX)
    assert partial.status_code == status
    assert 'data-testid="vast-error"' in partial.content.decode()


def test_offer_details_show_every_field(viewer_client, upstream):
    first_id = _rows(viewer_client.get("/offers/"))[0][0]
    fragment = viewer_client.get(f"/offers/{first_id}/?disk=10", headers=HX).content.decode()
    assert 'data-testid="offer-fields"' in fragment
    for field in ("dph_base", "storage_cost", "dlperf", "machine_id", "geolocation", "cuda_max_good"):
        assert f"<dt>{field}</dt>" in fragment
    assert viewer_client.get(f"/offers/{first_id}/").status_code == 200


def test_missing_offer_detail_is_a_404(viewer_client, upstream):
    assert viewer_client.get("/offers/1/").status_code == 404


def test_the_api_key_never_reaches_the_page(viewer_client, settings, upstream, caplog):
    html = viewer_client.get("/offers/").content.decode()
    assert settings.VASTSIM_API_KEY not in html
    assert settings.VASTSIM_API_KEY not in caplog.text


def test_gpu_filter_offers_the_api_s_gpu_names(viewer_client, upstream):
    html = viewer_client.get("/offers/").content.decode()
    assert '<option value="RTX 4090"' in html
    viewer_client.get("/offers/")
    assert len(upstream.calls("GET", "gpu_names")) == 1


@pytest.mark.django_db(transaction=True)
def test_identical_searches_that_miss_together_ask_vast_once(monkeypatch):
    """Six identical searches miss the cache together: one asks Vast, five wait for its answer.
    The timing is driven explicitly: Vast's answer is held back until all five others have
    found the fetch lock taken, so no thread can arrive after the answer is cached."""
    import threading

    from django.core.cache import cache as real_cache

    from dashboard import vast

    class CountingCache:
        """The real cache, counting refused lock claims (a search waiting for another's fetch)."""

        def __init__(self):
            self.waiting = set()  # the threads refused the fetch lock at least once

        def add(self, key, *args, **kwargs):
            added = real_cache.add(key, *args, **kwargs)
            if not added and key.endswith(":lock"):
                self.waiting.add(threading.get_ident())
            return added

        def __getattr__(self, name):
            return getattr(real_cache, name)

    counting = CountingCache()
    monkeypatch.setattr(offer_cache, "cache", counting)
    answer = vast.search_offers(vast.OfferSearch(gpu_names=("RTX 4090",)).to_query())
    fetches, release = [], threading.Event()

    def fetch(query):
        fetches.append(query)
        assert release.wait(timeout=10), "the waiting searches never queued up"
        return answer

    search = vast.OfferSearch(gpu_names=("RTX 4090",))
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(len(offer_cache.search_offers_cached(search, fetch))))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(counting.waiting) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(counting.waiting) == 5
    assert len(fetches) == 1
    assert results == [len(answer)] * 6


def test_launch_links_carry_disk_type_and_the_search_to_come_back_to(operator_client, upstream):
    html = operator_client.get("/offers/?gpu=RTX+4090&disk=40&type=bid").content.decode()
    links = re.findall(r'href="/offers/\d+/launch/\?([^"]+)"', html)
    assert links
    assert links[0] == "disk=40&amp;type=bid&amp;back=gpu%3DRTX%2B4090%26disk%3D40%26type%3Dbid"


def test_when_vast_is_busy_an_earlier_answer_is_shown_and_marked(viewer_client, upstream):
    from dashboard import vast

    viewer_client.get("/offers/?gpu=RTX+4090")
    search = vast.OfferSearch(gpu_names=("RTX 4090",))
    # The 20 s window is over.
    cache.delete_many([offer_cache._offers_key(search), offer_cache._complete_index_key(search)])
    faults.inject("bundles", status=429)
    response = viewer_client.get("/offers/?gpu=RTX+4090")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="offers-stale"' in html
    assert "Vast.ai is busy right now" in html
    assert _rows(response)
    fresh = viewer_client.get("/offers/?gpu=RTX+3090")  # nothing earlier to show
    assert fresh.status_code == 429
    assert fresh.content.decode().count("Try again") <= 1


def test_offer_details_opened_from_the_results_ask_vast_nothing(viewer_client, upstream):
    first_id = _rows(viewer_client.get("/offers/?gpu=RTX+4090&disk=30"))[0][0]
    searches = len(_searches(upstream))
    fragment = viewer_client.get(f"/offers/{first_id}/?gpu=RTX+4090&disk=30", headers=HX)
    assert fragment.status_code == 200
    assert len(_searches(upstream)) == searches


def test_another_order_of_a_complete_answer_is_sorted_here_without_asking_vast(viewer_client, upstream):
    first = viewer_client.get("/offers/?gpu=H100+SXM&order=dph_total")
    assert 0 < len(_rows(first)) < 64  # every H100 offer fitted in one answer
    by_dlperf = viewer_client.get("/offers/?gpu=H100+SXM&order=-dlperf", headers=HX)
    assert len(_searches(upstream)) == 1
    from dashboard import vast

    expected = vast.search_offers({**vast.OfferSearch(gpu_names=("H100 SXM",), order="-dlperf").to_query()})
    assert [int(i) for i, _ in _rows(by_dlperf)] == [o.id for o in expected]


def test_an_incomplete_answer_serves_nothing_else(upstream):
    from dashboard import vast

    vast.search_offers_cached(vast.OfferSearch(limit=2))  # 8 of many: the cheapest, not the fastest
    vast.search_offers_cached(vast.OfferSearch(limit=2, order="-dlperf"))
    vast.search_offers_cached(vast.OfferSearch(limit=2, num_gpus=2))
    assert len(_searches(upstream)) == 3


def test_narrower_filters_are_served_from_a_complete_wider_answer(viewer_client, upstream):
    viewer_client.get("/offers/?gpu=RTX+4090&gpu=RTX+3090")
    narrower = viewer_client.get("/offers/?gpu=RTX+4090&num_gpus=2&order=-dlperf_per_dphtotal", headers=HX)
    assert len(_searches(upstream)) == 1
    from dashboard import vast

    expected = vast.search_offers(
        vast.OfferSearch(gpu_names=("RTX 4090",), num_gpus=2, order="-dlperf_per_dphtotal").to_query()
    )
    assert [int(i) for i, _ in _rows(narrower)] == [o.id for o in expected][:64]
    searches = len(_searches(upstream))
    other_disk = viewer_client.get("/offers/?gpu=RTX+4090&disk=100")  # priced differently: ask Vast
    assert other_disk.status_code == 200
    assert len(_searches(upstream)) == searches + 1


def test_when_vast_is_busy_a_narrower_search_is_served_from_an_earlier_wider_answer(viewer_client, upstream):
    from dashboard import vast

    viewer_client.get("/offers/?gpu=RTX+4090&gpu=RTX+3090")
    wide = vast.OfferSearch(gpu_names=("RTX 4090", "RTX 3090"))
    index_key = offer_cache._complete_index_key(wide)
    aged = [(search, as_of - 60, key) for search, as_of, key in cache.get(index_key)]  # a minute later
    cache.set(index_key, aged)
    cache.delete(offer_cache._offers_key(wide))
    faults.inject("bundles", status=429)
    response = viewer_client.get("/offers/?gpu=RTX+4090&num_gpus=2")
    assert response.status_code == 200
    assert 'data-testid="offers-stale"' in response.content.decode()
    assert all("RTX 4090" in row for _, row in _rows(response))
