"""Every URL pattern: anonymous access redirects to login; arbitrary input never answers 500."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

# The pages anyone may ask for, and what each answers to an anonymous GET and POST. The worker's
# health check is for uptime monitors: 503 here, as no worker has synced in a fresh database.
PUBLIC = {
    "/accounts/login/": {"get": 200, "post": 200},
    "/healthz": {"get": 200, "post": 405},
    "/healthz/worker": {"get": 503, "post": 405},
    # A one-time password reset link (an invalid one here: the page says so) and its done page.
    "/accounts/reset/1/1/": {"get": 200, "post": 200},
    "/accounts/reset/done/": {"get": 200, "post": 405},
}


def _paths(patterns=None, prefix=""):
    """A concrete path for every URL pattern, with 1 for each converter."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _paths(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield "/" + re.sub(r"<(?:\w+:)?\w+>", "1", prefix + route)


ALL_PATHS = sorted(set(_paths()))


def test_the_crawl_sees_every_page():
    for expected in (
        "/",
        "/offers/",
        "/instances/",
        "/instances/history/",
        "/offers/1/launch/",
        "/instances/1/destroy/",
        "/audit/",
        "/keys/",
        "/healthz/worker",
    ):
        assert expected in ALL_PATHS


@pytest.mark.parametrize("path", ALL_PATHS)
def test_anonymous_requests_redirect_to_login_except_login_and_healthz(client, path):
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        if path in PUBLIC:
            assert response.status_code == PUBLIC[path][method], (method, path, response.status_code)
        else:
            assert response.status_code == 302, (method, path, response.status_code)
            assert response["Location"].startswith("/accounts/login/?next="), (method, path)


@pytest.mark.parametrize("path", ALL_PATHS)
def test_anonymous_htmx_requests_get_a_client_redirect(client, path):
    if path in PUBLIC:
        return
    response = client.get(path, headers={"HX-Request": "true"})
    assert response["HX-Redirect"].startswith("/accounts/login/")


FIELD_NAMES = [
    "gpu", "num_gpus", "min_gpu_ram", "max_dph", "min_reliability", "min_cuda", "disk", "min_inet_down",
    "geolocation", "verified", "datacenter", "type", "order", "page", "format", "user", "action", "outcome",
    "instance", "image", "label", "env", "onstart", "runtype", "args", "price", "token", "state", "role",
    "is_active", "username", "password1", "password2", "operator_max_dph", "max_running_per_user",
    "monthly_cap_per_user", "q", "next", "back",
]  # fmt: skip
values = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "-", "RTX 4090", "RTX_4090", "on", "true", "bid", "-dph_total", "csv", "1e999", "\x00"]),
)
params = st.lists(st.tuples(st.sampled_from(FIELD_NAMES) | st.text(min_size=1, max_size=10), values), max_size=8)
FUZZ_PATHS = [p for p in ALL_PATHS if p not in PUBLIC] + ["/offers/27000001/", "/instances/27000001/"]


@pytest.fixture
def fuzz_client(admin_client):
    return admin_client


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=params, body=params, htmx=st.booleans())
@pytest.mark.parametrize("path", FUZZ_PATHS)
def test_arbitrary_queries_and_posts_never_answer_500(fuzz_client, path, query, body, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    query_string = "&".join(f"{k}={v}" for k, v in query).replace("#", "%23")
    get = fuzz_client.get(f"{path}?{query_string}", headers=headers)
    assert get.status_code < 500 or get.status_code in (502, 503, 504), (path, query, get.status_code)
    post = fuzz_client.post(path, data=dict(body), headers=headers)
    assert post.status_code < 500 or post.status_code in (502, 503, 504), (path, body, post.status_code)
