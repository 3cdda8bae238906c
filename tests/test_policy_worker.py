"""The policies on real processes: a `manage.py run_huey` consumer syncing from `manage.py vastsim`
over HTTP stops an instance whose time limit ran out, as "system", once, within a sync period
or two; and two consumers on one queue, with Vast slow to answer the stops so that evaluations
overlap, stop each instance once (the fixtures and the shared database of
tests/test_worker_process.py: an SQLite file, or PostgreSQL + Redis)."""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.vast import VastClient
from tests import test_worker_process as workers
from tests.test_worker_process import KEY, START_TIMEOUT, rent, wait_for

# The fixtures of the worker tests: the migrated SQLite file and the stack of processes.
migrated, stack = workers.migrated, workers.stack
STOP_LINE = re.compile(r"INFO vastsim .*PUT /api/v0/instances/(\d+)/? 200")
pytestmark = [pytest.mark.services, *([pytest.mark.django_db(transaction=True)] if workers._on_postgres() else [])]


def execute(stack, sql, params=()):
    """Write to the shared database (the SQLite file, or this test's PostgreSQL database)."""
    if stack.db.sqlite_path is None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    import sqlite3

    with sqlite3.connect(stack.db.sqlite_path, timeout=10) as db:
        db.execute(sql.replace("%s", "?"), params)


def moment(stack, value):
    """A datetime as the shared database stores it (SQLite: naive UTC text)."""
    return value if stack.db.sqlite_path is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def stop_actions(stack):
    """(username, outcome, message) of every stop in the audit log."""
    rows = []
    for index in range(10):
        row = stack.db.one(
            "SELECT username, outcome, message FROM dashboard_action WHERE kind = 'stop' ORDER BY id LIMIT 1 OFFSET %s",
            [index],
        )
        if row is None:
            break
        rows.append(row)
    return rows


def test_a_worker_stops_an_instance_whose_one_minute_limit_ran_out(stack):
    stack.start_worker("worker")
    wait_for(lambda: stack.db.sync_state()[0], "the first sync", stack, timeout=START_TIMEOUT)
    with VastClient(api_key=KEY, base_url=stack.url, timeout=10) as vast:
        instance_id = rent(vast)
        wait_for(lambda: (stack.db.instance(instance_id) or ("",))[0] == "running", "the instance running", stack)
        # Launched with a 1-minute limit 57 s ago: it stops in 3 s, and its owner is warned at once.
        stop_at = datetime.now(UTC) + timedelta(seconds=3)
        execute(
            stack,
            "UPDATE instances_instance SET stop_at = %s WHERE vast_id = %s",
            [moment(stack, stop_at), instance_id],
        )
        wait_for(
            lambda: stack.db.one("SELECT COUNT(*) FROM dashboard_notificationevent WHERE key LIKE 'lease-warn:%%'")[0],
            "the warning",
            stack,
        )
        stopping = wait_for(lambda: stop_actions(stack), "the stop by policy", stack, timeout=30)
        stopped_after = (datetime.now(UTC) - stop_at).total_seconds()
        wait_for(lambda: stack.db.instance(instance_id)[0] in ("stopping", "stopped"), "the ledger to show it", stack)
        assert vast.get_instance(instance_id).intended_status == "stopped"
    time.sleep(3)  # a few more syncs and evaluations: still one stop
    ((username, outcome, message),) = stop_actions(stack)
    assert (username, outcome) == ("system", "success")
    assert "by policy: time limit reached" in message
    assert stopping
    assert stopped_after < 10, stopped_after
    claims = stack.db.one("SELECT COUNT(*), MIN(outcome) FROM instances_policyaction")
    assert claims == (1, "done")


def stop_calls(stack):
    """{instance id: how many stops the simulator answered}, from its request log."""
    calls = {}
    for line in stack.processes[0].log_path.read_text().splitlines():
        match = STOP_LINE.search(line)
        if match:
            calls[int(match.group(1))] = calls.get(int(match.group(1)), 0) + 1
    return calls


def test_two_workers_with_a_slow_vast_stop_each_expired_instance_once(stack):
    for name in ("one", "two"):
        stack.start_worker(name)
    wait_for(lambda: stack.db.sync_state()[0], "the first sync", stack, timeout=START_TIMEOUT)
    with VastClient(api_key=KEY, base_url=stack.url, timeout=10) as vast:
        ids = [rent(vast) for _ in range(3)]
    for instance_id in ids:
        wait_for(lambda i=instance_id: (stack.db.instance(i) or ("",))[0] == "running", "the instances running", stack)
    # Each stop takes Vast 3 s: evaluations after the next syncs overlap the one calling Vast, on both workers.
    stack.manage("vastsim_fault", "add", "instance", "--method", "PUT", "--latency", "3")
    past = moment(stack, datetime.now(UTC) - timedelta(seconds=1))
    for instance_id in ids:
        execute(stack, "UPDATE instances_instance SET stop_at = %s WHERE vast_id = %s", [past, instance_id])
    wait_for(lambda: len(stop_actions(stack)) >= 3, "three stops by policy", stack, timeout=60)
    time.sleep(5)  # more syncs and evaluations on both workers
    assert all(process.poll() is None for process in stack.processes)
    assert stop_calls(stack) == dict.fromkeys(ids, 1), stack.describe()
    assert [(username, outcome) for username, outcome, _ in stop_actions(stack)] == [("system", "success")] * 3
    assert stack.db.one("SELECT COUNT(*) FROM instances_policyaction WHERE outcome = 'done'") == (3,)
