"""Contract tests for bulk actions and templates: the official vastai 1.9.1 CLI's `stop/start/destroy
instances`, `search templates`, `create template` and `delete template` against the simulator over
HTTP. The CLI exits 0 even after an HTTP error, so each test asserts on what it prints and on what
the simulator holds, and the dashboard's own calls are checked to be the same requests."""

import json

import pytest

from dashboard import vast
from instances.models import LaunchTemplate
from instances.template_import import import_from_vast
from tests.test_vastai_contract import VASTAI, live_simulator, service, vastai  # noqa: F401 (fixtures)
from vastsim import account, offers
from vastsim.models import Instance, Template

pytestmark = [
    pytest.mark.skipif(
        not VASTAI.exists(), reason=f"official client missing: run `make .venv-vastai/bin/vastai` ({VASTAI})"
    ),
    pytest.mark.django_db(transaction=True),  # the server's threads must see the test's rows
]


def rent_two(service):  # noqa: F811
    found = offers.search({"rentable": {"eq": True}, "num_gpus": {"eq": 1}, "limit": 10}, True)
    return [service.create_instance(o["id"], vast.LaunchRequest(image="ubuntu:22.04")).instance_id for o in found[:2]]


def states(ids):
    return [Instance.for_contract(i).get().intended_status for i in ids]


def test_cli_bulk_stop_start_destroy_send_what_the_dashboard_sends(vastai, live_simulator, service):  # noqa: F811
    first, second = rent_two(service)
    assert f"stopping instance [{first}, {second}]." in vastai("stop", "instances", str(first), str(second))
    assert states([first, second]) == ["stopped", "stopped"]
    assert f"starting instance [{first}, {second}]." in vastai("start", "instances", str(first), str(second))
    assert states([first, second]) == ["running", "running"]
    cli_puts = live_simulator.bodies("PUT", "/api/v0/instances/")
    assert cli_puts == [{"state": "stopped", "ids": [first, second]}, {"state": "running", "ids": [first, second]}]

    (outcome,) = service.bulk.set_state([first, second], "stopped")
    assert outcome.ok
    assert live_simulator.bodies("PUT", "/api/v0/instances/")[-1] == cli_puts[0]

    printed = vastai("destroy", "instances", str(first), str(second), "--yes")
    assert f"destroying instance [{first}, {second}]." in printed
    assert live_simulator.bodies("DELETE", "/api/v0/instances/") == [{"instance_ids": [first, second]}]
    assert not Instance.objects.exists()


def test_cli_retries_a_refused_bulk_destroy_the_dashboard_sends_it_once(vastai, live_simulator, service):  # noqa: F811
    (kept,) = rent_two(service)[:1]
    with pytest.raises(AssertionError, match="404 Client Error"):  # the CLI prints the error and exits 0
        vastai("destroy", "instances", str(kept), "99", "--yes")
    assert len(live_simulator.bodies("DELETE", "/api/v0/instances/")) == 6  # its exec_with_threads retries 5 times
    assert Instance.for_contract(kept).exists()

    (outcome,) = service.bulk.destroy([kept, 99])
    assert outcome.error.status == 404
    assert len(live_simulator.bodies("DELETE", "/api/v0/instances/")) == 7


def test_cli_template_search_finds_what_the_dashboard_imports_from(vastai, service):  # noqa: F811
    printed = json.loads(vastai("search", "templates", f"creator_id=={account.USER_ID}", "--raw"))
    names = [t["name"] for t in printed]
    assert names == ["vllm llama-3.1-8b", "jupyter-cuda", "shared-volume"]
    assert [t.name for t in service.templates.created_by(account.USER_ID)] == names
    public = json.loads(vastai("search", "templates", "recommended==True", "--raw"))
    assert {t["creator_id"] for t in public} != {account.USER_ID}
    assert json.loads(vastai("search", "templates", "name==nothing_like_it", "--raw")) == []


def test_a_template_created_with_the_cli_is_imported_and_deleted_with_it(vastai, operator):  # noqa: F811
    printed = vastai(
        "create", "template", "--name", "cli-made", "--image", "nvidia/cuda", "--image_tag", "12.4.1-base-ubuntu22.04",
        "--env", "-e WANDB_MODE=offline -p 6006:6006", "--ssh", "--direct", "--disk_space", "24",
        "--onstart-cmd", "nvidia-smi",
    )  # fmt: skip
    assert "New Template:" in printed
    stored = Template.objects.get(fields__name="cli-made")
    assert stored.fields["env"] == "-e WANDB_MODE=offline -p 6006:6006"
    assert (stored.fields["runtype"], stored.fields["recommended_disk_space"]) == ("ssh", "24")

    report = import_from_vast(operator)
    assert "cli-made" in report.imported
    team = LaunchTemplate.objects.get(name="cli-made")
    assert (team.image, team.disk, team.runtype) == ("nvidia/cuda:12.4.1-base-ubuntu22.04", 24.0, "ssh")
    assert (team.env, team.ports, team.onstart) == ("WANDB_MODE=offline", "6006:6006", "nvidia-smi")

    assert "deleted" in vastai("delete", "template", "--template-id", str(stored.pk))
    assert not Template.objects.filter(pk=stored.pk).exists()
