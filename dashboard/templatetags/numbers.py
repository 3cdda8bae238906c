"""Fast number formatting for big tables.

Django's `floatformat` goes through Decimal and locale lookups on every call; on a
64-row offers table it was a third of the page's render time.
"""

from django import template

register = template.Library()


@register.filter
def fixed(value, places=2):
    """`value` with exactly `places` decimals ("" for None or a non-number)."""
    try:
        return f"{float(value):.{int(places)}f}"
    except (TypeError, ValueError):
        return ""
