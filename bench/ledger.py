"""Benchmark the ledger: pages that read only the database while a real worker syncs the account.

    .venv/bin/python bench/ledger.py [--clients 8] [--seconds 15] [--window 45] [--workers 1] [--threads 4]

One run, about four minutes, loopback ports and a temporary directory only. The simulator runs
in this process over HTTP (its own SQLite database) with 100 ms of latency injected on every
call (`vastsim.faults`, stored in its database like `manage.py vastsim_fault add '*' --latency
0.1`) and Vast's rate limits on. The dashboard runs under gunicorn (1 worker x 4 threads by
default) on its own SQLite database, with `manage.py run_huey` beside it in the same environment
(DATABASE_URL, VAST_API_KEY = the simulator's key, VAST_URL = the simulator; no REDIS_URL, so
Huey's queue is an SQLite file beside the database). It:

1. rents `--instances` (10) offers in the simulator through the dashboard's service module
   (`VastClient` over HTTP), booting in 1 s, and waits until /instances/ shows them all running;
2. measures requests/s, p50 and p95 over `--clients` logged-in sessions, each sending its next
   request as soon as the last one answered, for `--seconds` on /healthz, /instances/ and /;
3. counts the dashboard's `GET /api/v1/instances/` calls reaching the simulator (a middleware
   around its WSGI app) during windows of `--window` s with 0, 1 and 8 viewers on /instances/
   (each loads the page, then polls it as htmx does, at the interval the page asks for: 5 s while
   everything is stable), then during a window of `--fast-window` s with one instance starting
   (rented with a one-hour boot), when the worker syncs every VAST_SYNC_FAST_SECONDS.

It prints figures and asserts nothing about time. See bench/README.md.
"""

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
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
    simulator,
    wait_for_worker,
)

LIST = "GET /api/v1/instances/"
PAGES = ("/healthz", "/instances/", "/")
HTMX = {"HX-Request": "true"}
STATUS = re.compile(r'class="badge badge-([\w-]+)" data-testid="status"')
POLL_EVERY = re.compile(r'id="instance-list" hx-get="[^"]*" hx-trigger="every (\d+)s')
AGE = re.compile(r'id="sync-status"[^>]*data-age-seconds="(\d*)"')
WAIT_SECONDS = 60  # the longest wait for the ledger to show what the simulator holds


def statuses(session):
    """The statuses /instances/ shows (a Counter), and its ledger age in seconds."""
    page = session.get("/instances/")
    page.raise_for_status()
    age = AGE.search(page.text)
    return Counter(STATUS.findall(page.text)), int(age.group(1)) if age and age.group(1) else None


def wait_for_ledger(session, wanted, what):
    """Wait (bounded) until /instances/ shows the statuses `wanted` (a Counter); returns seconds waited."""
    started = time.monotonic()
    seen = None
    while time.monotonic() - started < WAIT_SECONDS:
        seen, _ = statuses(session)
        if seen == wanted:
            return time.monotonic() - started
        time.sleep(0.5)
    sys.exit(f"the ledger did not show {what} within {WAIT_SECONDS} s: {dict(seen or {})}")


@dataclass
class Samples:
    ms: list = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    resent: int = 0
    ages: list = field(default_factory=list)  # data-age-seconds the viewers saw
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms, error=None):
        with self.lock:
            self.ms.append(ms)
            if error:
                self.errors[error] += 1


def fetch(session, path, samples, headers=None, check=None):
    """GET `path`, record its time (and any error); the response, or None. Sent once more when
    gunicorn closed the idle keep-alive connection under it, as a browser does (counted)."""
    started = time.perf_counter()
    for attempt in (1, 2):
        try:
            response = session.get(path, headers=headers)
            break
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if attempt == 2:
                samples.add((time.perf_counter() - started) * 1000, type(exc).__name__)
                return None
            with samples.lock:
                samples.resent += 1
        except httpx.HTTPError as exc:
            samples.add((time.perf_counter() - started) * 1000, type(exc).__name__)
            return None
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        samples.add(ms, f"status {response.status_code}")
    elif check and check not in response.text:
        samples.add(ms, f"no {check!r}")
    else:
        samples.add(ms)
    return response


def hammer(sessions, path, seconds):
    """Every session GETs `path` back to back for `seconds`; returns (Samples, elapsed seconds)."""
    samples = Samples()
    check = None if path == "/healthz" else 'id="sync-status"'  # a ledger page, not a login redirect
    for session in sessions:
        fetch(session, path, Samples())  # warm-up, not counted
    deadline = time.monotonic() + seconds

    def client(session):
        while time.monotonic() < deadline:
            fetch(session, path, samples, check=check)

    threads = [threading.Thread(target=client, args=(s,)) for s in sessions]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return samples, time.monotonic() - started


