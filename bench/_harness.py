"""Start-up code the benchmarks share: the simulator over HTTP in this process (and a middleware
counting the dashboard's calls to it), the dashboard as gunicorn subprocesses, its background
worker (`manage.py run_huey`) as another, and httpx sessions logged in through the login form.

Scripts in bench/ put the repository root first on sys.path (so that bench/offers.py does not
shadow the `offers` app) and import this module as `bench._harness`.
"""

import atexit
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SIM_KEY = "bench-simulator-key"
DASHBOARD_AGENT = "vast-team-dashboard/"  # the start of the User-Agent the dashboard sends upstream
# Not passed on to the dashboard: they would override what the benchmark sets.
_DROPPED_ENV = {"VAST_API_KEY_FILE", "DJANGO_SETTINGS_MODULE", "GUNICORN_CMD_ARGS"}
START_TIMEOUT = 30


@contextmanager
def simulator(workdir, wrap=None):
    """Set up Django in this process on a fresh simulator database (SQLite in `workdir`) and
    serve the simulator on an ephemeral loopback port for the block; yields its base URL.
    `wrap(app)` may put a WSGI middleware around it (see vastsim.wsgi.serving)."""
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'simulator.sqlite3'}"
    os.environ["LOG_LEVEL"] = "WARNING"  # the simulator logs each request at INFO
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from vastsim.wsgi import serving

    call_command("migrate", verbosity=0)
    with serving(api_keys=[SIM_KEY], wrap=wrap) as url:
        yield url


def dashboard_env(simulator_url, database_url, **settings):
    """The dashboard's environment: this one's, with its own database, the simulator as the
    upstream (VAST_API_KEY / VAST_URL), then `settings`. It runs as in production (DEBUG off, a
    secret key of its own, static files collected by `prepare_database` into a temporary
    STATIC_ROOT) but over plain HTTP (cookies not marked Secure), with quiet text logs.
    BENCH_DEBUG=true runs it with DEBUG on instead, as the figures before 2026-12-07 were taken."""
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
    env.update(
        DATABASE_URL=database_url,
        VAST_API_KEY=SIM_KEY,
        VAST_URL=simulator_url,
        DEBUG=os.environ.get("BENCH_DEBUG", "false"),
        SECRET_KEY=secrets.token_urlsafe(40),
        SESSION_COOKIE_SECURE="false",  # the benchmark talks plain HTTP to gunicorn
        ALLOWED_HOSTS="127.0.0.1,localhost",
        STATIC_ROOT=_static_root(),
        LOG_LEVEL="WARNING",
        LOG_FORMAT="text",  # log_findings reads tracebacks line by line
    )
    env.update({key: str(value) for key, value in settings.items()})
    return env


def _static_root():
    """A temporary STATIC_ROOT for this benchmark process (removed when it exits)."""
    global _static_dir
    if _static_dir is None:
        _static_dir = tempfile.mkdtemp(prefix="bench-static-")
        atexit.register(shutil.rmtree, _static_dir, ignore_errors=True)
    return _static_dir


_static_dir = None


def manage(env, *args, stdin=None):
    """Run a manage.py command for the dashboard; exit with its output if it fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def prepare_database(env, username="bench", role="viewer"):
    """Migrate the dashboard's database and add a user; returns (username, password)."""
    password = secrets.token_urlsafe(18)
    if not Path(env["STATIC_ROOT"], "staticfiles.json").exists():
        manage(env, "collectstatic", "--noinput")  # the manifest DEBUG off serves from
    manage(env, "migrate", "--noinput")
    manage(env, "adduser", username, "--role", role, "--password-stdin", stdin=password + "\n")
    return username, password


