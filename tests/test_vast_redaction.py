"""The API key never leaves the service module in an error: whatever field of Vast's answer carries
it, cut, percent-encoded or JSON-escaped, it is redacted before anything is clipped, logged,
stored in the audit log or shown."""

import json
import logging
from urllib.parse import quote

import httpx
import pytest

from dashboard import vast
from dashboard.models import Action
from dashboard.vast import VastClient
from dashboard.vast.redact import REDACTED, Redactor

KEY = "vk_live_7f3a9c2e41b84d6f9a0c5e1b2d3f4a5b"


def _client(status, body):
    def handler(request):
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    return VastClient(
        api_key=KEY, base_url="https://console.vast.ai", transport=httpx.MockTransport(handler), sleep=lambda s: None
    )


def _fragments(text):
    """Every 8-character run of the key found in `text`."""
    return [KEY[i : i + 8] for i in range(len(KEY) - 7) if KEY[i : i + 8] in text]


def _everything_shown(error):
    return " ".join(str(part) for part in (error.message, error.msg, error.error, error.log_message(), str(error)))


BODIES = {
    "in msg": {"success": False, "error": "invalid_args", "msg": f"bad key {KEY}"},
    "in error": {"success": False, "error": f"auth {KEY}", "msg": "nope"},
    "in a nested field": {"success": False, "error": "x", "msg": {"detail": [f"key={KEY}"]}},
    "in message": {"message": f"key {KEY} rejected"},
    "at the clip point": {"error": "invalid_args", "msg": "x" * 190 + KEY + "y" * 50},
    "cut in half": {"error": "invalid_args", "msg": f"the key starts {KEY[:17]}…"},
    "its tail": {"error": "invalid_args", "msg": f"…{KEY[-12:]} is wrong"},
    "percent-encoded": {"error": "invalid_args", "msg": f"GET /x?api_key={quote(KEY, safe='')}"},
    "JSON-escaped": {"error": "invalid_args", "msg": "".join(f"\\u{ord(c):04x}" for c in KEY)},
}


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500])
@pytest.mark.parametrize("where", list(BODIES))
def test_the_key_is_redacted_from_every_error_shape(where, status, caplog):
    caplog.set_level(logging.DEBUG)
    client = _client(status, BODIES[where])
    with pytest.raises(vast.VastError) as raised:
        client.set_state(7, "stopped")
    shown = _everything_shown(raised.value)
    assert not _fragments(shown), shown
    assert not _fragments(caplog.text)


def test_a_plain_text_error_page_with_the_key_is_redacted_before_it_is_clipped():
    page = "<html>" + "a" * 196 + KEY + "</html>"
    with pytest.raises(vast.VastError) as raised:
        _client(502, page).list_api_keys()
    assert not _fragments(_everything_shown(raised.value))


def test_redaction_keeps_the_rest_of_the_message():
    with pytest.raises(vast.VastRejected) as raised:
        _client(400, BODIES["in msg"]).set_state(7, "stopped")
    assert raised.value.msg == f"bad key {REDACTED}"
    assert "Vast.ai refused the request: bad key [redacted]" in raised.value.message


def test_redactor_leaves_text_without_the_key_alone():
    redactor = Redactor(KEY)
    assert redactor.text("offer 1234 is no longer available") == "offer 1234 is no longer available"
    assert redactor.value({"a": [1, "b", None]}) == {"a": [1, "b", None]}
    assert Redactor(None).text(KEY) == KEY


def test_the_key_in_an_error_never_reaches_the_page_the_audit_log_or_its_csv(admin_client, settings):
    body = {"success": False, "error": f"denied for {KEY}", "msg": "x" * 195 + KEY}
    settings.VAST_API_KEY = KEY  # (resets the process's client, so install ours after)
    vast._client = _client(400, body)
    try:
        response = admin_client.post("/instances/7/stop/")
        csv = b"".join(admin_client.get("/audit/?format=csv").streaming_content).decode()
    finally:
        vast.reset_client()
    assert response.status_code == 400
    assert b"Vast.ai refused the request" in response.content
    action = Action.objects.get(kind=Action.Kind.STOP)
    stored = json.dumps([action.message, action.detail])
    for text in (response.content.decode(), stored, csv):
        assert not _fragments(text), text[:300]
