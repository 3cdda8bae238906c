"""Units and formats, one place: `{% load units %}` and every page shows a value the same way.

- `vram`: MB as users name it, ÷ 1024 and whole GB (an RTX 4090's 24564 MB is "24 GB").
- `usd_hr`: a rate, "$0.350/hr"; `usd`: a total, "$12.34"; `usd_tb`: bandwidth, "$3.07/TB" from Vast's $/GB.
- `duration`: seconds (or a timedelta; `:"h"` for hours) as "45 s", "2 h 10 min", "3 d 4 h".
- `{% time dt %}`: a `<time>` element in UTC that static/js/app.js rewrites to the viewer's time zone.

Every filter gives "—" for None or a non-number, so a missing field never reads as zero.
"""

import math
from datetime import UTC, datetime, timedelta

from django import template
from django.utils.html import format_html

from dashboard.vast.values import MB_PER_GB

register = template.Library()

MISSING = "—"
_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
_IN_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400}


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@register.filter
def vram(mb):
    """MB of GPU memory as whole GB of 1024 MB: 24564 → "24 GB"."""
    number = _number(mb)
    return MISSING if number is None else f"{number / MB_PER_GB:.0f} GB"


@register.filter
def usd_hr(value):
    """A $/hr rate with 3 decimals: 0.35 → "$0.350/hr"."""
    number = _number(value)
    return MISSING if number is None else f"{_dollars(number, 3)}/hr"


@register.filter
def usd(value):
    """A total in dollars with 2 decimals: 1234.5 → "$1,234.50"."""
    number = _number(value)
    return MISSING if number is None else _dollars(number, 2, grouped=True)


@register.filter
def usd_tb(per_gb):
    """Bandwidth price per TB (1024 GB) from Vast's $/GB: 0.003 → "$3.07/TB"."""
    number = _number(per_gb)
    return MISSING if number is None else f"{_dollars(number * 1024, 2)}/TB"


@register.filter
def duration(value, unit="s"):
    """A length of time in its two largest units: "45 s", "12 min 5 s", "2 h 10 min", "3 d 4 h".
    `value` is a timedelta or a number of `unit` ("s", "min", "h" or "d")."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        number = _number(value)
        if number is None or unit not in _IN_SECONDS:
            return MISSING
        seconds = number * _IN_SECONDS[unit]
    sign, seconds = ("-" if seconds < 0 else ""), round(abs(seconds))
    index = next(i for i, (_, size) in enumerate(_UNITS) if seconds >= size or size == 1)
    name, size = _UNITS[index]
    big, rest = divmod(seconds, size)
    text = f"{big} {name}"
    if index + 1 < len(_UNITS):
        small_name, small_size = _UNITS[index + 1]
        small = rest // small_size
        if small:
            text += f" {small} {small_name}"
    return sign + text


@register.simple_tag(name="time")
def time_tag(value, seconds=False):
    """`<time datetime="…Z" title="… UTC" data-local>… UTC</time>`; app.js shows it in local time.
    A naive datetime is taken as UTC; None gives "—"."""
    if not isinstance(value, datetime):
        return MISSING
    moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return format_html(
        '<time datetime="{}" title="{} UTC" data-local{}>{} UTC</time>',
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.strftime("%Y-%m-%d %H:%M"),
        " data-seconds" if seconds else "",
        shown,
    )


def _dollars(number: float, places: int, grouped: bool = False) -> str:
    text = f"{abs(number):,.{places}f}" if grouped else f"{abs(number):.{places}f}"
    if float(text.replace(",", "")) == 0:
        return f"${text}"
    return f"{'-' if number < 0 else ''}${text}"
