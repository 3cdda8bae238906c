"""Who can SSH into an instance: a launch attaches the launcher's keys, "Add my key" and Detach on
the instance's page, the SSH access section (our records and Vast's list), roles and audit rows."""

import html

import pytest

from dashboard.models import Action
from instances.models import SshAttachment, SshKey
from instances.ssh_keys import parse_public_key
from tests.ssh_helpers import public_key
from tests.test_launch import launch_offer, said
from vastsim import faults
from vastsim.models import Instance as SimInstance
from vastsim.models import SshKey as SimKey

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def add_key(user, comment="otto@laptop", name=None):
    parsed = parse_public_key(public_key(comment=comment))
    return SshKey.objects.create(
        user=user,
        name=name or comment,
        public_key=parsed.line,
        fingerprint=parsed.fingerprint,
        key_type=parsed.key_type,
        bits=parsed.bits,
    )


def attach_posts(upstream, instance_id):
    return [(r.path, r.body) for r in upstream.calls("POST") if r.path == f"/api/v0/instances/{instance_id}/ssh/"]


def on_simulator(instance_id):
    """The public keys the simulator holds on an instance."""
    return [key.public_key for key in SimKey.objects.filter(instance=SimInstance.for_contract(instance_id).get())]


def test_a_launch_attaches_each_of_the_launchers_keys_exactly_once(operator_client, operator, upstream):
    laptop, desk = add_key(operator, "otto@laptop"), add_key(operator, "otto@desk")
    instance_id = launch_offer(operator_client)
    assert attach_posts(upstream, instance_id) == [
        (f"/api/v0/instances/{instance_id}/ssh/", {"ssh_key": laptop.public_key}),
        (f"/api/v0/instances/{instance_id}/ssh/", {"ssh_key": desk.public_key}),
    ]
    assert on_simulator(instance_id) == [laptop.public_key, desk.public_key]
    records = SshAttachment.objects.filter(instance_id=instance_id)
    assert [(r.username, r.fingerprint, r.detached_at) for r in records] == [
        ("otto", laptop.fingerprint, None),
        ("otto", desk.fingerprint, None),
    ]
    assert all(r.vast_key_id for r in records)
    actions = Action.objects.filter(kind=Action.Kind.SSH_ATTACH, instance_id=instance_id).order_by("id")
    assert [(a.outcome, a.detail["fingerprint"], a.detail["via"]) for a in actions] == [
        (Action.Outcome.SUCCESS, laptop.fingerprint, "launch"),
        (Action.Outcome.SUCCESS, desk.fingerprint, "launch"),
    ]
    launch = Action.objects.get(kind=Action.Kind.LAUNCH)
    assert launch.outcome == Action.Outcome.SUCCESS


def test_a_launch_attaches_only_the_launchers_keys(operator_client, operator, other_operator, upstream):
    add_key(other_operator, "olga@laptop")
    instance_id = launch_offer(operator_client)
    assert attach_posts(upstream, instance_id) == []
    assert on_simulator(instance_id) == []


def test_a_launch_without_keys_says_how_to_add_one(operator_client, upstream):
    from tests.test_launch import open_form, rentable_offer, submit

    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id, "?disk=40")
    response = submit(operator_client, offer.id, token)
    assert response.status_code == 302
    assert said(response, "You have no SSH key in the dashboard")
    assert not upstream.calls("POST", "/ssh/")


@pytest.mark.parametrize(("status", "outcome"), [(500, Action.Outcome.FAILED), (502, Action.Outcome.UNKNOWN)])
def test_a_failed_attach_is_a_warning_and_an_audit_row_never_a_failed_launch(
    operator_client, operator, upstream, status, outcome
):
    from tests.test_launch import open_form, rentable_offer, submit

    add_key(operator)
    faults.inject("instance_ssh", method="POST", status=status)
    offer = rentable_offer()
    _, token = open_form(operator_client, offer.id, "?disk=40")
    response = submit(operator_client, offer.id, token)
    assert response.status_code == 302
    instance_id = int(response["Location"].strip("/").rsplit("/", 1)[-1])
    assert said(response, "Launched instance")
    assert said(response, "The instance was launched; try “Add my key”")
    assert len(attach_posts(upstream, instance_id)) == 1  # a write: never retried
    assert Action.objects.get(kind=Action.Kind.LAUNCH).outcome == Action.Outcome.SUCCESS
    attach = Action.objects.get(kind=Action.Kind.SSH_ATTACH)
    assert (attach.outcome, attach.instance_id) == (outcome, instance_id)
    assert not SshAttachment.objects.exists()


