"""Admin pages: the team's users and the spending guardrails."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import audit
from dashboard.forms import EditUserForm, GuardrailsForm, NewUserForm
from dashboard.models import Action, Guardrails
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
        audit.change(
            request.user, Action.Kind.ROLE, f"Added {user.username} as {data['role']}.",
            before=None, after=data["role"], subject=user.username,
        )  # fmt: skip
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
                before_role, before_active = role_of(person), person.is_active
                with transaction.atomic():
                    set_role(person, role)
                    person.is_active = active
                    person.save(update_fields=["is_active"])
                    _audit_person(request.user, person, before_role, role, before_active, active)
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
        changes = form.changes()
        with transaction.atomic():
            rails = form.save(commit=False)
            rails.updated_by = request.user.get_username()
            rails.save()
            if changes:
                audit.change(
                    request.user,
                    Action.Kind.GUARDRAILS,
                    "Changed the guardrails: " + _arrows(changes) + ".",
                    before={name: pair[0] for name, pair in changes.items()},
                    after={name: pair[1] for name, pair in changes.items()},
                )
        logger.info("%s changed the guardrails", request.user)
        messages.success(request, "Guardrails saved.")
        return redirect("team:guardrails")
    return render(request, "team/guardrails.html", {"form": form, "rails": rails})


def _arrows(changes):
    """ "field: before → after" for each changed field ("—" for empty)."""
    return ", ".join(f"{name}: {pair[0] or '—'} → {pair[1] or '—'}" for name, pair in sorted(changes.items()))


def _audit_person(admin, person, before_role, role, before_active, active):
    """One audit row per kind of change an admin made to a teammate."""
    name = person.get_username()
    if before_role != role:
        audit.change(
            admin, Action.Kind.ROLE, f"{name}: role {before_role or '—'} → {role}.",
            before=before_role, after=role, subject=name,
        )  # fmt: skip
    if before_active != active:
        words = {True: "active", False: "deactivated"}
        audit.change(
            admin, Action.Kind.ACTIVATION, f"{name}: {words[before_active]} → {words[active]}.",
            before=before_active, after=active, subject=name,
        )  # fmt: skip


def _email_configured():
    """Whether mail leaves the machine (not printed by the console backend)."""
    return settings.EMAIL_BACKEND != "django.core.mail.backends.console.EmailBackend"


@require_http_methods(["POST"])
@require_perm("manage_team", message=ADMINS_ONLY)
def reset_link(request, user_id):
    """Issue a one-time password reset link for a teammate: shown once to the admin (never
    stored), and e-mailed by Django's reset e-mail when mail is configured and they have an
    address. Setting a new password through it makes the link invalid."""
    person = get_object_or_404(get_user_model(), pk=user_id)
    uid = urlsafe_base64_encode(force_bytes(person.pk))
    token = default_token_generator.make_token(person)
    link = request.build_absolute_uri(reverse("password_reset_confirm", args=[uid, token]))
    mailed = False
    if _email_configured() and person.email and person.is_active:
        # Django's reset e-mail, to this person only (PasswordResetForm.save would mail every
        # account sharing the address).
        context = {
            "email": person.email, "domain": request.get_host(), "site_name": "Vast.ai team dashboard",
            "uid": uid, "user": person, "token": token, "protocol": "https" if request.is_secure() else "http",
        }  # fmt: skip
        PasswordResetForm().send_mail(
            "registration/password_reset_subject.txt",
            "registration/password_reset_email.html",
            context,
            settings.DEFAULT_FROM_EMAIL,
            person.email,
        )
        mailed = True
    name = person.get_username()
    audit.change(
        request.user,
        Action.Kind.PASSWORD_RESET,
        f"Issued a password reset link for {name}{' (also e-mailed)' if mailed else ''}.",
        before=None,
        after="link issued",
        subject=name,
    )
    logger.info("%s issued a password reset link for %s (mailed=%s)", request.user, person, mailed)
    form = EditUserForm(initial={"role": role_of(person), "is_active": person.is_active})
    context = {"person": person, "form": form, "reset_link": link, "reset_mailed": mailed}
    response = render(request, "team/edit_user.html", context)
    response["Cache-Control"] = "no-store"
    return response
