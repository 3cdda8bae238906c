"""Contract tests: the official vastai 1.9.1 CLI drives the simulator over real HTTP.

Each command must succeed as it would against Vast.ai, and what the CLI prints must be what
the simulator holds, checked in the simulator's database and through the dashboard's
service module. The CLI runs with a throwaway HOME and talks to loopback only.
"""

import io
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
from django.conf import settings

from dashboard.vast import VastClient, VastNotFound
from vastsim import account, offers, state
from vastsim.models import Instance
from vastsim.wsgi import make_server

VASTAI = Path(settings.BASE_DIR) / ".venv-vastai" / "bin" / "vastai"
KEY = "contract-test-key"
# What the CLI prints on stdout (not stderr) when some commands fail.
CLI_FAILURES = ("Failed", "Error:", "error occurred", "Traceback")
# What the CLI must send for `search offers 'gpu_name=RTX_4090 num_gpus>=2'` (reference §2.3):
# its defaults, the spaced GPU name, the number still a string, ordered by score.
SEARCH_BODY = {
    "verified": {"eq": True},
    "external": {"eq": False},
    "rentable": {"eq": True},
    "gpu_name": {"eq": "RTX 4090"},
    "num_gpus": {"gte": "2"},
    "order": [["score", "desc"]],
    "type": "on-demand",
    "allocated_storage": 5.0,
}

pytestmark = [
    pytest.mark.skipif(
        not VASTAI.exists(), reason=f"official client missing: run `make .venv-vastai/bin/vastai` ({VASTAI})"
    ),
    pytest.mark.django_db(transaction=True),  # the server's threads must see the test's rows
]


class LiveSimulator:
    """The simulator served over HTTP on an ephemeral loopback port, recording each request."""

    def __init__(self, api_keys):
        self.requests = []  # (method, path, body bytes)
        self._server = make_server("127.0.0.1", 0, api_keys=api_keys)
        self._server.set_app(self._recording(self._server.get_app()))
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _recording(self, app):
        """`app`, keeping each request's method, path and body in `self.requests`."""

        def recording_app(environ, start_response):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], body))
            environ["wsgi.input"] = io.BytesIO(body)
            return app(environ, start_response)

        return recording_app

    def bodies(self, method, path):
        """The JSON bodies of the recorded requests with this method and path."""
        return [json.loads(body) for m, p, body in self.requests if m == method and p == path]

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def live_simulator():
    simulator = LiveSimulator(api_keys=[KEY])
    yield simulator
    simulator.close()


@pytest.fixture
def vastai(live_simulator, tmp_path):
    """Run the official CLI against the simulator; returns its stdout, having asserted that
    it exited 0 and reported no error (the CLI prints some failures and still exits 0)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "VAST_URL": live_simulator.url,
        "VASTAI_NO_UPDATE_CHECK": "1",
        "NO_PROXY": "*",
    }

    def run(*args):
        done = subprocess.run(
            [str(VASTAI), "--api-key", KEY, *args],
            env=env,
            capture_output=True,
            encoding="utf-8",
            timeout=60,
            check=False,
        )
        shown = f"vastai {' '.join(args)}\nstdout: {done.stdout}\nstderr: {done.stderr}"
        assert done.returncode == 0, shown
        assert done.stderr.strip() == "", shown
        assert not any(marker in done.stdout for marker in CLI_FAILURES), shown
        return done.stdout

    return run


@pytest.fixture
def service(live_simulator):
    """The dashboard's service module, over HTTP to the same simulator."""
    with VastClient(api_key=KEY, base_url=live_simulator.url, max_retries=0) as client:
        yield client


def test_cli_search_returns_what_the_simulator_finds_for_the_same_query(vastai, live_simulator, service):
    found = json.loads(vastai("search", "offers", "gpu_name=RTX_4090 num_gpus>=2", "--raw"))

    assert live_simulator.bodies("POST", "/api/v0/bundles/") == [SEARCH_BODY]
    assert found
    assert all(offer["gpu_name"] == "RTX 4090" and offer["num_gpus"] >= 2 for offer in found)
    expected = offers.search(SEARCH_BODY, caller_known=True)
    assert [offer["id"] for offer in found] == [offer["id"] for offer in expected]
    assert [offer["dph_total"] for offer in found] == pytest.approx([offer["dph_total"] for offer in expected])
    assert [offer.id for offer in service.search_offers(SEARCH_BODY)] == [offer["id"] for offer in expected]


def test_cli_instance_lifecycle_changes_what_the_simulator_holds(vastai, service):
    offer_id = offers.search({"gpu_name": {"eq": "RTX 4090"}, "rentable": {"eq": True}, "limit": 1}, True)[0]["id"]

    launch = f"create instance {offer_id} --image pytorch/pytorch --disk 20 --ssh --direct --label x --raw"
    created = json.loads(vastai(*launch.split()))
    assert created["success"] is True
    instance_id = created["new_contract"]
    stored = Instance.for_contract(instance_id).get()
    assert (stored.offer_id, stored.image, stored.disk, stored.label) == (offer_id, "pytorch/pytorch", 20.0, "x")
    assert stored.runtype == "ssh_direc ssh_proxy"

    rows = json.loads(vastai("show", "instances", "--raw"))
    assert [(row["id"], row["label"], row["image_uuid"]) for row in rows] == [(instance_id, "x", "pytorch/pytorch")]
    assert [(instance.id, instance.label) for instance in service.list_instances()] == [(instance_id, "x")]

    shown = json.loads(vastai("show", "instance", str(instance_id), "--raw"))
    assert (shown["id"], shown["label"], shown["intended_status"]) == (instance_id, "x", "running")

    assert f"stopping instance {instance_id}" in vastai("stop", "instance", str(instance_id))
    stored.refresh_from_db()
    assert (stored.intended_status, stored.cur_state) == ("stopped", "stopped")
    assert service.get_instance(instance_id).intended_status == "stopped"

    assert f"starting instance {instance_id}" in vastai("start", "instance", str(instance_id))
    stored.refresh_from_db()
    assert (stored.intended_status, stored.cur_state) == ("running", "running")

    assert "set to newlabel" in vastai("label", "instance", str(instance_id), "newlabel")
    stored.refresh_from_db()
    assert stored.label == "newlabel"
    assert service.get_instance(instance_id).label == "newlabel"

    assert f"destroying instance {instance_id}" in vastai("destroy", "instance", str(instance_id), "--yes")
    assert not Instance.for_contract(instance_id).exists()
    with pytest.raises(VastNotFound):
        service.get_instance(instance_id)
    assert json.loads(vastai("show", "instances", "--raw")) == []


def test_cli_account_commands_show_the_simulated_account_without_secrets(vastai, service):
    listed = json.loads(vastai("show", "api-keys", "--raw"))
    assert [key["name"] for key in listed["apikeys"]] == [key.name for key in state.api_keys()]
    assert all(key["key"] is None for key in listed["apikeys"])

    output = vastai("show", "user", "--raw")
    user = json.loads(output)
    assert (user["credit"], user["email"]) == (account.CREDIT, "gpu-team@example.com")
    assert (user["credit"], user["email"]) == (service.current_user().credit, service.current_user().email)
    assert "api_key" not in user
    assert KEY not in output
