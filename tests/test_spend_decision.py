"""The one spend decision: launches and Starts are decided one after another per person, count
what is running and what is in flight, and are checked against every limit for the person who
presses the button.

The first test fires parallel launches with real threads at a real gunicorn (two workers, four
threads each) whose embedded simulator takes 1.5 s to create an instance, on a database of its
own: a temporary SQLite file, or on the PostgreSQL pass a throwaway database on that server.
"""

import datetime
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings
from django.utils import timezone

from dashboard.models import Action, Guardrails
from instances import costs
from instances.models import Instance, LaunchToken, StatusChange
from tests.test_launch import launch_offer, open_form, puts, rentable_offer, submit
from vastsim import clock

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "parallel launches 42 times"
PARALLEL = 4
CREATE_DELAY = 1.5  # seconds the simulator takes to answer a launch: the window the race needs
WAIT = 60  # the bound on every wait for the server or a request

SETUP = """
import json
from django.conf import settings
from dashboard import vast
from dashboard.models import Guardrails
Guardrails.objects.update_or_create(pk=1, defaults={"max_running_per_user": 1, "updated_by": "ada"})
query = {"rentable": {"eq": True}, "disk_space": {"gte": 60}, "type": "on-demand", "limit": 200}
chosen, machines = [], set()
for offer in vast.search_offers(query):
    if offer.machine_id not in machines:
        machines.add(offer.machine_id)
        chosen.append(offer.id)
print("OFFERS=" + json.dumps(chosen[:%d]))
print("HUEY=" + getattr(settings.HUEY.storage, "filename", ""))
"""
OUTCOME = """
import json
from dashboard.models import Action
from instances.models import Instance, LaunchToken
from vastsim.models import Instance as Rented
actions = list(Action.objects.order_by("id").values("kind", "outcome", "username", "detail"))
print("OUTCOME=" + json.dumps({
    "rented": Rented.objects.count(),
    "ledger": Instance.objects.count(),
    "claimed": LaunchToken.objects.filter(claimed_at__isnull=False).count(),
    "actions": actions,
}))
"""


def _postgres():
    """Whether this pass runs on PostgreSQL."""
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@contextmanager
def throwaway_database(tmp_path):
    """The DATABASE_URL of an empty database for the server: an SQLite file under `tmp_path`, or
    on the PostgreSQL pass a database of its own on the same server, dropped afterwards."""
    if not _postgres():
        yield f"sqlite:///{tmp_path / 'db.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    db = settings.DATABASES["default"]
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    params = {"host": host, "port": port, "user": db["USER"], "password": db["PASSWORD"] or None}
    name = f"spend_decision_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **params) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        auth = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
        yield f"postgres://{auth}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **params) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def server_env(database_url):
    """The environment of the server and its management commands: the embedded simulator (no
    key), on `database_url`, debug (plain-HTTP cookies), no rate limiting."""
    dropped = ("GUNICORN", "BEHIND", "FORWARDED", "VAST_", "VASTSIM_", "PYTEST_", "DATABASE_", "REDIS_URL")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="0",
        DEBUG="true",
        VAST_RATE_LIMIT="false",
        SECRET_KEY="spend-decision-test-secret-key",
        LOG_LEVEL="WARNING",
    )
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        env["REDIS_URL"] = settings.CACHES["default"]["LOCATION"]  # this test's Redis database, flushed after
    return env


def manage(env, *args, stdin=None):
    """Run a management command against the server's database; returns its stdout."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=WAIT * 2,
    )  # fmt: skip
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def printed(stdout, name):
    """The value a shell script printed as NAME=value."""
    return re.search(rf"^{name}=(.*)$", stdout, re.M).group(1)


def start_gunicorn(env, log_path):
    """gunicorn with 2 workers x 4 threads on a pre-bound loopback port, answering /healthz;
    returns (process, base URL)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    command = [
        sys.executable, "-m", "gunicorn", "dashboard.wsgi", "--bind", f"fd://{listener.fileno()}",
        "--workers", "2", "--threads", "4", "--timeout", str(WAIT), "--graceful-timeout", "5", "--no-control-socket",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()]
        )
    listener.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"gunicorn did not start:\n{Path(log_path).read_text()[-5000:]}")
        time.sleep(0.2)


