"""Forms for the team pages: users, guardrails and policies."""

from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model, password_validation

from dashboard.audit import SYSTEM
from dashboard.models import Guardrails, PolicySettings
from dashboard.roles import ROLES

ROLE_CHOICES = [(role, role.capitalize()) for role in ROLES]


class NewUserForm(forms.Form):
    """An admin adds a teammate: username, email, role and a first password."""

    username = forms.RegexField(
        regex=r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": "Letters, digits and @/./+/-/_ only."},
    )
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="viewer")
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    def clean_username(self):
        username = self.cleaned_data["username"]
        if username.lower() == SYSTEM:
            raise forms.ValidationError("“system” is the name the policies act under; choose another.")
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with that name exists.")
        return username

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            user = get_user_model()(username=data.get("username", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(p1, user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class EditUserForm(forms.Form):
    """An admin changes a teammate's role or deactivates them."""

    role = forms.ChoiceField(choices=ROLE_CHOICES)
    is_active = forms.BooleanField(label="Active (can log in)", required=False)


class GuardrailsForm(forms.ModelForm):
    class Meta:
        model = Guardrails
        fields = [
            "operator_max_dph",
            "admin_max_dph",
            "max_running_per_user",
            "monthly_cap_per_user",
            "operator_max_stop_after_minutes",
            "admin_max_stop_after_minutes",
        ]

    def changes(self):
        """{field: [before, after]} as text, for every limit the form changed (the audit row)."""
        return {
            name: [_text(self.initial.get(name)), _text(self.cleaned_data.get(name))]
            for name in self.changed_data
            if _text(self.initial.get(name)) != _text(self.cleaned_data.get(name))
        }


class PolicySettingsForm(forms.ModelForm):
    """The team's policies (/team/policies/); `changes()` names what a save changes, for the audit row."""

    class Meta:
        model = PolicySettings
        fields = [
            "lease_warn_minutes",
            "lease_dry_run",
            "idle_util_below",
            "idle_minutes",
            "idle_dry_run",
            "stopped_notify_days",
            "stopped_destroy_days",
            "storage_dry_run",
            "team_monthly_budget",
            "stop_at_cap",
            "budget_dry_run",
        ]

    def changes(self):
        """{field: [before, after]} as text, for every field the form changed."""
        return {
            name: [_text(self.initial.get(name)), _text(self.cleaned_data.get(name))]
            for name in self.changed_data
            if _text(self.initial.get(name)) != _text(self.cleaned_data.get(name))
        }


def _text(value):
    """A setting's value as the audit row keeps it ("" for empty)."""
    if value is None:
        return ""
    if isinstance(value, float | Decimal):
        return f"{value:g}" if isinstance(value, float) else f"{value.normalize():f}"
    return str(value)
