"""The worker's sync (instances.sync, instances.tasks) against the in-process simulator.

Huey runs in immediate mode here (tests/conftest.py): a task runs in the calling thread and a
task scheduled for later lands in Huey's in-memory schedule, where the tests look for it.
"""

import json
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from dashboard import vast
from instances import ledger, sync, tasks
from instances.models import Instance, StatusChange, SyncState
from vastsim import clock, faults

pytestmark = pytest.mark.django_db
IMAGE = "nvidia/cuda:12.4.1-devel-ubuntu22.04"
LIST = "/api/v1/instances/"


@pytest.fixture(autouse=True)
def _cadence(settings):
    settings.VAST_SYNC_SECONDS = 10.0
    settings.VAST_SYNC_FAST_SECONDS = 2.0
    settings.VAST_SYNC_LEASE_SECONDS = 45.0
    HUEY.storage.flush_all()
    yield
    HUEY.storage.flush_all()


def create_outside(count=1):
    """Rent `count` offers straight through the service module (as if from Vast's console)."""
    query = {"rentable": {"eq": True}, "num_gpus": {"eq": 1}, "limit": 200, "allocated_storage": 10}
    ids = []
    for offer in vast.search_offers(query):
        try:
            ids.append(vast.create_instance(offer.id, vast.LaunchRequest(image=IMAGE)).instance_id)
        except vast.VastOfferUnavailable:
            continue
        if len(ids) == count:
            return ids
    raise AssertionError(f"only {len(ids)} offers could be rented")


def install(transport):
    """Make the process's Vast client talk through `transport`, never sleeping between retries."""
    from django.conf import settings

    vast.reset_client()
    vast._client = vast.VastClient(
        api_key=settings.VASTSIM_API_KEY,
        base_url=settings.VAST_URL,
        transport=transport,
        sleep=lambda seconds: None,
        timeout=httpx.Timeout(2.0),
    )


class Wrapping(httpx.BaseTransport):
    """The simulator behind a hook: `hook(request)` may return a response instead of it."""

    def __init__(self, hook):
        from vastsim.transport import SimulatorTransport

        self.inner = SimulatorTransport()
        self.hook = hook

    def handle_request(self, request):
        return self.hook(request) or self.inner.handle_request(request)


def due_in(state):
    return (state.next_due_at - timezone.now()).total_seconds()


def test_a_sync_writes_every_listed_instance_reading_every_page(upstream):
    ids = create_outside(30)
    before = len(upstream.calls("GET", LIST))
    outcome = sync.run(force=True)
    assert outcome.result == "synced"
    assert outcome.instances == 30
    pages = upstream.calls("GET", LIST)[before:]
    assert len(pages) == 2
    assert "after_token" in str(pages[1].request.url)
    assert len(upstream.calls("GET", "/api/v0/users/current")) == 1
    assert sorted(Instance.objects.values_list("vast_id", flat=True)) == sorted(ids)
    listed = {instance.id: instance for instance in vast.list_instances()}
    for row in Instance.objects.all():
        assert row.gpu_name == listed[row.vast_id].gpu_name
        assert row.dph_total == pytest.approx(listed[row.vast_id].dph_total)
        assert row.storage_per_hour is not None
        assert 0 < row.storage_per_hour < row.dph_total
        assert row.launched_by is None
        assert row.gone_at is None
    assert StatusChange.objects.filter(from_status="", to_status="starting").count() == 30
    state = SyncState.current()
    assert state.last_success_at is not None
    assert state.account["credit"] is not None


def test_applying_the_same_answer_twice_changes_nothing(upstream):
    create_outside(3)
    listing = vast.list_instances()
    assert ledger.apply_listing(listing, complete=True) == 3
    assert ledger.apply_listing(listing, complete=True) == 0
    sync.run(force=True)  # a fresh answer of the same account adds no status change
    assert StatusChange.objects.count() == 3
    assert Instance.objects.count() == 3


def test_an_instance_destroyed_outside_is_marked_gone_at_the_next_complete_sync(upstream):
    kept, destroyed = create_outside(2)
    sync.run(force=True)
    vast.destroy(destroyed)
    sync.run(force=True)
    row = Instance.objects.get(vast_id=destroyed)
    assert row.gone_at is not None
    assert row.ended == Instance.End.OUTSIDE
    assert row.ended_by == ""
    assert row.status == "destroyed"
    assert list(row.changes.values_list("from_status", "to_status"))[-1] == ("starting", "destroyed")
    assert Instance.objects.get(vast_id=kept).gone_at is None


def test_an_instance_destroyed_through_the_dashboard_ends_destroyed_by_its_destroyer(upstream, admin_client):
    (instance_id,) = create_outside(1)
    sync.run(force=True)
    response = admin_client.post(f"/instances/{instance_id}/destroy/")
    assert response.status_code == 302
    row = Instance.objects.get(vast_id=instance_id)
    assert (row.ended, row.ended_by) == (Instance.End.DESTROYED, "ada")
    gone_at = row.gone_at
    assert gone_at is not None
    sync.run(force=True)
    row.refresh_from_db()
    assert (row.ended, row.ended_by, row.gone_at) == (Instance.End.DESTROYED, "ada", gone_at)


