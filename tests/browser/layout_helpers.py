"""Shared by the layout and contrast tests: the two window sizes, a seeded team, every page to
visit (checked against the URLconf), and the measurements made inside the page."""

import contextlib
import os
import re
from decimal import Decimal
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import PASSWORD

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 375, "height": 812}}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# URL names that are not pages: fragments htmx swaps in, POST-only actions, machine endpoints.
NOT_PAGES = {
    "healthz", "healthz_worker", "logout",
    "offers:saved-rename", "offers:saved-alert",
    "instances:row", "instances:bulk", "instances:start", "instances:stop", "instances:label",
    "instances:destroy", "instances:ssh_access", "instances:ssh_attach", "instances:ssh_detach",
    "instances:logs_panel", "instances:reboot", "instances:bid", "instances:keep",
    "templates:import", "ssh_keys:remove", "team:add_user", "team:reset_link",
    "notifications:bell", "notifications:read", "notifications:read_all", "notifications:test_webhook",
}  # fmt: skip

# Pages seen logged out (the reset link is an invalid one: the page says so).
ANONYMOUS_PAGES = {
    "login": "/accounts/login/",
    "password_reset_confirm": "/accounts/reset/x/set-password/",
    "password_reset_complete": "/accounts/reset/done/",
}


def url_names(patterns=None, namespace=""):
    """Every named URL pattern of the URLconf, as "namespace:name"."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_names(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield namespace + entry.name


def seed(admin, operator, viewer):
    """A team with something on every page: three instances launched through the dashboard (one
    running, one destroyed for the history, one stopped still billing storage), audit
    rows, a launch template, a saved search, an SSH key and a notification. Returns the ids the
    detail pages need."""
    from dashboard import audit, vast
    from dashboard.models import Action
    from dashboard.notify import notify
    from instances import ledger, sync
    from instances.models import LaunchTemplate, SshKey
    from instances.ssh_keys import parse_public_key
    from offers.models import SavedSearch
    from tests.ssh_helpers import private_key, public_line

    # One offer a machine: renting one takes the machine's other offers off the market.
    offers = list({offer.machine_id: offer for offer in vast.search_offers({"rentable": {"eq": True}})}.values())
    launched = []
    for user, offer, label, image in (
        (admin, offers[0], "llama finetune", "pytorch/pytorch:latest"),
        (operator, offers[1], "old eval", "vllm/vllm-openai:latest"),
        (operator, offers[2], "paused notebook", "jupyter/base-notebook"),
    ):
        result = vast.create_instance(offer.id, vast.LaunchRequest(image=image, label=label))
        ledger.record_launch(
            user, result.instance_id, offer, price=offer.dph_total, label=label, image=image, disk=10, started=True
        )
        action = audit.begin(user, Action.Kind.LAUNCH, offer_id=offer.id, price=offer.dph_total)
        audit.succeed(action, "Launched", instance_id=result.instance_id)
        launched.append(result.instance_id)
    sync.run(force=True)
    vast.destroy(launched[1])
    vast.set_state(launched[2], "stopped")
    sync.run(force=True)
    audit.forbid(operator, Action.Kind.LAUNCH, "Over the operator limit of $0.500/hr", offer_id=offers[1].id)
    template = LaunchTemplate.objects.create(
        name="PyTorch notebook", image="pytorch/pytorch:latest", runtype="jupyter", ports="8888",
        env="HF_HOME=/workspace/hf", note="The team's default notebook.", created_by=admin,
    )  # fmt: skip
    saved = SavedSearch.objects.create(
        owner=admin, name="Cheap 4090s", query="gpu=RTX+4090&max_dph=0.6", shared=True, max_dph_per_gpu=Decimal("0.5")
    )
    key = parse_public_key(public_line(private_key(), "ada@laptop"))
    SshKey.objects.create(
        user=admin,
        name="laptop",
        public_key=key.line,
        fingerprint=key.fingerprint,
        key_type=key.key_type,
        bits=key.bits,
    )
    notify("layout-seed", "budget", "The team has spent 80 % of this month's budget.", users=[admin], webhook=False)
    return {
        "instance_id": launched[0],
        "offer_id": offers[3].id,
        "template_id": template.id,
        "saved_id": saved.id,
        "user_id": operator.id,
    }


def pages(ids):
    """The logged-in pages by URL name, with the seeded ids filled in."""
    instance, offer = ids["instance_id"], ids["offer_id"]
    return {
        "home": "/",
        "offers:search": "/offers/",
        "offers:columns": "/offers/columns/",
        "offers:saved": "/offers/saved/",
        "offers:saved-delete": f"/offers/saved/{ids['saved_id']}/delete/",
        "offers:detail": f"/offers/{offer}/",
        "offers:launch": f"/offers/{offer}/launch/",
        "instances:index": "/instances/",
        "instances:history": "/instances/history/",
        "instances:detail": f"/instances/{instance}/",
        "instances:logs": f"/instances/{instance}/logs/",
        "instances:extend": f"/instances/{instance}/extend/",
        "templates:index": "/templates/",
        "templates:create": "/templates/new/",
        "templates:edit": f"/templates/{ids['template_id']}/",
        "templates:delete": f"/templates/{ids['template_id']}/delete/",
        "audit": "/audit/",
        "keys": "/keys/",
        "account": "/account/",
        "ssh_keys:index": "/account/ssh-keys/",
        "team:users": "/team/",
        "team:edit_user": f"/team/{ids['user_id']}/",
        "team:guardrails": "/team/guardrails/",
        "team:policies": "/team/policies/",
        "notifications:index": "/notifications/",
        "notifications:settings": "/notifications/settings/",
        "password_change": "/accounts/password_change/",
        "password_change_done": "/accounts/password_change/done/",
    }


def new_page(browser, base_url, size, color_scheme="light"):
    """A page in a fresh context of the named size and colour scheme; JavaScript errors are kept
    in `page.js_errors`."""
    context = browser.new_context(base_url=base_url, viewport=SIZES[size], color_scheme=color_scheme)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    return page


def log_in(page, user):
    """Log in through the real form."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


