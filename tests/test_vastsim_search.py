"""The simulator's offer search: catalog, query grammar and pricing, driven through the transport."""

import json
import time

import httpx
import pytest

from vastsim import catalog
from vastsim.transport import SimulatorTransport

pytestmark = pytest.mark.django_db
KEY = "simulated-vast-key"


@pytest.fixture
def api(settings):
    settings.VASTSIM_API_KEY = KEY
    with httpx.Client(
        transport=SimulatorTransport(), base_url="https://console.vast.ai", headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        yield client


def search(api, query):
    response = api.post("/api/v0/bundles/", json=query)
    assert response.status_code == 200, response.text
    return response.json()["offers"]


def ids(offers):
    return [offer["id"] for offer in offers]


def test_catalog_is_large_varied_and_deterministic(settings):
    offers = catalog.offers(settings.VASTSIM_SEED)
    assert len(offers) >= 150
    assert len({o["gpu_name"] for o in offers}) >= 10
    assert {o["num_gpus"] for o in offers} == {1, 2, 4, 8}
    assert len({o["geolocation"][-2:] for o in offers}) >= 15
    assert len({o["id"] for o in offers}) == len(offers)
    catalog.offers.cache_clear()
    assert catalog.offers(settings.VASTSIM_SEED) == offers
    assert catalog.offers(settings.VASTSIM_SEED + 1) != offers


def test_catalog_prices_are_realistic_per_gpu_hour(settings):
    ranges = {"H100 SXM": (1.5, 2.7), "RTX 4090": (0.2, 0.55), "RTX 3090": (0.1, 0.26), "RTX 5090": (0.45, 0.95)}
    for offer in catalog.offers(settings.VASTSIM_SEED):
        if offer["gpu_name"] in ranges:
            low, high = ranges[offer["gpu_name"]]
            assert low <= offer["dph_base"] / offer["num_gpus"] <= high, offer


def test_offers_carry_every_reference_field_in_its_unit(api):
    offer = search(api, {"gpu_name": {"eq": "RTX 4090"}, "num_gpus": {"eq": 1}, "limit": 1})[0]
    for field in [
        "id",
        "ask_contract_id",
        "bundle_id",
        "bundled_results",
        "machine_id",
        "host_id",
        "gpu_name",
        "num_gpus",
        "gpu_ram",
        "gpu_total_ram",
        "gpu_frac",
        "gpu_ids",
        "gpu_arch",
        "gpu_lanes",
        "gpu_mem_bw",
        "gpu_max_power",
        "gpu_max_temp",
        "gpu_display_active",
        "compute_cap",
        "cuda_max_good",
        "driver_version",
        "driver_vers",
        "bw_nvlink",
        "total_flops",
        "dlperf",
        "dlperf_per_dphtotal",
        "flops_per_dphtotal",
        "score",
        "cpu_name",
        "cpu_arch",
        "cpu_cores",
        "cpu_cores_effective",
        "cpu_ghz",
        "cpu_ram",
        "mobo_name",
        "pci_gen",
        "pcie_bw",
        "has_avx",
        "disk_space",
        "disk_bw",
        "disk_name",
        "inet_up",
        "inet_down",
        "inet_up_cost",
        "inet_down_cost",
        "internet_up_cost_per_tb",
        "internet_down_cost_per_tb",
        "direct_port_count",
        "static_ip",
        "public_ipaddr",
        "geolocation",
        "geolocode",
        "dph_base",
        "dph_total",
        "storage_cost",
        "storage_total_cost",
        "vram_costperhour",
        "min_bid",
        "is_bid",
        "credit_discount_max",
        "discount_rate",
        "discounted_hourly",
        "discounted_dph_total",
        "dph_total_adj",
        "search",
        "instance",
        "reliability",
        "reliability2",
        "reliability_mult",
        "expected_reliability",
        "verification",
        "vericode",
        "rentable",
        "rented",
        "external",
        "hosting_type",
        "vms_enabled",
        "is_vm_deverified",
        "os_version",
        "start_date",
        "end_date",
        "duration",
        "time_remaining",
        "time_remaining_isbid",
        "hostname",
        "webpage",
        "logo",
        "resource_type",
    ]:
        assert field in offer, field
    assert offer["gpu_ram"] == 24564  # MB
    assert offer["external"] is None
    assert offer["driver_vers"] == catalog.driver_vers(offer["driver_version"])
    assert 0 < offer["reliability"] <= 1
    assert offer["duration"] == pytest.approx(offer["end_date"] - time.time(), abs=5)  # seconds left


def test_search_without_conditions_orders_by_score_desc_and_defaults_to_64(api):
    offers = search(api, {})
    assert len(offers) == 64
    scores = [o["score"] for o in offers]
    assert scores == sorted(scores, reverse=True)


def test_eq_and_neq_filter_exactly(api):
    assert {o["gpu_name"] for o in search(api, {"gpu_name": {"eq": "H100 SXM"}})} == {"H100 SXM"}
    assert "RTX 4090" not in {o["gpu_name"] for o in search(api, {"gpu_name": {"neq": "RTX 4090"}, "limit": 500})}


def test_ordering_ops_compare_numeric_strings_as_numbers(api):
    offers = search(api, {"num_gpus": {"gte": "2", "lt": "8"}, "limit": 500})
    assert offers
    assert {o["num_gpus"] for o in offers} == {2, 4}
    assert all(o["dph_total"] > 1.0 for o in search(api, {"dph_total": {"gt": "1.0"}}))
    assert all(o["dph_total"] <= 0.3 for o in search(api, {"dph_total": {"lte": "0.3"}}))


def test_in_and_notin_take_lists(api):
    names = {o["gpu_name"] for o in search(api, {"gpu_name": {"in": ["RTX 4090", "RTX 3090"]}, "limit": 500})}
    assert names == {"RTX 4090", "RTX 3090"}
    counts = {o["num_gpus"] for o in search(api, {"num_gpus": {"notin": ["1", "2"]}, "limit": 500})}
    assert counts == {4, 8}


def test_ram_filters_are_in_megabytes(api):
    offers = search(api, {"gpu_ram": {"gte": 80000.0}, "limit": 500})
    assert offers
    assert {o["gpu_name"] for o in offers} <= {"H200", "H100 SXM", "A100 SXM4"}
    assert ids(search(api, {"gpu_ram_GB": {"gte": 80}, "limit": 500})) == ids(offers)


def test_order_list_sorts_by_each_field_and_direction(api):
    offers = search(api, {"order": [["num_gpus", "desc"], ["dph_total", "asc"]], "limit": 500})
    keys = [(-o["num_gpus"], o["dph_total"]) for o in offers]
    assert keys == sorted(keys)


def test_limit_caps_results(api):
    assert len(search(api, {"limit": 3})) == 3
    assert len(search(api, {"limit": "5"})) == 5


def test_spaced_gpu_names_match_exactly_and_underscores_find_nothing(api):
    assert search(api, {"gpu_name": {"eq": "RTX 4090"}})
    response = api.post("/api/v0/bundles/", json={"gpu_name": {"eq": "RTX_4090"}})
    assert response.status_code == 200
    assert response.json() == {"offers": []}
    assert search(api, {"gpu_name": {"eq": "rtx 4090"}}) == []


def test_external_null_counts_as_false(api):
    assert search(api, {"external": {"eq": False}, "limit": 500})
    assert search(api, {"external": {"eq": True}}) == []


def test_geolocation_matches_the_country_code(api):
    offers = search(api, {"geolocation": {"in": ["DE", "NL"]}, "limit": 500})
    assert offers
    assert {o["geolocation"][-2:] for o in offers} == {"DE", "NL"}
    assert all(o["geolocation"].endswith(", US") for o in search(api, {"geolocation": {"eq": "US"}}))
    assert "US" not in {o["geolocation"][-2:] for o in search(api, {"geolocation": {"neq": "US"}, "limit": 500})}


def test_virtual_columns_and_aliases(api):
    for offer in search(api, {"datacenter": {"eq": True}, "limit": 500}):
        assert offer["hosting_type"] == 1
    for offer in search(api, {"verified": {"eq": False}, "limit": 500}):
        assert offer["verification"] != "verified"
    assert ids(search(api, {"reliability2": {"gt": "0.99"}})) == ids(search(api, {"reliability": {"gt": "0.99"}}))
    assert ids(search(api, {"dphtotal": {"lt": 0.5}})) == ids(search(api, {"dph_total": {"lt": 0.5}}))
    assert all(o["driver_vers"] >= 570000000 for o in search(api, {"driver_version": {"gte": "570.0.0"}}))
    assert all(o["duration"] >= 30 * 86400 for o in search(api, {"duration": {"gte": 30 * 86400.0}}))


def test_cli_default_query_is_accepted(api):
    query = {
        "verified": {"eq": True},
        "external": {"eq": False},
        "rentable": {"eq": True},
        "gpu_name": {"eq": "RTX 4090"},
        "num_gpus": {"gte": "2"},
        "gpu_ram": {"gte": 20000.0},
        "reliability": {"gt": "0.98"},
        "order": [["dph_total", "asc"]],
        "type": "on-demand",
        "limit": 10,
        "allocated_storage": 5.0,
    }
    offers = search(api, query)
    assert 0 < len(offers) <= 10
    assert all(o["gpu_name"] == "RTX 4090" and o["num_gpus"] >= 2 and o["reliability"] > 0.98 for o in offers)
    assert [o["dph_total"] for o in offers] == sorted(o["dph_total"] for o in offers)


def test_pricing_adds_storage_for_allocated_gb(api):
    offer = search(api, {"allocated_storage": 40, "limit": 1})[0]
    storage = offer["storage_cost"] * 40 / 720
    assert offer["storage_total_cost"] == pytest.approx(storage)
    assert offer["dph_total"] == pytest.approx(offer["dph_base"] + storage)
    assert offer["dlperf_per_dphtotal"] == pytest.approx(offer["dlperf"] / offer["dph_total"])
    assert offer["flops_per_dphtotal"] == pytest.approx(offer["total_flops"] / offer["dph_total"])
    assert offer["search"] == {
        "gpuCostPerHour": offer["dph_base"],
        "diskHour": offer["storage_total_cost"],
        "totalHour": offer["dph_total"],
        "discountTotalHour": 0.0,
        "discountedTotalPerHour": offer["dph_total"],
    }


def test_allocated_storage_filters_disk_space(api):
    offers = search(api, {"allocated_storage": 2000, "limit": 500})
    assert offers
    assert all(o["disk_space"] >= 2000 for o in offers)
    assert len(offers) < len(search(api, {"allocated_storage": 5, "limit": 500}))


def test_bid_type_prices_at_min_bid(api):
    on_demand = {o["id"]: o for o in search(api, {"limit": 500})}
    for offer in search(api, {"type": "bid", "limit": 20}):
        assert offer["is_bid"] is True
        assert offer["dph_base"] == on_demand[offer["id"]]["min_bid"]
        assert offer["dph_total"] == pytest.approx(offer["min_bid"] + offer["storage_total_cost"])


def test_reserved_type_discounts_and_both_on_demand_spellings_agree(api):
    for offer in search(api, {"type": "reserved", "limit": 20}):
        expected = offer["dph_base"] * (1 - offer["discount_rate"]) + offer["storage_total_cost"]
        assert offer["discount_rate"] > 0
        assert offer["discounted_dph_total"] == pytest.approx(expected)
        assert offer["discounted_dph_total"] < offer["dph_total"]
    assert ids(search(api, {"type": "ondemand"})) == ids(search(api, {"type": "on-demand"}))


def test_unknown_operator_is_a_400_with_invalid_query_message(api):
    response = api.post("/api/v0/bundles/", json={"num_gpus": {"like": 2}})
    assert response.status_code == 400
    assert response.json()["msg"].startswith("Invalid query: ")
    assert "error" in response.json()


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"num_gpus": 2},
        {"num_gpus": {"in": "2"}},
        {"type": "spot"},
        {"order": [["score", "sideways"]]},
        {"no_such_field": {"eq": 1}},
        {"limit": "many"},
    ],
)
def test_bad_queries_are_400(api, body):
    response = api.post("/api/v0/bundles/", json=body)
    assert response.status_code == 400
    assert response.json()["msg"].startswith("Invalid query: ")


def test_invalid_json_body_is_400(api):
    response = api.post("/api/v0/bundles/", content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "msg": "Invalid json body"}


def test_get_bundles_takes_the_query_in_q_and_needs_no_key(settings):
    with httpx.Client(transport=SimulatorTransport(), base_url="https://console.vast.ai") as anonymous:
        q = json.dumps({"gpu_name": {"eq": "RTX 3090"}, "limit": 4})
        response = anonymous.get("/api/v0/bundles", params={"q": q, "select_cols": '["id","gpu_name"]'})
        assert response.status_code == 200
        offers = response.json()["offers"]
        assert len(offers) == 4
        assert all(set(o) == {"id", "gpu_name"} and o["gpu_name"] == "RTX 3090" for o in offers)
        assert anonymous.post("/api/v0/bundles/", json={"limit": 1}).status_code == 200


def test_gpu_names_lists_the_spaced_names_publicly():
    with httpx.Client(transport=SimulatorTransport(), base_url="https://console.vast.ai") as anonymous:
        names = anonymous.get("/api/v0/gpu_names/unique/").json()["gpu_names"]
    assert "RTX 4090" in names
    assert "H100 SXM" in names
    assert len(names) >= 10
