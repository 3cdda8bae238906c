"""Importing the account's own Vast templates into team templates: one search by creator, each
template through the launch rules, duplicates and rule breakers skipped with the reason, audited."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from dashboard.models import Action
from instances import launch_templates
from instances.models import LaunchTemplate
from tests.test_launch import said
from vastsim import account, faults

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def template_searches(upstream):
    return upstream.calls("GET", "/api/v0/template/")


def test_import_copies_the_accounts_own_templates_and_skips_a_docker_option(operator_client, operator, upstream):
    response = operator_client.post("/templates/import/")
    assert response.status_code == 302
    assert response["Location"] == "/templates/"

    (search,) = template_searches(upstream)
    query = parse_qs(urlsplit(str(search.request.url)).query)
    assert json.loads(query["select_cols"][0]) == ["*"]
    assert json.loads(query["select_filters"][0]) == {"creator_id": {"eq": account.USER_ID}}

    names = sorted(LaunchTemplate.objects.values_list("name", flat=True))
    assert names == ["jupyter-cuda", "vllm llama-3.1-8b"]  # Vast's public ones are not the account's
    vllm = LaunchTemplate.objects.get(name="vllm llama-3.1-8b")
    assert (vllm.image, vllm.disk, vllm.runtype, vllm.ports) == ("vllm/vllm-openai:latest", 60.0, "args", "8000:8000")
    assert vllm.args == "--model meta-llama/Llama-3.1-8B-Instruct --port 8000"
    assert vllm.env == "HF_HOME=/workspace/hf"
    assert vllm.imported_from
    assert vllm.created_by == operator
    assert "OpenAI-compatible server" in vllm.note
    jupyter = LaunchTemplate.objects.get(name="jupyter-cuda")
    assert (jupyter.runtype, jupyter.env, jupyter.onstart) == (
        "jupyter",
        "JUPYTER_DIR=/workspace",
        "pip install -q jupyterlab",
    )

    assert said(response, "Imported 2 templates")
    assert said(response, "“shared-volume” (the docker option -v is not allowed in team templates)")
    (action,) = Action.objects.filter(kind="template_import")
    assert (action.outcome, action.username) == ("success", "otto")
    assert action.detail["imported"] == ["vllm llama-3.1-8b", "jupyter-cuda"]
    assert action.detail["skipped"] == [
        {"name": "shared-volume", "reason": "the docker option -v is not allowed in team templates"}
    ]


def test_a_second_import_skips_the_names_the_team_has(operator_client, admin_client):
    operator_client.post("/templates/import/")
    response = admin_client.post("/templates/import/", headers=HTMX)
    assert response["HX-Redirect"] == "/templates/"
    assert LaunchTemplate.objects.count() == 2
    assert said(response, "“vllm llama-3.1-8b” (a team template has this name already)")
    assert not said(response, "Imported")


def test_an_imported_template_prefills_a_launch(operator_client):
    operator_client.post("/templates/import/")
    template = LaunchTemplate.objects.get(name="vllm llama-3.1-8b")
    assert launch_templates.launch_initial(template) == {
        "image": "vllm/vllm-openai:latest",
        "disk": "60",
        "runtype": "args",
        "args": "--model meta-llama/Llama-3.1-8B-Instruct --port 8000",
        "env": "HF_HOME=/workspace/hf\n-p 8000:8000",
    }


def test_vast_down_fails_the_import_audited_and_says_so(operator_client, upstream):
    faults.inject("template", method="GET", status=503)
    response = operator_client.post("/templates/import/", headers=HTMX)
    assert response.status_code == 503
    assert response["HX-Retarget"] == "#alerts"
    assert not LaunchTemplate.objects.exists()
    action = Action.objects.get(kind="template_import")
    assert action.outcome == "failed"
    assert len(template_searches(upstream)) == 3  # a read: retried twice


def test_viewers_see_no_import_button(viewer_client, upstream):
    assert b"Import from Vast" not in viewer_client.get("/templates/").content
    assert viewer_client.post("/templates/import/").status_code == 403
    assert template_searches(upstream) == []


@pytest.mark.parametrize(
    ("options", "env", "ports"),
    [
        ("-e A=1 -p 8000:8000", ["A=1"], ["8000:8000"]),
        ("-eA=1 --env=B=2 --publish 22:22 -p8888:8888", ["A=1", "B=2"], ["22:22", "8888:8888"]),
        ("-e MODEL_ARGS='--model-id X --quantize gptq'", ["MODEL_ARGS=--model-id X --quantize gptq"], []),
        ("", [], []),
        (None, [], []),
    ],
)
def test_docker_options_become_environment_lines_and_ports(options, env, ports):
    assert launch_templates.docker_options(options) == (env, ports)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ("-v /data:/data", "docker option -v"),
        ("--privileged", "docker option --privileged"),
        ("-e", "has no value"),
        ("-e 'unclosed", "cannot be split"),
        ("hostname", "neither -e KEY=VALUE nor -p PORT"),
    ],
)
def test_other_docker_options_are_refused(options, reason):
    with pytest.raises(ValueError, match=reason):
        launch_templates.docker_options(options)
