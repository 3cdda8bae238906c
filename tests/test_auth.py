"""Logins, roles, the login-everywhere rule and the health check."""

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse

from dashboard.roles import role_of
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_anonymous_page_request_redirects_to_login(client):
    response = client.get("/offers/?gpu=RTX+4090")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/offers/%3Fgpu%3DRTX%2B4090"


def test_anonymous_htmx_request_gets_client_redirect_not_a_login_form(client):
    response = client.get(
        "/instances/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/instances/"}
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/?next=")
    assert b"<form" not in response.content


def test_login_page_and_healthz_answer_without_a_session(client):
    assert client.get("/accounts/login/").status_code == 200
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_login_with_password_then_logout_by_post(client, viewer):
    response = client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home") == "/"
    assert client.get("/").status_code == 200  # the overview
    assert client.get("/offers/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/offers/").status_code == 302


def test_wrong_password_shows_form_error(client, viewer):
    response = client.post("/accounts/login/", {"username": "vera", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_three_roles_exist_as_groups_with_permissions():
    names = set(Group.objects.values_list("name", flat=True))
    assert {"viewer", "operator", "admin"} <= names
    operator_perms = set(Group.objects.get(name="operator").permissions.values_list("codename", flat=True))
    assert "launch_instance" in operator_perms
    assert "destroy_any_instance" not in operator_perms
    assert not Group.objects.get(name="viewer").permissions.exists()


def test_adduser_creates_then_updates_a_user_from_stdin(monkeypatch, django_user_model):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-password\n"))
    out = io.StringIO()
    call_command("adduser", "sam", "--role", "operator", "--password-stdin", stdout=out)
    assert "Created sam (operator)" in out.getvalue()
    sam = django_user_model.objects.get(username="sam")
    assert sam.check_password("a-long-enough-password")
    assert role_of(sam) == "operator"

    call_command("adduser", "sam", "--role", "admin", stdout=io.StringIO())
    sam.refresh_from_db()
    assert role_of(sam) == "admin"
    assert sam.is_staff
    assert sam.check_password("a-long-enough-password")


def test_adduser_rejects_a_new_user_without_password_and_weak_passwords(monkeypatch):
    with pytest.raises(CommandError, match="needs a password"):
        call_command("adduser", "nopass", "--role", "viewer")
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    with pytest.raises(CommandError, match="too short"):
        call_command("adduser", "weak", "--role", "viewer", "--password-stdin")


def test_demo_user_prints_its_password_once(django_user_model):
    out = io.StringIO()
    call_command("demo_user", stdout=out)
    text = out.getvalue()
    password = text.split("password: ")[1].split()[0]
    assert django_user_model.objects.get(username="demo").check_password(password)
    again = io.StringIO()
    call_command("demo_user", stdout=again)
    assert password not in again.getvalue()
