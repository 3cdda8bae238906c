"""Benchmark the offer search page against the Vast.ai simulator, both over real HTTP.

    .venv/bin/python bench/offers.py [--rounds 30] [--workers 1] [--threads 4]

The simulator runs in this process on an ephemeral loopback port (WSGI server in a thread, its
own temporary SQLite database). The dashboard runs as a gunicorn subprocess on a pre-bound
ephemeral port, with its own temporary database (`migrate`), a user (`adduser`), and
VAST_API_KEY / VAST_URL pointing at the simulator and its client-side rate limiter off
(VAST_RATE_LIMIT=false). A logged-in httpx session then measures:

- the direct upstream call, POST /api/v0/bundles/, with the body the dashboard sent;
- the offers page on a cold cache: each round varies the disk size (`?disk=N`), a filter that
  keeps the 64-offer result but changes the query and so the cache key;
- the offers page on a warm cache: one URL repeated within OFFER_CACHE_SECONDS;
- how many upstream searches 50 identical searches cause, one at a time and 8 at a time,
  counted by a middleware around the simulator's WSGI app.

It prints figures and asserts nothing about time. See bench/README.md.
"""

import argparse
import io
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this directory comes first on sys.path, and this file would shadow the `offers` app.
sys.path[0] = str(ROOT)

import httpx  # noqa: E402

SIM_KEY = "bench-simulator-key"
CACHE_SECONDS = 20
SEARCH_PATH = "/api/v0/bundles/"
DASHBOARD_AGENT = "vast-team-dashboard/"
IDENTICAL_SEARCHES = 50
CONCURRENCY = 8


class UpstreamLog:
    """WSGI middleware that counts the requests reaching the simulator, and keeps the body of
    the last offer search the dashboard sent."""

    def __init__(self, app):
        self.app = app
        self.counts = Counter()
        self.last_dashboard_search = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        caller = "dashboard" if environ.get("HTTP_USER_AGENT", "").startswith(DASHBOARD_AGENT) else "bench"
        with self._lock:
            self.counts[(caller, environ["REQUEST_METHOD"], environ["PATH_INFO"])] += 1
            if caller == "dashboard" and environ["PATH_INFO"] == SEARCH_PATH:
                self.last_dashboard_search = body
        return self.app(environ, start_response)

    def dashboard_searches(self):
        """How many offer searches the dashboard has sent so far."""
        with self._lock:
            return self.counts[("dashboard", "POST", SEARCH_PATH)]


def start_simulator(workdir):
    """Set up Django on a fresh simulator database, serve the simulator, and return
    (base URL, UpstreamLog, server)."""
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'simulator.sqlite3'}"
    os.environ["LOG_LEVEL"] = "WARNING"  # the simulator logs each request at INFO
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from vastsim.wsgi import make_server

    call_command("migrate", verbosity=0)
    server = make_server("127.0.0.1", 0, api_keys=[SIM_KEY])
    log = UpstreamLog(server.get_app())
    server.set_app(log)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", log, server


def manage(env, *args, stdin=None):
    """Run a manage.py command for the dashboard; exit with its output if it fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def start_dashboard(workdir, simulator_url, workers, threads):
    """Migrate a fresh database, add a user, start gunicorn on a pre-bound ephemeral port.
    Returns (base URL, process, username, password)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VAST_API_KEY_FILE", "DJANGO_SETTINGS_MODULE", "GUNICORN_CMD_ARGS"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'dashboard.sqlite3'}",
        VAST_API_KEY=SIM_KEY,
        VAST_URL=simulator_url,
        OFFER_CACHE_SECONDS=str(CACHE_SECONDS),
        # The dashboard's own pacing (one search per 2 s, as Vast allows) would dominate every
        # cold-cache figure; this measures the dashboard's overhead, not Vast's limits.
        VAST_RATE_LIMIT="false",
        DEBUG="true",  # plain-HTTP session cookies; DEBUG off makes them Secure
        LOG_LEVEL="WARNING",
    )
    username, password = "bench", secrets.token_urlsafe(18)
    manage(env, "migrate", "--noinput")
    manage(env, "adduser", username, "--role", "viewer", "--password-stdin", stdin=password + "\n")

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    log_path = workdir / "gunicorn.log"
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
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"the dashboard did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    return url, process, username, password


def log_in(url, username, password):
    """A session logged into the dashboard through its login form."""
    session = httpx.Client(base_url=url, timeout=30)
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


def timed(call):
    """(milliseconds, result) of one call."""
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def get_page(session, path):
    """GET a dashboard page that must answer 200."""
    response = session.get(path)
    if response.status_code != 200:
        sys.exit(f"GET {path} answered {response.status_code}")
    return response