def test_a_list_read_before_our_destroy_does_not_bring_the_instance_back(upstream, admin_client):
    (instance_id,) = create_outside(1)
    sync.run(force=True)
    read_at = timezone.now()
    listing = vast.list_instances()  # still lists it, as a sync in flight (or Vast's lag) would
    assert admin_client.post(f"/instances/{instance_id}/destroy/").status_code == 302
    ledger.apply_listing(listing, complete=True, now=read_at)
    row = Instance.objects.get(vast_id=instance_id)
    assert (row.status, row.ended, row.ended_by) == ("destroyed", Instance.End.DESTROYED, "ada")
    assert row.gone_at is not None


def test_status_changes_are_recorded_from_and_to(upstream):
    (instance_id,) = create_outside(1)
    sync.run(force=True)
    clock.advance(60)
    sync.run(force=True)
    vast.set_state(instance_id, "stopped")
    sync.run(force=True)
    row = Instance.objects.get(vast_id=instance_id)
    assert row.status == "stopped"
    assert list(row.changes.values_list("from_status", "to_status")) == [
        ("", "starting"),
        ("starting", "running"),
        ("running", "stopped"),
    ]


def test_an_incomplete_list_with_a_repeating_page_token_marks_nothing_gone(upstream):
    kept, destroyed = create_outside(2)
    sync.run(force=True)
    vast.destroy(destroyed)

    def repeat_token(request):
        if request.url.path != LIST:
            return None
        params = {key: value for key, value in request.url.params.items() if key != "after_token"}
        answer = upstream.inner.handle_request(
            httpx.Request("GET", request.url.copy_with(params=params), headers=request.headers)
        )
        body = json.loads(answer.read())
        body["next_token"] = "the-same-token"
        return httpx.Response(200, json=body)

    install(Wrapping(repeat_token))
    before = SyncState.current().last_success_at
    assert sync.run(force=True).result == "synced"
    assert Instance.objects.get(vast_id=destroyed).gone_at is None
    assert Instance.objects.get(vast_id=kept).gone_at is None
    assert SyncState.current().last_success_at == before  # an incomplete list is no complete sync


def test_a_page_failing_mid_list_fails_the_sync_and_marks_nothing_gone(upstream):
    ids = create_outside(27)
    sync.run(force=True)
    vast.destroy(ids[0])
    pages = []

    def fail_second_page(request):
        if request.url.path == LIST:
            pages.append(str(request.url))
            if "after_token" in str(request.url):
                return httpx.Response(500, json={"success": False, "error": "server_error"})
        return None

    install(Wrapping(fail_second_page))
    outcome = sync.run(force=True)
    assert outcome.result == "failed"
    assert any("after_token" in url for url in pages)
    assert not Instance.objects.filter(gone_at__isnull=False).exists()


def _inject(kind):
    """Make the simulator's instance list fail the way `kind` says; returns what the error says."""
    if kind == "timeout":
        install(Wrapping(lambda request: _raise(httpx.ReadTimeout("slow", request=request))))
        return "did not answer"
    if kind == "401":
        faults.inject("instances", status=401)
        return sync.KEY_REJECTED
    if kind == "429":
        faults.inject("instances", status=429, retry_after=30)
        return ""
    if kind == "500":
        faults.inject("instances", status=500)
        return ""
    faults.inject("instances", kind="malformed")
    return ""


def _raise(error):
    raise error


@pytest.mark.parametrize("kind", ["timeout", "401", "429", "500", "malformed"])
def test_a_failing_sync_keeps_the_last_good_ledger_records_the_error_and_backs_off(upstream, kind):
    (instance_id,) = create_outside(1)
    assert sync.run(force=True).result == "synced"
    good = SyncState.current().last_success_at
    expected = _inject(kind)

    first = sync.run(force=True)
    assert first.result == "failed"
    state = SyncState.current()
    assert state.last_error
    assert expected in state.last_error
    assert state.failures == 1
    assert state.last_success_at == good
    assert Instance.objects.get(vast_id=instance_id).gone_at is None
    first_wait, first_due = due_in(state), state.next_due_at
    if kind == "429":
        assert 28 <= first_wait <= 31  # Retry-After honoured
    else:
        assert 1 <= first_wait <= 2.5

    assert sync.run(force=True).result == "failed"
    state = SyncState.current()
    assert state.failures == 2
    # A 429 waits at least its Retry-After again (compared as moments: the clock moved since).
    assert state.next_due_at >= first_due if kind == "429" else 3 <= due_in(state) <= 4.5
    assert sync.run().result == "skipped"  # not due during the backoff

    faults.clear()
    install(upstream)
    assert sync.run(force=True).result == "synced"
    state = SyncState.current()
    assert (state.failures, state.last_error, state.error_since) == (0, "", None)
    assert state.last_success_at > good


