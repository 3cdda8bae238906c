"""The shared instance list: however many people watch, Vast is asked about once a second."""

import contextlib
import threading
import time

import httpx
import pytest
from django.test import Client

from dashboard import vast

pytestmark = pytest.mark.django_db

PAGE = {"success": True, "instances_found": 1, "total_instances": 1, "next_token": None, "instances": [{"id": 7}]}


class SlowVast(httpx.BaseTransport):
    """A Vast that takes `delay` seconds per list call and counts them (thread-safe)."""

    def __init__(self, delay=0.2):
        self.delay, self.calls, self.lock, self.failures = delay, [], threading.Lock(), 0

    def handle_request(self, request):
        with self.lock:
            self.calls.append((request.method, request.url.path))
        time.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            return httpx.Response(400, json={"error": "invalid_request", "msg": "Error in query parameters"})
        if request.method == "GET":
            return httpx.Response(200, json=PAGE)
        return httpx.Response(200, json={"success": True})


@pytest.fixture
def slow_vast():
    transport = SlowVast()
    vast._client = vast.VastClient(api_key="k", transport=transport, sleep=lambda s: None)
    yield transport
    vast.reset_client()


def test_ten_viewers_in_the_same_second_cause_one_upstream_list_call(viewer, upstream):
    clients = []
    for _ in range(10):
        client = Client()
        client.force_login(viewer)
        clients.append(client)
    started = time.monotonic()
    for client in clients:
        assert client.get("/instances/").status_code == 200
    assert time.monotonic() - started < 1.0
    assert len(upstream.calls("GET", "/api/v1/instances/")) == 1


def test_concurrent_readers_wait_for_the_one_refresh(slow_vast):
    results, barrier = [], threading.Barrier(10)

    def viewer():
        barrier.wait()
        results.append(vast.list_instances_cached())

    threads = [threading.Thread(target=viewer) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slow_vast.calls) == 1
    assert [[i.id for i in found] for found in results] == [[7]] * 10


def test_the_list_is_asked_again_once_it_is_older_than_max_age(slow_vast):
    slow_vast.delay = 0
    vast.list_instances_cached(max_age=0.05)
    vast.list_instances_cached(max_age=0.05)
    assert len(slow_vast.calls) == 1
    time.sleep(0.06)
    vast.list_instances_cached(max_age=0.05)
    assert len(slow_vast.calls) == 2


@pytest.mark.parametrize(
    "write",
    [
        lambda: vast.set_state(7, "stopped"),
        lambda: vast.relabel(7, "x"),
        lambda: vast.destroy(7),
        lambda: vast.create_instance(9, vast.LaunchRequest(image="i")),
    ],
    ids=["state", "label", "destroy", "create"],
)
def test_a_write_makes_the_next_read_ask_vast(slow_vast, write):
    slow_vast.delay = 0
    vast.list_instances_cached()
    with contextlib.suppress(vast.VastError):  # the canned answer does not fit create; forget anyway
        write()
    vast.list_instances_cached()
    assert [path for method, path in slow_vast.calls if method == "GET"] == ["/api/v1/instances/"] * 2


def test_errors_are_not_cached(slow_vast):
    slow_vast.delay, slow_vast.failures = 0, 1
    with pytest.raises(vast.VastRejected):
        vast.list_instances_cached()
    assert [i.id for i in vast.list_instances_cached()] == [7]
    assert len(slow_vast.calls) == 2
