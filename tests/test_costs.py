"""Estimated costs from the ledger's status history (instances.costs): running time at
dph_total, stopped time at the storage rate, clipped to months, summed per person."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from dashboard import vast
from dashboard.models import Guardrails
from instances import costs
from instances.models import Instance, StatusChange

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
vast_ids = iter(range(9_000_000, 10_000_000))


def hours(n):
    return timedelta(hours=n)


def make(history, *, dph=1.0, storage=0.1, gone=None, user=None, started=None, label=""):
    """A ledger row with status changes [(status, at), ...]; the first one is when it was first seen."""
    first_seen = history[0][1]
    row = Instance.objects.create(
        vast_id=next(vast_ids),
        label=label,
        status=history[-1][0],
        dph_total=dph,
        storage_per_hour=storage,
        first_seen=first_seen,
        started_at=started,
        gone_at=gone,
        ended=Instance.End.OUTSIDE if gone else "",
        launched_by=user,
        launched_by_name=user.get_username() if user else "",
    )
    previous = ""
    for status, at in history:
        StatusChange.objects.create(instance=row, from_status=previous, to_status=status, at=at)
        previous = status
    return row


def lifetime(row, now):
    return costs.lifetime_costs([row], now=now)[row.vast_id]


def test_running_time_bills_dph_total_and_stopped_time_bills_storage():
    row = make(
        [("running", T0), ("stopped", T0 + hours(2)), ("running", T0 + hours(5)), ("destroyed", T0 + hours(6))],
        dph=1.0,
        storage=0.1,
        gone=T0 + hours(6),
    )
    assert lifetime(row, now=T0 + hours(100)) == pytest.approx(2 * 1.0 + 3 * 0.1 + 1 * 1.0)


def test_a_live_instance_costs_up_to_now_and_starting_bills_as_running():
    row = make([("starting", T0), ("running", T0 + hours(0.5)), ("stopping", T0 + hours(3))], dph=2.0, storage=0.2)
    # starting 0.5 h + running 2.5 h + stopping 1 h, all at dph_total
    assert lifetime(row, now=T0 + hours(4)) == pytest.approx(4 * 2.0)
    row = make([("running", T0), ("stopped", T0 + hours(1))], dph=2.0, storage=0.2)
    assert lifetime(row, now=T0 + hours(11)) == pytest.approx(2.0 + 10 * 0.2)


def test_nothing_bills_after_an_instance_is_gone():
    row = make([("running", T0), ("destroyed", T0 + hours(1))], dph=3.0, gone=T0 + hours(1))
    assert lifetime(row, now=T0 + hours(1000)) == pytest.approx(3.0)
    assert costs.burn_per_hour(row) == 0.0


def test_an_instance_found_running_counts_from_vasts_start_date():
    row = make([("running", T0)], dph=1.5, started=T0 - hours(2))
    assert lifetime(row, now=T0 + hours(1)) == pytest.approx(3 * 1.5)


def test_unknown_prices_cost_nothing_rather_than_failing():
    row = make([("running", T0), ("stopped", T0 + hours(1))], dph=None, storage=None)
    assert lifetime(row, now=T0 + hours(5)) == 0.0


def test_burn_per_hour_follows_the_status_now():
    assert costs.burn_per_hour(make([("running", T0)], dph=1.25)) == 1.25
    assert costs.burn_per_hour(make([("starting", T0)], dph=1.25)) == 1.25
    assert costs.burn_per_hour(make([("stopped", T0)], dph=1.25, storage=0.05)) == 0.05


def test_a_month_gets_only_the_hours_inside_it():
    start = datetime(2026, 1, 31, 22, 0, tzinfo=UTC)
    feb = datetime(2026, 2, 1, tzinfo=UTC)
    row = make([("running", start), ("stopped", feb + hours(2)), ("destroyed", feb + hours(12))], gone=feb + hours(12))
    changes = list(row.changes.all())
    now = feb + hours(48)
    assert costs.cost_between(row, changes, until=feb, now=now) == pytest.approx(2.0)
    assert costs.cost_between(row, changes, since=feb, until=costs.next_month(feb), now=now) == pytest.approx(
        2.0 + 10 * 0.1
    )
    assert costs.spend_by_person(start=costs.month_start(start), now=now) == {"": pytest.approx(2.0)}
    assert costs.spend_by_person(start=feb, now=now) == {"": pytest.approx(3.0)}


def test_month_start_and_next_month_are_utc_midnights():
    assert costs.month_start(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)
    assert costs.next_month(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert costs.next_month(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 2, 1, tzinfo=UTC)


def test_spend_this_month_by_person_and_for_one_person(operator, other_operator):
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    march = costs.month_start(now)
    make([("running", march + hours(10))], dph=1.0, user=operator)  # 458 h so far
    make([("running", march + hours(100)), ("stopped", march + hours(110))], dph=2.0, storage=0.5, user=operator)
    make([("running", now - hours(3))], dph=4.0, user=other_operator)
    make([("running", now - hours(1))], dph=0.5)  # outside the dashboard
    # Gone before March: no part of this month's spend.
    make(
        [("running", march - hours(50)), ("destroyed", march - hours(1))],
        dph=100.0,
        user=operator,
        gone=march - hours(1),
    )
    # Lived across the month's start: only its March hours count.
    make(
        [("running", march - hours(5)), ("destroyed", march + hours(5))],
        dph=10.0,
        user=other_operator,
        gone=march + hours(5),
    )
    otto = 458 * 1.0 + 10 * 2.0 + 358 * 0.5
    olga = 3 * 4.0 + 5 * 10.0
    spend = costs.spend_by_person(now=now)
    assert spend == {"otto": pytest.approx(otto), "olga": pytest.approx(olga), "": pytest.approx(0.5)}
    assert costs.month_spend(operator, now=now) == pytest.approx(otto)
    assert costs.month_spend(now=now) == pytest.approx(otto + olga + 0.5)


def test_the_monthly_cap_counts_the_storage_of_stopped_instances(operator, operator_client):
    rails = Guardrails.current()
    rails.monthly_cap_per_user = 10
    rails.save()
    month = costs.month_start()
    # Stopped since the month began, billing nothing but (very dear) storage.
    make([("stopped", month)], dph=5.0, storage=100_000.0, user=operator)
    assert costs.month_spend(operator) >= 10
    query = {"rentable": {"eq": True}, "disk_space": {"gte": 60}, "limit": 1}
    offer = vast.search_offers(query)[0]
    form = operator_client.get(f"/offers/{offer.id}/launch/?disk=40")
    token = re.search(rb'name="token" value="([^"]+)"', form.content).group(1).decode()
    data = {"image": "pytorch/pytorch", "disk": "40", "runtype": "ssh", "token": token, "quote_disk": "40"}
    refused = operator_client.post(f"/offers/{offer.id}/launch/", data)
    assert refused.status_code == 403
    assert "monthly cap" in refused.content.decode()