def summary(label, samples):
    """One table row: label, count, median and 90th percentile in ms."""
    p90 = statistics.quantiles(samples, n=10)[-1] if len(samples) > 1 else samples[0]
    return f"{label:<44} {len(samples):>4} {statistics.median(samples):>10.1f} {p90:>10.1f}"


def measure_cold(session, direct, upstream, paths, rounds):
    """Per round, a cold-cache page then the direct upstream call with the body the page sent.
    Returns (page ms, direct ms, offer counts seen)."""
    page, upstream_direct, offer_counts = [], [], set()
    for _ in range(rounds):
        before = upstream.dashboard_searches()
        ms, _ = timed(partial(get_page, session, next(paths)))
        if upstream.dashboard_searches() != before + 1:
            sys.exit("a cold-cache page did not search upstream exactly once")
        page.append(ms)
        ms, answer = timed(partial(direct.post, SEARCH_PATH, content=upstream.last_dashboard_search))
        answer.raise_for_status()
        offer_counts.add(len(answer.json()["offers"]))
        upstream_direct.append(ms)
    return page, upstream_direct, offer_counts


def measure_cache_hits(session, upstream, path, rounds):
    """Page ms for one URL repeated after a first load has filled the cache."""
    get_page(session, path)
    before = upstream.dashboard_searches()
    samples = [timed(partial(get_page, session, path))[0] for _ in range(rounds)]
    if upstream.dashboard_searches() != before:
        sys.exit("cache-hit pages searched upstream; are the rounds slower than OFFER_CACHE_SECONDS?")
    return samples


def count_upstream_searches(sessions, upstream, path, concurrency):
    """Upstream searches caused by IDENTICAL_SEARCHES loads of a new `path`, `concurrency` at a time."""
    before = upstream.dashboard_searches()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: get_page(sessions[i % concurrency], path), range(IDENTICAL_SEARCHES)))
    return upstream.dashboard_searches() - before


def run(rounds, workers, threads):
    """Start both servers, measure, stop them, print the table."""
    with tempfile.TemporaryDirectory(prefix="bench-offers-") as tmp:
        workdir = Path(tmp)
        simulator_url, upstream, server = start_simulator(workdir)
        dashboard_url, process, username, password = start_dashboard(workdir, simulator_url, workers, threads)
        try:
            sessions = [log_in(dashboard_url, username, password) for _ in range(CONCURRENCY)]
            direct = httpx.Client(
                base_url=simulator_url,
                headers={"Authorization": f"Bearer {SIM_KEY}", "Content-Type": "application/json"},
                timeout=30,
            )
            page_bytes = len(get_page(sessions[0], "/offers/").content)  # also warms up GPU names and templates
            # Each disk size is a new query (and cache key) with the same 64 offers.
            paths = (f"/offers/?disk={disk}" for disk in range(11, 100000))
            page_cold, upstream_direct, offer_counts = measure_cold(sessions[0], direct, upstream, paths, rounds)
            page_warm = measure_cache_hits(sessions[0], upstream, next(paths), rounds)
            sequential = count_upstream_searches(sessions, upstream, next(paths), 1)
            concurrent = count_upstream_searches(sessions, upstream, next(paths), CONCURRENCY)
        finally:
            process.terminate()
            process.wait(timeout=10)
            server.shutdown()
            server.server_close()

    cache = "Redis (REDIS_URL)" if os.environ.get("REDIS_URL") else "local memory, per worker"
    print(f"Offer search: dashboard (gunicorn, {workers} worker(s) x {threads} threads) -> simulator, over loopback")
    print(
        f"{rounds} rounds; offers per result: {sorted(offer_counts)}; page: {page_bytes / 1000:.0f} kB; cache: {cache}"
    )
    print(f"OFFER_CACHE_SECONDS={CACHE_SECONDS}, VAST_RATE_LIMIT=false, DEBUG=true")
    print()
    print(f"{'measurement':<44} {'n':>4} {'median ms':>10} {'p90 ms':>10}")
    print(summary("upstream POST /api/v0/bundles/ (direct)", upstream_direct))
    print(summary("offers page, cold cache (new ?disk= each)", page_cold))
    print(summary("offers page, cache hit (same URL)", page_warm))
    print()
    direct_median = statistics.median(upstream_direct)
    print(
        f"cold page / direct upstream call: {statistics.median(page_cold) / direct_median:.2f}x   "
        f"cache-hit page / direct: {statistics.median(page_warm) / direct_median:.2f}x"
    )
    print(
        f"upstream searches for {IDENTICAL_SEARCHES} identical searches: "
        f"{sequential} one at a time, {concurrent} with {CONCURRENCY} at a time"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed requests per measurement (default 30)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    args = parser.parse_args()
    run(args.rounds, args.workers, args.threads)


if __name__ == "__main__":
    main()
