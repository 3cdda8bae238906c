"""Offer and instance pricing, as the real API computes it (vast-api.md §2.5).

storage_total_cost = storage_cost ($/GB/month) x GB / 720 gives $/hr, and
dph_total = dph_base + storage_total_cost. A bid search prices the GPUs at
`min_bid`; a reserved search adds the prepay discount.
"""

import math

HOURS_PER_MONTH = 30 * 24
RENTAL_TYPES = {"on-demand": "on-demand", "ondemand": "on-demand", "bid": "bid", "reserved": "reserved"}


def storage_hourly(storage_cost, gb):
    """$/hr for `gb` GB of disk at `storage_cost` $/GB/month."""
    return storage_cost * gb / HOURS_PER_MONTH


def breakdown(dph_base, storage_total_cost, discounted_total):
    """The `search`/`instance` price breakdown object."""
    total = dph_base + storage_total_cost
    return {
        "gpuCostPerHour": dph_base,
        "diskHour": storage_total_cost,
        "totalHour": total,
        "discountTotalHour": total - discounted_total,
        "discountedTotalPerHour": discounted_total,
    }


def _ratio(value, dph_total):
    """`value / dph_total`, or None when the price is zero."""
    return value / dph_total if dph_total else None


def price_offer(offer, *, storage_gb, kind, now):
    """A copy of a catalog offer with the prices for a search of type `kind`
    (on-demand, bid or reserved) allocating `storage_gb` GB, and the fields
    that depend on the time `now`."""
    priced = dict(offer)
    start_offset = priced.pop("start_offset")
    end_offset = priced.pop("end_offset")
    day = math.floor(now / 86400) * 86400
    priced["start_date"] = round(day - start_offset, 1)
    priced["end_date"] = round(day + end_offset, 1)
    priced["duration"] = priced["end_date"] - now

    dph_base = offer["min_bid"] if kind == "bid" else offer["dph_base"]
    storage_total_cost = storage_hourly(offer["storage_cost"], storage_gb)
    dph_total = dph_base + storage_total_cost
    discount_rate = offer["credit_discount_max"] if kind == "reserved" else 0.0
    discounted_hourly = dph_base * (1 - discount_rate) if kind == "reserved" else 0.0
    discounted_total = discounted_hourly + storage_total_cost if kind == "reserved" else dph_total
    priced.update(
        dph_base=dph_base,
        dph_total=dph_total,
        storage_total_cost=storage_total_cost,
        vram_costperhour=dph_base / (offer["gpu_total_ram"] / 1024),
        is_bid=kind == "bid",
        discount_rate=discount_rate,
        discounted_hourly=discounted_hourly,
        discounted_dph_total=discounted_total,
        dph_total_adj=discounted_total,
        dlperf_per_dphtotal=_ratio(offer["dlperf"], dph_total),
        flops_per_dphtotal=_ratio(offer["total_flops"], dph_total),
    )
    priced["search"] = breakdown(dph_base, storage_total_cost, discounted_total)
    priced["instance"] = breakdown(dph_base, storage_total_cost, discounted_total)
    return priced
