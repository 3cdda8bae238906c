"""Simulated workloads: gpu_util busy after each start then idle, the on-start grammar, overrides
from tests and the command, containers exiting on their own, and gpu_util as the dashboard sees it."""

import math

import httpx
import pytest
from django.core.management import CommandError, call_command

from dashboard import vast
from instances import ledger, sync
from instances.models import Instance as LedgerInstance
from tests.test_launch import rentable_offer
from vastsim import clock, console, workload
from vastsim.models import Instance
from vastsim.transport import SimulatorTransport
from vastsim.workload import DEFAULT_BUSY_SECONDS, Workload

pytestmark = pytest.mark.django_db
KEY = "simulated-vast-key"
BOOT = 8.0
MINUTE = 60


@pytest.fixture
def api(settings):
    settings.VASTSIM_API_KEY = KEY
    settings.VASTSIM_BOOT_SECONDS = BOOT
    with httpx.Client(
        transport=SimulatorTransport(), base_url="https://console.vast.ai", headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        yield client


def rent(api, onstart=None):
    """Rent the first offer still rentable; the new instance's id. Its container is up BOOT s later."""
    offer = api.post("/api/v0/bundles/", json={"rentable": {"eq": True}, "limit": 50}).json()["offers"][0]
    body = {"client_id": "me", "image": "pytorch/pytorch", "disk": 20.0, "onstart": onstart, "runtype": "ssh"}
    response = api.put(f"/api/v0/asks/{offer['id']}/", json=body)
    assert response.status_code == 200, response.text
    return response.json()["new_contract"]


def show(api, instance_id):
    return api.get(f"/api/v0/instances/{instance_id}/").json()["instances"]


def set_state(api, instance_id, state):
    assert api.put(f"/api/v0/instances/{instance_id}/", json={"state": state}).json() == {"success": True}


def busy(shown):
    return shown["actual_status"] == "running" and 85 <= shown["gpu_util"] <= 99 and shown["gpu_temp"] >= 66


def idle(shown):
    return shown["actual_status"] == "running" and 0 <= shown["gpu_util"] <= 3 and shown["gpu_temp"] <= 42


@pytest.mark.parametrize(
    ("onstart", "expected"),
    [
        (None, Workload(DEFAULT_BUSY_SECONDS, None)),
        ("echo hello", Workload(DEFAULT_BUSY_SECONDS, None)),
        ("# vastsim: busy 30m", Workload(1800, None)),
        ("#vastsim: busy for 90s", Workload(90, None)),
        ("  # VASTSIM: Busy 1.5h", Workload(5400, None)),
        ("# vastsim: busy 45", Workload(2700, None)),  # a bare number is minutes
        ("# vastsim: busy", Workload(math.inf, None)),
        ("# vastsim: idle", Workload(0, None)),
        ("# vastsim: exit after 10m", Workload(DEFAULT_BUSY_SECONDS, 600)),
        ("# vastsim: exit 2h", Workload(DEFAULT_BUSY_SECONDS, 7200)),
        ("echo hi\n# vastsim: idle; exit after 2h\npython train.py", Workload(0, 7200)),
        ("# vastsim: busy 5m\n# vastsim: busy 10m", Workload(600, None)),  # the last one wins
        ("# vastsim: dance\n# vastsim: busy soon", Workload(DEFAULT_BUSY_SECONDS, None)),  # ignored
        ("echo '# vastsim: idle'", Workload(DEFAULT_BUSY_SECONDS, None)),  # not a comment line
    ],
)
def test_onstart_grammar(onstart, expected):
    assert workload.parse(onstart) == expected


def test_a_new_instance_is_busy_for_twenty_simulated_minutes_after_it_starts_then_idle(api):
    instance_id = rent(api)
    assert show(api, instance_id)["gpu_util"] is None  # loading: no container yet
    clock.advance(BOOT + 1)
    assert busy(show(api, instance_id))
    clock.advance(DEFAULT_BUSY_SECONDS - 30)
    assert busy(show(api, instance_id))
    clock.advance(60)
    shown = show(api, instance_id)
    assert idle(shown)
    assert shown["cpu_util"] <= 4


def test_onstart_sets_busy_for_a_while_idle_or_always_busy(api):
    busy_half_hour = rent(api, "echo start\n# vastsim: busy 30m\n")
    idle_from_start = rent(api, "# vastsim: idle")
    always_busy = rent(api, "# vastsim: busy")
    clock.advance(BOOT + 1)
    assert busy(show(api, busy_half_hour))
    assert idle(show(api, idle_from_start))
    clock.advance(29 * MINUTE)
    assert busy(show(api, busy_half_hour))
    clock.advance(2 * MINUTE)
    assert idle(show(api, busy_half_hour))
    clock.advance(24 * 60 * MINUTE)
    assert busy(show(api, always_busy))


def test_a_stopped_instance_reports_null_gpu_util_and_a_start_makes_it_busy_again(api):
    instance_id = rent(api)
    clock.advance(BOOT + 1 + DEFAULT_BUSY_SECONDS)
    assert idle(show(api, instance_id))
    set_state(api, instance_id, "stopped")
    shown = show(api, instance_id)
    assert (shown["actual_status"], shown["gpu_util"], shown["gpu_temp"]) == ("exited", None, None)
    set_state(api, instance_id, "running")
    assert busy(show(api, instance_id))


def test_a_reboot_runs_the_workload_again(api):
    instance_id = rent(api, "# vastsim: busy 5m")
    clock.advance(BOOT + 1 + 6 * MINUTE)
    assert idle(show(api, instance_id))
    assert api.put(f"/api/v0/instances/reboot/{instance_id}/", json={}).json() == {"success": True}
    assert show(api, instance_id)["gpu_util"] is None  # rebooting
    clock.advance(BOOT)
    assert busy(show(api, instance_id))


def test_an_override_holds_from_now_until_the_next_start(api):
    instance_id = rent(api)
    clock.advance(BOOT + 1)
    workload.set_for(instance_id, "idle")
    assert idle(show(api, instance_id))
    workload.set_for(instance_id, "busy-for", 5)
    clock.advance(4 * MINUTE)
    assert busy(show(api, instance_id))
    clock.advance(2 * MINUTE)
    assert idle(show(api, instance_id))
    workload.set_for(instance_id, "busy")
    clock.advance(10 * 60 * MINUTE)
    assert busy(show(api, instance_id))
    workload.set_for(instance_id, "idle")
    set_state(api, instance_id, "stopped")
    set_state(api, instance_id, "running")
    assert busy(show(api, instance_id))  # a new start: the on-start rule (the default) again
    with pytest.raises(LookupError):
        workload.set_for(1, "idle")
    with pytest.raises(ValueError, match="minutes"):
        workload.set_for(instance_id, "busy-for")


def test_a_container_exits_on_its_own_and_starts_again_in_place(api):
    instance_id = rent(api, "# vastsim: exit after 10m")
    clock.advance(BOOT + 9 * MINUTE)
    assert show(api, instance_id)["actual_status"] == "running"
    clock.advance(2 * MINUTE)
    shown = show(api, instance_id)
    assert (shown["actual_status"], shown["intended_status"], shown["cur_state"]) == ("exited", "running", "running")
    assert (shown["gpu_util"], shown["ssh_host"]) == (None, None)
    assert shown["status_msg"] == "Container exited with code 0."
    row = Instance.for_contract(instance_id).get()
    assert console.container_lines(row, clock.now())[-1] == "Container exited with code 0."
    assert vast.get_instance(instance_id).status == "exited"

    set_state(api, instance_id, "running")
    assert busy(show(api, instance_id))
    clock.advance(9 * MINUTE)
    assert show(api, instance_id)["actual_status"] == "running"
    clock.advance(2 * MINUTE)
    assert show(api, instance_id)["actual_status"] == "exited"
    set_state(api, instance_id, "stopped")
    assert vast.get_instance(instance_id).status == "stopped"


def test_an_override_can_make_a_container_exit(api):
    instance_id = rent(api)
    clock.advance(BOOT + 1)
    workload.set_for(instance_id, "exit-after", 0)
    assert show(api, instance_id)["actual_status"] == "exited"


def test_workload_command_sets_and_shows_an_instance(api, capsys):
    instance_id = rent(api, "# vastsim: exit after 1h")
    clock.advance(BOOT + 1)
    call_command("vastsim_workload", str(instance_id), "idle")
    out = capsys.readouterr().out
    assert f"instance {instance_id}: running, gpu_util " in out
    assert "workload: idle (set by hand until the next start); exit 60.0 min from now" in out
    assert idle(show(api, instance_id))
    call_command("vastsim_workload", str(instance_id), "busy-for", "30")
    assert busy(show(api, instance_id))
    call_command("vastsim_workload", str(instance_id))
    assert "busy until 30.0 min from now, then idle" in capsys.readouterr().out
    with pytest.raises(CommandError, match="busy-for takes a number of minutes"):
        call_command("vastsim_workload", str(instance_id), "busy-for")
    with pytest.raises(CommandError, match="idle takes no minutes"):
        call_command("vastsim_workload", str(instance_id), "idle", "3")
    with pytest.raises(CommandError, match="no simulated instance 5"):
        call_command("vastsim_workload", "5", "idle")


def test_gpu_util_reaches_the_service_module_and_the_ledger(settings):
    settings.VASTSIM_BOOT_SECONDS = BOOT
    offer = rentable_offer()
    launched = vast.create_instance(offer.id, vast.LaunchRequest(image="pytorch/pytorch", disk=40, onstart=None))
    instance_id = launched.instance_id
    assert vast.get_instance(instance_id).gpu_util is None
    clock.advance(BOOT + 1)
    assert 85 <= vast.get_instance(instance_id).gpu_util <= 99
    workload.set_for(instance_id, "idle")
    assert sync.run(force=True).result == "synced"
    row = LedgerInstance.objects.get(vast_id=instance_id)
    assert 0 <= row.snapshot["gpu_util"] <= 3
    assert 0 <= ledger.as_vast(row).gpu_util <= 3


class Wall:
    """A wall clock that moves only when told to."""

    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


def test_at_speed_a_workload_passes_in_real_seconds(api, monkeypatch):
    wall = Wall()
    monkeypatch.setattr(clock, "_wall", wall)
    clock.reset()
    clock.set_speed(600)  # ten simulated minutes per real second
    instance_id = rent(api, "# vastsim: busy 10m; exit after 30m")
    wall.now += 0.1  # 60 simulated seconds: booted
    assert busy(show(api, instance_id))
    wall.now += 1.0
    assert idle(show(api, instance_id))
    wall.now += 2.0
    assert show(api, instance_id)["actual_status"] == "exited"
