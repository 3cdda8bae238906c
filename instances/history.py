"""`/instances/history/`: every instance that is gone, how it lived and ended, and what it cost."""

import datetime

from django import forms
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.csv_export import stream_csv
from dashboard.htmx import wants_fragment
from instances import costs, sync
from instances.models import Instance

OUTSIDE = "outside"
PAGE_SIZE = 50
CSV_COLUMNS = [
    "instance",
    "label",
    "gpu",
    "launched_by",
    "from",
    "to",
    "hours",
    "ended",
    "ended_by",
    "estimated_cost_usd",
]


class HistoryFilterForm(forms.Form):
    person = forms.ChoiceField(required=False, label="Launched by")
    month = forms.DateField(
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        help_text="The month it was gone in (YYYY-MM).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = Instance.objects.exclude(launched_by_name="").values_list("launched_by_name", flat=True)
        choices = [("", "Anyone"), (OUTSIDE, "Outside the dashboard")]
        self.fields["person"].choices = choices + [(name, name) for name in sorted(set(names))]


def _gone(form):
    """The gone ledger rows the form selects, most recently gone first (none if it is invalid)."""
    rows = Instance.objects.filter(gone_at__isnull=False)
    if not form.is_valid():
        return rows.none()
    person, month = form.cleaned_data["person"], form.cleaned_data["month"]
    if person == OUTSIDE:
        rows = rows.filter(launched_by_name="")
    elif person:
        rows = rows.filter(launched_by_name=person)
    if month:
        start = datetime.datetime(month.year, month.month, 1, tzinfo=datetime.UTC)
        rows = rows.filter(gone_at__gte=start, gone_at__lt=costs.next_month(start))
    return rows.order_by("-gone_at", "-vast_id")


class Life:
    """One gone instance for the page: the row, when it lived and what it cost."""

    def __init__(self, row, cost):
        self.row = row
        self.cost = cost
        self.began = min(row.first_seen, row.started_at) if row.started_at else row.first_seen
        self.hours = max(0.0, (row.gone_at - self.began).total_seconds() / 3600)

    @property
    def ended(self):
        if self.row.ended == Instance.End.DESTROYED:
            return f"destroyed by {self.row.ended_by}" if self.row.ended_by else "destroyed through the dashboard"
        return "destroyed outside the dashboard"


def _lives(rows):
    rows = list(rows)
    spent = costs.lifetime_costs(rows)
    return [Life(row, spent[row.vast_id]) for row in rows]


def _csv_response(rows):
    """The history as a CSV download, its costs computed a chunk of rows at a time."""

    def records():
        chunk = []
        for row in rows.iterator(chunk_size=500):
            chunk.append(row)
            if len(chunk) == 500:
                yield from _csv_records(chunk)
                chunk = []
        yield from _csv_records(chunk)

    return stream_csv("instance-history", CSV_COLUMNS, records())


def _csv_records(rows):
    for life in _lives(rows):
        row = life.row
        yield (
            [
                row.vast_id,
                row.label,
                f"{row.num_gpus or '?'}x {row.gpu_name}",
                row.launched_by_name or "outside the dashboard",
                life.began.isoformat(),
                row.gone_at.isoformat(),
                f"{life.hours:.2f}",
                row.ended,
                row.ended_by,
                f"{life.cost:.2f}",
            ]
        )


@require_GET
def history(request):
    """Gone instances, filterable by who launched them and the month they were gone in."""
    form = HistoryFilterForm(request.GET)
    rows = _gone(form)
    if request.GET.get("format") == "csv":
        return _csv_response(rows)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "lives": _lives(page.object_list),
        "query": query.urlencode(),
        "sync": sync.status(),
    }
    template = "instances/history.html#history-results" if wants_fragment(request) else "instances/history.html"
    return render(request, template, context)
