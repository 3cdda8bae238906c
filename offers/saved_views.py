"""/offers/saved/: saved searches (mine and the team's shared ones), their alerts, rename, delete."""

import logging

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dashboard import audit, vast
from dashboard.models import Action
from dashboard.permissions import forbidden
from offers.forms import AlertForm, OfferSearchForm, RenameForm, SaveSearchForm
from offers.models import SavedSearch
from offers.saved import clean_query, search_for
from offers.views import _gpu_names

logger = logging.getLogger(__name__)


def _can_edit(user, saved):
    return saved.owner_id == user.pk or user.has_perm("dashboard.manage_team")


def _alert_state(saved):
    """A saved search's alert as the audit log keeps it (JSON-ready)."""
    ceiling = None if saved.max_dph_per_gpu is None else saved.ceiling
    return {"max_dph_per_gpu": ceiling, "min_offers": saved.min_offers, "notify_to": saved.notify_to}


def _state(saved):
    """A saved search as the audit log keeps it (JSON-ready)."""
    return {"name": saved.name, "query": saved.query, "shared": saved.shared, **_alert_state(saved)}


def _alert_words(state):
    """ "under $0.25/GPU·hr, at least 3 offers, for the owner", or "none"."""
    parts = []
    if state["max_dph_per_gpu"] is not None:
        parts.append(f"under ${state['max_dph_per_gpu']}/GPU·hr")
    if state["min_offers"] is not None:
        parts.append(f"at least {state['min_offers']} offers")
    if not parts:
        return "none"
    who = "the owner and the team webhook" if state["notify_to"] == "team" else "the owner"
    return f"{', '.join(parts)}, for {who}"


def _audit(request, saved, kind, message, *, before, after):
    """One audit row for a write to `saved` by the requesting user (the owner named when it is
    someone else's)."""
    owner = saved.owner.get_username()
    audit.change(
        request.user, kind, f"Saved search “{saved.name}” ({saved.pk}): {message}",
        before=before, after=after, target=f"saved search {saved.pk}",
        subject=owner if saved.owner_id != request.user.pk else None,
    )  # fmt: skip


def _valid_query(query):
    """(the query with unknown and invalid filters dropped, notes on what was dropped)."""
    kept, dropped = clean_query(query)
    params = QueryDict(kept, mutable=True)
    form = OfferSearchForm(params, gpu_names=_gpu_names())
    if not form.is_valid():
        for name in form.errors:
            if name in params:
                dropped.append(f"{name} (invalid value)")
                params.pop(name)
    return params.urlencode(), dropped


REFRESH_ALL_MAX = 5  # "Refresh all" asks Vast for at most this many searches missing from the cache


def _row(saved, user, refresh_id, refreshes):
    """A saved search as the list shows it: the re-run link, a note on filters it ignores, and the
    best current match when the shared offer cache has an answer (or after a Refresh)."""
    kept, dropped = clean_query(saved.query)
    search = search_for(saved.query)
    offers, error = None, None
    if search is not None:
        offers = vast.peek_offers(search)
        wanted = saved.pk == refresh_id or (offers is None and refresh_id == "all" and refreshes[0] < REFRESH_ALL_MAX)
        if wanted:
            refreshes[0] += 1
            try:
                offers = vast.search_offers_cached(search)
            except vast.VastError as exc:
                logger.warning("saved search refresh failed: %s", exc.log_message())
                error = exc.message
    best = min((o for o in offers or () if o.price_per_gpu is not None), key=lambda o: o.price_per_gpu, default=None)
    return {
        "saved": saved,
        "rerun": f"?{kept}" if kept else "",
        "dropped": dropped,
        "invalid": search is None,
        "known": offers is not None,
        "count": len(offers) if offers is not None else None,
        "stale": bool(offers is not None and offers.stale),
        "best": best,
        "error": error,
        "editable": _can_edit(user, saved),
        "alert_form": AlertForm(
            initial={
                "max_dph_per_gpu": saved.max_dph_per_gpu,
                "min_offers": saved.min_offers,
                "notify_to": saved.notify_to,
            },
            auto_id=f"id_alert{saved.pk}_%s",
        ),
    }


@require_http_methods(["GET", "POST"])
def saved_list(request):
    """GET: my saved searches and the team's shared ones. POST: save a search."""
    if request.method == "POST":
        return _create(request)
    user = request.user
    visible = SavedSearch.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")
    refresh = request.GET.get("refresh", "")
    refresh_id = "all" if refresh == "all" else int(refresh) if refresh.isdigit() else None
    refreshes = [0]
    rows = [_row(saved, user, refresh_id, refreshes) for saved in visible]
    context = {
        "mine": [row for row in rows if row["saved"].owner_id == user.pk],
        "team": [row for row in rows if row["saved"].owner_id != user.pk],
    }
    return render(request, "offers/saved.html", context)