@contextmanager
def services_database(postgres, redis_url):
    """A fresh PostgreSQL database (dropped afterwards) and a flushed Redis database; yields
    the database's URL."""
    import psycopg
    import redis

    name = f"dashboard_bench_{os.getpid()}"
    with psycopg.connect(f"{postgres}/postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    cache = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
    cache.flushdb()
    try:
        yield f"{postgres}/{name}"
    finally:
        cache.flushdb()
        with psycopg.connect(f"{postgres}/postgres", autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def gunicorn(env, log_path, *, workers, threads):
    """`gunicorn dashboard.wsgi` on a pre-bound ephemeral loopback port for the block, once
    /healthz answers 200; yields its base URL. Its output goes to `log_path`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    command = [
        sys.executable, "-m", "gunicorn", "dashboard.wsgi",
        "--bind", f"fd://{listener.fileno()}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--timeout", "60",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()]
        )
    listener.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the dashboard did not start:\n{Path(log_path).read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def rent(simulator_url, count, boot_seconds, label):
    """Rent the `count` cheapest rentable offers of the simulator (served by this process) through
    the dashboard's service module (`VastClient` over HTTP, so these calls carry the dashboard's
    User-Agent), each instance booting for `boot_seconds`; returns their ids."""
    from django.conf import settings

    from dashboard.vast import LaunchRequest, VastClient, VastOfferUnavailable

    settings.VASTSIM_BOOT_SECONDS = boot_seconds
    # An offer on a machine just rented answers 404, which the client logs as a warning.
    logging.getLogger("dashboard.vast.client").setLevel(logging.ERROR)
    ids = []
    with VastClient(SIM_KEY, simulator_url, timeout=30) as client:
        query = {
            "rentable": {"eq": True},
            "disk_space": {"gte": 50},
            "order": [["dph_total", "asc"]],
            "limit": 4 * count,
        }
        request = LaunchRequest(image="pytorch/pytorch", disk=20.0, label=label)
        for offer in client.search_offers(query):
            try:
                ids.append(client.create_instance(offer.id, request).instance_id)
            except VastOfferUnavailable:  # another offer on a machine just rented
                continue
            if len(ids) == count:
                return ids
    sys.exit(f"could rent only {len(ids)} of {count} offers")


def log_in(url, username, password, timeout=30):
    """A session logged into the dashboard through its login form."""
    session = httpx.Client(base_url=url, timeout=timeout)
    page = session.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if page.status_code != 200 or token is None:
        sys.exit(f"no login form at {url}/accounts/login/ (status {page.status_code})")
    answer = session.post(
        "/accounts/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    )
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        sys.exit(f"login failed (status {answer.status_code})")
    return session


@contextmanager
def huey_worker(env, log_path):
    """The dashboard's background worker, `manage.py run_huey`, with the dashboard's environment
    `env`, for the block (stopped at the end, killed if it lingers). Its output goes to `log_path`.
    Wait for its first sync with `wait_for_worker`."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_huey"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()  # SIGTERM: Huey stops at once (SIGINT would wait for running tasks)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_for_worker(url, process, log_path, timeout=START_TIMEOUT):
    """Wait until the worker has synced the ledger once (GET /healthz/worker answers 200)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/healthz/worker", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit(f"the worker did not sync within {timeout} s:\n{Path(log_path).read_text()}")


def percentile(sorted_ms, q):
    """The q-th percentile (0-100) of sorted samples, nearest rank."""
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, max(0, round(q / 100 * len(sorted_ms)) - 1))]


class UpstreamCounter:
    """WSGI middleware (`wrap` the simulator's app) recording each call the dashboard makes (its
    web processes and its worker alike): when it arrived, its endpoint (method and route, as the
    simulator's rate limits key them) and the status it got. Calls with another User-Agent than
    the dashboard's are not recorded."""

    def __init__(self):
        self.app = None
        self.calls = []  # (monotonic time, (endpoint label, Vast's threshold in s or None), status)
        self._lock = threading.Lock()

    def wrap(self, app):
        self.app = app
        return self

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_USER_AGENT", "").startswith(DASHBOARD_AGENT):
            return self.app(environ, start_response)
        arrived = time.monotonic()
        endpoint = endpoint_of(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))

        def counting_start_response(status, headers, exc_info=None):
            with self._lock:
                self.calls.append((arrived, endpoint, int(status.split()[0])))
            return start_response(status, headers, exc_info)

        return self.app(environ, counting_start_response)

    def since(self, started, until=None):
        """The calls that arrived from `started` (and before `until`), monotonic times."""
        with self._lock:
            return [call for call in self.calls if call[0] >= started and (until is None or call[0] < until)]


def endpoint_of(method, path):
    """(label, Vast's threshold in seconds or None) of a simulator request, e.g.
    ("PUT /api/v0/asks/{id}/", 4.5)."""
    from vastsim import ratelimit, router
    from vastsim.protocol import ApiError

    try:
        route, _ = router.resolve(method, path)
    except ApiError:
        return f"{method} {path}", None
    pattern = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route.pattern.pattern).removesuffix("/?")
    return f"{method} {pattern}/", ratelimit.THRESHOLDS.get((route.name, method))
