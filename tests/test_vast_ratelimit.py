"""The service module's own rate limiter: Vast's thresholds, shared through the cache."""

import threading

import pytest
from django.core.cache import cache

from dashboard import vast
from dashboard.models import RateSlot
from dashboard.vast.ratelimit import CacheSlots, DatabaseSlots, RateLimiter, endpoint_for
from vastsim import clock as sim_clock
from vastsim import switches
from vastsim.transport import SimulatorTransport

pytestmark = pytest.mark.django_db


class FakeTime:
    """A clock that moves only when slept on: the limiter's and the simulator's together."""

    def __init__(self):
        self.now = 1_800_000_000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        sim_clock.advance(seconds)


def test_endpoints_carry_vast_thresholds():
    assert endpoint_for("POST", "/api/v0/bundles/") == ("search", 2.0)
    assert endpoint_for("PUT", "/api/v0/asks/123/") == ("create", 4.5)
    assert endpoint_for("GET", "/api/v1/instances/") == ("list", 1.0)
    assert endpoint_for("PUT", "/api/v0/instances/9/") == ("manage", 1.0)
    assert endpoint_for("DELETE", "/api/v0/instances/9/") == ("destroy", 3.0)
    assert endpoint_for("GET", "/api/v0/gpu_names/unique/") is None


def test_second_call_inside_the_threshold_waits_for_the_next_slot():
    fake = FakeTime()
    limiter = RateLimiter("k", cache, clock=fake, margin=0.1)
    assert limiter.reserve("POST", "/api/v0/bundles/", max_wait=10) == 0
    assert limiter.reserve("POST", "/api/v0/bundles/", max_wait=10) == pytest.approx(2.1)
    assert limiter.reserve("POST", "/api/v0/bundles/", max_wait=10) == pytest.approx(4.2)
    assert limiter.reserve("GET", "/api/v1/instances/", max_wait=10) == 0  # another endpoint
    assert RateLimiter("other-key", cache, clock=fake).reserve("POST", "/api/v0/bundles/", 10) == 0


def test_a_wait_beyond_the_bound_is_refused_with_the_time_to_wait():
    fake = FakeTime()
    limiter = RateLimiter("k", cache, clock=fake, margin=0.0)
    limiter.reserve("PUT", "/api/v0/asks/1/", max_wait=6)
    limiter.reserve("PUT", "/api/v0/asks/2/", max_wait=6)  # waits 4.5 s
    with pytest.raises(vast.VastRateLimited, match=r"Vast.ai is busy.*Try again in 9 s") as caught:
        limiter.reserve("PUT", "/api/v0/asks/3/", max_wait=6)
    assert caught.value.retry_after == pytest.approx(9.0)
    fake.now += 4.5
    assert limiter.reserve("PUT", "/api/v0/asks/3/", max_wait=6) == pytest.approx(4.5)


def test_the_cache_never_sees_the_key():
    seen = []

    class Watching:
        """The real cache, noting every key it is handed."""

        def __getattr__(self, name):
            method = getattr(cache, name)

            def call(key, *args, **kwargs):
                seen.append(key)
                return method(key, *args, **kwargs)

            return call

    RateLimiter("super-secret-key", Watching()).reserve("POST", "/api/v0/bundles/", max_wait=1)
    assert seen
    assert not any("super-secret-key" in key for key in seen)


def test_concurrent_callers_get_distinct_slots():
    fake = FakeTime()
    limiter = RateLimiter("k", cache, clock=fake, margin=0.0)
    waits, lock = [], threading.Lock()

    def call():
        wait = limiter.reserve("GET", "/api/v1/instances/", max_wait=100)
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([float(i) for i in range(10)])


def _client(fake, limiter=True):
    from django.conf import settings

    return vast.VastClient(
        settings.VASTSIM_API_KEY,
        transport=SimulatorTransport(),
        sleep=fake.sleep,
        max_retries=0,
        rate_limiter=RateLimiter(settings.VASTSIM_API_KEY, cache, clock=fake) if limiter else None,
        read_wait=30,
        write_wait=30,
    )


def _burst(client):
    """What a busy team does in one second: searches, list refreshes, relabels."""
    offer = client.search_offers({"limit": 1})[0]
    launched = client.create_instance(offer.id, vast.LaunchRequest(image="pytorch/pytorch"))
    for n in range(3):
        client.search_offers({"num_gpus": {"gte": n + 1}})
        client.list_instances()
        client.relabel(launched.instance_id, f"run {n}")
    client.destroy(launched.instance_id)


def test_with_the_limiter_a_burst_never_provokes_a_429_from_vast():
    switches.enable("rate_limits")
    fake = FakeTime()
    _burst(_client(fake))
    assert sum(fake.sleeps) > 0


def test_without_the_limiter_the_same_burst_is_refused_by_vast():
    switches.enable("rate_limits")
    with pytest.raises(vast.VastRateLimited):
        _burst(_client(FakeTime(), limiter=False))


def test_default_client_uses_the_limiter_from_settings(settings):
    settings.VAST_RATE_LIMIT = True
    assert vast.get_client()._rate_limiter is not None
    settings.VAST_RATE_LIMIT = False
    assert vast.get_client()._rate_limiter is None


def test_without_a_shared_cache_the_limiter_books_slots_in_the_database(monkeypatch):
    from django.conf import settings

    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    redis = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1"}}
    monkeypatch.setattr(settings, "CACHES", locmem)
    assert isinstance(vast._rate_slots(), DatabaseSlots)
    monkeypatch.setattr(settings, "CACHES", redis)
    slots = vast._rate_slots()
    assert isinstance(slots, CacheSlots)
    assert slots.cache is cache


@pytest.mark.django_db(transaction=True)
def test_database_slots_give_concurrent_callers_distinct_slots():
    from django.db import connections

    fake = FakeTime()
    limiter = RateLimiter("k", DatabaseSlots(), clock=fake, margin=0.0)
    waits, lock = [], threading.Lock()

    def call():
        try:
            wait = limiter.reserve("GET", "/api/v1/instances/", max_wait=100)
            with lock:
                waits.append(wait)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([float(i) for i in range(6)])
    with pytest.raises(vast.VastRateLimited):
        limiter.reserve("GET", "/api/v1/instances/", max_wait=1)
    assert RateSlot.objects.get().next_free == pytest.approx(fake.now + 6)


def test_with_database_slots_a_burst_never_provokes_a_429_from_vast():
    switches.enable("rate_limits")
    fake = FakeTime()
    from django.conf import settings

    client = vast.VastClient(
        settings.VASTSIM_API_KEY,
        transport=SimulatorTransport(),
        sleep=fake.sleep,
        max_retries=0,
        rate_limiter=RateLimiter(settings.VASTSIM_API_KEY, DatabaseSlots(), clock=fake),
        read_wait=30,
        write_wait=30,
    )
    _burst(client)
    assert sum(fake.sleeps) > 0
