"""Contract tests for the console commands: the official vastai 1.9.1 CLI's `logs`, `reboot
instance` and `change bid` against `manage.py vastsim`'s server over HTTP. The CLI exits 0 even
after an HTTP error, so each test asserts on what it prints and on what the simulator holds."""

import os
import subprocess

import httpx
import pytest

from dashboard import vast
from tests.test_vastai_contract import KEY, VASTAI, live_simulator, service  # noqa: F401 (fixtures)
from vastsim import clock, console, offers
from vastsim.models import Instance

pytestmark = [
    pytest.mark.skipif(
        not VASTAI.exists(), reason=f"official client missing: run `make .venv-vastai/bin/vastai` ({VASTAI})"
    ),
    pytest.mark.django_db(transaction=True),  # the server's threads must see the test's rows
]
ONSTART = "echo 'hello from onstart'\npython train.py --epochs 3"


@pytest.fixture
def cli(live_simulator, tmp_path):  # noqa: F811
    """Run the official CLI against the simulator; returns (exit code, stdout, stderr), asserting nothing."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "VAST_URL": live_simulator.url,
        "VASTAI_NO_UPDATE_CHECK": "1",
        "NO_PROXY": "*",
    }

    def run(*args):
        done = subprocess.run(
            [str(VASTAI), "--api-key", KEY, *args], env=env, capture_output=True, encoding="utf-8", timeout=60
        )
        return done.returncode, done.stdout, done.stderr

    return run


@pytest.fixture
def running(service):  # noqa: F811
    """Rent an instance (interruptible at its offer's minimum bid with `bid=True`) and let it boot."""

    def rent(bid=False):
        query = {"rentable": {"eq": True}, "type": "bid" if bid else "on-demand", "limit": 20}
        taken = set(Instance.objects.values_list("offer_id", flat=True))
        offer = next(o for o in offers.search(query, caller_known=True) if o["id"] not in taken)
        request = vast.LaunchRequest(
            image="pytorch/pytorch", disk=10, onstart=ONSTART, price=offer["min_bid"] if bid else None
        )
        instance_id = service.create_instance(offer["id"], request).instance_id
        clock.advance(60)
        return instance_id, offer

    yield rent
    clock.reset()


def test_cli_logs_requests_the_tail_and_prints_what_the_result_url_serves(cli, live_simulator, running):  # noqa: F811
    instance_id, _ = running()

    code, out, err = cli("logs", str(instance_id), "--tail", "50")

    assert (code, err.strip()) == (0, ""), out
    assert live_simulator.bodies("PUT", f"/api/v0/instances/request_logs/{instance_id}/") == [{"tail": "50"}]
    lines = out.splitlines()
    assert "hello from onstart" in lines
    assert not any("train.py" in line for line in lines)
    assert lines[0] == "Pulling image pytorch/pytorch"
    fetches = [p for m, p, _ in live_simulator.requests if m == "GET" and p.startswith("/instance_logs/")]
    assert fetches
    assert all(p.endswith(".log") for p in fetches)


def test_cli_logs_filter_and_daemon_logs_reach_the_simulator(cli, live_simulator, running):  # noqa: F811
    instance_id, _ = running()
    assert cli("logs", str(instance_id), "--filter", "onstart")[1].strip().splitlines() == [
        "Running /root/onstart.sh",
        "hello from onstart",
        "onstart.sh finished (exit 0)",
    ]
    assert cli("logs", str(instance_id), "--daemon-logs")[1].startswith(f"vastd: contract C.{instance_id}")
    assert live_simulator.bodies("PUT", f"/api/v0/instances/request_logs/{instance_id}/") == [
        {"filter": "onstart"},
        {"daemon_logs": "true"},
    ]


def test_cli_logs_of_an_unknown_instance_prints_vasts_message(cli):
    code, _, err = cli("logs", "123")
    assert code == 0  # the CLI's habit, even after an HTTP error
    assert err.strip() == "Failed with error 404: Instance 123 not found."


def test_the_service_module_reads_the_same_logs_over_http(service, running):  # noqa: F811
    instance_id, _ = running()
    asked = service.instance_ops.request_logs(instance_id, tail=100)
    assert asked.result_url.startswith(service.base_url + "/instance_logs/")
    assert not service.instance_ops.fetch_logs(asked.result_url).ready
    clock.advance(console.LOG_READY_SECONDS)
    assert "hello from onstart" in service.instance_ops.fetch_logs(asked.result_url).lines


def test_cli_reboot_instance_sends_an_empty_body_and_the_instance_reboots(cli, live_simulator, running, service):  # noqa: F811
    instance_id, _ = running()

    code, out, err = cli("reboot", "instance", str(instance_id))

    assert (code, err.strip(), out.strip()) == (0, "", f"Rebooting instance {instance_id}.")
    assert live_simulator.bodies("PUT", f"/api/v0/instances/reboot/{instance_id}/") == [{}]
    assert service.get_instance(instance_id).status == "rebooting"
    clock.advance(30)
    assert service.get_instance(instance_id).status == "running"


def test_cli_reboot_of_a_stopped_instance_prints_vasts_reason(cli, running, service):  # noqa: F811
    instance_id, _ = running()
    service.set_state(instance_id, "stopped")
    code, out, _ = cli("reboot", "instance", str(instance_id))
    assert code == 0
    assert out.strip() == "Invalid instance id. Is the container started?"
    assert Instance.for_contract(instance_id).get().rebooted_at is None


def test_cli_change_bid_sends_the_price_for_the_whole_machine(cli, live_simulator, running, service):  # noqa: F811
    instance_id, offer = running(bid=True)
    price = round(offer["min_bid"] + 0.05, 4)

    code, out, err = cli("change", "bid", str(instance_id), "--price", str(price))

    assert (code, err.strip(), out.strip()) == (0, "", "Per gpu bid price changed")
    assert live_simulator.bodies("PUT", f"/api/v0/instances/bid_price/{instance_id}/") == [
        {"client_id": "me", "price": price}
    ]
    assert Instance.for_contract(instance_id).get().bid_price == pytest.approx(price)
    shown = service.get_instance(instance_id)
    assert shown.is_bid
    assert shown.dph_base == pytest.approx(price)


def test_cli_change_bid_under_the_minimum_or_on_demand_changes_nothing(cli, running):
    bid_id, offer = running(bid=True)
    code, out, err = cli("change", "bid", str(bid_id), "--price", f"{offer['min_bid'] / 2:.4f}")
    assert code == 0
    assert err.startswith("Failed with error 400: error 400/3625: Your bid of $")
    assert "below the minimum bid" in err
    assert "Per gpu bid price changed" not in out
    assert Instance.for_contract(bid_id).get().bid_price == pytest.approx(offer["min_bid"])

    on_demand_id, _ = running()
    code, out, err = cli("change", "bid", str(on_demand_id), "--price", "1.0")
    assert err.strip() == "Failed with error 400: Can't change price of on-demand contract."
    assert Instance.for_contract(on_demand_id).get().bid_price is None


def test_cli_change_bid_without_a_price_takes_the_minimum(cli, live_simulator, running):  # noqa: F811
    instance_id, offer = running(bid=True)
    Instance.for_contract(instance_id).update(bid_price=offer["min_bid"] * 2)
    code, out, _ = cli("change", "bid", str(instance_id))
    assert out.strip() == "Per gpu bid price changed"
    assert live_simulator.bodies("PUT", f"/api/v0/instances/bid_price/{instance_id}/") == [
        {"client_id": "me", "price": None}
    ]
    assert Instance.for_contract(instance_id).get().bid_price == pytest.approx(offer["min_bid"])


def test_pending_price_increases_is_not_answered_as_an_instance_id(cli, live_simulator):  # noqa: F811
    code, out, err = cli("show", "pending-price-increases")
    assert code == 0
    assert "/api/v0/instances/pending-price-increases/" in [p for m, p, _ in live_simulator.requests]
    assert "invalid_args" not in out + err
    assert "404" in err
    answer = httpx.get(
        f"{live_simulator.url}/api/v0/instances/pending-price-increases/", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
