"""The engine takes each policy action at most once: twice evaluated, two workers at once, a crash
between the claim and the call (or after it), Vast refusing (retried a few times, later) or not
answering (never retried). And the settings page: admins only, every change audited."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connections

from dashboard.models import Action, PolicySettings
from instances import ledger
from instances.models import Instance, PolicyAction
from instances.policies import engine, lease
from tests.policy_helpers import events, history, live, now, policies, stops, work
from vastsim import faults

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


class Crash(BaseException):
    """The worker process dying where it is raised (nothing catches a BaseException)."""


def expired(synced, **kwargs):
    """A running instance whose time limit ran out a minute ago."""
    row = live(synced, **kwargs)
    history(row, ("running", now() - 2 * HOUR))
    Instance.objects.filter(pk=row.pk).update(stop_at=now() - timedelta(minutes=1))
    return Instance.objects.get(pk=row.pk)


def test_evaluating_twice_acts_once(synced, upstream):
    row = expired(synced)
    upstream.requests.clear()
    first, second = engine.evaluate(), engine.evaluate()
    assert [outcome for _, outcome in first] == ["done"]
    assert second == []  # stopping now: nothing left to decide
    assert len(stops(upstream, row.vast_id)) == 1


def retry_while_locked(call, *args):
    """`call(*args)`, again while SQLite's shared in-memory test database answers "table is locked"
    (it does so at once instead of waiting for its busy timeout, as a database file does)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return call(*args)
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_two_workers_acting_on_the_same_decision_at_once_call_vast_once(synced, upstream, monkeypatch):
    row = expired(synced)
    (decision,) = engine.decide()
    claim, call = engine._claim, engine._call
    monkeypatch.setattr(engine, "_claim", lambda *args: retry_while_locked(claim, *args))
    monkeypatch.setattr(engine, "_call", lambda d: (time.sleep(0.3), call(d)))  # a slow Vast widens the race
    barrier, results, lock = threading.Barrier(2, timeout=10), [], threading.Lock()
    upstream.requests.clear()

    def worker():
        try:
            barrier.wait()
            outcome = engine._act(decision, now())
            with lock:
                results.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["done", "taken"]
    assert len(stops(upstream, row.vast_id)) == 1
    assert PolicyAction.objects.count() == 1
    assert Action.objects.filter(kind=Action.Kind.STOP).count() == 1


def test_a_crash_after_the_claim_is_never_retried_and_later_shows_as_unknown(synced, upstream, monkeypatch, admin):
    row = expired(synced)

    def crash(decision):
        raise Crash

    monkeypatch.setattr(engine, "_call", crash)
    upstream.requests.clear()
    with pytest.raises(Crash):
        engine.evaluate()
    monkeypatch.undo()
    work()
    work()
    assert stops(upstream, row.vast_id) == []  # the claim stands: no blind second try
    claim = PolicyAction.objects.get()
    assert claim.outcome == "pending"
    assert claim.action.outcome == "pending"
    assert claim.action.username == "system"

    engine.settle_stale(now() + engine.STALE_AFTER + timedelta(seconds=1))
    claim.refresh_from_db()
    claim.action.refresh_from_db()
    assert (claim.outcome, claim.action.outcome) == ("unknown", "unknown")
    assert "not retried" in claim.action.message
    (told,) = events("policy-unknown:")
    assert told.notifications.get().user == admin
    work()
    assert stops(upstream, row.vast_id) == []


def test_a_crash_after_vasts_answer_does_not_stop_twice(synced, upstream, monkeypatch):
    row = expired(synced)

    def crash(*args):
        raise Crash

    monkeypatch.setattr(ledger, "record_state", crash)
    upstream.requests.clear()
    with pytest.raises(Crash):
        engine.evaluate()
    monkeypatch.undo()
    work()
    assert len(stops(upstream, row.vast_id)) == 1


