"""Behind a proxy: the client's address comes from the trusted hops of X-Forwarded-For (login
throttling stays per person and address), and gunicorn believes X-Forwarded-Proto only when told."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.test import Client

from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
PROXY = "10.0.0.1"


def _fail_logins(username, times, **extra):
    client = Client(REMOTE_ADDR=PROXY)
    for _ in range(times):
        client.post("/accounts/login/", {"username": username, "password": "wrong"}, **extra)


def _can_log_in(username, **extra):
    client = Client(REMOTE_ADDR=PROXY)
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD}, **extra)
    return response.status_code == 302


def test_behind_one_proxy_an_attacker_cannot_lock_a_colleague_out(settings, operator):
    settings.TRUSTED_PROXY_COUNT = 1
    _fail_logins(operator.username, 6, headers={"X-Forwarded-For": "203.0.113.66"})
    assert not _can_log_in(operator.username, headers={"X-Forwarded-For": "203.0.113.66"})
    assert _can_log_in(operator.username, headers={"X-Forwarded-For": "198.51.100.7"})


def test_a_forged_forwarded_for_entry_is_not_believed(settings, operator):
    settings.TRUSTED_PROXY_COUNT = 1
    # The attacker writes the victim's address first; the proxy appends the attacker's real one.
    _fail_logins(operator.username, 6, headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.66"})
    assert _can_log_in(operator.username, headers={"X-Forwarded-For": "198.51.100.7"})


def test_without_a_trusted_proxy_forwarded_for_is_ignored(settings, operator):
    settings.TRUSTED_PROXY_COUNT = 0
    _fail_logins(operator.username, 6, headers={"X-Forwarded-For": "203.0.113.66"})
    # Changing the header does not escape the lock-out: the address is the connection's.
    assert not _can_log_in(operator.username, headers={"X-Forwarded-For": "198.51.100.9"})


def _gunicorn(tmp_path, **env):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN", "BEHIND", "FORWARDED"))}
    environment.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DEBUG="true",
        SECURE_HSTS_SECONDS="3600",
        LOG_LEVEL="WARNING",
        **env,
    )
    environment.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "dashboard.wsgi", "--bind", f"fd://{listener.fileno()}", "--workers", "1"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=[listener.fileno()],
    )
    listener.close()
    return process, f"http://127.0.0.1:{port}"


def _hsts_for_forwarded_https(url):
    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.get(f"{url}/healthz", headers={"X-Forwarded-Proto": "https"}, timeout=5)
            return "strict-transport-security" in response.headers
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize(("env", "trusted"), [({}, False), ({"BEHIND_TLS_PROXY": "true"}, True)])
def test_gunicorn_believes_forwarded_proto_only_behind_a_tls_proxy(tmp_path, env, trusted):
    process, url = _gunicorn(tmp_path, **env)
    try:
        assert _hsts_for_forwarded_https(url) is trusted
    finally:
        process.terminate()
        process.wait(timeout=10)
