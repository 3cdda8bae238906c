"""The background worker as real processes: `manage.py run_huey` consumers syncing the ledger from
`manage.py vastsim` over HTTP, all on one database that this test reads too.

On SQLite each test gets its own database file (copied from one migrated here by `manage.py
migrate` in a subprocess), so its Huey queue, an SQLite file beside it, is its own as well. On
PostgreSQL the processes share this test's database (pytest-django's test database, as in
test_replicas.py) and the Redis queue of REDIS_URL, which is flushed before and after. The
simulator logs one line per request, which is how the tests count the worker's list calls.
Every wait is bounded and every process is killed at the end.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from dashboard.vast import LaunchRequest, VastClient, VastOfferUnavailable

ROOT = Path(__file__).resolve().parent.parent
KEY = "worker-process-test-key"
START_TIMEOUT = 30
PERIOD = 1.0  # VAST_SYNC_SECONDS of the workers
LEASE = 3.0  # VAST_SYNC_LEASE_SECONDS of the workers
LIST_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO vastsim .*GET /api/v1/instances/? 200", re.M)


def _on_postgres():
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


# On PostgreSQL the processes work in this test's database, so the test commits (transaction=True);
# on SQLite they have a file of their own and the test needs no database of pytest-django's.
pytestmark = [pytest.mark.services, *([pytest.mark.django_db(transaction=True)] if _on_postgres() else [])]


def _postgres_url():
    """This test's database (as this process sees it) as a DATABASE_URL."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _moment(value):
    """A datetime column as read back (SQLite gives text), as an aware UTC datetime or None."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Database:
    """Reads the shared database: the SQLite file through sqlite3, or PostgreSQL through Django."""

    def __init__(self, sqlite_path=None):
        self.sqlite_path = sqlite_path

    def one(self, sql, params=()):
        if self.sqlite_path is None:
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()
        import sqlite3

        with sqlite3.connect(self.sqlite_path, timeout=10) as db:
            return db.execute(sql.replace("%s", "?"), params).fetchone()

    def sync_state(self):
        """(last_success_at, lease_owner, lease_until) of the worker's SyncState, or Nones."""
        row = self.one("SELECT last_success_at, lease_owner, lease_until FROM instances_syncstate WHERE id = 1")
        return (None, "", None) if row is None else (_moment(row[0]), row[1], _moment(row[2]))

    def instance(self, vast_id):
        """(status, launched_by_id, gone_at, ended) of a ledger row, or None."""
        row = self.one(
            "SELECT status, launched_by_id, gone_at, ended FROM instances_instance WHERE vast_id = %s", [vast_id]
        )
        return None if row is None else (row[0], row[1], _moment(row[2]), row[3])

    def faults(self):
        return self.one("SELECT COUNT(*) FROM vastsim_fault")[0]


