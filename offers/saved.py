"""Saved searches: their query strings checked through the offer form, and their searches."""

import json

from django.http import QueryDict

from offers.forms import OfferSearchForm

# Parameters of the /offers/ page that are not filters: never saved, never noted as dropped.
PAGE_ONLY = frozenset({"history", "csrfmiddlewaretoken"})


def clean_query(query):
    """(query string of the offer form's own non-empty fields, names of the parameters dropped
    because the form does not know them). Values are kept as given: `search_for` validates them."""
    params = QueryDict(query.lstrip("?"))
    fields = OfferSearchForm.base_fields
    kept, dropped = QueryDict(mutable=True), []
    for key in params:
        values = [value for value in params.getlist(key) if value]
        if key in fields:
            if values:
                kept.setlist(key, values)
        elif key not in PAGE_ONLY and key not in dropped:
            dropped.append(key)
    return kept.urlencode(), dropped


def form_for(query):
    """The offer form bound to a saved query; the GPU models it names are accepted as they were
    when it was saved, so that checking it never asks Vast for the model list."""
    params = QueryDict(clean_query(query)[0])
    return OfferSearchForm(params, gpu_names=params.getlist("gpu"))


def search_for(query):
    """The saved query as a `vast.OfferSearch`, or None when its values no longer validate."""
    form = form_for(query)
    return form.search() if form.is_valid() else None


def group_key(search):
    """Searches with the same key ask Vast the same question: they run once per round."""
    return json.dumps(search.to_query(), sort_keys=True)


def matching(search_obj, offers):
    """The offers that meet a saved search's alert, cheapest per GPU first: all of them under
    its $/GPU·hr ceiling, and none while fewer than its "at least N offers"."""
    ceiling = search_obj.max_dph_per_gpu
    hits = [o for o in offers if o.price_per_gpu is not None and (ceiling is None or o.price_per_gpu <= ceiling)]
    if search_obj.min_offers is not None and len(hits) < search_obj.min_offers:
        return []
    return sorted(hits, key=lambda o: o.price_per_gpu)