def test_a_refusal_by_vast_is_retried_later_a_few_times_and_a_lost_answer_never(synced, upstream, settings):
    row = expired(synced)
    faults.inject("instance", method="PUT", status=400, body={"success": False, "error": "nope", "msg": "No."})
    upstream.requests.clear()
    work()
    work()
    claim = PolicyAction.objects.get()
    assert (claim.outcome, claim.attempts) == ("failed", 1)
    assert claim.action.outcome == "failed"
    assert len(upstream.calls("PUT", f"/api/v0/instances/{row.vast_id}/")) == 1
    for attempt in (2, 3, 3):
        PolicyAction.objects.filter(pk=claim.pk).update(decided_at=now() - engine.RETRY_AFTER)
        work()
        claim.refresh_from_db()
        assert claim.attempts == attempt
    assert len(upstream.calls("PUT", f"/api/v0/instances/{row.vast_id}/")) == engine.MAX_ATTEMPTS
    assert len(events("policy-failed:")) == engine.MAX_ATTEMPTS

    faults.clear()
    other = expired(synced, label="other")
    faults.inject("instance", method="PUT", status=504)
    work()
    lost = PolicyAction.objects.get(instance=other)
    assert lost.outcome == "unknown"
    PolicyAction.objects.filter(pk=lost.pk).update(decided_at=now() - 2 * engine.RETRY_AFTER)
    work()
    assert len(upstream.calls("PUT", f"/api/v0/instances/{other.vast_id}/")) == 1


def test_a_row_changed_between_decision_and_claim_is_left_alone(synced, operator, upstream):
    row = expired(synced, owner=operator)
    (decision,) = engine.decide()
    lease.extend(Instance.objects.get(pk=row.pk), operator, 30)
    upstream.requests.clear()
    assert engine._act(decision, now()) == "taken"
    assert stops(upstream, row.vast_id) == []
    assert not PolicyAction.objects.exists()


def test_the_owner_sees_the_policys_action_on_the_instance_page(synced, operator, operator_client):
    row = expired(synced, owner=operator)
    work()
    page = operator_client.get(f"/instances/{row.vast_id}/").content.decode()
    assert "system" in page
    assert "by policy: time limit reached" in page


def test_the_policies_page_is_for_admins_and_every_change_is_audited(admin_client, operator_client, viewer_client):
    assert operator_client.get("/team/policies/").status_code == 403
    assert viewer_client.post("/team/policies/", {"idle_minutes": "5"}).status_code == 403
    page = admin_client.get("/team/policies/")
    assert page.status_code == 200
    for name in ("idle_util_below", "idle_minutes", "lease_warn_minutes", "stopped_notify_days",
                 "stopped_destroy_days", "team_monthly_budget", "stop_at_cap", "idle_dry_run"):  # fmt: skip
        assert f'name="{name}"' in page.content.decode()
    data = {
        "idle_util_below": "5",
        "idle_minutes": "30",
        "idle_dry_run": "on",
        "lease_warn_minutes": "15",
        "stopped_notify_days": "3",
        "stopped_destroy_days": "",
        "team_monthly_budget": "500",
    }
    assert admin_client.post("/team/policies/", data).status_code == 302
    saved = PolicySettings.current()
    assert (saved.idle_minutes, saved.idle_dry_run, saved.team_monthly_budget) == (30, True, 500)
    assert saved.updated_by == "ada"
    action = Action.objects.get(kind=Action.Kind.POLICIES)
    assert (action.username, action.outcome) == ("ada", "success")
    assert action.detail["changes"] == {
        "idle_minutes": ["", "30"],
        "idle_dry_run": ["False", "True"],
        "team_monthly_budget": ["", "500"],
    }
    assert admin_client.post("/team/policies/", data).status_code == 302
    assert Action.objects.filter(kind=Action.Kind.POLICIES).count() == 1  # nothing changed, nothing to audit
    bad = admin_client.post("/team/policies/", {**data, "idle_util_below": "150"})
    assert bad.status_code == 200
    assert "errorlist" in bad.content.decode()


def test_nobody_may_take_the_name_the_policies_act_under(admin_client, django_user_model):
    data = {
        "username": "System",
        "email": "",
        "role": "viewer",
        "password1": "x-long-pass-92",
        "password2": "x-long-pass-92",
    }
    response = admin_client.post("/team/add/", data)
    assert "the name the policies act under" in response.content.decode()
    assert not django_user_model.objects.filter(username__iexact="system").exists()


def test_dry_run_settings_do_not_hold_back_information(synced, admin):
    policies(team_monthly_budget=0, budget_dry_run=True)
    work()
    assert len(events("budget:team:")) == 1
