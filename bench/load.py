"""Load test: simulated users browse offers and watch the instance list, against gunicorn and its
background worker (`manage.py run_huey`) on the Vast.ai simulator over HTTP with the simulator's
rate limits on.

    .venv/bin/python bench/load.py [--users 20] [--seconds 60] [--workers 2] [--threads 4]
                                   [--mode sqlite|services] [--seed 1]

`--mode sqlite` (default): one gunicorn (`--workers` workers) on a temporary SQLite database and
the local-memory cache. `--mode services`: two gunicorn replicas (`--workers` workers each) on one
fresh PostgreSQL database (`dashboard_bench_<pid>`, dropped afterwards) and one Redis database
(`--redis`, flushed before and after), the users spread across both.

The simulator runs in this process (WSGI server in a thread, temporary SQLite database), with a
few instances created before the run (one of them still loading), and answers 429 like Vast when a key calls an endpoint
faster than its threshold (vast-api.md §9.3). A middleware around it counts the dashboard's calls
per endpoint (web and worker alike: since the ledger, the instance lists are the worker's). Each
user (a thread with its own logged-in session, seeded randomness) alternates between browsing
offers (popular filter combinations, sorts, details, with 1-3 s of thinking between clicks) and
watching /instances/ (the page, then an htmx poll at the interval the page asks for: 2 s while an
instance changes state, as the loading one does). The dashboard runs with its defaults for Vast:
VAST_RATE_LIMIT on, OFFER_CACHE_SECONDS=20, VAST_SYNC_SECONDS=10.

It prints figures and asserts nothing about time. See bench/README.md.
"""

import argparse
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this directory comes first on sys.path; the benchmarks import as `bench.*`.
sys.path[0] = str(ROOT)

import httpx  # noqa: E402

from bench._harness import (  # noqa: E402
    SIM_KEY,
    UpstreamCounter,
    dashboard_env,
    gunicorn,
    huey_worker,
    log_in,
    percentile,
    prepare_database,
    rent,
    services_database,
    simulator,
    wait_for_worker,
)

CACHE_SECONDS = 20
INSTANCES = 5  # created in the simulator before the run
POLL_SECONDS = 5  # the instance list polls every 5 s, or as often as its hx-trigger says
THINK_SECONDS = (1.0, 3.0)
# Popular searches (query strings of the offers page) and how often people pick them.
COMBOS = (
    ("", 30),
    ("gpu=RTX+4090", 25),
    ("gpu=H100+SXM", 15),
    ("gpu=A100+SXM4", 10),
    ("min_gpu_ram=48", 10),
    ("gpu=RTX+3090&max_dph=0.5", 10),
)
SORTS = (("", 60), ("-dlperf_per_dphtotal", 20), ("price_per_gpu", 10), ("-reliability", 10))
HTMX = {"HX-Request": "true"}
OFFER_ID = re.compile(r'data-offer-id="(\d+)"')
POLL_EVERY = re.compile(r'id="instance-list" hx-get="[^"]*" hx-trigger="every (\d+)s')
VAST_ERROR = re.compile(r'data-testid="vast-error">(.*?)</div>', re.S)


def pick(rng, weighted):
    """One value of a ((value, weight), ...) table."""
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights)[0]


def seed_instances(simulator_url, count):
    """Rent `count` offers in the simulator (before its rate limits are on): the first still
    loading for the whole run (the list polls every 2 s while it does), the last stopped, the
    others running by the time the users arrive."""
    from dashboard.vast import VastClient

    ids = rent(simulator_url, 1, 3600.0, "bench-loading") + rent(simulator_url, count - 1, 1.0, "bench")
    with VastClient(SIM_KEY, simulator_url, timeout=30) as client:
        client.set_state(ids[-1], "stopped")
    return ids


@dataclass(frozen=True)
class Sample:
    page: str
    replica: int
    ms: float
    status: int | None  # None: no answer (the exception's name is in `alert`)
    alert: str | None  # the text of the page's vast-error alert, if it shows one
    path: str


