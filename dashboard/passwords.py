"""Password changes, audited: a person changing their own, and a person setting a new one through
an admin's one-time reset link (issuing the link is audited in dashboard/team.py). Each is an audit
row in the same transaction as the new password; neither password is in it."""

from django.contrib.auth import views as auth_views
from django.db import transaction

from dashboard import audit
from dashboard.models import Action


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, with an audit row when it succeeds."""

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            name = self.request.user.get_username()
            audit.change(
                self.request.user, Action.Kind.PASSWORD_CHANGE, f"{name} changed their password.",
                before=None, after="changed", subject=name,
            )  # fmt: skip
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's reset-link page, with an audit row (by the person themselves) when a new password
    is set through it."""

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            name = form.user.get_username()
            audit.change(
                form.user, Action.Kind.PASSWORD_SET, f"{name} set a new password through a reset link.",
                before=None, after="set through reset link", subject=name,
            )  # fmt: skip
        return response
