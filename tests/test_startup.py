"""Fail at start, not per page: a missing static manifest with DEBUG off stops the server from
starting; the health checks answer HEAD as well as GET (uptime monitors use HEAD)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(code, tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    environment.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SECRET_KEY="a-long-random-production-secret-for-this-test-only-0123456789",
        ALLOWED_HOSTS="localhost",
        **env,
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)


def test_with_debug_off_and_no_manifest_the_wsgi_app_refuses_to_start(tmp_path):
    result = _run("import dashboard.wsgi", tmp_path, DEBUG="false", STATIC_ROOT=str(tmp_path / "static"))
    assert result.returncode != 0
    assert "collectstatic" in result.stderr
    assert "dashboard.E001" in result.stderr


def test_manage_check_names_the_missing_manifest(tmp_path):
    result = _run(
        "import django,sys; from django.core.management import call_command; django.setup(); call_command('check')",
        tmp_path,
        DEBUG="false",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    assert result.returncode != 0
    assert "dashboard.E001" in result.stderr


def test_with_the_manifest_built_the_app_starts(tmp_path):
    static = str(tmp_path / "static")
    built = _run(
        "import django; from django.core.management import call_command; django.setup();"
        " call_command('collectstatic', '--noinput', verbosity=0)",
        tmp_path,
        DEBUG="false",
        STATIC_ROOT=static,
    )
    assert built.returncode == 0, built.stderr
    started = _run(
        "import gc, dashboard.wsgi; print(gc.get_freeze_count())", tmp_path, DEBUG="false", STATIC_ROOT=static
    )
    assert started.returncode == 0, started.stderr
    # What start-up loaded is kept out of the collector's full passes.
    assert int(started.stdout) > 50_000


@pytest.mark.parametrize("url", ["/healthz", "/healthz/worker"])
def test_health_checks_answer_head(client, url, db):
    get, head = client.get(url), client.head(url)
    assert head.status_code == get.status_code
    assert head.status_code in (200, 503)
    assert head.content == b""
