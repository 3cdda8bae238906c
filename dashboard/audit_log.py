"""The audit log: every write attempt, append-only, filterable, exportable as CSV."""

from django import forms
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.csv_export import stream_csv
from dashboard.htmx import wants_fragment
from dashboard.models import Action

CSV_COLUMNS = ["time", "user", "action", "offer", "instance", "price_per_hour", "outcome", "message"]


class AuditFilterForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        to_field_name="username",
        empty_label="Everyone",
    )
    action = forms.ChoiceField(choices=[("", "Any action"), *Action.Kind.choices], required=False)
    outcome = forms.ChoiceField(choices=[("", "Any outcome"), *Action.Outcome.choices], required=False)
    instance = forms.IntegerField(required=False, min_value=1, label="Instance ID")


def _visible_actions(request, form):
    """The rows this user may see (admins: all; others: their own), filtered by the form."""
    rows = Action.objects.all()
    if not request.user.has_perm("dashboard.view_all_records"):
        rows = rows.filter(user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        if data["user"]:
            rows = rows.filter(user=data["user"])
        if data["action"]:
            rows = rows.filter(kind=data["action"])
        if data["outcome"]:
            rows = rows.filter(outcome=data["outcome"])
        if data["instance"]:
            rows = rows.filter(instance_id=data["instance"])
    else:
        rows = rows.none()
    return rows.order_by("-created_at", "-id")


def _csv_response(rows):
    """The rows as a CSV download."""
    records = (
        [
            a.created_at.isoformat(),
            a.username,
            a.kind,
            a.offer_id or "",
            a.instance_id or "",
            a.price_per_hour if a.price_per_hour is not None else "",
            a.outcome,
            a.message,
        ]
        for a in rows.iterator(chunk_size=500)
    )
    return stream_csv("audit", CSV_COLUMNS, records)


@require_GET
def audit(request):
    form = AuditFilterForm(request.GET)
    if not request.user.has_perm("dashboard.view_all_records"):
        form.fields["user"].queryset = get_user_model().objects.filter(pk=request.user.pk)
    rows = _visible_actions(request, form)
    if request.GET.get("format") == "csv":
        return _csv_response(rows)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "sees_all": request.user.has_perm("dashboard.view_all_records"),
    }
    template = "audit/audit.html"
    if wants_fragment(request):
        template += "#audit-results"
    return render(request, template, context)
