"""Start-up code the benchmarks share: the simulator over HTTP in this process, the dashboard
as gunicorn subprocesses, and httpx sessions logged in through the login form.

Scripts in bench/ put the repository root first on sys.path (so that bench/offers.py does not
shadow the `offers` app) and import this module as `bench._harness`.
"""

import os
import re
import secrets
import socket
import subprocess
import sys
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
    upstream (VAST_API_KEY / VAST_URL), DEBUG on and quiet logs, then `settings`."""
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
    env.update(
        DATABASE_URL=database_url,
        VAST_API_KEY=SIM_KEY,
        VAST_URL=simulator_url,
        DEBUG="true",  # plain-HTTP session cookies; DEBUG off makes them Secure
        LOG_LEVEL="WARNING",
    )
    env.update({key: str(value) for key, value in settings.items()})
    return env


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
    manage(env, "migrate", "--noinput")
    manage(env, "adduser", username, "--role", role, "--password-stdin", stdin=password + "\n")
    return username, password


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
