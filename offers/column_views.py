"""/offers/columns/: the offers table's columns, chosen per person and kept server-side."""

from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from dashboard import audit
from dashboard.models import Action
from offers import columns as offer_columns
from offers.forms import ColumnsForm
from offers.models import OfferColumns


def _back(request, target):
    """`target` if it is a page of this site, else the offers page."""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("offers:search")


def _save(user, fields):
    """Store `fields` as `user`'s columns (None: back to the defaults) and audit the change,
    before → after; nothing when nothing changes."""
    before = offer_columns.chosen(user)
    after = offer_columns.DEFAULT_FIELDS if fields is None else offer_columns.normalised(fields)
    if before == after:
        return
    with transaction.atomic():
        if fields is None:
            OfferColumns.objects.filter(user=user).delete()
        else:
            OfferColumns.objects.update_or_create(user=user, defaults={"columns": list(after)})
        labels = [offer_columns.BY_FIELD[f].label for f in after]
        audit.change(
            user,
            Action.Kind.OFFER_COLUMNS,
            f"Offer columns: {', '.join(labels)}.",
            before=list(before),
            after=list(after),
        )


@require_http_methods(["GET", "POST"])
def columns(request):
    """The column chooser on its own page (GET, or a POST that did not validate); a valid POST
    stores the choice and goes back to the offers page it came from."""
    fields = offer_columns.chosen(request.user)
    if request.method == "POST":
        form = ColumnsForm(request.POST)
        if form.is_valid():
            _save(request.user, None if form.cleaned_data["reset"] else form.cleaned_data["columns"])
            return redirect(_back(request, request.POST.get("next")))
        back = _back(request, request.POST.get("next"))
    else:
        form = ColumnsForm()
        back = _back(request, request.GET.get("next"))
    context = {
        "form": form,
        "column_choices": [(c, c.field in fields) for c in offer_columns.COLUMNS],
        "next": back,
        "open": True,
    }
    return render(request, "offers/columns.html", context)
