"""Price alerts end to end: a real `manage.py run_huey` consumer runs the alert rounds against
`manage.py vastsim` served over HTTP, on a database this test reads (the set-up of
tests/test_worker_process.py, on SQLite and on PostgreSQL + Redis).

An offer "appears" as it does on Vast: the cheapest RTX 3090 is rented before the worker starts
(so it is not listed) and destroyed after the first round (so it is listed again). The simulator
logs one line per request, which is how the test counts the worker's searches. Every wait polls
a condition with a deadline; nothing sleeps for a fixed time.
"""

import json
import re
from datetime import datetime

from dashboard.vast import LaunchRequest, VastClient
from offers.saved import search_for
from tests import test_worker_process as real_consumer
from tests.test_worker_process import KEY, START_TIMEOUT, _moment, wait_for

# The simulator and consumers of tests/test_worker_process.py, with its marks (a services test,
# on PostgreSQL in the test's own committed database).
pytestmark = real_consumer.pytestmark
migrated, stack = real_consumer.migrated, real_consumer.stack

QUERY = "gpu=RTX+3090"
EXTRA = 30  # alerting saved searches that ask Vast other questions, held back until the notification
SEARCH_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO vastsim .*POST /api/v0/bundles/? 200", re.M)
DEFERRED = re.compile(r"price alerts: .* (\d+) deferred")
SPACING = 6.0  # Vast allows a search per 2 s for the key; the worker may use a third of that

SETUP = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
from django.utils import timezone
from dashboard.roles import OPERATOR, set_role
from offers.models import SavedSearch

setup_test_environment()
user = get_user_model().objects.create_user("alice", password="not used")
set_role(user, OPERATOR)
client = Client()
client.force_login(user)
answer = client.post("/offers/saved/", {"name": "cheap 3090", "query": QUERY, "max_dph_per_gpu": CEILING})
assert answer.status_code == 302, answer.status_code
later = timezone.now() + timedelta(days=1)  # not due until the test says so
for index in range(EXTRA):
    SavedSearch.objects.create(
        owner=user, name=f"watch {index}", query=f"min_reliability={index}", max_dph_per_gpu="0.01", checked_at=later
    )
print(json.dumps({"user": user.pk, "saved": SavedSearch.objects.get(name="cheap 3090").pk}))
"""

OPEN_LINK = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
client = Client()
client.force_login(get_user_model().objects.get(username="alice"))
page = client.get(LINK)
print(json.dumps({"status": page.status_code, "body": page.content.decode()}))
"""


def _run(stack, template, **values):
    """Run `template` (each NAME replaced by the Python literal of its value) in `manage.py shell`
    on the shared database; the JSON it prints last."""
    for name, value in values.items():
        template = template.replace(name, repr(value))
    return json.loads(stack.manage("shell", "--no-imports", "-c", template).strip().splitlines()[-1])


def _searches(stack):
    """When the simulator answered an offer search, each time (its log's clock)."""
    lines = SEARCH_LINE.findall(stack.processes[0].log_path.read_text())
    return [datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f") for stamp in lines]


def _rows(stack, sql, params=(), *, write=False):
    """Every row of `sql` on the shared database (the SQLite file, or PostgreSQL through Django)."""
    if stack.db.sqlite_path is None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [] if write else cursor.fetchall()
    import sqlite3

    with sqlite3.connect(stack.db.sqlite_path, timeout=10) as db:
        return db.execute(sql.replace("%s", "?"), params).fetchall()


def _events(stack):
    """(id, key, link, created_at) of each price-alert notification event."""
    return _rows(
        stack, "SELECT id, key, link, created_at FROM dashboard_notificationevent WHERE kind = %s", ["price_alert"]
    )


def _count(stack, sql, params=()):
    return _rows(stack, sql, params)[0][0]


def _checked_at(stack, saved_id):
    return stack.db.one("SELECT checked_at FROM offers_savedsearch WHERE id = %s", [saved_id])[0]


def _cheapest_and_ceiling(vast):
    """The cheapest offer of the saved query (by $/GPU·hr) and an alert ceiling only it meets."""
    offers = sorted(vast.search_offers(search_for(QUERY)), key=lambda o: o.price_per_gpu)
    cheapest, runner_up = offers[0], offers[1]
    assert runner_up.price_per_gpu - cheapest.price_per_gpu > 0.002, "the seed's catalog gives room for a ceiling"
    return cheapest, f"{(cheapest.price_per_gpu + runner_up.price_per_gpu) / 2:.4f}"


def test_a_worker_notifies_a_cheaper_offer_once_within_a_third_of_the_search_budget(stack):
    with VastClient(api_key=KEY, base_url=stack.url, timeout=10) as vast:
        cheapest, ceiling = _cheapest_and_ceiling(vast)
        instance_id = vast.create_instance(cheapest.id, LaunchRequest(image="nvidia/cuda:12.4.1")).instance_id
        assert cheapest.id not in {o.id for o in vast.search_offers(search_for(QUERY))}, "rented: not listed"
        ids = _run(stack, SETUP, QUERY=QUERY, CEILING=ceiling, EXTRA=EXTRA)
        before = len(_searches(stack))

        started = datetime.now()
        stack.start_worker("worker", ALERT_CHECK_SECONDS=2, VAST_RATE_LIMIT="true", VAST_SYNC_SECONDS=30)
        wait_for(lambda: _checked_at(stack, ids["saved"]), "the first alert round", stack, timeout=START_TIMEOUT)
        assert _events(stack) == [], "nothing under the ceiling while the cheapest offer is rented"

        vast.destroy(instance_id)  # the offer is listed again: to the alert, a cheaper offer appeared
    (event_id, key, link, created_at), *others = wait_for(lambda: _events(stack), "the notification", stack)
    assert others == []
    assert key.startswith(f"price:{ids['saved']}:{cheapest.id}:")
    assert link.startswith(f"/offers/{cheapest.id}/launch/")
    assert _count(stack, "SELECT COUNT(*) FROM dashboard_notification WHERE event_id = %s", [event_id]) == 1
    owner = stack.db.one("SELECT user_id FROM dashboard_notification WHERE event_id = %s", [event_id])[0]
    assert owner == ids["user"]

    # From now on, 30 more alerting searches ask other questions at every round: far more than
    # the budget. This one, checked longest ago, goes first at the next round, sees the same offer
    # and has nothing new to say; the others take the slots after it.
    _rows(
        stack, "UPDATE offers_savedsearch SET checked_at = %s WHERE name LIKE %s", [created_at, "watch %"], write=True
    )
    checked = "SELECT COUNT(*) FROM offers_savedsearch WHERE checked_at > %s"
    wait_for(lambda: _count(stack, checked, [created_at]) >= 2, "two more searches checked", stack)
    assert _moment(_checked_at(stack, ids["saved"])) > _moment(created_at)
    searches = _searches(stack)[before:]
    assert len(_events(stack)) == 1
    # One search per slot, the first at the worker's start at the earliest (the log has milliseconds).
    window = (searches[-1] - started).total_seconds() + 0.002
    assert 4 <= len(searches) <= window / SPACING + 1, (len(searches), window, stack.describe())
    deferred = [int(n) for n in DEFERRED.findall(stack.processes[1].log_path.read_text())]
    assert max(deferred) >= EXTRA - 1, "the budget, not the demand, set the pace"

    # The link opens the launch form of that offer for its owner.
    page = _run(stack, OPEN_LINK, LINK=link)
    assert page["status"] == 200
    form = f'<form id="launch-form" class="card launch-form" method="post" action="{link.split("?")[0]}"'
    assert form in page["body"]
