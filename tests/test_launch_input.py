"""Launch input is strict: nothing typed in the form can become another docker option on Vast's host.
Each bad input is a form error naming the line, and nothing is sent; good input is sent exactly so."""

import pytest

from dashboard.models import Action
from instances import validators
from tests.test_launch import open_form, rentable_offer, submit

pytestmark = pytest.mark.django_db

INJECTIONS = {
    "a volume line": ("env", "-v /:/hostroot"),
    "a privileged line": ("env", "--privileged"),
    "a bare word": ("env", "x --privileged"),
    "a key with a space": ("env", "A B=1"),
    "a key starting with a digit": ("env", "1A=1"),
    "a port out of range": ("env", "-p 70000:22"),
    "port zero": ("env", "-p 0:22"),
    "a port with options": ("env", "-p 8080:8080 --privileged"),
    "a control character": ("env", "A=1\x1b[2J"),
    "an image with an option": ("image", "ubuntu --privileged"),
    "an image that is an option": ("image", "--privileged"),
    "an upper-case image": ("image", "Ubuntu:22.04"),
    "an image with a shell": ("image", "ubuntu;rm"),
    "a 1024-emoji label": ("label", "🚀" * 1024),
    "a label with a newline": ("label", "a\nb"),
    "an onstart with NUL": ("onstart", "echo hi\x00"),
    "a too long onstart": ("onstart", "x" * 4049),
}


@pytest.mark.parametrize("case", list(INJECTIONS))
def test_each_injection_is_a_form_error_and_nothing_reaches_vast(operator_client, upstream, case):
    field, value = INJECTIONS[case]
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    response = submit(operator_client, offer.id, token, **{field: value})
    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert upstream.calls("PUT", "/asks/") == []
    assert not Action.objects.filter(kind=Action.Kind.LAUNCH).exists()


def test_bad_env_errors_name_the_line(operator_client):
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    response = submit(operator_client, offer.id, token, env="GOOD=1\n\nA=1\n-v /:/x")
    (error,) = response.context["form"].errors["env"]
    assert error.startswith("Line 4")


def test_values_a_shell_would_split_are_sent_quoted_so_they_stay_one_word(operator_client, upstream):
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id)
    env = (
        "PLAIN=abc-1.2/x:y\nSPACED=1 -v /:/hostroot\nFLAG=--privileged\nPRIV=x --privileged\nQUOTED=it's\n"
        "-e HF_TOKEN=hf_abc\n-p 8080:8080\n-p 9000:9000/udp"
    )
    response = submit(operator_client, offer.id, token, env=env)
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    (put,) = upstream.calls("PUT", "/asks/")
    assert put.body["env"] == {
        "PLAIN": "abc-1.2/x:y",
        "SPACED": "'1 -v /:/hostroot'",
        "FLAG": "--privileged",  # one word: the value of -e FLAG=..., never an option of its own
        "PRIV": "'x --privileged'",
        "QUOTED": "'it'\"'\"'s'",
        "HF_TOKEN": "hf_abc",
        "-p 8080:8080": "1",
        "-p 9000:9000/udp": "1",
    }


@pytest.mark.parametrize(
    "image",
    [
        "ubuntu",
        "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
        "nvcr.io/nvidia/pytorch:24.05-py3",
        "localhost:5000/team/model_server:v1",
        "vastai/base-image:@vastai-automatic-tag",
        "ubuntu@sha256:" + "a" * 64,
        "ghcr.io/org/img:tag@sha256:" + "0" * 64,
    ],
)
def test_valid_image_references_are_accepted(image):
    assert validators.image_reference(image) == image


def test_a_label_of_1024_bytes_is_accepted_and_one_more_is_not():
    assert validators.label("a" * 1024) == "a" * 1024
    with pytest.raises(validators.forms.ValidationError):
        validators.label("a" * 1024 + "é")


def test_relabel_refuses_an_oversized_label_before_calling_vast(admin_client, upstream):
    response = admin_client.post("/instances/7/label/", {"label": "🚀" * 300})
    assert response.status_code in (200, 302)
    assert upstream.calls("PUT", "/instances/") == []
