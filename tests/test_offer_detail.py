"""The offer detail page: GPU, machine, network, host and price sections, raw fields behind a toggle."""

import re
from html import unescape

import pytest

from dashboard import vast
from dashboard.vast.values import Offer
from offers.details import EXAMPLE_TRANSFER_GB, price_breakdown

HX = {"HX-Request": "true"}


def _an_offer(disk=10.0, rental_type="on-demand"):
    search = vast.OfferSearch(disk_gb=disk, rental_type=rental_type, verified_only=False, limit=50)
    offers = vast.search_offers(search.to_query())
    # One that charges for bandwidth, so the $/TB and the estimate are real numbers.
    return next(o for o in offers if o.inet_down_cost), search


def _section(html, name):
    start = html.index(f'data-testid="offer-{name}"')
    return unescape(re.sub(r"\s+", " ", html[start : html.index("</section>", start)]))


def test_the_page_reads_in_sections_with_the_offers_numbers(viewer_client, upstream):
    offer, _ = _an_offer(disk=40)
    html = viewer_client.get(f"/offers/{offer.id}/?disk=40&verified=any").content.decode()

    gpu = _section(html, "gpu")
    assert f"{offer.num_gpus}× {offer.gpu_name}" in gpu
    assert f"{round(offer.gpu_ram / 1024)} GB each" in gpu
    assert f"{offer.total_flops:.1f}" in gpu
    assert f"{offer.dlperf:.1f}" in gpu
    assert f"up to {offer.cuda_max_good:.1f}" in gpu
    assert f"{offer.pcie_bw:.1f} GB/s" in gpu

    machine = _section(html, "machine")
    assert offer.cpu_name in machine
    assert f"{round(offer.cpu_ram / 1024)} GB" in machine
    assert offer.disk_name in machine
    assert f"{offer.disk_bw:.0f} MB/s" in machine

    network = _section(html, "network")
    assert f"↑ {offer.inet_up:.0f} Mbps · ↓ {offer.inet_down:.0f} Mbps" in network
    assert f"upload ${offer.inet_up_cost * 1024:.2f}/TB · download ${offer.inet_down_cost * 1024:.2f}/TB" in network
    assert "Open ports" in network

    host = _section(html, "host")
    assert f"{offer.reliability * 100:.2f}%" in host
    assert "Verified" in host
    assert "Datacenter" in host
    assert offer.geolocation in host
    assert re.search(r"Max duration</dt><dd>\d+ (d|h|min)", host.replace(" <", "<").replace("> ", ">"))


def test_the_price_breaks_down_for_the_chosen_disk(viewer_client, upstream):
    offer, search = _an_offer(disk=100)
    html = viewer_client.get(f"/offers/{offer.id}/?disk=100&verified=any").content.decode()
    price = _section(html, "price")
    storage = offer.storage_total_cost
    assert "Price with 100 GB of disk" in price
    assert f"Compute</dt><dd>${offer.dph_base:.3f}/hr" in price
    assert f"Storage</dt><dd>${storage:.3f}/hr" in price
    assert f"${offer.dph_base + storage:.3f}/hr" in price
    assert f"${offer.inet_down_cost * EXAMPLE_TRANSFER_GB:.2f} to download {EXAMPLE_TRANSFER_GB} GB" in price
    assert f"${offer.inet_up_cost * EXAMPLE_TRANSFER_GB:.2f} to upload" in price
    assert f"<strong>${offer.dph_total:.3f}/hr</strong>" in html  # the summary line: the same total


def test_an_interruptible_search_prices_the_minimum_bid(viewer_client, upstream):
    offer, _ = _an_offer(rental_type="bid")
    price = _section(viewer_client.get(f"/offers/{offer.id}/?type=bid&verified=any").content.decode(), "price")
    assert f'Compute</dt><dd>${offer.min_bid:.3f}/hr <span class="muted">(minimum bid, interruptible)' in price


def test_raw_fields_sit_behind_a_raw_toggle_in_the_page_and_the_row_fragment(viewer_client, upstream):
    offer, _ = _an_offer()
    for headers in ({}, HX):
        html = viewer_client.get(f"/offers/{offer.id}/?verified=any", headers=headers).content.decode()
        raw = html[html.index('<details class="raw-fields">') :]
        assert raw.startswith('<details class="raw-fields">\n        <summary>raw</summary>')
        assert f'<dt>inet_down_cost</dt><dd class="mono">{offer.inet_down_cost}</dd>' in raw
        assert 'data-testid="offer-gpu"' in html  # the row's Details shows the sections too
    fragment = viewer_client.get(f"/offers/{offer.id}/?verified=any", headers=HX).content.decode()
    assert "<h1>" not in fragment


def test_missing_fields_read_as_a_dash_not_as_zero():
    bare = Offer(id=7, gpu_name="RTX 4090", num_gpus=1, dph_total=0.5)
    price = price_breakdown(bare, vast.OfferSearch(disk_gb=20))
    assert (price.compute, price.storage, price.download, price.upload) == (None, None, None, None)
    assert price.total == 0.5  # Vast's total still holds for an on-demand offer
    assert price.per_day == pytest.approx(12.0)


def test_storage_falls_back_to_the_monthly_rate_for_the_disk():
    offer = Offer(id=7, gpu_name="RTX 4090", num_gpus=1, dph_total=0.5, dph_base=0.4, storage_cost=0.18)
    price = price_breakdown(offer, vast.OfferSearch(disk_gb=40))
    assert price.storage == pytest.approx(0.18 * 40 / 720)
    assert price.total == pytest.approx(0.4 + 0.01)
