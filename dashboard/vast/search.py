"""The offer search page's filters, turned into Vast's query grammar (reference §2.2).

`OfferSearch` speaks the page's units (GB, percent, countries); `to_query()` speaks the
API's (MB, fractions, `{"field": {"op": value}}`). Sorts Vast cannot do itself
(`LOCAL_SORTS`) are applied to the fetched offers by `arrange()`.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from dashboard.vast.values import Offer, min_vram_mb

# Offer columns Vast orders by on the server ("-" prefix for descending).
SORTABLE_FIELDS: Final = frozenset(
    {
        "id", "dph_total", "dph_base", "min_bid", "storage_cost", "score", "dlperf", "dlperf_per_dphtotal",
        "flops_per_dphtotal", "total_flops", "reliability", "cuda_max_good", "compute_cap", "num_gpus",
        "gpu_ram", "gpu_total_ram", "cpu_cores_effective", "cpu_ram", "disk_space", "disk_bw", "pcie_bw",
        "inet_up", "inet_down", "duration", "direct_port_count",
    }
)  # fmt: skip
# Sorts on derived or text values, done here on the offers Vast returned.
LOCAL_SORTS: Final[dict[str, Callable[[Offer], Any]]] = {
    "price_per_gpu": lambda offer: offer.price_per_gpu,
    "gpu_name": lambda offer: offer.gpu_name,
    "geolocation": lambda offer: offer.geolocation,
}
# Every search asks Vast for this many times the offers shown: a local sort sees only what Vast
# returned, and an answer that holds every match serves other orders and narrower filters locally.
FETCH_FACTOR = 4


@dataclass(frozen=True, kw_only=True)
class OfferSearch:
    """The offer filters in the page's units. None (or an empty tuple) means "no filter";
    `order` is a field of SORTABLE_FIELDS or LOCAL_SORTS, prefixed with "-" for descending."""

    gpu_names: Sequence[str] = ()
    num_gpus: int | None = None
    min_gpu_ram_gb: float | None = None
    max_dph: float | None = None
    min_reliability_pct: float | None = None
    min_cuda: float | None = None
    disk_gb: float = 10.0
    min_inet_down: float | None = None
    countries: Sequence[str] = ()
    verified_only: bool = True
    datacenter_only: bool = False
    rental_type: Literal["on-demand", "bid", "reserved"] = "on-demand"
    order: str = "dph_total"
    limit: int = 64
    offer_id: int | None = None

    def __post_init__(self) -> None:
        if self.order.lstrip("-") not in SORTABLE_FIELDS | LOCAL_SORTS.keys():
            raise ValueError(f"cannot sort offers by {self.order!r}")
        if self.rental_type not in ("on-demand", "bid", "reserved"):
            raise ValueError(f"unknown rental type {self.rental_type!r}")

    @property
    def descending(self) -> bool:
        return self.order.startswith("-")

    @property
    def sort_field(self) -> str:
        return self.order.lstrip("-")

    def to_query(self) -> dict[str, Any]:
        """The POST /bundles/ body: the CLI's defaults (external false, rentable true, verified
        unless "any"), the filters with RAM in MB (VRAM down to what shows as the GB asked, see
        `min_vram_mb`) and reliability as a fraction, then order, type, limit and the disk to
        price in (`allocated_storage`)."""
        query: dict[str, Any] = {"external": {"eq": False}, "rentable": {"eq": True}}
        if self.verified_only:
            query["verified"] = {"eq": True}
        if self.gpu_names:
            names = list(self.gpu_names)
            query["gpu_name"] = {"eq": names[0]} if len(names) == 1 else {"in": names}
        at_least = {
            "num_gpus": self.num_gpus,
            "gpu_ram": None if self.min_gpu_ram_gb is None else min_vram_mb(self.min_gpu_ram_gb),
            "reliability": None if self.min_reliability_pct is None else self.min_reliability_pct / 100,
            "cuda_max_good": self.min_cuda,
            "inet_down": self.min_inet_down,
        }
        query.update({field: {"gte": value} for field, value in at_least.items() if value is not None})
        if self.max_dph is not None:
            query["dph_total"] = {"lte": self.max_dph}
        if self.countries:
            query["geolocation"] = {"in": list(self.countries)}
        if self.datacenter_only:
            query["datacenter"] = {"eq": True}
        if self.offer_id is not None:
            query["id"] = {"eq": self.offer_id}
        if self.sort_field in LOCAL_SORTS:
            query["order"] = [["dph_total", "asc"]]
        else:
            query["order"] = [[self.sort_field, "desc" if self.descending else "asc"]]
        query["limit"] = self.limit * FETCH_FACTOR
        query["type"] = self.rental_type
        query["allocated_storage"] = float(self.disk_gb)
        return query

    def covers(self, narrower: "OfferSearch") -> bool:
        """Whether every offer `narrower` finds is also found by this search (same pricing: rental
        type and disk), so that a complete answer to this one can be filtered down to it."""
        if (self.rental_type, self.disk_gb) != (narrower.rental_type, narrower.disk_gb):
            return False
        at_least = ("num_gpus", "min_gpu_ram_gb", "min_reliability_pct", "min_cuda", "min_inet_down")
        for name in at_least:
            mine, theirs = getattr(self, name), getattr(narrower, name)
            if mine is not None and (theirs is None or theirs < mine):
                return False
        if self.max_dph is not None and (narrower.max_dph is None or narrower.max_dph > self.max_dph):
            return False
        for name in ("gpu_names", "countries"):
            mine, theirs = set(getattr(self, name)), set(getattr(narrower, name))
            if mine and (not theirs or not theirs <= mine):
                return False
        if self.offer_id is not None and narrower.offer_id != self.offer_id:
            return False
        return (not self.verified_only or narrower.verified_only) and (
            not self.datacenter_only or narrower.datacenter_only
        )

    def matches(self, offer: Offer) -> bool:
        """Whether `offer` passes this search's filters, as Vast applies them (see to_query)."""

        def at_least(value: float | None, bound: float | None) -> bool:
            return bound is None or (value is not None and value >= bound)

        return (
            (not self.gpu_names or offer.gpu_name in self.gpu_names)
            and at_least(offer.num_gpus, self.num_gpus)
            and at_least(offer.gpu_ram, None if self.min_gpu_ram_gb is None else min_vram_mb(self.min_gpu_ram_gb))
            and (self.max_dph is None or offer.dph_total <= self.max_dph)
            and at_least(
                offer.reliability, None if self.min_reliability_pct is None else self.min_reliability_pct / 100
            )
            and at_least(offer.cuda_max_good, self.min_cuda)
            and at_least(offer.inet_down, self.min_inet_down)
            and (not self.countries or offer.country in self.countries)
            and (not self.verified_only or offer.verified)
            and (not self.datacenter_only or bool(offer.datacenter))
            and (self.offer_id is None or offer.id == self.offer_id)
        )

    def arrange(self, offers: list[Offer], limit: int | None = -1) -> list[Offer]:
        """Apply a local sort (missing values last) and the limit (`limit=None`: the whole
        answer); a server sort is kept as is."""
        limit = self.limit if limit == -1 else limit
        key = LOCAL_SORTS.get(self.sort_field)
        if key is None:
            return offers[:limit]
        known = [offer for offer in offers if key(offer) is not None]
        unknown = [offer for offer in offers if key(offer) is None]
        return (sorted(known, key=key, reverse=self.descending) + unknown)[:limit]