def stop(process):
    """End the gunicorn we started (its workers follow their master)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def log_in(client):
    """Log otto in through the login form (with its CSRF token)."""
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/accounts/login/", data={"username": "otto", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert answer.status_code == 302, answer.text[:2000]


def launch_form(client, offer_id, label):
    """GET the launch form of an offer; returns the POST data it leads to (its own token)."""
    page = client.get(f"/offers/{offer_id}/launch/?disk=40")
    assert page.status_code == 200, page.text[:2000]
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    assert hidden.get("token")
    assert hidden.get("csrfmiddlewaretoken")
    return {**hidden, "image": "pytorch/pytorch", "disk": "40", "runtype": "ssh", "label": label, "env": ""}


def test_parallel_launches_on_a_live_server_launch_one_instance_with_a_cap_of_one(tmp_path):
    process, clients, huey_file = None, [], ""
    with throwaway_database(tmp_path) as database_url:
        env = server_env(database_url)
        try:
            manage(env, "migrate", "--noinput")
            manage(env, "adduser", "otto", "--role", "operator", "--password-stdin", stdin=PASSWORD + "\n")
            setup = manage(env, "shell", "-c", SETUP % PARALLEL)
            offers, huey_file = json.loads(printed(setup, "OFFERS")), printed(setup, "HUEY")
            assert len(offers) == PARALLEL
            manage(env, "vastsim_fault", "add", "asks", "--method", "PUT", "--latency", str(CREATE_DELAY))
            process, url = start_gunicorn(env, tmp_path / "gunicorn.log")
            clients = [httpx.Client(base_url=url, timeout=WAIT) for _ in range(PARALLEL)]
            forms = []
            for number, (client, offer_id) in enumerate(zip(clients, offers, strict=True)):
                log_in(client)
                forms.append((offer_id, launch_form(client, offer_id, f"parallel-{number}")))
            assert len({data["token"] for _, data in forms}) == PARALLEL
            barrier = threading.Barrier(PARALLEL, timeout=WAIT)

            def press_launch(client, offer_id, data):
                """POST one launch form the moment all of them are ready."""
                barrier.wait()
                return client.post(f"/offers/{offer_id}/launch/", data=data)

            with ThreadPoolExecutor(PARALLEL) as pool:
                futures = [pool.submit(press_launch, c, o, d) for c, (o, d) in zip(clients, forms, strict=True)]
                answers = [future.result(timeout=WAIT) for future in futures]
            outcome = json.loads(printed(manage(env, "shell", "-c", OUTCOME), "OUTCOME"))
        finally:
            for client in clients:
                client.close()
            if process is not None:
                stop(process)
            if huey_file and not Path(huey_file).is_relative_to(tmp_path):
                for suffix in ("", "-wal", "-shm"):  # a queue file beside the repo (PostgreSQL without Redis)
                    Path(huey_file + suffix).unlink(missing_ok=True)

    log = (tmp_path / "gunicorn.log").read_text()[-3000:]
    assert sorted(answer.status_code for answer in answers) == [302, 403, 403, 403], log
    (launched,) = [answer for answer in answers if answer.status_code == 302]
    assert re.fullmatch(r"/instances/\d+/", launched.headers["location"])
    for refusal in (answer for answer in answers if answer.status_code == 403):
        assert "limit is 1 per person (set by ada)" in refusal.text
    assert (outcome["rented"], outcome["ledger"], outcome["claimed"]) == (1, 1, 1)
    launches = [(a["kind"], a["outcome"], a["username"], a["detail"].get("refused")) for a in outcome["actions"]]
    assert sorted(launches, key=str) == sorted(
        [("launch", "success", "otto", None)] + [("launch", "forbidden", "otto", "max_running")] * 3, key=str
    )


# Start over each limit, in process.

HOUR = datetime.timedelta(hours=1)


def rails(**limits):
    """Set the team's limits, as ada set them."""
    Guardrails.objects.update_or_create(pk=1, defaults={"updated_by": "ada", **limits})


def boot(synced):
    """Move the simulator past the boot of new instances and sync the ledger."""
    clock.advance(30)
    synced()


@pytest.fixture
def stopped_and_running(operator_client, synced):
    """Otto's instance A, launched through the dashboard and stopped, and his instance B, running:
    returns their ledger rows (A, B)."""
    first = launch_offer(operator_client, label="a")
    boot(synced)
    assert operator_client.post(f"/instances/{first}/stop/").status_code == 302
    synced()
    second = launch_offer(operator_client, label="b")
    boot(synced)
    a, b = Instance.objects.get(vast_id=first), Instance.objects.get(vast_id=second)
    assert (a.status, b.status, a.launched_by_name) == ("stopped", "running", "otto")
    return a, b


def start_refused(client, upstream, instance, limit, *phrases, username="otto"):
    """Start `instance` as `client`: a 403 naming the limit, no PUT to Vast, a forbidden audit row."""
    upstream.requests.clear()
    pending = Action.objects.filter(outcome=Action.Outcome.PENDING).count()
    response = client.post(f"/instances/{instance.vast_id}/start/")
    assert response.status_code == 403
    text = response.content.decode()
    for phrase in phrases:
        assert phrase in text
    assert upstream.calls("PUT", "/api/v0/instances/") == []
    refusal = Action.objects.filter(kind=Action.Kind.START).latest("id")
    assert (refusal.outcome, refusal.username, refusal.instance_id) == ("forbidden", username, instance.vast_id)
    assert refusal.detail == {"refused": limit}
    assert Action.objects.filter(outcome=Action.Outcome.PENDING).count() == pending
    instance.refresh_from_db()
    assert instance.status == "stopped"