def test_add_my_key_attaches_to_a_teammates_instance_and_is_audited(
    operator_client, other_operator_client, other_operator, operator, upstream
):
    instance_id = launch_offer(operator_client)
    key = add_key(other_operator, "olga@laptop")
    response = other_operator_client.post(f"/instances/{instance_id}/ssh/attach/", {"key": key.pk}, headers=HTMX)
    assert response.status_code == 200
    assert "ssh-changed" in response["HX-Trigger"]
    assert "Attached your key “olga@laptop”" in response.content.decode()
    assert attach_posts(upstream, instance_id) == [
        (f"/api/v0/instances/{instance_id}/ssh/", {"ssh_key": key.public_key})
    ]
    assert key.public_key in on_simulator(instance_id)
    record = SshAttachment.objects.get(instance_id=instance_id)
    assert (record.user, record.key, record.fingerprint) == (other_operator, key, key.fingerprint)
    action = Action.objects.get(kind=Action.Kind.SSH_ATTACH)
    assert (action.user, action.outcome, action.detail["via"]) == (other_operator, Action.Outcome.SUCCESS, "detail")


def test_add_my_key_twice_is_one_key_on_vast_and_one_record(operator_client, operator, upstream):
    instance_id = launch_offer(operator_client)
    key = add_key(operator)
    operator_client.post(f"/instances/{instance_id}/ssh/attach/", {"key": key.pk})
    response = operator_client.post(f"/instances/{instance_id}/ssh/attach/", {"key": key.pk})
    assert response.status_code == 302
    assert said(response, "was already on instance")
    assert on_simulator(instance_id) == [key.public_key]
    assert SshAttachment.objects.filter(instance_id=instance_id).count() == 1


def test_add_my_key_cannot_send_someone_elses_key(operator_client, operator, other_operator, upstream):
    instance_id = launch_offer(operator_client)
    theirs = add_key(other_operator, "olga@laptop")
    for value in (theirs.pk, "abc", "9" * 30):
        response = operator_client.post(f"/instances/{instance_id}/ssh/attach/", {"key": value})
        assert said(response, "You have no SSH key to add here")
    assert not upstream.calls("POST", "/ssh/")


def test_viewers_may_not_add_keys_and_the_refusal_is_audited(operator_client, viewer_client, viewer, upstream):
    instance_id = launch_offer(operator_client)
    add_key(viewer, "vera@desk")
    response = viewer_client.post(f"/instances/{instance_id}/ssh/attach/")
    assert response.status_code == 403
    refused = Action.objects.get(kind=Action.Kind.SSH_ATTACH)
    assert (refused.user, refused.outcome, refused.instance_id) == (viewer, Action.Outcome.FORBIDDEN, instance_id)
    assert not upstream.calls("POST", "/ssh/")


def test_viewers_never_see_ssh_access(operator_client, viewer_client, operator, upstream, synced):
    add_key(operator)
    instance_id = launch_offer(operator_client)
    synced()
    page = viewer_client.get(f"/instances/{instance_id}/").content.decode()
    assert 'id="ssh-access"' not in page
    assert "/ssh/" not in page
    section = viewer_client.get(f"/instances/{instance_id}/ssh/")
    assert section.status_code == 403
    assert SshKey.objects.get(user=operator).fingerprint not in section.content.decode()
    assert not upstream.calls("GET", "/ssh/")


def test_the_access_section_shows_our_records_and_vasts_list_with_names(
    operator_client, other_operator_client, operator, other_operator, upstream, synced
):
    from dashboard import vast

    key = add_key(operator, "otto@laptop", name="laptop")
    instance_id = launch_offer(operator_client)
    synced()
    foreign = vast.ssh_keys().attach(instance_id, public_key(comment="from-the-cli"))
    page = operator_client.get(f"/instances/{instance_id}/").content.decode()
    assert f'hx-get="/instances/{instance_id}/ssh/"' in page
    section = other_operator_client.get(f"/instances/{instance_id}/ssh/", headers=HTMX).content.decode()
    assert upstream.calls("GET", f"/api/v0/instances/{instance_id}/ssh/")
    assert key.fingerprint in section
    assert "otto (laptop)" in section
    assert str(foreign.key.id) in section
    assert "not added through the dashboard" in section
    assert "own SSH keys to every instance" in section
    # Olga may not detach Otto's key; she has no key, so she is told how to add one.
    assert f"/ssh/{SshAttachment.objects.get().vast_key_id}/detach/" not in section
    assert "add your public key" in section


