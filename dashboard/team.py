"""Admin pages: the team's users and the spending guardrails."""

import logging

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dashboard.forms import EditUserForm, GuardrailsForm, NewUserForm
from dashboard.models import Guardrails
from dashboard.permissions import require_perm
from dashboard.roles import role_of, set_role

logger = logging.getLogger(__name__)
ADMINS_ONLY = "Only admins manage the team."


@require_GET
@require_perm("manage_team", message=ADMINS_ONLY)
def users(request):
    people = get_user_model().objects.order_by("username").prefetch_related("groups")
    rows = [{"user": person, "role": role_of(person)} for person in people]
    return render(request, "team/users.html", {"rows": rows, "form": NewUserForm()})


@require_http_methods(["POST"])
@require_perm("manage_team", message=ADMINS_ONLY)
def add_user(request):
    form = NewUserForm(request.POST)
    if not form.is_valid():
        people = get_user_model().objects.order_by("username").prefetch_related("groups")
        rows = [{"user": person, "role": role_of(person)} for person in people]
        return render(request, "team/users.html", {"rows": rows, "form": form})
    data = form.cleaned_data
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=data["username"], email=data["email"], password=data["password1"]
        )
        set_role(user, data["role"])
    logger.info("%s added user %s as %s", request.user, user, data["role"])
    messages.success(request, f"Added {user.username} as {data['role']}.")
    return redirect("team:users")


@require_http_methods(["GET", "POST"])
@require_perm("manage_team", message=ADMINS_ONLY)
def edit_user(request, user_id):
    person = get_object_or_404(get_user_model(), pk=user_id)
    if request.method == "POST":
        form = EditUserForm(request.POST)
        if form.is_valid():
            role, active = form.cleaned_data["role"], form.cleaned_data["is_active"]
            if person == request.user and (role != "admin" or not active):
                form.add_error(None, "You cannot demote or deactivate yourself; ask another admin.")
            else:
                with transaction.atomic():
                    set_role(person, role)
                    person.is_active = active
                    person.save(update_fields=["is_active"])
                logger.info("%s set %s to %s (active=%s)", request.user, person, role, active)
                messages.success(request, f"Saved {person.username}: {role}{'' if active else ', deactivated'}.")
                return redirect("team:users")
    else:
        form = EditUserForm(initial={"role": role_of(person), "is_active": person.is_active})
    return render(request, "team/edit_user.html", {"person": person, "form": form})


@require_http_methods(["GET", "POST"])
@require_perm("manage_team", message=ADMINS_ONLY)
def guardrails(request):
    rails = Guardrails.current()
    form = GuardrailsForm(request.POST or None, instance=rails)
    if request.method == "POST" and form.is_valid():
        rails = form.save(commit=False)
        rails.updated_by = request.user.get_username()
        rails.save()
        logger.info("%s changed the guardrails", request.user)
        messages.success(request, "Guardrails saved.")
        return redirect("team:guardrails")
    return render(request, "team/guardrails.html", {"form": form, "rails": rails})