class Recorder:
    def __init__(self):
        self.samples = []
        self.resent = Counter()
        self._lock = threading.Lock()

    def add(self, sample):
        with self._lock:
            self.samples.append(sample)

    def count_resend(self, failure):
        with self._lock:
            self.resent[failure] += 1


class SimulatedUser:
    """One person in a browser: browses offers, or watches the instance list, until `deadline`."""

    def __init__(self, session, replica, rng, recorder, deadline):
        self.session, self.replica, self.rng = session, replica, rng
        self.recorder, self.deadline = recorder, deadline
        self.combo, self.sort, self.offer_ids = "", "", []

    def run(self):
        self.pause(0.0, THINK_SECONDS[1])  # people do not all arrive in the same second
        while time.monotonic() < self.deadline:
            if self.rng.random() < 0.6:
                self.browse_offers()
            else:
                self.watch_instances()
            self.think()
        self.session.close()

    def get(self, page, path, htmx=False):
        """GET `path`, record it under `page`; the body, or "" when no answer came.

        Like a browser, it sends the request once more when the server closed the connection
        without answering: gunicorn drops keep-alive connections idle for 2 s, the poll interval,
        so a poll can race the close. Those resends are counted (`Recorder.resent`)."""
        headers = {**HTMX, "HX-Current-URL": f"{self.session.base_url}{path}"} if htmx else {}
        started = time.perf_counter()
        body, status, failure = "", None, None
        for attempt in (1, 2):
            try:
                response = self.session.get(path, headers=headers)
                body, status = response.text, response.status_code
                break
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                failure = type(exc).__name__
                if attempt == 1:
                    self.recorder.count_resend(failure)
            except httpx.HTTPError as exc:
                failure = type(exc).__name__
                break
        ms = (time.perf_counter() - started) * 1000
        alert = VAST_ERROR.search(body)
        text = " ".join(re.sub(r"<[^>]+>", " ", alert.group(1)).split()) if alert else None
        self.recorder.add(Sample(page, self.replica, ms, status, failure if status is None else text, path))
        return body

    def pause(self, low, high):
        time.sleep(max(0.0, min(self.rng.uniform(low, high), self.deadline - time.monotonic())))

    def think(self):
        self.pause(*THINK_SECONDS)

    def offers_path(self):
        params = "&".join(p for p in (self.combo, f"order={self.sort}" if self.sort else "") if p)
        return "/offers/" + (f"?{params}" if params else "")

    def show_offers(self, page, htmx):
        body = self.get(page, self.offers_path(), htmx)
        self.offer_ids = OFFER_ID.findall(body)[:3] or self.offer_ids

    def browse_offers(self):
        """Open a popular search, then a few clicks: another sort, another filter, an offer's
        details, a reload."""
        self.combo, self.sort = pick(self.rng, COMBOS), pick(self.rng, SORTS)
        self.show_offers("offers (full page)", htmx=False)
        for _ in range(self.rng.randint(1, 5)):
            self.think()
            if time.monotonic() >= self.deadline:
                return
            click = self.rng.random()
            if click < 0.40:
                self.sort = pick(self.rng, SORTS)
                self.show_offers("offers (htmx: sort, filter)", htmx=True)
            elif click < 0.70:
                self.combo = pick(self.rng, COMBOS)
                self.show_offers("offers (htmx: sort, filter)", htmx=True)
            elif click < 0.85 and self.offer_ids:
                offer_id = self.rng.choice(self.offer_ids)
                query = self.offers_path().partition("?")[2]
                self.get("offer details (htmx)", f"/offers/{offer_id}/?{query}", htmx=True)
            else:
                self.show_offers("offers (full page)", htmx=False)

    def watch_instances(self):
        """Open /instances/ and keep it open for 10-30 s: the list polled at the interval the
        page asks for (its hx-trigger)."""
        until = min(self.deadline, time.monotonic() + self.rng.uniform(10, 30))
        body = self.get("instances (full page)", "/instances/")
        while True:
            every = POLL_EVERY.search(body)
            tick = time.monotonic() + (int(every.group(1)) if every else POLL_SECONDS)
            if tick >= until:
                return
            time.sleep(max(0.0, tick - time.monotonic()))
            body = self.get("instances (htmx poll)", "/instances/", htmx=True) or body


