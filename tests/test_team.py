"""Team pages: API keys, account, users, guardrails, the audit log, and login hardening.
(What the guardrails decide, and the month's spend they read, are in tests/test_guardrails.py.)"""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from dashboard import vast
from dashboard.models import Action, Guardrails
from dashboard.roles import role_of
from tests.conftest import PASSWORD
from vastsim import clock, faults

pytestmark = pytest.mark.django_db


def test_keys_page_lists_keys_without_any_secret(operator_client, upstream, settings):
    # Vast redacts key values; make it send one anyway.
    faults.inject(
        "apikeys",
        status=200,
        kind="error",
        body={"apikeys": [{"id": 7, "user_id": 1, "name": "leaky", "key": "LEAKED-SECRET-VALUE", "key_type": "api"}]},
    )
    response = operator_client.get("/keys/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "leaky" in html
    assert "LEAKED-SECRET-VALUE" not in html
    assert settings.VASTSIM_API_KEY not in html
    assert 'hx-history="false"' in html


def test_keys_page_shows_the_simulated_account_keys(operator_client, upstream):
    html = operator_client.get("/keys/").content.decode()
    assert "Primary key" in html
    assert upstream.calls("GET", "/api/v0/auth/apikeys")


def test_viewer_cannot_see_keys_and_vast_is_not_called(viewer_client, upstream):
    response = viewer_client.get("/keys/")
    assert response.status_code == 403
    assert "Only operators and admins" in response.content.decode()
    assert not upstream.calls("GET", "apikeys")


def test_account_page_shows_credit_burn_rate_and_runway_from_the_ledger(viewer_client, upstream, synced, settings):
    offer = vast.search_offers({"limit": 1, "order": [["dph_total", "asc"]]})[0]
    launched = vast.create_instance(offer.id, vast.LaunchRequest(image="pytorch/pytorch", disk=10))
    clock.advance(settings.VASTSIM_BOOT_SECONDS + 1)
    instance = vast.get_instance(launched.instance_id)
    synced()
    upstream.requests.clear()
    html = viewer_client.get("/account/").content.decode()
    assert upstream.requests == []  # the page reads the ledger only
    assert "$250.00" in html
    assert "gpu-team@example.com" in html
    assert f"${instance.dph_total:.3f}/hr" in html
    days = 250 / instance.dph_total / 24
    assert f"{days:.1f} days" in html
    assert "api_key" not in html
    assert settings.VASTSIM_API_KEY not in html


def test_account_page_keeps_the_last_known_account_and_shows_a_failed_sync(viewer_client, upstream, synced):
    synced()
    faults.inject("user", status=500)
    before = viewer_client.get("/account/")
    assert before.status_code == 200
    assert 'data-testid="sync-banner"' not in before.content.decode()  # nothing has failed yet
    assert synced().result == "failed"
    upstream.requests.clear()
    response = viewer_client.get("/account/")
    html = response.content.decode()
    assert response.status_code == 200
    assert upstream.requests == []
    assert "$250.00" in html  # the last known credit
    assert 'data-testid="vast-error"' not in html
    banner = re.search(r'<p class="sync-banner" data-testid="sync-banner">([^<]*)</p>', html)
    assert banner
    assert "could not be reached or is having problems" in banner.group(1)
    assert "failing since" in banner.group(1)


def test_admin_adds_a_user_with_a_role(admin_client):
    response = admin_client.post(
        "/team/add/",
        {
            "username": "newbie",
            "email": "n@example.com",
            "role": "operator",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    newbie = get_user_model().objects.get(username="newbie")
    assert role_of(newbie) == "operator"
    assert newbie.check_password(PASSWORD)


def test_add_user_form_errors_are_shown(admin_client, viewer):
    response = admin_client.post(
        "/team/add/", {"username": "vera", "role": "viewer", "password1": "x", "password2": "y"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "A user with that name exists." in html
    assert "The two passwords differ." in html


def test_admin_changes_role_and_deactivates(admin_client, viewer):
    response = admin_client.post(f"/team/{viewer.pk}/", {"role": "operator"})
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert role_of(viewer) == "operator"
    assert not viewer.is_active


def test_admin_cannot_demote_themselves(admin_client, admin):
    response = admin_client.post(f"/team/{admin.pk}/", {"role": "viewer", "is_active": "on"})
    assert response.status_code == 200
    assert "cannot demote or deactivate yourself" in response.content.decode()
    assert role_of(admin) == "admin"


@pytest.mark.parametrize("url", ["/team/", "/team/guardrails/", "/team/1/"])
def test_operator_cannot_manage_the_team(operator_client, url):
    assert operator_client.get(url).status_code == 403
    assert operator_client.post(url, {"role": "admin", "is_active": "on"}).status_code in (403, 405)


def test_deactivated_user_cannot_log_in(client, viewer):
    viewer.is_active = False
    viewer.save()
    response = client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_admin_sets_guardrails_and_bad_values_are_form_errors(admin_client):
    response = admin_client.post("/team/guardrails/", {"operator_max_dph": "-1"})
    assert response.status_code == 200
    assert "greater than or equal to 0" in response.content.decode()
    response = admin_client.post(
        "/team/guardrails/", {"operator_max_dph": "1.5", "max_running_per_user": "2", "monthly_cap_per_user": "300"}
    )
    assert response.status_code == 302
    rails = Guardrails.current()
    assert rails.operator_max_dph == Decimal("1.5")
    assert rails.max_running_per_user == 2
    assert rails.updated_by == "ada"


def _record(user, **fields):
    return Action.objects.create(user=user, username=user.username, **fields)


def test_audit_log_admin_sees_all_and_filters(admin_client, operator, viewer):
    _record(operator, kind="launch", offer_id=1, instance_id=11, outcome="success", price_per_hour=Decimal("0.5"))
    _record(operator, kind="destroy", instance_id=11, outcome="failed", message="Vast.ai is down")
    _record(viewer, kind="start", instance_id=12, outcome="forbidden", message="Your role does not allow this.")
    html = admin_client.get("/audit/").content.decode()
    assert html.count("<tr>") - 1 == 3
    only_destroy = admin_client.get("/audit/?action=destroy", headers={"HX-Request": "true"}).content.decode()
    assert "Vast.ai is down" in only_destroy
    assert "Forbidden" not in only_destroy
    by_user = admin_client.get("/audit/?user=vera").content.decode()
    assert "Your role does not allow this." in by_user
    assert "Vast.ai is down" not in by_user
    by_instance = admin_client.get("/audit/?instance=11").content.decode()
    assert by_instance.count('<td class="mono"><a href="/instances/11/">') == 2


def test_audit_log_others_see_only_their_own(operator_client, operator, viewer):
    _record(operator, kind="launch", instance_id=11, outcome="success")
    _record(viewer, kind="start", instance_id=12, outcome="forbidden", message="viewer tried")
    html = operator_client.get("/audit/").content.decode()
    assert "viewer tried" not in html
    assert "/instances/11/" in html
    assert "viewer tried" not in operator_client.get("/audit/?user=vera").content.decode()


def test_audit_csv_export(admin_client, operator):
    _record(operator, kind="launch", offer_id=3, instance_id=11, outcome="success", price_per_hour=Decimal("0.25"))
    response = admin_client.get("/audit/?format=csv")
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["time", "user", "action", "offer", "instance", "price_per_hour", "outcome", "message"]
    assert rows[1][1:7] == ["otto", "launch", "3", "11", "0.250000", "success"]


def test_audit_log_is_append_only_everywhere(admin_client, operator):
    action = _record(operator, kind="launch", instance_id=11, outcome="success")
    assert admin_client.post("/audit/", {"id": action.pk}).status_code == 405
    from django.conf import settings

    assert "django.contrib.admin" not in settings.INSTALLED_APPS


def test_repeated_failed_logins_are_throttled_in_the_database(client, viewer, settings):
    from axes.models import AccessAttempt

    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "vera", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.filter(username="vera").exists()


def test_security_headers_and_cookie_flags(client, viewer):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    assert client.cookies["sessionid"]["httponly"]


def test_production_settings_pass_the_deploy_checks(tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "false",
        "SECRET_KEY": "x" * 60 + "production-like-secret-key-for-the-check",
        "ALLOWED_HOSTS": "dashboard.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    # As the Docker image does at build: without the manifest the check refuses (tests/test_startup.py).
    built = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    env.pop("REDIS_URL")
    per_process = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], env=env, capture_output=True, text=True, check=False
    )
    assert "dashboard.W001" in per_process.stderr + per_process.stdout


def test_refuses_to_start_with_debug_off_and_the_development_key():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"} | {"DEBUG": "false"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "refusing to run with DEBUG off and the development key" in result.stderr
