"""Forms for the team pages: users and guardrails."""

from django import forms
from django.contrib.auth import get_user_model, password_validation

from dashboard.models import Guardrails
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
        fields = ["operator_max_dph", "admin_max_dph", "max_running_per_user", "monthly_cap_per_user"]
