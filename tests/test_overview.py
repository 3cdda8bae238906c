"""The overview at `/` and the account page: burn rate, spend this month (and by whom), stopped
instances burning storage, my instances, recent activity and credit, all from the ledger."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import vast
from dashboard.models import Action
from instances import costs, sync
from instances.models import Instance, StatusChange, SyncState

pytestmark = pytest.mark.django_db
vast_ids = iter(range(7_000_000, 8_000_000))


def make(history, *, dph, storage, user=None, gone=None, label=""):
    """A ledger row with status changes [(status, minutes ago), ...]."""
    now = timezone.now()
    first_seen = now - timedelta(minutes=history[0][1])
    row = Instance.objects.create(
        vast_id=next(vast_ids),
        label=label,
        gpu_name="RTX 4090",
        num_gpus=1,
        status=history[-1][0],
        dph_total=dph,
        storage_per_hour=storage,
        first_seen=first_seen,
        gone_at=gone,
        ended=Instance.End.OUTSIDE if gone else "",
        launched_by=user,
        launched_by_name=user.get_username() if user else "",
    )
    previous = ""
    for status, minutes_ago in history:
        at = now - timedelta(minutes=minutes_ago)
        StatusChange.objects.create(instance=row, from_status=previous, to_status=status, at=at)
        previous = status
    return row


def this_month(rate, start_minutes_ago, end_minutes_ago=0):
    """$ billed at `rate` $/hr between two moments, counting only this month's part."""
    now = timezone.now()
    start = max(now - timedelta(minutes=start_minutes_ago), costs.month_start(now))
    end = now - timedelta(minutes=end_minutes_ago)
    return rate * max(0.0, (end - start).total_seconds() / 3600)


@pytest.fixture
def account(operator, other_operator):
    """A running instance of Olga's, a stopped one of Otto's, a stopped one from outside, a gone one."""
    running = make([("starting", 120), ("running", 115)], dph=1.2, storage=0.04, user=other_operator, label="olga-run")
    mine = make([("running", 180), ("stopped", 60)], dph=0.8, storage=0.05, user=operator, label="otto-stopped")
    stray = make([("running", 90), ("stopped", 30)], dph=0.5, storage=0.02, label="stray")
    gone = make([("running", 50), ("destroyed", 20)], dph=9.0, storage=0.3, gone=timezone.now() - timedelta(minutes=20))
    SyncState.current()
    SyncState.objects.filter(pk=1).update(
        last_success_at=timezone.now(),
        account={"credit": 254.0, "email": "team@example.com", "username": "team", "total_spend": 1234.5},
        account_at=timezone.now(),
    )
    return {"running": running, "mine": mine, "stray": stray, "gone": gone}


def section(html, marker):
    match = re.search(rf"<[^>]*{marker}.*?</(table|ul|section)>", html, re.S)
    assert match, marker
    return match.group(0)


def test_overview_shows_the_burn_rate_of_running_compute_and_stopped_storage(viewer_client, account):
    html = viewer_client.get("/").content.decode()
    burn = re.search(r'id="burn-rate" data-usd-per-hour="([\d.]+)">\$([\d.]+)/hr', html)
    assert float(burn.group(1)) == pytest.approx(1.2 + 0.05 + 0.02)
    assert burn.group(2) == "1.270"
    assert "1 running" in html
    assert "storage of 2 stopped" in html


def test_overview_shows_this_months_spend_in_total_and_by_person(viewer_client, account):
    otto = this_month(0.8, 180, 60) + this_month(0.05, 60)
    olga = this_month(1.2, 120)
    outside = this_month(0.5, 90, 30) + this_month(0.02, 30) + this_month(9.0, 50, 20)
    html = viewer_client.get("/").content.decode()
    spend = re.search(r'id="month-spend" data-usd="([\d.]+)"', html)
    assert float(spend.group(1)) == pytest.approx(otto + olga + outside, abs=0.011)
    table = section(html, 'data-testid="spend-by-person"')
    rows = re.findall(r"<tr><td>(.*?)</td><td[^>]*>≈ \$([\d.]+)</td></tr>", table)
    by_name = {re.sub(r"<[^>]+>", "", name): float(amount) for name, amount in rows}
    assert by_name == {
        "otto": pytest.approx(otto, abs=0.006),
        "olga": pytest.approx(olga, abs=0.006),
        "outside the dashboard": pytest.approx(outside, abs=0.006),
    }
    assert [re.sub(r"<[^>]+>", "", name) for name, _ in rows][0] == "outside the dashboard"  # biggest first