def test_a_rejected_key_is_shown_to_every_role_with_when_it_started(
    upstream, viewer_client, operator_client, admin_client
):
    create_outside(1)
    sync.run(force=True)
    faults.inject("instances", status=401)
    sync.run(force=True)
    since = SyncState.current().error_since
    sync.run(force=True)
    assert SyncState.current().error_since == since  # the same failure keeps its start
    started = timezone.localtime(since).strftime("%H:%M:%S")
    for client in (viewer_client, operator_client, admin_client):
        page = client.get("/instances/").content.decode()
        assert "Vast rejected the API key" in page
        assert f"failing since {started}" in page
        assert 'tbody id="instance-' in page  # the last good list stays


def test_claim_is_refused_while_not_due_or_leased_and_an_expired_lease_can_be_taken_over(upstream):
    assert sync.run(force=True).result == "synced"
    assert sync.claim() is None  # next sync not due yet
    assert sync.run().result == "skipped"

    first = sync.claim(force=True)
    assert first
    assert sync.claim(force=True) is None  # two claims at once: one wins
    assert SyncState.current().lease_owner == first

    later = timezone.now() + timedelta(seconds=46)
    second = sync.claim(force=True, now=later)
    assert second
    assert second != first
    assert SyncState.current().lease_owner == second


def test_a_sync_whose_lease_was_taken_over_drops_its_answer(upstream):
    create_outside(2)
    taken = []

    def take_over(request):
        if request.url.path == LIST and not taken:
            SyncState.objects.filter(pk=1).update(lease_until=timezone.now() - timedelta(seconds=1))
            taken.append(sync.claim(force=True))
        return None

    install(Wrapping(take_over))
    outcome = sync.run(force=True)
    assert taken
    assert taken[0]
    assert outcome.result == "skipped"
    assert not Instance.objects.exists()
    state = SyncState.current()
    assert state.last_success_at is None
    assert state.lease_owner == taken[0]  # the usurper's lease is left alone


def test_the_next_sync_comes_fast_while_an_instance_starts_and_slow_when_stable(upstream):
    create_outside(1)
    sync.run(force=True)
    assert 1.5 <= due_in(SyncState.current()) <= 2.1
    clock.advance(60)
    sync.run(force=True)
    assert 9.5 <= due_in(SyncState.current()) <= 10.1


def test_request_sync_makes_a_sync_due_at_once(upstream):
    sync.run(force=True)
    assert sync.run().result == "skipped"
    sync.request_sync()
    assert sync.run().result == "synced"
    assert sync.run().result == "skipped"  # asked once, synced once


def test_a_write_through_the_dashboard_syncs_once_it_commits(
    upstream, operator_client, django_capture_on_commit_callbacks
):
    (instance_id,) = create_outside(1)
    clock.advance(60)
    sync.run(force=True)
    assert sync.run().result == "skipped"
    lists = len(upstream.calls("GET", LIST))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert operator_client.post(f"/instances/{instance_id}/stop/").status_code == 302
    assert callbacks  # the sync is enqueued after the commit, never before
    assert len(upstream.calls("GET", LIST)) == lists + 1
    assert Instance.objects.get(vast_id=instance_id).status == "stopped"


def test_a_tick_syncs_and_schedules_its_next_beat(upstream):
    chain = tasks.start_chain()
    state = SyncState.current()
    assert state.chain_id == chain
    assert state.last_success_at is not None
    scheduled = [task for task in HUEY.scheduled() if task.name.endswith("tick")]
    assert len(scheduled) == 1
    assert scheduled[0].args == (chain,)
    wait = (scheduled[0].eta - timezone.now().replace(tzinfo=None)).total_seconds()
    assert 8 <= wait <= 10.5


def test_a_superseded_chain_ends_without_scheduling(upstream):
    old = tasks.start_chain()
    HUEY.storage.flush_all()
    new = tasks.start_chain()
    assert new != old
    HUEY.storage.flush_all()
    assert tasks.tick.call_local(old) == "superseded"
    assert HUEY.scheduled() == []


def test_keep_ticking_restarts_a_silent_chain_and_leaves_a_live_one(upstream):
    chain = tasks.start_chain()
    tasks.keep_ticking.call_local()
    assert SyncState.current().chain_id == chain

    silent_since = timezone.now() - timedelta(minutes=5)
    SyncState.objects.filter(pk=1).update(chain_beat=silent_since, next_due_at=silent_since)
    before = SyncState.current().last_success_at
    tasks.keep_ticking.call_local()
    state = SyncState.current()
    assert state.chain_id not in ("", chain)
    assert state.chain_beat > silent_since
    assert state.last_success_at > before
