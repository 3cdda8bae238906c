"""The offer search page."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard import vast

DEFAULT_QUERY = {
    "verified": {"eq": True},
    "external": {"eq": False},
    "rentable": {"eq": True},
    "order": [["dph_total", "asc"]],
    "type": "on-demand",
    "limit": 64,
}


@require_GET
def search(request):
    offers = vast.search_offers(DEFAULT_QUERY)
    return render(request, "offers/search.html", {"offers": offers})
