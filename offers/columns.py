"""The offers table's columns: what each shows, which show by default, and each person's choice.

A cell is HTML computed once per offer here (precomputed display values), so the table's template
is a short loop and a rendered row can be cached (offers/rows.py). The values of the columns a
person hides stay in the row's Details (every field of the offer).
"""

from collections.abc import Callable
from dataclasses import dataclass
from html import escape  # what django.utils.html.escape calls, without its lazy-string wrapper (64 rows × 8 cells)

from django.utils.safestring import SafeString, mark_safe

from dashboard.templatetags.units import vram
from dashboard.vast import Offer, OfferSearch


def _num(value, places: int, suffix: str = "") -> str:
    """`value` with `places` decimals and `suffix`, or "—" when Vast did not say."""
    if value is None:
        return "—"
    try:
        return f"{float(value):.{places}f}{suffix}"
    except (TypeError, ValueError):
        return "—"


def _gpu(offer: Offer, search: OfferSearch) -> str:
    badges = ""
    if offer.verified and not search.verified_only:  # a verified-only search says so once, in its filters
        badges += ' <span class="badge badge-verified">verified</span>'
    if offer.datacenter:
        badges += ' <span class="badge badge-datacenter">datacenter</span>'
    return f"{offer.num_gpus}× {escape(offer.gpu_name)}{badges}"  # bold: offers.css


def _price(offer: Offer, search: OfferSearch) -> str:
    html = f"<strong>${_num(offer.dph_total, 3)}</strong>"
    if search.rental_type == "bid":
        html += f' <span class="muted">bid ≥ ${_num(offer.min_bid, 3)}</span>'
    return html


def _price_title(offer: Offer, search: OfferSearch) -> str:
    return f"${_num(offer.dph_base, 3)} + ${_num(offer.storage_total_cost, 4)} (GPU + storage)"


@dataclass(frozen=True)
class Column:
    """A column: its sort `field` (also its name in the chooser and the stored choice), header
    `label`, whether it is `numeric` (right-aligned) and shown by `default`, its cell's `html`, and
    the cell's own tooltip (`title`)."""

    field: str
    label: str
    numeric: bool
    default: bool
    html: Callable[[Offer, OfferSearch], str]
    title: Callable[[Offer, OfferSearch], str] | None = None


COLUMNS = (
    Column("gpu_name", "GPU", False, True, _gpu),
    Column("id", "ID", False, False, lambda o, s: str(o.id)),
    Column("gpu_ram", "VRAM/GPU", True, True, lambda o, s: vram(o.gpu_ram)),
    Column("dph_total", "$/hr", True, True, _price, _price_title),
    Column("price_per_gpu", "$/GPU·hr", True, True, lambda o, s: f"${_num(o.price_per_gpu, 3)}"),
    Column("dlperf", "DLPerf", True, False, lambda o, s: _num(o.dlperf, 1)),
    Column("dlperf_per_dphtotal", "DLPerf/$", True, True, lambda o, s: _num(o.dlperf_per_dphtotal, 1)),
    Column("flops_per_dphtotal", "TFLOPS/$", True, False, lambda o, s: _num(o.flops_per_dphtotal, 1)),
    Column("reliability", "Reliability", True, True, lambda o, s: _num(o.reliability_percent, 2, "%")),
    Column("cuda_max_good", "CUDA", True, False, lambda o, s: _num(o.cuda_max_good, 1)),
    Column(
        "cpu_cores_effective", "CPU / RAM", True, False,
        lambda o, s: f"{_num(o.cpu_cores_effective, 0)} vCPU / {_num(o.cpu_ram_gb, 0)} GB",
    ),
    Column(
        "disk_space", "Disk / bw", True, False, lambda o, s: f"{_num(o.disk_space, 0)} GB / {_num(o.disk_bw, 0)} MB/s"
    ),
    Column("inet_down", "Up / down Mbps", True, False, lambda o, s: f"{_num(o.inet_up, 0)} / {_num(o.inet_down, 0)}"),
    Column("geolocation", "Location", False, True, lambda o, s: escape(o.geolocation or "—")),
    Column("duration", "Max days", True, False, lambda o, s: _num(o.max_days, 1)),
)  # fmt: skip
BY_FIELD = {column.field: column for column in COLUMNS}
DEFAULT_FIELDS = tuple(column.field for column in COLUMNS if column.default)
# The GPU column names the row; it cannot be hidden.
REQUIRED_FIELDS = ("gpu_name",)


def normalised(fields) -> tuple[str, ...]:
    """Known `fields` in table order, with the required ones; the defaults when none is known."""
    wanted = set(fields or ()) & set(BY_FIELD)
    if not wanted:
        return DEFAULT_FIELDS
    wanted |= set(REQUIRED_FIELDS)
    return tuple(column.field for column in COLUMNS if column.field in wanted)


def showing(fields: tuple[str, ...], order: str) -> tuple[str, ...]:
    """`fields` plus the column the page is sorted by, if it is one: a sort shows what it sorts."""
    field = order.lstrip("-")
    return normalised((*fields, field)) if field in BY_FIELD and field not in fields else fields


def chosen(user) -> tuple[str, ...]:
    """The columns `user` chose for the offers table (stored per person), or the defaults."""
    from offers.models import OfferColumns

    stored = OfferColumns.objects.filter(user_id=user.pk).values_list("columns", flat=True).first()
    return normalised(stored)


def row_cells(offer: Offer, search: OfferSearch, fields: tuple[str, ...]) -> SafeString:
    """The `<td>`s of one offer for `fields`. Hidden columns' values are in the row's Details."""
    cells = []
    for field in fields:
        column = BY_FIELD[field]
        # Numbers are the rule (offers.css aligns cells right); the first column, GPU, is left-aligned.
        attrs = "" if column.numeric or field == fields[0] else ' class="text"'
        if column.title is not None:
            attrs += f' title="{escape(column.title(offer, search))}"'
        cells.append(f"<td{attrs}>{column.html(offer, search)}</td>")
    return mark_safe("".join(cells))
