"""People: changing one's password, an admin's one-time reset link, and audit rows for every
role, activation and guardrail change."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from dashboard.models import Action
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
NEW = "a brand new long passphrase 42"


def test_everyone_can_change_their_password_from_the_nav(viewer_client, viewer):
    home = viewer_client.get(reverse("home")).content.decode()
    assert f'href="{reverse("password_change")}"' in home
    assert reverse("password_change") == "/accounts/password_change/"
    form = viewer_client.get(reverse("password_change"))
    assert form.status_code == 200
    assert "Change your password" in form.content.decode()
    wrong = viewer_client.post(
        reverse("password_change"), {"old_password": "nope", "new_password1": NEW, "new_password2": NEW}
    )
    assert wrong.status_code == 200
    assert "errorlist" in wrong.content.decode()
    done = viewer_client.post(
        reverse("password_change"), {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}, follow=True
    )
    assert done.redirect_chain[-1][0] == reverse("password_change_done")
    assert 'data-testid="password-changed"' in done.content.decode()
    viewer.refresh_from_db()
    assert viewer.check_password(NEW)
    assert viewer_client.get(reverse("home")).status_code == 200  # still logged in
    # One audit row, for the change that went through (not the refused one), without the password.
    row = Action.objects.get(kind=Action.Kind.PASSWORD_CHANGE)
    assert (row.username, row.detail["subject"], row.outcome) == ("vera", "vera", Action.Outcome.SUCCESS)
    assert NEW not in str(row.detail) + row.message
    assert PASSWORD not in str(row.detail) + row.message


def test_admin_issues_a_one_time_reset_link_that_is_audited_and_mailed(admin_client, admin, operator, client):
    response = admin_client.post(reverse("team:reset_link", args=[operator.pk]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    link = re.search(r'value="(http://testserver/accounts/reset/[^"]+/)"', html).group(1)
    assert "shown only this once" in html
    # The link is never shown again on the person's page.
    assert link not in admin_client.get(reverse("team:edit_user", args=[operator.pk])).content.decode()

    row = Action.objects.get(kind=Action.Kind.PASSWORD_RESET)
    assert (row.username, row.detail["subject"], row.outcome) == ("ada", "otto", Action.Outcome.SUCCESS)
    assert link.rsplit("/", 2)[-2] not in str(row.detail) + row.message  # the token is not kept

    # Tests use the locmem backend, so e-mail is configured: Django's reset e-mail goes to the person.
    assert [m.to for m in mail.outbox] == [["otto@example.com"]]
    assert link.removeprefix("http://testserver") in mail.outbox[0].body

    # Anyone holding the link (logged out) sets a new password once.
    page = client.get(link, follow=True)
    assert "Choose a new password" in page.content.decode()
    assert "new_password1" in page.content.decode()
    set_url = page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW, "new_password2": NEW}, follow=True)
    assert 'data-testid="password-reset-complete"' in done.content.decode()
    operator.refresh_from_db()
    assert operator.check_password(NEW)
    row = Action.objects.get(kind=Action.Kind.PASSWORD_SET)
    assert (row.username, row.detail["subject"], row.outcome) == ("otto", "otto", Action.Outcome.SUCCESS)
    assert NEW not in str(row.detail) + row.message
    again = client.get(link, follow=True)
    assert 'data-testid="reset-link-invalid"' in again.content.decode()


def test_without_email_configured_the_link_is_only_shown(admin_client, operator, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    html = admin_client.post(reverse("team:reset_link", args=[operator.pk])).content.decode()
    assert "/accounts/reset/" in html
    assert "also e-mailed" not in html
    assert mail.outbox == []


def test_only_admins_issue_reset_links(operator_client, viewer):
    response = operator_client.post(reverse("team:reset_link", args=[viewer.pk]))
    assert response.status_code == 403
    assert not Action.objects.filter(kind=Action.Kind.PASSWORD_RESET).exists()


def test_role_and_activation_changes_are_audited_before_and_after(admin_client, operator):
    admin_client.post(reverse("team:edit_user", args=[operator.pk]), {"role": "viewer", "is_active": "on"})
    role = Action.objects.get(kind=Action.Kind.ROLE)
    assert (role.username, role.detail) == ("ada", {"before": "operator", "after": "viewer", "subject": "otto"})
    assert role.message == "otto: role operator → viewer."
    assert not Action.objects.filter(kind=Action.Kind.ACTIVATION).exists()

    admin_client.post(reverse("team:edit_user", args=[operator.pk]), {"role": "viewer"})
    activation = Action.objects.get(kind=Action.Kind.ACTIVATION)
    assert activation.detail == {"before": True, "after": False, "subject": "otto"}
    assert activation.message == "otto: active → deactivated."
    assert not get_user_model().objects.get(pk=operator.pk).is_active
    assert Action.objects.filter(kind=Action.Kind.ROLE).count() == 1  # the role did not change again


def test_guardrail_changes_are_audited_before_and_after(admin_client):
    url = reverse("team:guardrails")
    admin_client.post(url, {"operator_max_dph": "2.5", "max_running_per_user": "3"})
    row = Action.objects.get(kind=Action.Kind.GUARDRAILS)
    assert row.username == "ada"
    assert row.detail["before"] == {"operator_max_dph": "", "max_running_per_user": ""}
    assert row.detail["after"] == {"operator_max_dph": "2.5", "max_running_per_user": "3"}
    assert "max_running_per_user: — → 3" in row.message
    assert "operator_max_dph: — → 2.5" in row.message
    admin_client.post(url, {"operator_max_dph": "2.5", "max_running_per_user": "3"})
    assert Action.objects.filter(kind=Action.Kind.GUARDRAILS).count() == 1  # saving unchanged writes no row


def test_adding_a_user_is_audited_with_their_role(admin_client):
    data = {"username": "nia", "email": "nia@example.com", "role": "operator", "password1": NEW, "password2": NEW}
    admin_client.post(reverse("team:add_user"), data)
    row = Action.objects.get(kind=Action.Kind.ROLE)
    assert row.detail == {"before": None, "after": "operator", "subject": "nia"}


def test_people_changes_show_on_the_audit_log(admin_client, operator):
    admin_client.post(reverse("team:edit_user", args=[operator.pk]), {"role": "admin", "is_active": "on"})
    html = admin_client.get(reverse("audit")).content.decode()
    assert "otto: role operator → admin." in html
