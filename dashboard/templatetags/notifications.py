"""Template filters for notifications."""

from django import template

from dashboard.notify import kind_label as _kind_label

register = template.Library()


@register.filter
def kind_label(kind):
    """The short human name of a notification kind ("Lease warning")."""
    return _kind_label(kind)