def _create(request):
    form = SaveSearchForm(request.POST)
    if not form.is_valid():
        for name, errors in form.errors.items():
            messages.error(request, f"{form.fields[name].label or name}: {' '.join(errors)}")
        query = request.POST.get("query", "")
        return redirect(f"/offers/?{query.lstrip('?')}" if query else "offers:search")
    query, dropped = _valid_query(form.cleaned_data["query"])
    data = form.cleaned_data
    with transaction.atomic():
        saved = SavedSearch.objects.create(
            owner=request.user,
            name=data["name"],
            query=query,
            shared=data["shared"],
            max_dph_per_gpu=data["max_dph_per_gpu"],
            min_offers=data["min_offers"],
            notify_to=data["notify_to"] or "me",
        )
        state = _state(saved)
        words = f"saved ({'shared' if saved.shared else 'private'}; alert: {_alert_words(state)})."
        _audit(request, saved, Action.Kind.SEARCH_SAVE, words, before=None, after=state)
    logger.info("saved search %s by %s", saved.pk, request.user)
    messages.success(request, f"Saved “{saved.name}”.")
    if dropped:
        messages.warning(request, f"These filters were not saved (this page does not know them): {', '.join(dropped)}.")
    return redirect("offers:saved")


def _editable(request, pk):
    saved = get_object_or_404(SavedSearch.objects.filter(Q(owner=request.user) | Q(shared=True)), pk=pk)
    if not _can_edit(request.user, saved):
        return saved, forbidden(request, "Only its owner or an admin can change this saved search.")
    return saved, None


@require_POST
def saved_rename(request, pk):
    saved, refused = _editable(request, pk)
    if refused:
        return refused
    form = RenameForm(request.POST)
    if form.is_valid():
        old, saved.name = saved.name, form.cleaned_data["name"]
        with transaction.atomic():
            saved.save(update_fields=["name"])
            words = f"renamed “{old}” → “{saved.name}”."
            _audit(request, saved, Action.Kind.SEARCH_RENAME, words, before={"name": old}, after={"name": saved.name})
        messages.success(request, f"Renamed “{old}” to “{saved.name}”.")
    else:
        messages.error(request, "A saved search needs a name (up to 80 characters).")
    return redirect("offers:saved")


@require_POST
def saved_alert(request, pk):
    """Set or clear a saved search's alert (empty fields clear it)."""
    saved, refused = _editable(request, pk)
    if refused:
        return refused
    form = AlertForm(request.POST)
    if not form.is_valid():
        for name, errors in form.errors.items():
            messages.error(request, f"{form.fields[name].label}: {' '.join(errors)}")
        return redirect("offers:saved")
    data = form.cleaned_data
    before = _alert_state(saved)
    saved.max_dph_per_gpu, saved.min_offers = data["max_dph_per_gpu"], data["min_offers"]
    saved.notify_to = data["notify_to"] or "me"
    saved.checked_at = None  # check the new alert at the next round
    after = _alert_state(saved)
    with transaction.atomic():
        saved.save(update_fields=["max_dph_per_gpu", "min_offers", "notify_to", "checked_at"])
        saved.matches.all().delete()
        words = f"alert {_alert_words(before)} → {_alert_words(after)}."
        _audit(request, saved, Action.Kind.SEARCH_ALERT, words, before=before, after=after)
    if saved.has_alert:
        messages.success(request, f"Alert set on “{saved.name}”: the worker checks it every few minutes.")
    else:
        messages.success(request, f"Alert removed from “{saved.name}”.")
    return redirect("offers:saved")


@require_http_methods(["GET", "POST"])
def saved_delete(request, pk):
    """GET: ask for confirmation. POST: delete."""
    saved, refused = _editable(request, pk)
    if refused:
        return refused
    if request.method == "GET":
        return render(request, "offers/saved_delete.html", {"saved": saved})
    name = saved.name
    with transaction.atomic():
        _audit(request, saved, Action.Kind.SEARCH_DELETE, "deleted.", before=_state(saved), after=None)
        saved.delete()
    logger.info("saved search %s deleted by %s", pk, request.user)
    messages.success(request, f"Deleted “{name}”.")
    return redirect("offers:saved")
