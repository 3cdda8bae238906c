"""What the offer detail page shows beyond the offer's own fields: its price for the chosen disk."""

from dataclasses import dataclass

from dashboard.vast import Offer, OfferSearch

HOURS_PER_MONTH = 720  # Vast bills storage_cost ($/GB/month) over 30-day months
EXAMPLE_TRANSFER_GB = 100  # the bandwidth estimate: one model or dataset of this size in, results out


@dataclass(frozen=True, kw_only=True)
class PriceBreakdown:
    """$/hr for the GPUs (the minimum bid for an interruptible search) and for the disk, their
    total, and the estimated bandwidth cost of moving EXAMPLE_TRANSFER_GB each way (billed apart)."""

    disk_gb: float
    interruptible: bool
    compute: float | None
    storage: float | None
    total: float | None
    transfer_gb: int
    download: float | None
    upload: float | None

    @property
    def per_day(self) -> float | None:
        return None if self.total is None else self.total * 24


def price_breakdown(offer: Offer, search: OfferSearch) -> PriceBreakdown:
    interruptible = search.rental_type == "bid"
    compute = offer.min_bid if interruptible else offer.dph_base
    storage = offer.storage_total_cost
    if storage is None and offer.storage_cost is not None:
        storage = offer.storage_cost * search.disk_gb / HOURS_PER_MONTH
    total = None if compute is None or storage is None else compute + storage
    if total is None and not interruptible:
        total = offer.dph_total
    return PriceBreakdown(
        disk_gb=search.disk_gb,
        interruptible=interruptible,
        compute=compute,
        storage=storage,
        total=total,
        transfer_gb=EXAMPLE_TRANSFER_GB,
        download=_times(offer.inet_down_cost, EXAMPLE_TRANSFER_GB),
        upload=_times(offer.inet_up_cost, EXAMPLE_TRANSFER_GB),
    )


def _times(per_gb: float | None, gb: float) -> float | None:
    return None if per_gb is None else per_gb * gb