def start_dashboards(stack, workdir, simulator_url, args):
    """The dashboard replicas for the mode; returns (their URLs, username, password, description)."""
    settings = {"OFFER_CACHE_SECONDS": CACHE_SECONDS, "VAST_RATE_LIMIT": "true"}
    if args.mode == "sqlite":
        env = dashboard_env(simulator_url, f"sqlite:///{workdir / 'dashboard.sqlite3'}", **settings)
        env.pop("REDIS_URL", None)
        replicas = 1
        what = "SQLite + local-memory cache (one per worker)"
    else:
        database_url = stack.enter_context(services_database(args.postgres, args.redis))
        env = dashboard_env(simulator_url, database_url, REDIS_URL=args.redis, **settings)
        replicas = 2
        what = f"PostgreSQL ({database_url.rsplit('/', 1)[1]}) + Redis ({args.redis})"
    username, password = prepare_database(env)
    urls = [
        stack.enter_context(gunicorn(env, workdir / f"gunicorn-{n}.log", workers=args.workers, threads=args.threads))
        for n in range(replicas)
    ]
    worker = stack.enter_context(huey_worker(env, workdir / "worker.log"))
    wait_for_worker(urls[0], worker, workdir / "worker.log")  # the ledger holds the instances
    description = f"{replicas} gunicorn x {args.workers} workers x {args.threads} threads + 1 run_huey, {what}"
    return urls, username, password, description


def run_users(urls, username, password, args, recorder):
    """Log the users in (outside the timed window), run them for `args.seconds`; returns the
    window's (start, end) in monotonic time."""
    sessions = [log_in(urls[i % len(urls)], username, password) for i in range(args.users)]
    for session in sessions:
        session.get("/offers/")  # warm each worker's templates and GPU names, as a first visitor would
        session.get("/instances/")
    started = time.monotonic()
    deadline = started + args.seconds
    users = [
        SimulatedUser(session, i % len(urls), random.Random(args.seed * 1000 + i), recorder, deadline)
        for i, session in enumerate(sessions)
    ]
    threads = [threading.Thread(target=user.run, name=f"user-{i}") for i, user in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.seconds + 120)
    return started, time.monotonic()


def log_findings(workdir):
    """Counts of telling lines in the gunicorn and worker logs (LOG_LEVEL=WARNING)."""
    found = Counter()
    for path in [*workdir.glob("gunicorn-*.log"), workdir / "worker.log"]:
        for line in path.read_text(errors="replace").splitlines():
            if "not sent: own rate limit" in line:
                found["calls refused by the dashboard's own limiter (page shows 'busy')"] += 1
            elif re.search(r"vast \S+ \S+ 429 ", line):
                found["upstream answers 429 (logged by the dashboard)"] += 1
            elif "Traceback" in line:
                found["tracebacks"] += 1
            elif "WORKER TIMEOUT" in line:
                found["gunicorn worker timeouts"] += 1
    return found


