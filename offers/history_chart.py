"""A server-rendered line chart of the market history: $/GPU·hr over the last days, per GPU model."""

from dataclasses import dataclass
from datetime import timedelta

from offers.chart import Tick, _nice_ticks

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 220, 56, 14, 12, 30


@dataclass(frozen=True)
class Series:
    gpu_name: str
    median_points: str  # "x,y x,y ..." for <polyline>
    min_points: str
    latest_median: float
    latest_min: float
    latest_offers: int
    samples: int
    css_class: str


@dataclass(frozen=True)
class HistoryChart:
    width: int
    height: int
    days: int
    series: tuple
    y_ticks: tuple
    x_ticks: tuple
    plot_left: int
    plot_right: int
    plot_top: int
    axis_y: int

    @property
    def tick_x(self):
        return self.plot_left - 6

    @property
    def label_y(self):
        return self.axis_y + 18


def history_chart(history, days, now):
    """Geometry for `history` ({gpu name: [(at, offers, min, median), ...]}) over the last `days`
    days to `now`, or None when there is nothing to draw."""
    if not any(history.values()):
        return None
    start = now - timedelta(days=days)
    span = (now - start).total_seconds()
    high = max(row[3] for rows in history.values() for row in rows) * 1.1 or 1.0
    plot_right, axis_y = WIDTH - RIGHT, HEIGHT - BOTTOM

    def x_of(at):
        return round(LEFT + (at - start).total_seconds() / span * (plot_right - LEFT), 1)

    def y_of(price):
        return round(axis_y - price / high * (axis_y - TOP), 1)

    series = []
    for index, (name, rows) in enumerate(sorted(history.items())):
        if not rows:
            continue
        series.append(
            Series(
                gpu_name=name,
                median_points=" ".join(f"{x_of(r[0])},{y_of(r[3])}" for r in rows),
                min_points=" ".join(f"{x_of(r[0])},{y_of(r[2])}" for r in rows),
                latest_median=rows[-1][3],
                latest_min=rows[-1][2],
                latest_offers=rows[-1][1],
                samples=len(rows),
                css_class=f"series-{index % 6}",
            )
        )
    y_ticks = tuple(Tick(y_of(value), f"${value:g}") for value in _nice_ticks(0.0, high, 4))
    step = 1 if days <= 7 else 5
    x_ticks = tuple(Tick(x_of(now - timedelta(days=d)), "now" if d == 0 else f"-{d}d") for d in range(days, -1, -step))
    return HistoryChart(WIDTH, HEIGHT, days, tuple(series), y_ticks, x_ticks, LEFT, plot_right, TOP, axis_y)
