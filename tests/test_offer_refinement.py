"""Narrower searches served from a complete wider answer must equal what Vast itself answers."""

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import vast
from dashboard.vast import OfferSearch, offer_cache
from dashboard.vast.search import LOCAL_SORTS, SORTABLE_FIELDS

pytestmark = pytest.mark.django_db

GPUS = ["RTX 4090", "RTX 3090", "H100 SXM", "A100 SXM4", "L40S", "RTX 5090", "Tesla V100"]
COUNTRIES = ["US", "DE", "CA", "GB", "FR", "NL", "JP", "SE", "PL"]
ORDERS = [*SORTABLE_FIELDS, *LOCAL_SORTS]

searches = st.builds(
    OfferSearch,
    gpu_names=st.lists(st.sampled_from(GPUS), max_size=3, unique=True).map(tuple),
    num_gpus=st.none() | st.sampled_from([1, 2, 4, 8]),
    min_gpu_ram_gb=st.none() | st.sampled_from([12, 24, 40, 48, 80]),
    max_dph=st.none() | st.floats(min_value=0.05, max_value=20),
    min_reliability_pct=st.none() | st.floats(min_value=80, max_value=100),
    min_cuda=st.none() | st.sampled_from([11.8, 12.0, 12.4, 12.8]),
    min_inet_down=st.none() | st.sampled_from([100.0, 500.0, 1000.0]),
    countries=st.lists(st.sampled_from(COUNTRIES), max_size=3, unique=True).map(tuple),
    verified_only=st.booleans(),
    datacenter_only=st.booleans(),
    rental_type=st.sampled_from(["on-demand", "bid", "reserved"]),
    disk_gb=st.sampled_from([10.0, 50.0]),
    order=st.sampled_from(ORDERS).flatmap(lambda f: st.sampled_from([f, f"-{f}"])),
)


def _sort_values(search, offers):
    field = search.sort_field
    return [LOCAL_SORTS[field](o) if field in LOCAL_SORTS else o.raw.get(field) for o in offers]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(narrow=searches)
def test_a_narrower_search_filtered_locally_equals_vasts_answer(upstream, narrow):
    narrow = dataclasses.replace(narrow, limit=1000)  # no cut: ties at a cut may fall either way
    wide = OfferSearch(rental_type=narrow.rental_type, disk_gb=narrow.disk_gb, verified_only=False)
    assert wide.covers(narrow)
    everything = vast.search_offers(wide.to_query())
    assert len(everything) < wide.to_query()["limit"]  # complete: the catalog fits
    local = narrow.arrange(offer_cache._in_order(narrow, [o for o in everything if narrow.matches(o)]))
    remote = narrow.arrange(vast.search_offers(narrow.to_query()))
    assert {o.id for o in local} == {o.id for o in remote}
    mine, theirs = _sort_values(narrow, local), _sort_values(narrow, remote)
    if all(isinstance(v, int | float) for v in mine + theirs):
        # `duration` counts down between the two calls, hence approx.
        assert mine == pytest.approx(theirs, rel=1e-6)
    else:
        assert mine == theirs


def test_covers_needs_the_same_pricing_and_looser_filters():
    base = OfferSearch(gpu_names=("RTX 4090", "RTX 3090"), num_gpus=2, max_dph=1.0)
    assert base.covers(OfferSearch(gpu_names=("RTX 4090",), num_gpus=4, max_dph=0.5))
    assert not base.covers(OfferSearch(gpu_names=("RTX 4090",), num_gpus=1, max_dph=0.5))
    assert not base.covers(OfferSearch(num_gpus=2, max_dph=0.5))  # any GPU is wider
    assert not base.covers(OfferSearch(gpu_names=("RTX 4090",), num_gpus=2, max_dph=2.0))
    assert not base.covers(OfferSearch(gpu_names=("RTX 4090",), num_gpus=2, max_dph=1.0, disk_gb=20))
    assert not base.covers(OfferSearch(gpu_names=("RTX 4090",), num_gpus=2, max_dph=1.0, verified_only=False))
    assert OfferSearch(verified_only=False).covers(OfferSearch(datacenter_only=True, countries=("US",)))
