"""A small server-rendered strip chart: $/GPU·hr of the current offers, one row per GPU model."""

import math
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import mark_safe

# Drawn about 1:1 beside the filters at 1440 px wide, so the table starts high on the page.
WIDTH, ROW_HEIGHT, LABEL_WIDTH, PAD = 1000, 20, 130, 12


@dataclass(frozen=True)
class Row:
    gpu_name: str
    y: float
    xs: tuple  # each offer's dot, left to right
    count: int
    cheapest: float
    median: float
    median_x: float

    @property
    def top(self):
        return self.y - 7

    @property
    def bottom(self):
        return self.y + 7

    @property
    def dots_svg(self):
        """The row's dots, one offer each, as a single SVG path of round zero-length strokes, left
        to right (`M x y h0`, then `m dx 0h0`): a few bytes a dot where a <circle> each was most of
        the chart's weight."""
        xs = self.xs
        path = [f"M{xs[0]:g} {self.y:g}h0"] if xs else []
        path += [f"m{round(x - previous, 1):g} 0h0" for previous, x in zip(xs, xs[1:], strict=False)]
        return mark_safe(f'<path class="chart-dots" d="{"".join(path)}"></path>')


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rows: tuple
    ticks: tuple
    plot_left: int
    plot_right: int
    axis_y: float

    @property
    def label_x(self):
        return self.plot_left - 8

    @property
    def tick_y(self):
        return self.axis_y + 16

    @property
    def grid_path(self):
        """Every row's grid line as one SVG path."""
        return "".join(f"M{self.plot_left} {row.y:g}H{self.plot_right}" for row in self.rows)


def _nice_ticks(low, high, count=5):
    """Round tick values spanning [low, high]."""
    span = high - low or 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 0.001:
        if value >= low - step * 0.001:
            ticks.append(round(value, 6))
        value += step
    return ticks


def _median(ordered):
    """The median of a sorted, non-empty list (as statistics.median gives it)."""
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def price_chart(offers):
    """Geometry of the $/GPU·hr chart for `offers`, or None when there is nothing to draw."""
    by_model = {}
    for offer in offers:
        by_model.setdefault(offer.gpu_name, []).append(offer.price_per_gpu)
    if not by_model:
        return None
    for prices in by_model.values():
        prices.sort()
    low, high = 0.0, max(prices[-1] for prices in by_model.values()) * 1.05 or 1.0
    plot_left, plot_right = LABEL_WIDTH, WIDTH - PAD

    def x_of(price):
        return round(plot_left + (price - low) / (high - low) * (plot_right - plot_left), 1)

    # By median price; models of equal median in the order they first appear.
    ordered = sorted(((_median(prices), name, prices) for name, prices in by_model.items()), key=lambda row: row[0])
    rows = []
    for index, (median, name, prices) in enumerate(ordered):
        y = PAD + index * ROW_HEIGHT + ROW_HEIGHT / 2
        xs = tuple(x_of(price) for price in prices)  # sorted prices: dots left to right
        rows.append(Row(name, y, xs, len(prices), prices[0], median, x_of(median)))
    axis_y = PAD + len(rows) * ROW_HEIGHT + 4
    ticks = tuple(Tick(x_of(value), f"${value:g}") for value in _nice_ticks(low, high))
    return Chart(WIDTH, int(axis_y + 26), tuple(rows), ticks, plot_left, plot_right, axis_y)


def chart_html(chart):
    """The chart as a `<figure>` with its SVG, built here rather than in a template: drawing one
    row per GPU model through the template engine cost ~4 ms of every new answer's page."""
    rows = "".join(
        f'<text x="{chart.label_x}" y="{row.y}" class="chart-label">{escape(row.gpu_name)}</text>{row.dots_svg}'
        f'<line x1="{row.median_x}" x2="{row.median_x}" y1="{row.top}" y2="{row.bottom}" class="chart-median">'
        f"<title>{escape(row.gpu_name)}: median ${row.median:.3f}, cheapest ${row.cheapest:.3f} "
        f"over {row.count} offers</title></line>"
        for row in chart.rows
    )
    ticks = "".join(
        f'<text x="{tick.x}" y="{chart.tick_y}" text-anchor="middle" class="chart-tick">{escape(tick.label)}</text>\n'
        for tick in chart.ticks
    )
    return mark_safe(
        '<figure class="card chart">\n'
        "<figcaption>$/GPU·hr by GPU model (each dot an offer, bar the median)</figcaption>\n"
        f'<svg class="price-chart" viewBox="0 0 {chart.width} {chart.height}" width="100%" role="img" '
        'aria-label="Distribution of price per GPU-hour by GPU model">\n'
        f'<path class="chart-grid" d="{chart.grid_path}"></path>\n{rows}\n'
        f'<line x1="{chart.plot_left}" x2="{chart.plot_right}" y1="{chart.axis_y}" y2="{chart.axis_y}" '
        f'class="chart-axis"></line>\n{ticks}</svg>\n</figure>\n'
    )
