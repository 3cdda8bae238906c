"""A person's SSH keys: parsing and fingerprints, the form's errors, /account/ssh-keys/ (own keys
only, the account's keys, the admins' table), and the audit rows of adding and removing."""

import base64
import hashlib
import shutil
import subprocess

import pytest

from dashboard.models import Action
from instances.models import SshKey
from instances.ssh_keys import InvalidKey, parse_public_key
from tests.ssh_helpers import private_key, private_pem, public_key, public_line
from vastsim import faults

pytestmark = pytest.mark.django_db
URL = "/account/ssh-keys/"


def expected_fingerprint(line):
    blob = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("kind", "key_type", "bits"),
    [
        ("ed25519", "ssh-ed25519", 256),
        ("nistp256", "ecdsa-sha2-nistp256", 256),
        ("nistp384", "ecdsa-sha2-nistp384", 384),
        ("nistp521", "ecdsa-sha2-nistp521", 521),
        ("rsa", "ssh-rsa", 2048),
    ],
)
def test_accepted_keys_are_parsed_with_type_bits_and_sha256_fingerprint(kind, key_type, bits, tmp_path):
    line = public_key(kind, comment="otto@laptop")
    parsed = parse_public_key(f"  {line}\n")
    assert (parsed.key_type, parsed.bits, parsed.comment, parsed.line) == (key_type, bits, "otto@laptop", line)
    assert parsed.fingerprint == expected_fingerprint(line)
    assert "=" not in parsed.fingerprint
    if shutil.which("ssh-keygen"):  # the same fingerprint as OpenSSH's own tool
        (tmp_path / "key.pub").write_text(line + "\n")
        shown = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "key.pub")], capture_output=True, text=True)
        assert shown.stdout.split()[:2] == [str(bits), parsed.fingerprint]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Paste your public key"),
        ("ssh-ed25519", "cut short"),
        ("ssh-ed25519 not-base64!!", "damaged"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "damaged"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "DSA"),
        ("sk-ssh-ed25519@openssh.com AAAA", "must start with"),
        ("hello world", "must start with"),
        ("~/.ssh/id_ed25519.pub", "must start with"),
    ],
)
def test_malformed_keys_are_refused_with_a_reason(text, says):
    with pytest.raises(InvalidKey, match=says):
        parse_public_key(text)


def test_a_key_whose_blob_is_of_another_type_is_refused():
    blob = public_key("ed25519").split()[1]
    with pytest.raises(InvalidKey, match="damaged"):
        parse_public_key(f"ssh-rsa {blob}")


def test_rsa_keys_need_2048_bits():
    with pytest.raises(InvalidKey, match="only 1024 bits"):
        parse_public_key(public_key("rsa", bits=1024))


def test_two_keys_or_control_characters_are_refused():
    with pytest.raises(InvalidKey, match="one key only"):
        parse_public_key(public_key() + "\n" + public_key())
    with pytest.raises(InvalidKey, match="control characters"):
        parse_public_key(public_key(comment="a\x1bb"))


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_a_private_key_is_refused_plainly(kind):
    with pytest.raises(InvalidKey, match="That is a private key"):
        parse_public_key(private_pem(private_key(kind)))


def test_anyone_logged_in_adds_a_key_and_the_add_is_audited(viewer_client, viewer):
    line = public_key(comment="vera@desk")
    response = viewer_client.post(URL, {"public_key": line, "name": ""})
    assert response.status_code == 302
    key = SshKey.objects.get(user=viewer)
    assert (key.name, key.public_key, key.key_type, key.bits) == ("vera@desk", line, "ssh-ed25519", 256)
    assert key.fingerprint == expected_fingerprint(line)
    page = viewer_client.get(URL).content.decode()
    assert key.fingerprint in page
    assert "Added your SSH key" in page
    action = Action.objects.get(kind=Action.Kind.SSH_KEY_ADD)
    assert (action.user, action.outcome) == (viewer, Action.Outcome.SUCCESS)
    assert action.detail == {
        "fingerprint": key.fingerprint,
        "key_name": "vera@desk",
        "key_type": "ssh-ed25519",
        "bits": 256,
    }
    assert line.split()[1] not in str(action.detail)


def test_a_name_given_wins_over_the_comment(operator_client, operator):
    operator_client.post(URL, {"public_key": public_key(comment="otto@laptop"), "name": "work laptop"})
    assert SshKey.objects.get(user=operator).name == "work laptop"


def test_a_duplicate_key_is_a_form_error_for_the_same_person_only(operator_client, other_operator_client, operator):
    line = public_key(comment="shared")
    operator_client.post(URL, {"public_key": line, "name": "first"})
    again = operator_client.post(URL, {"public_key": line.rsplit(" ", 1)[0] + " another-comment"})
    assert again.status_code == 200
    assert "You already added this key, as “first”" in again.content.decode()
    assert SshKey.objects.filter(user=operator).count() == 1
    assert other_operator_client.post(URL, {"public_key": line}).status_code == 302
    assert SshKey.objects.count() == 2


