"""Launch templates: the list for everyone, create/edit/delete by launchers with the launch rules,
every write audited, and a launch page prefilled from a template (`?template=ID`)."""

import re

import pytest

from dashboard.models import Action
from instances.models import LaunchTemplate
from tests.test_launch import open_form, puts, rentable_offer, said, submit

pytestmark = pytest.mark.django_db

VALID = {
    "name": "llama serve",
    "image": "vllm/vllm-openai:latest",
    "disk": "60",
    "runtype": "args",
    "args": "--model meta-llama/Llama-3.1-8B-Instruct --port 8000",
    "ports": "8000",
    "env": "HF_TOKEN=hf_secret_value\r\nMODE=fast",
    "onstart": "echo ready\r\n",
    "note": "OpenAI-compatible server",
}


def create(client, **changes):
    return client.post("/templates/new/", {**VALID, **changes})


def errors_of(response):
    return re.findall(r'<ul class="errorlist" id="errors-(\w+)">', response.content.decode())


def test_operator_creates_a_template_everyone_sees_and_the_write_is_audited(operator_client, viewer_client, operator):
    response = create(operator_client)
    assert response.status_code == 302
    assert response["Location"] == "/templates/"
    template = LaunchTemplate.objects.get()
    assert (template.name, template.image, template.disk, template.runtype) == (
        "llama serve",
        "vllm/vllm-openai:latest",
        60.0,
        "args",
    )
    assert template.env == "HF_TOKEN=hf_secret_value\nMODE=fast"
    assert template.onstart == "echo ready"
    assert template.ports == "8000"
    assert template.created_by == template.updated_by == operator
    (action,) = Action.objects.all()
    assert (action.kind, action.outcome, action.username) == ("template_create", "success", "otto")
    assert action.detail["env_keys"] == ["HF_TOKEN", "MODE"]
    assert "hf_secret_value" not in str(action.detail) + action.message

    page = viewer_client.get("/templates/").content.decode()
    assert "llama serve" in page
    assert "vllm/vllm-openai:latest" in page
    assert "hf_secret_value" not in page
    assert "echo ready" not in page
    assert "New template" not in page
    assert "Import from Vast" not in page
    operator_page = operator_client.get("/templates/").content.decode()
    assert "HF_TOKEN=••••••" in operator_page
    assert "hf_secret_value" not in operator_page


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"image": "Not An Image"}, "image"),
        ({"image": "pytorch/pytorch --privileged"}, "image"),
        ({"env": "export X=1"}, "env"),
        ({"env": "-v /:/host"}, "env"),
        ({"ports": "8080 70000"}, "ports"),
        ({"ports": "http"}, "ports"),
        ({"onstart": "x" * 4049}, "onstart"),
        ({"name": "two\nlines"}, "name"),
        ({"name": ""}, "name"),
        ({"disk": "0"}, "disk"),
        ({"runtype": "ssh"}, "args"),  # arguments only with the entrypoint, as a launch says
        ({"args": "--unclosed 'quote"}, "args"),
    ],
)
def test_a_template_meets_the_launch_rules(operator_client, changes, field):
    response = create(operator_client, **changes)
    assert response.status_code == 200
    assert field in errors_of(response)
    assert not LaunchTemplate.objects.exists()
    assert not Action.objects.exists()


def test_a_port_also_in_the_environment_is_refused(operator_client):
    response = create(operator_client, env="-p 8000:8000")
    assert response.status_code == 200
    assert "8000" in response.content.decode()
    assert errors_of(response)
    assert not LaunchTemplate.objects.exists()


def test_names_are_unique_whatever_their_case(operator_client, admin_client):
    create(operator_client)
    response = create(admin_client, name="LLAMA Serve")
    assert errors_of(response) == ["name"]
    assert LaunchTemplate.objects.count() == 1


def test_viewers_cannot_create_edit_delete_or_import_and_their_attempts_are_audited(viewer_client, operator_client):
    create(operator_client)
    template = LaunchTemplate.objects.get()
    assert viewer_client.get("/templates/new/").status_code == 403
    assert viewer_client.get(f"/templates/{template.pk}/").status_code == 403
    attempts = [
        ("/templates/new/", VALID),
        (f"/templates/{template.pk}/", {**VALID, "name": "hijacked"}),
        (f"/templates/{template.pk}/delete/", {}),
        ("/templates/import/", {}),
    ]
    for url, data in attempts:
        assert viewer_client.post(url, data).status_code == 403
    template.refresh_from_db()
    assert template.name == "llama serve"
    refused = Action.objects.filter(username="vera")
    assert sorted(a.kind for a in refused) == ["template_create", "template_delete", "template_edit", "template_import"]
    assert {a.outcome for a in refused} == {"forbidden"}


def test_edit_records_who_and_which_fields_changed(operator_client, admin_client, admin):
    create(operator_client)
    template = LaunchTemplate.objects.get()
    form = admin_client.get(f"/templates/{template.pk}/").content.decode()
    assert "hf_secret_value" in form  # the edit form shows the values to those who may launch
    response = admin_client.post(f"/templates/{template.pk}/", {**VALID, "disk": "80", "note": "bigger"})
    assert response.status_code == 302
    template.refresh_from_db()
    assert (template.disk, template.note, template.updated_by) == (80.0, "bigger", admin)
    edit = Action.objects.get(kind="template_edit")
    assert edit.detail["changed"] == ["disk", "note"]
    assert edit.username == "ada"