def viewer(session, samples, start_delay, stop):
    """Someone with /instances/ open: the page, then a poll at the interval the page asks for."""
    if stop.wait(start_delay):
        return
    response = fetch(session, "/instances/", samples)
    while True:
        found = POLL_EVERY.search(response.text) if response is not None else None
        age = AGE.search(response.text) if response is not None else None
        if age and age.group(1):
            samples.ages.append(int(age.group(1)))
        if stop.wait(int(found.group(1)) if found else 5):
            return
        response = fetch(session, "/instances/", samples, headers=HTMX)


@dataclass(frozen=True)
class Window:
    label: str
    viewers: int
    seconds: float
    lists: int
    gaps: list
    other: Counter
    refused: int
    samples: Samples


def upstream_window(label, counter, sessions, seconds):
    """Count the dashboard's upstream calls for `seconds` while `sessions` watch /instances/
    (their first loads spread over the first 5 s, as people arrive)."""
    samples, stop = Samples(), threading.Event()
    threads = [
        threading.Thread(target=viewer, args=(s, samples, 5 * i / max(1, len(sessions)), stop))
        for i, s in enumerate(sessions)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    ended = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    calls = counter.since(started, ended)
    times = [t for t, (endpoint, _), _ in calls if endpoint == LIST]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    other = Counter(endpoint for _, (endpoint, _), _ in calls if endpoint != LIST)
    refused = sum(1 for _, _, status in calls if status == 429)
    return Window(label, len(sessions), ended - started, len(times), gaps, other, refused, samples)


def log_findings(workdir):
    """Telling lines in the worker's and gunicorn's logs: counts, and the first exception of each log."""
    found, first = Counter(), {}
    for name in ("worker", "gunicorn"):
        lines = (workdir / f"{name}.log").read_text(errors="replace").splitlines()
        for number, line in enumerate(lines):
            if "sync failed" in line:
                found[f"{name}: failed syncs"] += 1
            elif "database is locked" in line:
                found[f"{name}: 'database is locked'"] += 1
            elif line.startswith("Traceback"):
                found[f"{name}: tracebacks"] += 1
                after = [x for x in lines[number + 1 :] if x and not x.startswith((" ", "Traceback"))]
                first.setdefault(name, after[0] if after else "?")
    return found, first


def report(args, setup, throughput, windows, findings, loads):
    print(
        f"Ledger pages: gunicorn {args.workers} worker(s) x {args.threads} threads + 1 `manage.py run_huey` "
        f"worker, SQLite (Huey queue in SQLite); simulator over HTTP, +{args.latency * 1000:.0f} ms on every "
        f"call, Vast's rate limits on"
    )
    print(
        f"{args.instances} instances; VAST_SYNC_SECONDS={args.sync_seconds:g}, VAST_SYNC_FAST_SECONDS="
        f"{args.fast_seconds:g}; a direct GET /api/v1/instances/ took {setup['direct_ms']:.0f} ms; "
        f"first sync showed them all after {setup['synced_after']:.1f} s"
    )
    print(f"load average (1 min) at start / after the pages / at the end: {' / '.join(f'{x:.2f}' for x in loads)}")
    print()
    print(f"pages, {args.clients} clients back to back, {args.seconds:g} s each:")
    print(f"{'page':<12} {'n':>6} {'req/s':>7} {'vs /healthz':>12} {'p50 ms':>7} {'p95 ms':>7} {'errors':>7}")
    base = throughput["/healthz"][0]
    for path, (rate, samples) in throughput.items():
        ms = sorted(samples.ms)
        print(
            f"{path:<12} {len(ms):>6} {rate:>7.1f} {rate / base:>12.2f} {percentile(ms, 50):>7.0f} "
            f"{percentile(ms, 95):>7.0f} {sum(samples.errors.values()):>7}"
        )
    errors = Counter()
    for path, (_, samples) in throughput.items():
        errors.update({f"{path}: {cause}": n for cause, n in samples.errors.items()})
    for cause, n in errors.most_common():
        print(f"  {n:>5} x {cause}")
    print()
    print("upstream calls from the dashboard (worker and web), counted at the simulator, per window:")
    print(
        f"{'window':<30} {'s':>4} {'lists':>6} {'per min':>8} {'mean gap s':>11} {'60/gap':>7} {'polls':>6} "
        f"{'poll p95 ms':>12} {'max age s':>10}  other calls"
    )
    for w in windows:
        gap = sum(w.gaps) / len(w.gaps) if w.gaps else float("nan")
        ms = sorted(w.samples.ms)
        other = ", ".join(f"{n} {e}" for e, n in w.other.most_common()) or "-"
        print(
            f"{w.label:<30} {w.seconds:>4.0f} {w.lists:>6} {w.lists / w.seconds * 60:>8.1f} {gap:>11.1f} "
            f"{60 / gap:>7.1f} {len(ms):>6} {percentile(ms, 95):>12.0f} "
            f"{max(w.samples.ages, default=float('nan')):>10}  {other}"
        )
        if w.samples.errors or w.samples.resent or w.refused:
            print(
                f"  errors {dict(w.samples.errors)}, resent after a closed keep-alive {w.samples.resent}, 429s {w.refused}"
            )
    print(
        f"expected: at most 60 / VAST_SYNC_SECONDS = {60 / args.sync_seconds:.0f}/min while stable and "
        f"{60 / args.fast_seconds:.0f}/min while one instance starts (a sync and Huey's 1 s scheduler add to each "
        "period), the same whatever the viewers; one list call per 25 instances and sync"
    )
    found, first = findings
    if found:
        print("logs: " + ", ".join(f"{n} {what}" for what, n in found.most_common()))
        for name, exception in first.items():
            print(f"  first exception in the {name} log: {exception}")


def run(args):
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        counter = UpstreamCounter()
        simulator_url = stack.enter_context(simulator(workdir, wrap=counter.wrap))
        from vastsim import faults, switches

        loads = [os.getloadavg()[0]]
        faults.inject("*", latency=args.latency)
        rent(simulator_url, args.instances, boot_seconds=1.0, label="bench")
        switches.enable("rate_limits")  # after renting: Vast allows one rental per few seconds
        from dashboard.vast import VastClient

        with VastClient(SIM_KEY, simulator_url, timeout=30) as direct:
            started = time.perf_counter()
            direct.list_instances()
            direct_ms = (time.perf_counter() - started) * 1000

        env = dashboard_env(
            simulator_url,
            f"sqlite:///{workdir / 'dashboard.sqlite3'}",
            VAST_SYNC_SECONDS=args.sync_seconds,
            VAST_SYNC_FAST_SECONDS=args.fast_seconds,
        )
        env.pop("REDIS_URL", None)  # a queue and cache of its own, never a Redis that tests share
        username, password = prepare_database(env)
        url = stack.enter_context(gunicorn(env, workdir / "gunicorn.log", workers=args.workers, threads=args.threads))
        started = time.monotonic()
        worker = stack.enter_context(huey_worker(env, workdir / "worker.log"))
        wait_for_worker(url, worker, workdir / "worker.log")
        sessions = [log_in(url, username, password) for _ in range(args.clients)]
        wait_for_ledger(sessions[0], Counter({"running": args.instances}), f"{args.instances} running instances")
        setup = {"direct_ms": direct_ms, "synced_after": time.monotonic() - started}

        throughput = {}
        for path in PAGES:
            samples, elapsed = hammer(sessions, path, args.seconds)
            throughput[path] = (len(samples.ms) / elapsed, samples)
        loads.append(os.getloadavg()[0])

        windows = []
        for count in (0, 1, args.clients):
            label = f"{count} viewer{'s' if count != 1 else ''}, all stable"
            windows.append(upstream_window(label, counter, sessions[:count], args.window))
        switches.disable("rate_limits")  # a rental may meet a taken offer and try the next at once
        rent(simulator_url, 1, boot_seconds=3600.0, label="bench-starting")
        switches.enable("rate_limits")
        wanted = Counter({"running": args.instances, "starting": 1})
        wait_for_ledger(sessions[0], wanted, "the new instance starting")
        windows.append(upstream_window("1 viewer, 1 instance starting", counter, sessions[:1], args.fast_window))
        loads.append(os.getloadavg()[0])
        for session in sessions:
            session.close()
        stack.close()  # stop gunicorn and the worker before reading the worker's log
        findings = log_findings(workdir)
    report(args, setup, throughput, windows, findings, loads)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients and most viewers (default 8)")
    parser.add_argument("--seconds", type=float, default=15, help="seconds of load per page (default 15)")
    parser.add_argument("--window", type=float, default=45, help="seconds per viewers window (default 45)")
    parser.add_argument("--fast-window", type=float, default=30, help="seconds of the starting window (default 30)")
    parser.add_argument("--instances", type=int, default=10, help="instances rented before (default 10)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every upstream call (0.1)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    parser.add_argument("--sync-seconds", type=float, default=10.0, help="VAST_SYNC_SECONDS (default 10)")
    parser.add_argument("--fast-seconds", type=float, default=2.0, help="VAST_SYNC_FAST_SECONDS (default 2)")
    args = parser.parse_args()
    if min(args.clients, args.seconds, args.window, args.fast_window, args.instances, args.workers, args.threads) <= 0:
        parser.error("counts and durations must be positive")
    run(args)


if __name__ == "__main__":
    main()
