"""Two replicas of the dashboard on one PostgreSQL and one Redis act as one: a launch token
claimed on one is spent on the other, a search cached by one is served by the other, a
session opened on one is valid on the other, and both show the one ledger the worker keeps,
without calling Vast for a page.

Two real `gunicorn dashboard.wsgi` processes (ephemeral loopback ports) share this test's
database (the pytest test database, e.g. test_dashboard_gw0) and its Redis database (per xdist
worker, see settings.py), and call the simulator over HTTP, served from this process with a
middleware that counts their calls. It runs in the suite's second pass (scripts/test-services),
and is skipped on SQLite or the local-memory cache.
"""

import html
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from dashboard.roles import OPERATOR, set_role
from dashboard.vast import USER_AGENT
from instances import sync
from vastsim import clock
from vastsim.transport import SimulatorTransport
from vastsim.wsgi import serving

ROOT = Path(__file__).resolve().parent.parent
KEY = "replicas-test-key"
PASSWORD = "replicas test password 42"
SECRET_KEY = "replicas-test-secret-key-shared-by-both-replicas"
START_TIMEOUT = 30
SEARCH = ("POST", r"/api/v0/bundles/?")
LAUNCH = ("PUT", r"/api/v0/asks/\d+/?")


def _needs_services():
    """Why this module cannot run here, or None."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL as the default database (DATABASE_URL); runs in scripts/test-services"
    if settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        return "needs the Redis cache (REDIS_URL); runs in scripts/test-services"
    return None


pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(_needs_services() is not None, reason=_needs_services() or ""),
    pytest.mark.django_db(transaction=True),
]


class UpstreamCalls:
    """WSGI middleware around the simulator that records the dashboard's calls (by User-Agent)."""

    def __init__(self):
        self.app = None
        self.calls = []
        self._lock = threading.Lock()

    def wrap(self, app):
        self.app = app
        return self

    def __call__(self, environ, start_response):
        if environ.get("HTTP_USER_AGENT", "").startswith(USER_AGENT):
            with self._lock:
                self.calls.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        return self.app(environ, start_response)

    def count(self, endpoint):
        method, pattern = endpoint
        with self._lock:
            return sum(1 for m, path in self.calls if m == method and re.fullmatch(pattern, path))


@pytest.fixture(scope="module")
def upstream():
    """The simulator over HTTP on a loopback port, accepting KEY; yields (URL, UpstreamCalls)."""
    calls = UpstreamCalls()
    with serving(api_keys=[KEY], wrap=calls.wrap) as url:
        yield url, calls
    clock.reset()


def _database_url():
    """The test database (as this process sees it) as a DATABASE_URL."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def _replica_env(upstream_url):
    env = {key: value for key, value in os.environ.items() if key not in {"VAST_API_KEY_FILE", "GUNICORN_CMD_ARGS"}}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DATABASE_URL=_database_url(),
        # The subprocess inherits PYTEST_XDIST_WORKER, so settings.py maps this to the same
        # per-worker Redis database again (checked in `replicas`).
        REDIS_URL=settings.CACHES["default"]["LOCATION"],
        DATABASE_CONN_MAX_AGE="0",  # no idle connection left to hold up the flush between tests
        VAST_API_KEY=KEY,
        VAST_URL=upstream_url,
        VAST_RATE_LIMIT="false",  # these few calls need no pacing; the counts are what is checked
        OFFER_CACHE_SECONDS="300",  # nothing expires during the module
        SECRET_KEY=SECRET_KEY,  # replicas share it, as a deployment must (session auth hashes)
        DEBUG="true",  # plain-HTTP session cookies
        LOG_LEVEL="WARNING",
    )
    return env


def _start_gunicorn(env, log_path):
    """A 1-worker gunicorn on a pre-bound ephemeral loopback port, answering /healthz."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    command = [
        sys.executable, "-m", "gunicorn", "dashboard.wsgi",
        "--bind", f"fd://{listener.fileno()}", "--workers", "1", "--threads", "2", "--timeout", "30",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()]
        )
    listener.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f"gunicorn did not start:\n{Path(log_path).read_text()}")
        time.sleep(0.1)


def _stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def replicas(django_db_setup, upstream, tmp_path_factory):
    """Base URLs of two gunicorn replicas on this test's database and Redis, stopped at the end."""
    env = _replica_env(upstream[0])
    seen = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.CACHES['default']['LOCATION'])"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert seen.stdout.strip() == settings.CACHES["default"]["LOCATION"], seen.stderr
    logs = tmp_path_factory.mktemp("replicas")
    processes, urls = [], []
    try:
        for name in ("a", "b"):
            process, url = _start_gunicorn(env, logs / f"gunicorn-{name}.log")
            processes.append(process)
            urls.append(url)
        yield urls
    finally:
        for process in processes:
            _stop(process)