def test_delete_asks_first_without_javascript_and_is_audited(operator_client):
    create(operator_client)
    template = LaunchTemplate.objects.get()
    page = operator_client.get("/templates/").content.decode()
    assert f'hx-post="/templates/{template.pk}/delete/"' in page
    assert 'hx-confirm="Delete the launch template “llama serve”?' in page
    confirm = operator_client.get(f"/templates/{template.pk}/delete/")
    assert confirm.status_code == 200
    assert "Delete the template" in confirm.content.decode()
    assert LaunchTemplate.objects.exists()
    response = operator_client.post(f"/templates/{template.pk}/delete/", headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == "/templates/"
    assert not LaunchTemplate.objects.exists()
    deleted = Action.objects.get(kind="template_delete")
    assert (deleted.outcome, deleted.detail["name"]) == ("success", "llama serve")
    assert operator_client.post(f"/templates/{template.pk}/delete/").status_code == 404


def test_copy_prefills_a_new_template(operator_client):
    create(operator_client)
    template = LaunchTemplate.objects.get()
    page = operator_client.get(f"/templates/new/?from={template.pk}").content.decode()
    assert 'value="llama serve (copy)"' in page
    assert 'value="vllm/vllm-openai:latest"' in page


def test_empty_list_says_who_creates_templates(viewer_client, operator_client):
    assert b'data-testid="templates-empty"' in viewer_client.get("/templates/").content
    assert b'href="/templates/new/"' in operator_client.get("/templates/").content


def test_launch_page_prefills_the_form_from_a_template(operator_client):
    create(operator_client)
    template = LaunchTemplate.objects.get()
    offer = rentable_offer()
    response, token = open_form(operator_client, offer.id, f"?disk=10&template={template.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="vllm/vllm-openai:latest"' in html
    assert 'name="disk" value="60"' in html
    assert re.search(r'value="args"[^>]*checked', html)
    assert "--model meta-llama/Llama-3.1-8B-Instruct --port 8000" in html
    assert "HF_TOKEN=hf_secret_value\nMODE=fast\n-p 8000:8000</textarea>" in html
    assert "echo ready" in html
    assert 'data-testid="template-chosen"' in html
    assert re.search(rf'<option value="{template.pk}" selected>llama serve', html)
    assert token


def test_the_picker_lists_templates_and_keeps_the_rental_and_the_way_back(operator_client):
    create(operator_client)
    offer = rentable_offer()
    html = open_form(operator_client, offer.id, "?disk=40&type=bid&back=gpu%3DRTX%2B4090")[0].content.decode()
    picker = re.search(r'<form id="template-picker".*?</form>', html, re.S).group(0)
    assert 'name="type" value="bid"' in picker
    assert 'name="back" value="gpu=RTX+4090"' in picker
    assert ">llama serve · vllm/vllm-openai:latest</option>" in picker


def test_an_unknown_template_leaves_the_form_alone_and_says_so(operator_client):
    offer = rentable_offer()
    html = open_form(operator_client, offer.id, "?template=999999")[0].content.decode()
    assert "does not exist" in html
    assert 'value="pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel"' in html
    html = open_form(operator_client, offer.id, "?template=abc")[0].content.decode()
    assert "does not exist" in html


def test_a_template_too_big_for_the_machine_warns(operator_client):
    offer = rentable_offer()
    create(operator_client, disk=str(int(offer.disk_space) + 100))
    template = LaunchTemplate.objects.get()
    html = open_form(operator_client, offer.id, f"?template={template.pk}")[0].content.decode()
    assert f"this machine has {offer.disk_space:g} GB at most" in html


def test_a_launch_with_a_template_sends_its_values_once(operator_client, upstream):
    create(operator_client)
    template = LaunchTemplate.objects.get()
    offer = rentable_offer()
    response, token = open_form(operator_client, offer.id, f"?template={template.pk}")
    html = re.search(r'<form id="launch-form".*?</form>', response.content.decode(), re.S).group(0)
    values = {
        "image": re.search(r'name="image" value="([^"]+)"', html).group(1),
        "disk": re.search(r'name="disk" value="([^"]+)"', html).group(1),
        "runtype": "args",
        "args": re.search(r'name="args" value="([^"]+)"', html).group(1),
        "env": re.search(r'name="env"[^>]*>\n?(.*?)</textarea>', html, re.S).group(1),
        "onstart": re.search(r'name="onstart"[^>]*>\n?(.*?)</textarea>', html, re.S).group(1),
        "label": "",
    }
    response = submit(operator_client, offer.id, token, **values)
    assert response.status_code == 302, response.content.decode()[:1000]
    assert said(response, "Launched instance")
    (put,) = puts(upstream)
    assert put.body["image"] == "vllm/vllm-openai:latest"
    assert put.body["disk"] == 60.0
    assert put.body["runtype"] == "args"
    assert put.body["args"] == ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000"]
    assert put.body["env"] == {"HF_TOKEN": "hf_secret_value", "MODE": "fast", "-p 8000:8000": "1"}
    assert put.body["onstart"] == "echo ready"


def test_the_nav_links_the_templates(viewer_client):
    assert b'href="/templates/"' in viewer_client.get("/instances/").content


@pytest.mark.parametrize("junk", ["²", "-1", "99999999999999999999", "1e3", ""])
def test_junk_template_ids_in_queries_never_fail(operator_client, junk):
    offer = rentable_offer()
    assert operator_client.get("/templates/new/", {"from": junk}).status_code == 200
    assert operator_client.get(f"/offers/{offer.id}/launch/", {"template": junk}).status_code == 200
    assert operator_client.get(f"/templates/{junk}/").status_code == 404
