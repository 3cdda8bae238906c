"""A new operator adds their SSH key, launches, sees the SSH command, and the instance holds their key."""

import re

import pytest
from playwright.sync_api import expect

from tests.ssh_helpers import private_key, private_pem, public_key

pytestmark = pytest.mark.django_db(transaction=True)


def test_new_operator_adds_a_key_launches_and_the_instance_lists_it(page, login, operator, settings):
    from instances.models import SshKey
    from vastsim.models import Instance as SimInstance

    settings.VASTSIM_BOOT_SECONDS = 2.0
    line = public_key(comment="otto@laptop")
    login(operator)
    page.get_by_role("link", name="SSH keys", exact=True).click()
    expect(page.get_by_test_id("no-ssh-keys")).to_be_visible()
    expect(page.get_by_test_id("account-ssh-keys")).to_contain_text("to every instance it creates")

    # A private key is refused, and not shown back.
    page.get_by_label("Public key").fill(private_pem(private_key()))
    page.get_by_role("button", name="Add key").click()
    expect(page.locator("main")).to_contain_text("That is a private key")
    expect(page.get_by_label("Public key")).to_have_value("")

    page.get_by_label("Public key").fill(line)
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Add key").click()
    fingerprint = SshKey.objects.get(user=operator).fingerprint
    expect(page.get_by_test_id("my-ssh-keys")).to_contain_text(fingerprint)
    expect(page.locator("#alerts")).to_contain_text("Added your SSH key “laptop”")

    page.get_by_role("link", name="Offers", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filters' triggers once the page has loaded
    page.locator("#offer-results tbody.offer").first.get_by_role("link", name="Launch").click()
    page.wait_for_url(re.compile(r"/offers/\d+/launch/"))
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/instances/\d+/$"))
    instance_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    expect(page.locator("#alerts")).to_contain_text("Attached your key “laptop”")

    expect(page.locator("#instance-detail [data-testid=status]")).to_have_text("running", timeout=15_000)
    expect(page.locator("#instance-detail code").first).to_have_text(re.compile(r"^ssh -p \d+ root@"))
    access = page.get_by_test_id("ssh-access")
    expect(access.get_by_test_id("ssh-records")).to_contain_text(fingerprint)
    expect(access.get_by_test_id("ssh-vast-keys")).to_contain_text(fingerprint)
    expect(access.get_by_test_id("ssh-vast-keys")).to_contain_text("otto (laptop)")

    sim = SimInstance.for_contract(instance_id).get()
    assert [key.public_key for key in sim.ssh_keys.all()] == [line]

    # Detach it, then add it back with "Add my key".
    page.on("dialog", lambda dialog: dialog.accept())
    access.get_by_role("button", name="Detach").first.click()
    expect(page.locator("#alerts")).to_contain_text("Detached the SSH key")
    expect(access.get_by_test_id("ssh-vast-keys")).to_contain_text("no SSH key")
    assert not sim.ssh_keys.exists()
    access.get_by_role("button", name="Add my key").click()
    expect(access.get_by_test_id("ssh-vast-keys")).to_contain_text(fingerprint)
    assert [key.public_key for key in sim.ssh_keys.all()] == [line]