@pytest.fixture
def operator(django_user_model):
    """An operator whose password the replicas can check: they hash with PBKDF2, while this
    suite's settings hash with MD5 for speed."""
    hasher = PBKDF2PasswordHasher()
    user = django_user_model.objects.create(
        username="rita", email="rita@example.com", password=hasher.encode(PASSWORD, hasher.salt())
    )
    set_role(user, OPERATOR)
    return user


def log_in(client, url):
    """Log in through the login form of the replica at `url`; returns the session cookie."""
    page = client.get(f"{url}/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        f"{url}/accounts/login/", data={"username": "rita", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert answer.status_code == 302, answer.text[:2000]
    return client.cookies["sessionid"]


def offer_ids(html):
    return re.findall(r'<tbody class="offer" data-offer-id="(\d+)"', html)


def test_a_session_opened_on_one_replica_is_valid_on_the_other(replicas, operator):
    a, b = replicas
    with httpx.Client(timeout=30) as browser:
        session = log_in(browser, a)
    with httpx.Client(timeout=30, cookies={"sessionid": session}) as other_tab:
        page = other_tab.get(f"{b}/instances/")
        assert page.status_code == 200
        assert 'data-testid="current-user">rita<' in page.text
    with httpx.Client(timeout=30) as stranger:
        assert stranger.get(f"{b}/instances/").headers["location"].startswith("/accounts/login/")


def test_a_search_cached_by_one_replica_is_served_by_the_other(replicas, operator, upstream):
    a, b = replicas
    calls = upstream[1]
    with httpx.Client(timeout=30) as browser:
        log_in(browser, a)
        before = calls.count(SEARCH)
        first = browser.get(f"{a}/offers/?gpu=RTX+4090&min_reliability=91")
        assert first.status_code == 200
        assert calls.count(SEARCH) == before + 1
        second = browser.get(f"{b}/offers/?gpu=RTX+4090&min_reliability=91")
        assert second.status_code == 200
        assert calls.count(SEARCH) == before + 1
    assert offer_ids(first.text)
    assert offer_ids(second.text) == offer_ids(first.text)


def test_a_launch_token_claimed_on_one_replica_is_refused_by_the_other(replicas, operator, upstream):
    a, b = replicas
    calls = upstream[1]
    with httpx.Client(transport=SimulatorTransport(api_keys=[KEY]), base_url="https://console.vast.ai") as direct:
        query = {"rentable": {"eq": True}, "disk_space": {"gte": 60}, "order": [["dph_total", "asc"]], "limit": 1}
        offer_id = direct.post("/api/v0/bundles/", json=query, headers={"Authorization": f"Bearer {KEY}"}).json()[
            "offers"
        ][0]["id"]
    with httpx.Client(timeout=30) as browser:
        log_in(browser, a)
        form = browser.get(f"{a}/offers/{offer_id}/launch/?disk=40")
        assert form.status_code == 200
        hidden = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.text)
        fields = {name: html.unescape(value) for name, value in hidden}
        assert fields["token"]
        data = {
            **fields,
            "image": "pytorch/pytorch",
            "disk": "40",
            "runtype": "ssh",
            "args": "",
            "label": "replicas",
            "env": "",
            "onstart": "",
        }
        launches = calls.count(LAUNCH)

        launched = browser.post(f"{a}/offers/{offer_id}/launch/", data=data)
        assert launched.status_code == 302, launched.text[:2000]
        instance_url = launched.headers["location"]
        assert re.fullmatch(r"/instances/\d+/", instance_url)
        assert calls.count(LAUNCH) == launches + 1

        again = browser.post(f"{b}/offers/{offer_id}/launch/", data=data)
        assert again.status_code == 302, again.text[:2000]
        assert again.headers["location"] == instance_url
        shown = browser.get(f"{b}{instance_url}")
        assert "This launch form was already submitted" in shown.text
        instance_id = instance_url.strip("/").rsplit("/", 1)[-1]
        assert f'data-instance-id="{instance_id}"' in shown.text  # the ledger row replica a wrote
    assert calls.count(LAUNCH) == launches + 1


def test_both_replicas_show_the_one_ledger_and_never_call_vast_for_a_page(replicas, operator, upstream):
    a, b = replicas
    calls = upstream[1]
    for url in (a, b):
        assert httpx.get(f"{url}/healthz/worker", timeout=30).status_code == 503  # nobody has synced yet
    assert sync.run(force=True).result == "synced"  # the worker's sync, from this process
    with httpx.Client(timeout=30) as browser:
        log_in(browser, a)
        before = len(calls.calls)
        for url in (a, b):
            assert httpx.get(f"{url}/healthz/worker", timeout=30).status_code == 200
            for path in ("/", "/instances/", "/instances/history/", "/account/"):
                page = browser.get(f"{url}{path}")
                assert page.status_code == 200, (url, path)
                assert 'data-stale="false"' in page.text, (url, path)
        assert calls.calls[before:] == [], "a page called Vast"