class Stack:
    """The simulator and the consumers of one test, with their environment and logs."""

    def __init__(self, env, logs, database):
        self.env = env
        self.logs = logs
        self.db = database
        self.processes = []
        self.url = None

    def _start(self, name, args, **extra):
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed when the process ends
        env = {**self.env, **{key: str(value) for key, value in extra.items()}}
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        process.log_path, process.log_file = self.logs / f"{name}.log", log
        self.processes.append(process)
        return process

    def start_simulator(self):
        process = self._start("vastsim", ["vastsim", "--host", "127.0.0.1", "--port", "0", "--api-key", KEY])
        found = wait_for(
            lambda: re.search(r"http://127\.0\.0\.1:(\d+)", process.log_path.read_text()),
            "the simulator to listen",
            self,
            timeout=START_TIMEOUT,
        )
        self.url = f"http://127.0.0.1:{found.group(1)}"
        self.env["VAST_URL"] = self.url
        return process

    def start_worker(self, name, **extra):
        return self._start(name, ["run_huey", "--workers", "1"], **extra)

    def manage(self, *args):
        """Run a short management command on the shared database."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def list_calls(self):
        """When the simulator answered an instance list, each time (its log's clock)."""
        lines = LIST_LINE.findall(self.processes[0].log_path.read_text())
        return [datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f") for stamp in lines]

    def describe(self):
        return "\n".join(f"--- {p.log_path.name} ---\n{p.log_path.read_text()[-3000:]}" for p in self.processes)

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            process.log_file.close()


def wait_for(predicate, what, stack, timeout=20.0):
    """Poll `predicate` until it returns something true (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}\n{stack.describe()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """A migrated SQLite database file, copied by each test (None on PostgreSQL)."""
    if _on_postgres():
        return None
    path = tmp_path_factory.mktemp("worker-template") / "db.sqlite3"
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": f"sqlite:///{path}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def _base_env(database_url):
    env = {key: value for key, value in os.environ.items() if key not in {"VAST_API_KEY_FILE", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="0",
        PYTHONUNBUFFERED="1",
        DEBUG="true",
        LOG_FORMAT="text",
        LOG_LEVEL="INFO",
        VAST_API_KEY=KEY,
        VAST_RATE_LIMIT="false",  # the counts below must come from the sync's own claim, not pacing
        VAST_SYNC_SECONDS=str(PERIOD),
        VAST_SYNC_FAST_SECONDS="0.5",
        VAST_SYNC_LEASE_SECONDS=str(LEASE),
        VASTSIM_BOOT_SECONDS="2",
    )
    if _on_postgres():
        env["REDIS_URL"] = settings.REDIS_URL
    return env


@pytest.fixture
def stack(migrated, tmp_path):
    """The simulator over HTTP on a free loopback port, on a database shared with this test;
    start consumers with `stack.start_worker(name)`. Everything is killed at the end."""
    if _on_postgres():
        if not settings.REDIS_URL:
            pytest.skip("on PostgreSQL the worker's queue needs REDIS_URL")
        database, url = Database(), _postgres_url()
    else:
        path = tmp_path / "db.sqlite3"
        shutil.copy(migrated, path)
        database, url = Database(path), f"sqlite:///{path}"
    logs = tmp_path / "logs"
    logs.mkdir()
    stack = Stack(_base_env(url), logs, database)
    flush = "from django.conf import settings; settings.HUEY.flush()"
    try:
        if _on_postgres():
            stack.manage("shell", "-c", flush)  # no scheduled tick left over from another run
        stack.start_simulator()
        yield stack
    finally:
        stack.stop_all()
        if _on_postgres():
            stack.manage("shell", "-c", flush)


def rent(client):
    """Rent some offer through `client` (over HTTP), as from Vast's own console; its instance id."""
    query = {"rentable": {"eq": True}, "num_gpus": {"eq": 1}, "limit": 20, "allocated_storage": 10}
    for offer in client.search_offers(query):
        try:
            return client.create_instance(offer.id, LaunchRequest(image="nvidia/cuda:12.4.1")).instance_id
        except VastOfferUnavailable:
            continue
    raise AssertionError("no offer could be rented")


def test_a_worker_keeps_the_ledger_of_outside_launches_and_destroys(stack):
    stack.start_worker("worker")
    wait_for(lambda: stack.db.sync_state()[0], "the first sync", stack, timeout=START_TIMEOUT)
    with VastClient(api_key=KEY, base_url=stack.url, timeout=10) as vast:
        instance_id = rent(vast)
        created = time.monotonic()
        row = wait_for(lambda: stack.db.instance(instance_id), "the new instance in the ledger", stack)
        seen_after = time.monotonic() - created
        status, launched_by, gone_at, _ = row
        assert status in ("starting", "running")
        assert (launched_by, gone_at) == (None, None)
        wait_for(lambda: stack.db.instance(instance_id)[0] == "running", "the instance running", stack)

        vast.destroy(instance_id)
        destroyed = time.monotonic()
        wait_for(lambda: stack.db.instance(instance_id)[2], "the instance gone", stack)
        gone_after = time.monotonic() - destroyed
    assert stack.db.instance(instance_id)[3] == "outside"
    # Within three sync periods, with slack for Huey's one-second scheduler and a busy machine.
    assert seen_after < 3 * PERIOD + 3, seen_after
    assert gone_after < 3 * PERIOD + 3, gone_after


def test_a_worker_killed_inside_a_sync_does_not_block_the_next_one(stack):
    first = stack.start_worker("first")
    wait_for(lambda: stack.db.sync_state()[0], "the first sync", stack, timeout=START_TIMEOUT)
    stack.manage("vastsim_fault", "add", "instances", "--latency", "30", "--times", "1")
    # Inside the sync: the slow list has begun (the one-time fault is used up) and the lease is held.
    wait_for(lambda: stack.db.faults() == 0 and stack.db.sync_state()[1], "a sync waiting on Vast", stack)
    time.sleep(0.2)
    last_success, owner, lease_until = stack.db.sync_state()
    assert owner
    assert lease_until
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert stack.db.sync_state()[1] == owner  # nobody released the lease

    stack.start_worker("second")
    wait_for(
        lambda: (stack.db.sync_state()[0] or last_success) > last_success,
        "the second worker to sync",
        stack,
        timeout=START_TIMEOUT,
    )
    synced_at, new_owner, _ = stack.db.sync_state()
    assert synced_at >= lease_until  # it waited for the dead worker's lease to expire, no longer
    assert new_owner != owner


@pytest.mark.skipif(not _on_postgres() or not settings.REDIS_URL, reason="needs PostgreSQL and Redis (REDIS_URL)")
def test_two_workers_on_one_queue_sync_once_per_period(stack):
    period = 2.0
    for name in ("one", "two"):
        stack.start_worker(name, VAST_SYNC_SECONDS=period, VAST_SYNC_FAST_SECONDS=1)
    wait_for(lambda: stack.db.sync_state()[0], "the first sync", stack, timeout=START_TIMEOUT)
    time.sleep(3)  # both consumers up and ticking
    assert all(process.poll() is None for process in stack.processes)
    before = len(stack.list_calls())
    time.sleep(10 * period)
    calls = stack.list_calls()[before:]
    assert all(process.poll() is None for process in stack.processes)
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(calls, calls[1:], strict=False)]
    # Once per period: never two lists within a period (as two workers syncing each would make),
    # and still syncing (Huey's scheduler ticks each second, so a period may stretch by one).
    assert min(gaps) >= 0.9 * period, (gaps, stack.describe())
    assert 5 <= len(calls) <= 11, (gaps, stack.describe())
