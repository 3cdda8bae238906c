"""Shared fixtures: personas with logged-in clients, and a clean Vast seam per test."""

import pytest
from django.core.cache import cache

from dashboard import vast
from dashboard.roles import ADMIN, OPERATOR, VIEWER, set_role

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_vast(settings):
    """Every test starts on the embedded simulator with an empty cache and a new client."""
    settings.VAST_API_KEY = None
    vast.reset_client()
    cache.clear()
    yield
    vast.reset_client()
    cache.clear()


def _make_user(django_user_model, username, role):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com")
    set_role(user, role)
    return user


@pytest.fixture
def viewer(django_user_model):
    return _make_user(django_user_model, "vera", VIEWER)


@pytest.fixture
def operator(django_user_model):
    return _make_user(django_user_model, "otto", OPERATOR)


@pytest.fixture
def other_operator(django_user_model):
    return _make_user(django_user_model, "olga", OPERATOR)


@pytest.fixture
def admin(django_user_model):
    return _make_user(django_user_model, "ada", ADMIN)


def _client_for(client_class, user):
    c = client_class()
    c.force_login(user)
    return c


@pytest.fixture
def viewer_client(client_class, viewer):
    return _client_for(client_class, viewer)


@pytest.fixture
def operator_client(client_class, operator):
    return _client_for(client_class, operator)


@pytest.fixture
def other_operator_client(client_class, other_operator):
    return _client_for(client_class, other_operator)


@pytest.fixture
def admin_client(client_class, admin):
    return _client_for(client_class, admin)


@pytest.fixture
def client_class():
    from django.test import Client

    return Client