def test_overview_lists_stopped_instances_longest_stopped_first_with_storage_per_day(viewer_client, account):
    html = viewer_client.get("/").content.decode()
    table = section(html, 'data-testid="stopped"')
    ids = [int(i) for i in re.findall(r'href="/instances/(\d+)/"', table)]
    assert ids == [account["mine"].vast_id, account["stray"].vast_id]
    assert "$1.20" in table  # 0.05 $/hr × 24
    assert "$0.48" in table  # 0.02 $/hr × 24
    assert str(account["running"].vast_id) not in table
    assert str(account["gone"].vast_id) not in table


@pytest.mark.parametrize(
    ("persona", "destroyable"),
    [("viewer_client", set()), ("operator_client", {"mine"}), ("admin_client", {"mine", "stray"})],
)
def test_only_those_allowed_see_a_destroy_button_on_stopped_instances(request, account, persona, destroyable):
    html = request.getfixturevalue(persona).get("/").content.decode()
    table = section(html, 'data-testid="stopped"')
    shown = set(re.findall(r'action="/instances/(\d+)/destroy/"', table))
    assert shown == {str(account[name].vast_id) for name in destroyable}


def test_destroying_a_stopped_instance_from_the_overview_stops_its_storage_bill(admin_client, upstream):
    offer = vast.search_offers({"rentable": {"eq": True}, "disk_space": {"gte": 60}, "limit": 1})[0]
    instance_id = vast.create_instance(offer.id, vast.LaunchRequest(image="nvidia/cuda:12.4.1")).instance_id
    vast.set_state(instance_id, "stopped")
    sync.run(force=True)
    html = admin_client.get("/").content.decode()
    table = section(html, 'data-testid="stopped"')
    assert f'action="/instances/{instance_id}/destroy/"' in table
    assert 'name="next" value="/"' in table
    assert "hx-confirm=" in table
    response = admin_client.post(f"/instances/{instance_id}/destroy/", {"next": "/"})
    assert (response.status_code, response["Location"]) == (302, "/")
    after = admin_client.get("/").content.decode()
    assert "No stopped instances" in after
    assert 'data-usd-per-hour="0.000000"' in after


def test_overview_shows_my_instances_and_the_states(operator_client, other_operator_client, account):
    html = operator_client.get("/").content.decode()
    mine = section(html, 'data-testid="mine"')
    assert "otto-stopped" in mine
    assert "olga-run" not in mine
    assert "stray" not in mine
    states = section(html, 'data-testid="by-state"')
    assert re.search(r"running</span> 1<", states)
    assert re.search(r"stopped</span> 2<", states)
    assert "destroyed" not in states
    theirs = section(other_operator_client.get("/").content.decode(), 'data-testid="mine"')
    assert "olga-run" in theirs
    assert "otto-stopped" not in theirs


def test_recent_activity_shows_finished_actions_mine_or_everyones_by_role(
    operator, other_operator, operator_client, admin_client, account
):
    def act(user, kind, outcome, instance_id):
        Action.objects.create(
            user=user, username=user.get_username(), kind=kind, outcome=outcome, instance_id=instance_id
        )

    act(operator, Action.Kind.STOP, Action.Outcome.SUCCESS, 111)
    act(other_operator, Action.Kind.START, Action.Outcome.FAILED, 222)
    act(operator, Action.Kind.DESTROY, Action.Outcome.PENDING, 333)
    own = section(operator_client.get("/").content.decode(), 'data-testid="activity"')
    assert "#111" in own
    assert "#222" not in own
    assert "#333" not in own
    everyone = section(admin_client.get("/").content.decode(), 'data-testid="activity"')
    assert "#111" in everyone
    assert "#222" in everyone
    assert "#333" not in everyone
    assert "olga · start" in everyone


def test_an_empty_account_has_empty_states(viewer_client):
    html = viewer_client.get("/").content.decode()
    assert "No instances." in html
    assert "No stopped instances" in html
    assert 'data-usd-per-hour="0.000000"' in html
    assert 'data-usd="0.00"' in html


def test_account_page_shows_credit_and_runway_from_the_ledgers_snapshot(viewer_client, account, upstream):
    html = viewer_client.get("/account/").content.decode()
    assert upstream.requests == []
    credit = section(html, 'data-testid="credit"')
    assert "$254.00" in credit
    assert "team@example.com" in credit
    runway = section(html, 'data-testid="runway"')
    assert f"{254.0 / 1.27 / 24:.1f} days" in runway
    assert "$1,234.50" in html
    assert 'id="month-spend"' not in html


def test_account_credit_comes_from_the_last_sync(viewer_client, upstream):
    assert "not read from Vast.ai yet" in viewer_client.get("/account/").content.decode()
    sync.run(force=True)
    credit = vast.current_user().credit
    html = viewer_client.get("/account/").content.decode()
    assert f"${credit:.2f}" in section(html, 'data-testid="credit"')
    assert SyncState.current().account["credit"] == credit
    assert "api_key" not in SyncState.current().account