def test_detach_own_key_then_it_is_gone_on_vast_and_in_our_records(operator_client, operator, upstream):
    key = add_key(operator)
    instance_id = launch_offer(operator_client)
    record = SshAttachment.objects.get(instance_id=instance_id)
    response = operator_client.post(f"/instances/{instance_id}/ssh/{record.vast_key_id}/detach/", headers=HTMX)
    assert response.status_code == 200
    assert "ssh-changed" in response["HX-Trigger"]
    deletes = [r.path for r in upstream.calls("DELETE")]
    assert deletes == [f"/api/v0/instances/{instance_id}/ssh/{record.vast_key_id}/"]
    assert on_simulator(instance_id) == []
    record.refresh_from_db()
    assert (record.detached_at is not None, record.detached_by) == (True, "otto")
    action = Action.objects.get(kind=Action.Kind.SSH_DETACH)
    assert (action.outcome, action.detail["fingerprint"], action.detail["owner"]) == (
        Action.Outcome.SUCCESS,
        key.fingerprint,
        "otto",
    )


def test_operators_cannot_detach_others_keys_but_admins_can(
    operator_client, other_operator_client, admin_client, operator, other_operator, upstream
):
    add_key(operator)
    instance_id = launch_offer(operator_client)
    record = SshAttachment.objects.get(instance_id=instance_id)
    url = f"/instances/{instance_id}/ssh/{record.vast_key_id}/detach/"
    refused = other_operator_client.post(url)
    assert refused.status_code == 403
    assert "otto's" in html.unescape(refused.content.decode())
    assert Action.objects.get(kind=Action.Kind.SSH_DETACH).outcome == Action.Outcome.FORBIDDEN
    assert not upstream.calls("DELETE")
    assert admin_client.post(url).status_code == 302
    assert on_simulator(instance_id) == []


def test_detaching_a_key_vast_no_longer_has_counts_as_detached(operator_client, operator, upstream):
    from dashboard import vast

    add_key(operator)
    instance_id = launch_offer(operator_client)
    record = SshAttachment.objects.get(instance_id=instance_id)
    vast.ssh_keys().detach(instance_id, record.vast_key_id)  # someone used the CLI
    response = operator_client.post(f"/instances/{instance_id}/ssh/{record.vast_key_id}/detach/")
    assert said(response, "was no longer on instance")
    record.refresh_from_db()
    assert record.detached_at is not None
    assert Action.objects.get(kind=Action.Kind.SSH_DETACH).outcome == Action.Outcome.SUCCESS


def test_removing_a_key_detaches_it_from_live_instances(operator_client, operator, upstream):
    key = add_key(operator)
    instance_id = launch_offer(operator_client)
    response = operator_client.post(f"/account/ssh-keys/{key.pk}/remove/")
    assert response.status_code == 302
    assert on_simulator(instance_id) == []
    assert not SshKey.objects.exists()
    record = SshAttachment.objects.get()
    assert record.detached_at is not None
    kinds = list(Action.objects.order_by("id").values_list("kind", "outcome"))
    assert kinds[-2:] == [
        (Action.Kind.SSH_DETACH, Action.Outcome.SUCCESS),
        (Action.Kind.SSH_KEY_REMOVE, Action.Outcome.SUCCESS),
    ]


def test_no_key_is_attached_or_detached_on_an_unknown_instance(operator_client, operator, upstream):
    key = add_key(operator)
    assert operator_client.post("/instances/27999999/ssh/attach/", {"key": key.pk}).status_code == 403
    assert operator_client.post("/instances/27999999/ssh/610001/detach/").status_code == 403
    assert operator_client.get("/instances/27999999/ssh/").status_code == 404
    assert not upstream.calls(path_contains="/ssh/")
