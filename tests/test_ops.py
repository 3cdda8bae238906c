"""Operations: health check, request ids and machine-readable log lines."""

import json
import logging

import pytest

from dashboard.logs import JsonFormatter, RequestIdFilter

pytestmark = pytest.mark.django_db


def test_healthz_checks_database_and_cache(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_healthz_is_503_when_the_cache_fails(client, monkeypatch):
    from django.core.cache import cache

    def broken(*args, **kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr(cache, "set", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.content == b"cache unavailable"


def test_every_response_carries_a_request_id_and_keeps_a_valid_incoming_one(client):
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "proxy-abc-12345"})["X-Request-ID"] == "proxy-abc-12345"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})["X-Request-ID"] != "bad id"


def test_one_access_line_per_request_and_vast_calls_share_its_id(viewer_client, caplog, upstream):
    caplog.set_level(logging.INFO)
    response = viewer_client.get("/offers/?num_gpus=2")
    rid = response["X-Request-ID"]
    access = [r for r in caplog.records if r.name == "dashboard.access"]
    assert len(access) == 1
    assert access[0].path == "/offers/"
    assert access[0].status == 200
    assert access[0].user == "vera"
    line = json.loads(JsonFormatter().format(access[0]))
    assert line["status"] == 200
    assert line["path"] == "/offers/"
    assert "num_gpus" not in json.dumps(line)
    assert len(rid) == 32


def test_json_lines_carry_the_request_id_of_the_request(viewer_client, upstream):
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Capture()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        rid = viewer_client.get("/offers/", headers={"X-Request-ID": "req-0123456789"})["X-Request-ID"]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    lines = [json.loads(r) for r in records]
    assert rid == "req-0123456789"
    vast_lines = [line for line in lines if line["logger"] == "dashboard.vast.client"]
    assert vast_lines
    assert all(line["request_id"] == rid for line in vast_lines)
    assert any(line["logger"] == "dashboard.access" and line["request_id"] == rid for line in lines)


def test_honest_upstream_error_pages_are_not_logged_again_as_django_errors(viewer_client, upstream, caplog):
    from vastsim import faults

    faults.inject("bundles", status=500)
    caplog.set_level(logging.INFO)
    viewer_client.get("/offers/")
    django_request = logging.getLogger("django.request")
    shown = [
        r for r in caplog.records if r.name == "django.request" and all(f.filter(r) for f in django_request.filters)
    ]
    assert not shown
    assert any(r.name == "offers.views" and r.levelno == logging.WARNING for r in caplog.records)
