"""The door to the team webhook (`NOTIFY_WEBHOOK_URL`, Slack-compatible): one POST of JSON.

One pooled `httpx.Client` per process with a short timeout and no redirects. A failure is a
`WebhookError` whose message names what went wrong (timeout, connection, HTTP status) and never
the URL, which is itself the webhook's credential. Retrying is the caller's business
(dashboard/delivery.py), so a dead receiver costs one short attempt at a time.
"""

import logging
import threading

import httpx
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

logger = logging.getLogger(__name__)

USER_AGENT = "vast-team-dashboard (notifications)"
CONNECT_TIMEOUT_CAP = 3.0

_client = None
_client_lock = threading.Lock()


class WebhookError(Exception):
    """The receiver did not take the message; `str()` is safe to log and to show admins."""


def build_client(transport=None):
    """A client for the webhook with NOTIFY_WEBHOOK_TIMEOUT for the whole exchange (the connect
    phase at most 3 s); `transport` is for tests."""
    timeout = settings.NOTIFY_WEBHOOK_TIMEOUT
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_CAP)),
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        transport=transport,
    )


def get_client():
    """The process's one webhook client, built from settings on first use."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = build_client()
    return _client


def reset_client():
    """Close and forget the process's client, so that the next call rebuilds it from settings."""
    global _client
    with _client_lock:
        client, _client = _client, None
    if client is not None:
        client.close()


@receiver(setting_changed)
def _reset_on_webhook_setting(*, setting, **kwargs):
    """Tests that change the webhook's timeout get a client built from the new value."""
    if setting.startswith("NOTIFY_WEBHOOK"):
        reset_client()


def post(url, payload, *, idempotency_key=None):
    """POST `payload` as JSON to `url`; returns None on a 2xx answer, else raises WebhookError.
    `idempotency_key` goes in an `Idempotency-Key` header: the same for every attempt at one
    message, so that a receiver can drop a copy sent again after a lost answer or a crash."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    try:
        response = get_client().post(url, json=payload, headers=headers)
    except httpx.TimeoutException as exc:
        raise WebhookError(f"timed out after {settings.NOTIFY_WEBHOOK_TIMEOUT:g} s") from exc
    except httpx.HTTPError as exc:
        raise WebhookError(f"could not reach the receiver ({type(exc).__name__})") from exc
    if not response.is_success:
        # Slack names the problem in a short body ("invalid_payload", "no_service").
        hint = " ".join(response.text[:80].split())
        raise WebhookError(f"HTTP {response.status_code}" + (f": {hint}" if hint else ""))