def start_allowed(client, upstream, instance):
    """Start `instance` as `client`: sent to Vast once."""
    upstream.requests.clear()
    assert client.post(f"/instances/{instance.vast_id}/start/").status_code == 302
    (put,) = upstream.calls("PUT", f"/api/v0/instances/{instance.vast_id}/")
    assert put.body == {"state": "running"}


@pytest.mark.django_db
def test_start_over_max_running_is_refused_naming_the_limit_and_who_set_it(
    operator_client, upstream, stopped_and_running
):
    a, _ = stopped_and_running
    rails(max_running_per_user=1)
    start_refused(operator_client, upstream, a, "max_running", "limit is 1 per person (set by ada)", "before you start")
    rails(max_running_per_user=2)
    start_allowed(operator_client, upstream, a)


@pytest.mark.django_db
def test_start_over_the_monthly_cap_is_refused(operator_client, upstream, stopped_and_running):
    now = timezone.now()
    if now - costs.month_start(now) < datetime.timedelta(minutes=15):
        pytest.skip("the month has only just begun: nothing can have been spent in it yet")
    a, b = stopped_and_running
    since = max(now - 3 * HOUR, costs.month_start(now))
    StatusChange.objects.filter(instance=b).update(at=since)  # B has run since then
    Instance.objects.filter(pk=b.pk).update(started_at=since, first_seen=since)
    spent = costs.month_spend(b.launched_by)
    assert spent >= 0.02
    cap = Decimal(f"{spent / 2:.2f}")
    rails(monthly_cap_per_user=cap)
    start_refused(
        operator_client, upstream, a, "monthly_cap", f"has reached the monthly cap of ${cap:.2f} (set by ada)"
    )


@pytest.mark.django_db
def test_start_over_the_per_role_price_limit_is_refused(operator_client, upstream, stopped_and_running):
    a, _ = stopped_and_running
    limit = Decimal(f"{a.dph_total / 2:.4f}")
    rails(operator_max_dph=limit)
    start_refused(
        operator_client, upstream, a, "max_dph", f"over the operator limit of ${limit:.3f}/hr per instance (set by ada)"
    )
    rails(operator_max_dph=None, admin_max_dph=limit)  # the limit of the role pressing Start applies
    start_allowed(operator_client, upstream, a)


@pytest.mark.django_db
def test_an_admin_starting_an_operators_instance_is_checked_against_her_own_usage(
    operator_client, admin_client, upstream, synced, stopped_and_running
):
    a, b = stopped_and_running
    rails(max_running_per_user=1)
    start_allowed(admin_client, upstream, a)  # otto is at his limit; ada runs nothing
    assert Action.objects.filter(kind=Action.Kind.START).latest("id").username == "ada"
    synced()
    assert operator_client.post(f"/instances/{a.vast_id}/stop/").status_code == 302
    assert operator_client.post(f"/instances/{b.vast_id}/destroy/").status_code == 302
    synced()
    launch_offer(admin_client, label="adas")  # now ada is at her limit and otto runs nothing
    start_refused(admin_client, upstream, a, "max_running", "limit is 1 per person (set by ada)", username="ada")


@pytest.mark.django_db
def test_a_pending_launch_counts_as_in_flight_until_it_is_fifteen_minutes_old(operator, operator_client, upstream):
    rails(max_running_per_user=1)
    pending = Action.objects.create(
        user=operator, username="otto", kind=Action.Kind.LAUNCH, outcome=Action.Outcome.PENDING
    )
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id, "?disk=40")
    refused = submit(operator_client, offer.id, token)
    assert refused.status_code == 403
    assert "0 running and 1 being started; the limit is 1 per person" in refused.content.decode()
    assert puts(upstream) == []
    refusal = Action.objects.get(outcome=Action.Outcome.FORBIDDEN)
    assert (refusal.kind, refusal.offer_id, refusal.detail) == ("launch", offer.id, {"refused": "max_running"})
    assert LaunchToken.objects.get(token=token).claimed_at is None  # given back: the form may be sent again

    Action.objects.filter(pk=pending.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=16))
    launched = submit(operator_client, offer.id, token)
    assert launched.status_code == 302
    assert len(puts(upstream)) == 1


@pytest.mark.django_db
def test_a_pending_start_counts_against_another_start(operator, operator_client, upstream, stopped_and_running):
    a, b = stopped_and_running
    assert operator_client.post(f"/instances/{b.vast_id}/destroy/").status_code == 302
    rails(max_running_per_user=1)
    Action.objects.create(
        user=operator, username="otto", kind=Action.Kind.START, instance_id=b.vast_id, outcome=Action.Outcome.PENDING
    )
    start_refused(operator_client, upstream, a, "max_running", "1 being started")