def report(args, description, recorder, calls, seconds, findings):
    print(f"Load: {args.users} users for {args.seconds} s, mode {args.mode}: {description}")
    print(
        f"Simulator over HTTP with Vast's rate limits on; {INSTANCES} instances (1 loading); VAST_RATE_LIMIT=true, "
        f"OFFER_CACHE_SECONDS={CACHE_SECONDS}, DEBUG={os.environ.get('BENCH_DEBUG', 'false')}; seed {args.seed}; "
        f"window {seconds:.1f} s"
    )
    print()

    def failed(sample):
        return sample.status is None or not 200 <= sample.status < 400 or sample.alert is not None

    samples = recorder.samples
    errors = [s for s in samples if failed(s)]
    bad_status = sum(1 for s in errors if s.status is not None and not 200 <= s.status < 400)
    alerts = sum(1 for s in errors if s.status is not None and s.alert)
    print(
        f"requests: {len(samples)} = {len(samples) / seconds:.1f}/s; errors: {len(errors)} "
        f"(non-2xx/3xx {bad_status}, vast-error alert {alerts}, no answer {sum(1 for s in errors if s.status is None)})"
    )
    searches = {s.path for s in samples if s.page.startswith("offers")}
    details = {s.path for s in samples if s.page.startswith("offer details")}
    print(
        f"distinct offer searches asked for: {len(searches)} filter/sort pages and {len(details)} offer details "
        f"(each a search of its own, cached {CACHE_SECONDS} s; Vast allows one search per 2 s)"
    )
    if recorder.resent:
        resent = ", ".join(f"{n} after {name}" for name, n in recorder.resent.items())
        print(f"resent once, as a browser does, when gunicorn closed an idle keep-alive connection: {resent}")
    if args.mode == "services":
        per_replica = Counter(s.replica for s in samples)
        print("per replica: " + ", ".join(f"#{r + 1} {n}" for r, n in sorted(per_replica.items())))
    print()
    pages = defaultdict(list)
    for sample in samples:
        pages[sample.page].append(sample)
    print(f"{'page':<30} {'n':>6} {'req/s':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for page, group in [("all", samples), *sorted(pages.items())]:
        ms = sorted(s.ms for s in group)
        print(
            f"{page:<30} {len(group):>6} {len(group) / seconds:>6.1f} {percentile(ms, 50):>8.0f} "
            f"{percentile(ms, 95):>8.0f} {percentile(ms, 99):>8.0f} {sum(1 for s in group if failed(s)):>7}"
        )
    if errors:
        print()
        print("errors by cause:")
        # "Try again in 4 s" and "in 5 s" are one cause.
        causes = Counter((s.page, s.status, re.sub(r"\d+ s\b", "N s", s.alert or "")) for s in errors)
        for (page, status, alert), count in sorted(causes.items(), key=lambda item: (item[0][0], -item[1])):
            print(
                f"  {count:>5} x {page}: {f'status {status}' if status else 'no answer'}{f' – {alert}' if alert else ''}"
            )
    print()

    per_endpoint = defaultdict(list)
    for arrived, endpoint, status in calls:
        per_endpoint[endpoint].append((arrived, status))
    print(f"upstream calls from the dashboard, counted at the simulator ({seconds:.1f} s):")
    # min gap: the closest two calls to the endpoint came, refused ones included.
    print(f"{'endpoint':<32} {'calls':>6} {'per min':>8} {'Vast limit/min':>15} {'min gap s':>10} {'429s':>5}")
    for (label, threshold), hits in sorted(per_endpoint.items(), key=lambda item: item[0][0]):
        times = sorted(t for t, _ in hits)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        limit = f"{60 / threshold:.0f} (1/{threshold:g} s)" if threshold else "none"
        gap = f"{min(gaps):.2f}" if gaps else "–"
        refused = sum(1 for _, status in hits if status == 429)
        print(f"{label:<32} {len(hits):>6} {len(hits) / seconds * 60:>8.1f} {limit:>15} {gap:>10} {refused:>5}")
    print(f"upstream 429s: {sum(1 for _, _, status in calls if status == 429)}")
    if findings:
        print()
        print("dashboard logs:")
        for what, count in findings.most_common():
            print(f"  {count:>5} {what}")


def run(args):
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        upstream = UpstreamCounter()
        simulator_url = stack.enter_context(simulator(workdir, wrap=upstream.wrap))
        seed_instances(simulator_url, INSTANCES)
        from vastsim import switches

        switches.enable("rate_limits")
        urls, username, password, description = start_dashboards(stack, workdir, simulator_url, args)
        recorder = Recorder()
        started, ended = run_users(urls, username, password, args, recorder)
        calls = upstream.since(started)
        stack.close()  # stop the dashboards before reading their logs
        findings = log_findings(workdir)
    report(args, description, recorder, calls, ended - started, findings)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="simulated users (default 20)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they browse (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per replica (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    parser.add_argument("--mode", choices=("sqlite", "services"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1, help="seed of the users' choices (default 1)")
    parser.add_argument(
        "--postgres", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server, services mode"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9", help="Redis database, services mode")
    args = parser.parse_args()
    if args.users < 1 or args.seconds <= 0 or args.workers < 1 or args.threads < 1:
        parser.error("--users, --seconds, --workers and --threads must be positive")
    run(args)


if __name__ == "__main__":
    main()
