"""Benchmark the offer search page against the Vast.ai simulator, both over real HTTP.

    .venv/bin/python bench/offers.py [--rounds 30] [--workers 1] [--threads 4] [--latency-ms 100]

The simulator runs in this process on an ephemeral loopback port (WSGI server in a thread, its
own temporary SQLite database), with LATENCY_MS (100 ms) added to every request it answers, the
dashboard's and the benchmark's direct calls alike, as a real Vast is that far away. The dashboard runs as a gunicorn subprocess on a pre-bound
ephemeral port, with its own temporary database (`migrate`), a user (`adduser`), and
VAST_API_KEY / VAST_URL pointing at the simulator and its client-side rate limiter off
(VAST_RATE_LIMIT=false). A logged-in httpx session then measures:

- the direct upstream call, POST /api/v0/bundles/, with the body the dashboard sent;
- the offers page on a cold cache: each round varies the disk size (`?disk=N`), a filter that
  keeps the 64-offer result but changes the query and so the cache key;
- the offers page on a warm cache: one URL repeated within OFFER_CACHE_SECONDS;
- the HTML per offer row of the full page and of the htmx fragment, and what goes over the wire
  (the session asks for gzip, as browsers do);
- how many upstream searches 50 identical searches cause, one at a time and 8 at a time,
  counted by a middleware around the simulator's WSGI app.

It prints figures and asserts nothing about time. See bench/README.md.
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this directory comes first on sys.path, and this file would shadow the `offers` app.
sys.path[0] = str(ROOT)

import httpx  # noqa: E402

from bench._harness import (  # noqa: E402
    DASHBOARD_AGENT,
    SIM_KEY,
    dashboard_env,
    gunicorn,
    log_in,
    prepare_database,
    simulator,
)

CACHE_SECONDS = 20
LATENCY_MS = 100
SEARCH_PATH = "/api/v0/bundles/"
IDENTICAL_SEARCHES = 50
CONCURRENCY = 8


class UpstreamLog:
    """WSGI middleware (`wrap` the simulator's app) that counts the requests reaching the
    simulator, keeps the body of the last offer search the dashboard sent, and holds every
    request `latency` seconds before answering it (Vast's distance)."""

    def __init__(self, latency=0.0):
        self.app = None
        self.latency = latency
        self.counts = Counter()
        self.last_dashboard_search = None
        self._lock = threading.Lock()

    def wrap(self, app):
        self.app = app
        return self

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        caller = "dashboard" if environ.get("HTTP_USER_AGENT", "").startswith(DASHBOARD_AGENT) else "bench"
        with self._lock:
            self.counts[(caller, environ["REQUEST_METHOD"], environ["PATH_INFO"])] += 1
            if caller == "dashboard" and environ["PATH_INFO"] == SEARCH_PATH:
                self.last_dashboard_search = body
        time.sleep(self.latency)
        return self.app(environ, start_response)

    def dashboard_searches(self):
        """How many offer searches the dashboard has sent so far."""
        with self._lock:
            return self.counts[("dashboard", "POST", SEARCH_PATH)]


def start_dashboard(stack, workdir, simulator_url, workers, threads):
    """Migrate a fresh database, add a user, start gunicorn (stopped when `stack` closes).
    Returns (base URL, username, password)."""
    env = dashboard_env(
        simulator_url,
        f"sqlite:///{workdir / 'dashboard.sqlite3'}",
        OFFER_CACHE_SECONDS=CACHE_SECONDS,
        # The dashboard's own pacing (one search per 2 s, as Vast allows) would dominate every
        # cold-cache figure; this measures the dashboard's overhead, not Vast's limits.
        VAST_RATE_LIMIT="false",
    )
    username, password = prepare_database(env, role="operator")  # sees Launch buttons, with guardrails
    url = stack.enter_context(gunicorn(env, workdir / "gunicorn.log", workers=workers, threads=threads))
    return url, username, password


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


def page_sizes(session, path):
    """{name: (HTML bytes, bytes on the wire, rows)} of the full page and of its htmx fragment."""
    sizes = {}
    for name, headers in (("full page", {}), ("htmx fragment", {"HX-Request": "true", "HX-Target": "offer-results"})):
        response = session.get(path, headers={"Accept-Encoding": "gzip", **headers})
        if response.status_code != 200:
            sys.exit(f"GET {path} ({name}) answered {response.status_code}")
        rows = response.text.count('<tbody class="offer"')
        sizes[name] = (
            len(response.content),
            response.num_bytes_downloaded,
            rows,
            response.headers.get("Content-Encoding"),
        )
    return sizes


def run(rounds, workers, threads, latency_ms):
    """Start both servers, measure, stop them, print the table."""
    with tempfile.TemporaryDirectory(prefix="bench-offers-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        upstream = UpstreamLog(latency_ms / 1000)
        simulator_url = stack.enter_context(simulator(workdir, wrap=upstream.wrap))
        dashboard_url, username, password = start_dashboard(stack, workdir, simulator_url, workers, threads)
        sessions = [log_in(dashboard_url, username, password) for _ in range(CONCURRENCY)]
        direct = httpx.Client(
            base_url=simulator_url,
            headers={"Authorization": f"Bearer {SIM_KEY}", "Content-Type": "application/json"},
            timeout=30,
        )
        get_page(sessions[0], "/offers/")  # warms up GPU names and templates
        sizes = page_sizes(sessions[0], "/offers/")
        # Each disk size is a new query (and cache key) with the same 64 offers.
        paths = (f"/offers/?disk={disk}" for disk in range(11, 100000))
        page_cold, upstream_direct, offer_counts = measure_cold(sessions[0], direct, upstream, paths, rounds)
        page_warm = measure_cache_hits(sessions[0], upstream, next(paths), rounds)
        sequential = count_upstream_searches(sessions, upstream, next(paths), 1)
        concurrent = count_upstream_searches(sessions, upstream, next(paths), CONCURRENCY)

    cache = "Redis (REDIS_URL)" if os.environ.get("REDIS_URL") else "local memory, per worker"
    print(f"Offer search: dashboard (gunicorn, {workers} worker(s) x {threads} threads) -> simulator, over loopback")
    print(f"{rounds} rounds; offers per result: {sorted(offer_counts)}; cache: {cache}")
    print(f"+{latency_ms} ms on every simulator request; OFFER_CACHE_SECONDS={CACHE_SECONDS}, VAST_RATE_LIMIT=false")
    print()
    print(f"{'HTML of /offers/':<44} {'rows':>4} {'bytes':>10} {'per row':>10} {'on wire':>10}")
    for name, (html, wire, rows, encoding) in sizes.items():
        print(
            f"{name:<44} {rows:>4} {html:>10} {html / max(rows, 1):>10.0f} {wire:>10}"
            f"{' (' + encoding + ')' if encoding else ' (identity)'}"
        )
    print()
    print(f"{'measurement':<44} {'n':>4} {'median ms':>10} {'p90 ms':>10}")
    print(summary("upstream POST /api/v0/bundles/ (direct)", upstream_direct))
    print(summary("offers page, cold cache (new ?disk= each)", page_cold))
    print(summary("offers page, cache hit (same URL)", page_warm))
    print()
    direct_median = statistics.median(upstream_direct)
    print(
        f"cold page / direct upstream call: {statistics.median(page_cold) / direct_median:.2f}x (target <= 1.15)   "
        f"cache-hit page / direct: {statistics.median(page_warm) / direct_median:.2f}x (target <= 0.10)"
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
    parser.add_argument(
        "--latency-ms", type=int, default=LATENCY_MS, help=f"added to every simulator request (default {LATENCY_MS})"
    )
    args = parser.parse_args()
    run(args.rounds, args.workers, args.threads, args.latency_ms)


if __name__ == "__main__":
    main()