@pytest.mark.parametrize(
    ("text", "says"),
    [("ssh-rsa AAAA", "damaged"), ("", "This field is required"), ("BEGIN", "must start with")],
)
def test_form_errors_are_shown_and_nothing_is_stored(operator_client, text, says):
    response = operator_client.post(URL, {"public_key": text})
    assert response.status_code == 200
    assert says in response.content.decode()
    assert not SshKey.objects.exists()
    assert not Action.objects.exists()


def test_a_pasted_private_key_is_refused_with_a_clear_message(operator_client):
    response = operator_client.post(URL, {"public_key": private_pem(private_key())})
    assert "That is a private key: never paste it anywhere" in response.content.decode()
    assert "BEGIN OPENSSH PRIVATE KEY" not in response.content.decode()
    assert not SshKey.objects.exists()


def test_people_see_and_remove_only_their_own_keys(operator_client, other_operator_client, operator, other_operator):
    operator_client.post(URL, {"public_key": public_key(), "name": "mine"})
    other_operator_client.post(URL, {"public_key": public_key(), "name": "olgas"})
    olgas = SshKey.objects.get(user=other_operator)
    page = operator_client.get(URL).content.decode()
    assert "mine" in page
    assert olgas.fingerprint not in page
    assert 'data-testid="everyones-ssh-keys"' not in page
    assert operator_client.post(f"{URL}{olgas.pk}/remove/").status_code == 404
    assert SshKey.objects.filter(pk=olgas.pk).exists()
    mine = SshKey.objects.get(user=operator)
    response = operator_client.post(f"{URL}{mine.pk}/remove/")
    assert response.status_code == 302
    assert not SshKey.objects.filter(pk=mine.pk).exists()
    removed = Action.objects.get(kind=Action.Kind.SSH_KEY_REMOVE)
    assert (removed.user, removed.outcome, removed.detail["fingerprint"]) == (
        operator,
        Action.Outcome.SUCCESS,
        mine.fingerprint,
    )


def test_remove_is_a_post_with_a_confirmation(operator_client, operator):
    operator_client.post(URL, {"public_key": public_key(), "name": "mine"})
    key = SshKey.objects.get(user=operator)
    assert operator_client.get(f"{URL}{key.pk}/remove/").status_code == 405
    assert 'hx-confirm="Remove your SSH key “mine”' in operator_client.get(URL).content.decode()
    htmx = operator_client.post(f"{URL}{key.pk}/remove/", headers={"HX-Request": "true"})
    assert htmx["HX-Redirect"] == URL


def test_admins_see_who_holds_which_fingerprints(admin_client, operator_client, viewer_client, operator, viewer):
    operator_client.post(URL, {"public_key": public_key(), "name": "otto key"})
    viewer_client.post(URL, {"public_key": public_key(), "name": "vera key"})
    page = admin_client.get(URL).content.decode()
    assert 'data-testid="everyones-ssh-keys"' in page
    for person in (operator, viewer):
        key = SshKey.objects.get(user=person)
        assert person.username in page
        assert key.fingerprint in page


def test_the_account_keys_come_from_vast_with_the_note_that_every_instance_gets_them(operator_client, upstream):
    from dashboard import vast

    account = vast.ssh_keys().add_to_account(public_line(private_key(), "account@ci"))
    page = operator_client.get(URL).content.decode()
    assert [(r.method, r.path) for r in upstream.requests if "/ssh/" in r.path][-1] == ("GET", "/api/v0/ssh/")
    assert "own SSH keys to every instance it creates" in page
    assert expected_fingerprint(account.public_key) in page


def test_viewers_get_the_note_but_no_upstream_read(viewer_client, upstream):
    page = viewer_client.get(URL).content.decode()
    assert "own SSH keys to every instance it creates" in page
    assert not upstream.calls(path_contains="/ssh/")


def test_when_vast_fails_the_page_still_manages_ones_own_keys(operator_client, operator):
    faults.inject("ssh", method="GET", status=500)
    response = operator_client.get(URL)
    assert response.status_code == 200
    assert 'data-testid="account-keys-error"' in response.content.decode()
    assert operator_client.post(URL, {"public_key": public_key()}).status_code == 302
    assert SshKey.objects.filter(user=operator).count() == 1


def test_the_keys_page_is_linked_for_everyone_and_needs_a_login(client, viewer_client):
    assert 'href="/account/ssh-keys/"' in viewer_client.get("/").content.decode()
    assert client.get(URL)["Location"].startswith("/accounts/login/")
