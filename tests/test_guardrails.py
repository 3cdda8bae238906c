"""Spending guardrails: the limits `check_launch` applies, and the month's spend it is given,
which `instances.costs` estimates from the ledger's status history (storage included)."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from dashboard.guardrails import GuardrailExceeded, check_launch
from dashboard.models import Action, Guardrails
from instances import costs
from instances.models import Instance, StatusChange
from tests.test_launch import launch_offer, open_form, puts, rentable_offer, submit
from vastsim import clock

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)
MID_MONTH = datetime.datetime(2026, 3, 15, 12, tzinfo=datetime.UTC)
MONTH_START = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)


def _running(client, synced, skip=()):
    """Launch through the dashboard and let it boot; returns its ledger row, now running."""
    instance_id = launch_offer(client, skip=skip)
    clock.advance(30)
    synced()
    row = Instance.objects.get(vast_id=instance_id)
    assert row.status == "running"
    return row


def _retime(row, *times):
    """Put the ledger's history of `row` on a chosen timeline: its status changes, oldest
    first, happened at `times`; it started (and was first seen) at the first, and a gone row
    went at the last. Returns the row as stored."""
    changes = list(row.changes.order_by("at", "id"))
    assert len(changes) == len(times), [str(change) for change in changes]
    for change, at in zip(changes, times, strict=True):
        StatusChange.objects.filter(pk=change.pk).update(at=at)
    gone = {"gone_at": times[-1]} if row.gone_at else {}
    Instance.objects.filter(pk=row.pk).update(started_at=times[0], first_seen=times[0], **gone)
    row.refresh_from_db()
    return row


def test_guardrails_name_the_limit_that_refuses(operator, admin):
    Guardrails.objects.update_or_create(
        pk=1,
        defaults={
            "operator_max_dph": Decimal("1.00"),
            "max_running_per_user": 1,
            "monthly_cap_per_user": Decimal("3"),
        },
    )
    with pytest.raises(GuardrailExceeded, match=r"\$2.000/hr is over the operator limit of \$1.000/hr"):
        check_launch(operator, 2.0, running_instances=0, month_spend=0.0)
    check_launch(admin, 2.0, running_instances=0, month_spend=0.0)  # admins have no $/hr limit set
    with pytest.raises(GuardrailExceeded, match="limit is 1 per person"):
        check_launch(operator, 0.5, running_instances=1, month_spend=0.0)
    check_launch(operator, 0.5, running_instances=0, month_spend=2.99)
    with pytest.raises(
        GuardrailExceeded,
        match=r"spend this month \(\$4\.00, storage included\) has reached the monthly cap of \$3\.00",
    ):
        check_launch(operator, 0.1, running_instances=0, month_spend=4.0)


def test_month_spend_bills_running_hours_at_the_full_price_and_stopped_hours_at_the_disk_price(
    operator_client, operator, other_operator, synced
):
    row = _running(operator_client, synced)
    operator_client.post(f"/instances/{row.vast_id}/stop/")
    synced()
    row.refresh_from_db()
    assert [(c.from_status, c.to_status) for c in row.changes.all()] == [
        ("", "starting"),
        ("starting", "running"),
        ("running", "stopping"),
        ("stopping", "stopped"),
    ]
    # Launched 6 h before MID_MONTH, up an hour later, stopped 2 h before.
    row = _retime(row, MID_MONTH - 6 * HOUR, MID_MONTH - 5 * HOUR, MID_MONTH - 2 * HOUR, MID_MONTH - 2 * HOUR)
    assert 0 < row.storage_per_hour < row.dph_total
    expected = 4 * row.dph_total + 2 * row.storage_per_hour  # starting bills its GPUs too
    assert costs.month_spend(operator, now=MID_MONTH) == pytest.approx(expected)
    assert costs.month_spend(now=MID_MONTH) == pytest.approx(expected)  # the whole account
    assert costs.month_spend(other_operator, now=MID_MONTH) == 0
    later = MID_MONTH + 10 * HOUR  # stopped, it keeps billing its disk
    assert costs.month_spend(operator, now=later) == pytest.approx(expected + 10 * row.storage_per_hour)


def test_month_spend_counts_only_this_month_and_nothing_once_destroyed(operator_client, operator, synced):
    row = _running(operator_client, synced)
    operator_client.post(f"/instances/{row.vast_id}/destroy/")
    row.refresh_from_db()
    assert row.gone_at is not None
    # Up from 3 h before the month began until 2 h into it, then destroyed.
    row = _retime(row, MONTH_START - 3 * HOUR, MONTH_START - 3 * HOUR, MONTH_START + 2 * HOUR)
    assert costs.month_spend(operator, now=MID_MONTH) == pytest.approx(2 * row.dph_total)
    last_month = MONTH_START - datetime.timedelta(days=28)
    assert costs.spend_by_person(start=last_month, now=MID_MONTH) == pytest.approx({"otto": 3 * row.dph_total})


def test_launch_is_refused_before_vast_once_the_ledger_reaches_the_monthly_cap(operator_client, upstream, synced):
    now = timezone.now()
    if now - costs.month_start(now) < datetime.timedelta(minutes=15):
        pytest.skip("the month has only just begun: nothing can have been spent in it yet")
    row = _running(operator_client, synced)
    since = max(now - 3 * HOUR, costs.month_start(now))
    _retime(row, since, since)
    assert costs.month_spend(row.launched_by) >= 0.01
    Guardrails.objects.update_or_create(pk=1, defaults={"monthly_cap_per_user": Decimal("0.01")})
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id, "?disk=40")
    response = submit(operator_client, offer.id, token)
    assert response.status_code == 403
    assert "has reached the monthly cap of $0.01" in response.content.decode()
    assert len(puts(upstream)) == 1  # only the first launch reached Vast
    refused = Action.objects.get(outcome=Action.Outcome.FORBIDDEN)
    assert (refused.kind, refused.offer_id) == (Action.Kind.LAUNCH, offer.id)
