"""A slow Vast.ai: the simulator holds requests past the client's read timeout, the service module says VastTimeout."""

import time

import httpx
import pytest

from dashboard.vast import LaunchRequest, OfferSearch, VastClient, VastTimeout
from dashboard.vast.errors import UNKNOWN_OUTCOME
from vastsim import faults
from vastsim.models import Instance
from vastsim.transport import SimulatorTransport

TIMEOUT = httpx.Timeout(0.2, connect=0.2)
SLOW = 5.0  # injected latency, far beyond the timeout: a test that waited it out would show


@pytest.fixture
def sleeps():
    """The backoff delays the client asked for; nothing actually sleeps."""
    return []


@pytest.fixture
def client(settings, sleeps):
    with VastClient(
        api_key=settings.VASTSIM_API_KEY, transport=SimulatorTransport(), timeout=TIMEOUT, sleep=sleeps.append
    ) as client:
        yield client


@pytest.mark.django_db
def test_a_search_slower_than_the_read_timeout_raises_vast_timeout_after_its_retries(client, sleeps):
    faults.inject("bundles", latency=SLOW)
    started = time.monotonic()
    with pytest.raises(VastTimeout) as caught:
        client.search_offers(OfferSearch(limit=5))
    assert 0.6 <= time.monotonic() - started < 2.0  # three attempts of 0.2 s each
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert caught.value.attempts == 3
    assert len(sleeps) == 2
    assert caught.value.message == VastTimeout.default_message
    assert caught.value.http_status == 504
    assert caught.value.outcome_unknown is False


@pytest.mark.django_db
def test_a_launch_slower_than_the_read_timeout_is_sent_once_and_reported_as_unknown(client, sleeps):
    offer = client.search_offers(OfferSearch(limit=1))[0]
    faults.inject("asks", latency=SLOW)
    started = time.monotonic()
    with pytest.raises(VastTimeout) as caught:
        client.create_instance(offer.id, LaunchRequest(image="pytorch/pytorch", disk=20))
    assert time.monotonic() - started < 1.0
    assert caught.value.attempts == 1
    assert sleeps == []
    assert caught.value.outcome_unknown is True
    assert caught.value.message == UNKNOWN_OUTCOME
    # The simulator holds the request back before handling it, so this launch did not happen.
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_a_call_answered_within_the_read_timeout_succeeds(client, sleeps):
    faults.inject("user", latency=0.05)
    started = time.monotonic()
    assert client.current_user().credit == 250.0
    assert time.monotonic() - started >= 0.05
    assert sleeps == []


@pytest.mark.django_db
def test_offer_page_answers_504_with_a_message_when_vast_is_slower_than_the_read_timeout(viewer_client, settings):
    settings.VAST_READ_TIMEOUT = 0.2
    settings.VAST_CONNECT_TIMEOUT = 0.2
    settings.VAST_MAX_RETRIES = 0
    faults.inject("bundles", latency=SLOW)
    started = time.monotonic()
    response = viewer_client.get("/offers/")
    assert time.monotonic() - started < 2.0
    assert response.status_code == 504
    assert VastTimeout.default_message in response.content.decode()
