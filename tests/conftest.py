"""Shared fixtures: personas with logged-in clients, and a clean Vast seam per test."""

import json
from types import SimpleNamespace

import httpx
import pytest
from django.core.cache import cache
from django.test import override_settings

from dashboard import vast
from dashboard.roles import ADMIN, OPERATOR, VIEWER, set_role
from vastsim import clock

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True, scope="session")
def _huey_immediate():
    """Tasks run in the calling thread, on Huey's in-memory storage: no queue file, no worker.
    The tests that start a real consumer (tests/test_worker_process.py) run it in a subprocess."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True
    yield
    HUEY.immediate = False


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Tests create many users; the production hasher's cost buys nothing here."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _fresh_vast(settings):
    """Every test starts on the embedded simulator with an empty cache and a new client."""
    settings.VAST_API_KEY = None
    settings.VAST_RATE_LIMIT = False  # tests of the limiter turn it on; others should not wait
    vast.reset_client()
    cache.clear()
    clock.reset()
    yield
    vast.reset_client()
    cache.clear()
    clock.reset()


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


class RecordingTransport(httpx.BaseTransport):
    """Wraps a transport and keeps every request it was handed (method, path, JSON body)."""

    def __init__(self, inner):
        self.inner = inner
        self.requests = []

    def handle_request(self, request):
        body = json.loads(request.content) if request.content else None
        self.requests.append(SimpleNamespace(method=request.method, path=request.url.path, body=body, request=request))
        return self.inner.handle_request(request)

    def calls(self, method=None, path_contains=""):
        """The recorded requests, filtered by method and a path fragment."""
        return [r for r in self.requests if (method is None or r.method == method) and path_contains in r.path]


@pytest.fixture
def synced(db):
    """Sync the ledger from the (simulated) account now, as the worker would: call it after
    changing the simulator so that pages, which read only the ledger, see the change."""
    from instances import sync

    def _sync():
        outcome = sync.run(force=True)
        assert outcome.result in ("synced", "failed"), outcome
        return outcome

    return _sync


@pytest.fixture
def upstream(settings):
    """The simulator behind a recording transport, installed as the process's Vast client."""
    from vastsim.transport import SimulatorTransport

    recorder = RecordingTransport(SimulatorTransport())
    client = vast.VastClient(
        api_key=settings.VASTSIM_API_KEY, base_url=settings.VAST_URL, transport=recorder, sleep=lambda s: None
    )
    vast._client = client
    yield recorder
    vast.reset_client()
