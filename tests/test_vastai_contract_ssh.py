"""Contract tests for SSH keys: the official vastai 1.9.1 CLI (`show ssh-keys`, `create ssh-key`,
`delete ssh-key`, `attach ssh`, `detach ssh`) against the simulator over real HTTP.

The CLI exits 0 even after an HTTP error, so each test asserts on what it printed, on the exact
requests the simulator received, and on what the simulator then holds (its database, and the
dashboard's service module over the same HTTP).
"""

import ast
import json
import os
import subprocess

import pytest

from tests.ssh_helpers import public_key
from tests.test_vastai_contract import CLI_FAILURES, KEY, VASTAI, live_simulator, service  # noqa: F401
from vastsim import offers
from vastsim.models import Instance, SshKey

pytestmark = [
    pytest.mark.skipif(not VASTAI.exists(), reason="official client missing: run `make .venv-vastai/bin/vastai`"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def cli(live_simulator, tmp_path):  # noqa: F811
    """Run the official CLI against the simulator; returns (stdout, failed): `failed` says whether
    it reported a failure (on stderr, or one of its failure markers on stdout). It exits 0 either way."""
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
        shown = f"vastai {' '.join(args)}\nstdout: {done.stdout}\nstderr: {done.stderr}"
        assert done.returncode == 0, shown
        failed = bool(done.stderr.strip()) or any(marker in done.stdout for marker in CLI_FAILURES)
        return done.stdout + done.stderr, failed

    return run


def new_instance(service):  # noqa: F811
    from dashboard.vast import LaunchRequest

    offer_id = offers.search({"rentable": {"eq": True}, "limit": 1}, True)[0]["id"]
    return service.create_instance(offer_id, LaunchRequest(image="pytorch/pytorch")).instance_id


def test_cli_create_show_and_delete_account_keys(cli, live_simulator, service):  # noqa: F811
    assert json.loads(cli("show", "ssh-keys", "--raw")[0]) == []
    line = public_key(comment="ci@runner")
    out, failed = cli("create", "ssh-key", line)
    assert not failed, out
    assert "ssh-key created" in out
    assert live_simulator.bodies("POST", "/api/v0/ssh/") == [{"ssh_key": line}]
    (stored,) = SshKey.objects.filter(instance__isnull=True)
    assert stored.public_key == line

    listed = json.loads(cli("show", "ssh-keys", "--raw")[0])
    assert [(row["id"], row["public_key"]) for row in listed] == [(stored.key_id, line)]
    assert [(key.id, key.public_key) for key in service.ssh_keys.account_keys()] == [(stored.key_id, line)]

    out, failed = cli("delete", "ssh-key", str(stored.key_id))
    assert not failed, out
    assert live_simulator.bodies("DELETE", f"/api/v0/ssh/{stored.key_id}/") == [{}]
    assert not SshKey.objects.exists()
    out, failed = cli("delete", "ssh-key", str(stored.key_id))
    assert failed
    assert "400" in out
    assert json.loads(cli("show", "ssh-keys", "--raw")[0]) == []


def test_cli_create_ssh_key_from_a_file_stores_the_path_as_vast_does(cli, tmp_path):
    # vastai 1.9.1 does not read the file for `create ssh-key` (vast-ai/vast-cli PR #499): the path is the key.
    pub = tmp_path / "id_ed25519.pub"
    pub.write_text(public_key() + "\n")
    out, failed = cli("create", "ssh-key", str(pub))
    assert not failed, out
    assert SshKey.objects.get().public_key == str(pub)


def test_cli_attach_and_detach_ssh_change_the_instances_keys(cli, live_simulator, service, tmp_path):  # noqa: F811
    instance_id = new_instance(service)
    line = public_key(comment="otto@laptop")
    out, failed = cli("attach", "ssh", str(instance_id), line)
    assert not failed, out
    assert live_simulator.bodies("POST", f"/api/v0/instances/{instance_id}/ssh/") == [{"ssh_key": line}]
    answer = ast.literal_eval(out.strip())
    assert answer["success"] is True
    key_id = json.loads(answer["key"])["id"]
    instance = Instance.for_contract(instance_id).get()
    assert [key.public_key for key in instance.ssh_keys.all()] == [line]
    assert [(key.id, key.public_key) for key in service.ssh_keys.on_instance(instance_id)] == [(key_id, line)]

    # `attach ssh` reads a .pub file (with its newline); the same key again is a 200 with success false.
    pub = tmp_path / "id.pub"
    pub.write_text(line + "\n")
    out, failed = cli("attach", "ssh", str(instance_id), str(pub))
    assert live_simulator.bodies("POST", f"/api/v0/instances/{instance_id}/ssh/")[-1] == {"ssh_key": line + "\n"}
    assert ast.literal_eval(out.strip())["success"] is False
    assert instance.ssh_keys.count() == 1

    out, failed = cli("detach", "ssh", str(instance_id), str(key_id))
    assert not failed, out
    assert ast.literal_eval(out.strip())["success"] is True
    assert live_simulator.bodies("DELETE", f"/api/v0/instances/{instance_id}/ssh/{key_id}/") == [{}]
    assert not instance.ssh_keys.exists()
    assert service.ssh_keys.on_instance(instance_id) == []

    out, failed = cli("detach", "ssh", str(instance_id), str(key_id))
    assert failed
    assert "404" in out


def test_cli_attach_to_an_unknown_instance_fails_and_changes_nothing(cli, service):  # noqa: F811
    out, failed = cli("attach", "ssh", "27999999", public_key())
    assert failed
    assert "404" in out
    assert not SshKey.objects.exists()


def test_a_key_attached_by_the_dashboard_is_what_the_cli_sees_on_vast(cli, service):  # noqa: F811
    instance_id = new_instance(service)
    line = public_key(comment="from-the-dashboard")
    attached = service.ssh_keys.attach(instance_id, line)
    out, failed = cli("detach", "ssh", str(instance_id), str(attached.key.id))
    assert not failed, out
    assert service.ssh_keys.on_instance(instance_id) == []