SETTLED_JS = """() => !document.querySelector(".htmx-request") &&
  !document.getAnimations().some((a) => a instanceof CSSTransition && a.playState === "running")"""


def visit(page, path):
    """Open a page, let its htmx requests finish, and return the response's status."""
    response = page.goto(path)
    # htmx marks an element .htmx-request while its request (a load trigger's, say) is in flight;
    # then the indicators fade out (a CSS transition) before the colours are final.
    with contextlib.suppress(PlaywrightError):
        page.wait_for_function(SETTLED_JS, timeout=3_000)
    return response.status if response is not None else None


OVERFLOW_JS = """() => {
  const doc = document.documentElement, width = window.innerWidth;
  const culprits = [];
  if (doc.scrollWidth > width) {
    for (const el of document.body.querySelectorAll("*")) {
      const box = el.getBoundingClientRect();
      if (box.width && box.right > width + 1 && (!(el.parentElement && el.parentElement.closest(".table-scroll, .log-scroll, table.data")) ||
          ["absolute", "fixed"].includes(getComputedStyle(el).position))) {
        const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
          (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
        culprits.push(name + " right=" + Math.round(box.right));
        if (culprits.length >= 6) break;
      }
    }
  }
  return {scrollWidth: doc.scrollWidth, innerWidth: width, culprits};
}"""


def overflow(page):
    """The page's scroll width, the window's width, and the first elements past its right edge."""
    return page.evaluate(OVERFLOW_JS)


CONTRAST_JS = (Path(__file__).with_name("contrast.js")).read_text()


def contrast_failures(page):
    """Every visible text whose rendered colour is below WCAG AA on its effective background."""
    return page.evaluate(CONTRAST_JS)


def screenshot(page, name, size):
    """Write docs/screenshots/<name>-<size>.png when UPDATE_SCREENSHOTS=1 (normal runs leave the
    tree alone)."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{re.sub(r'[^a-z0-9]+', '-', name)}-{size}.png"), full_page=False)
