"""The console actions on one instance: its logs, a reboot, and a new bid (issue 13).

Logs are a read. Vast gathers them on request and publishes them at a result URL a moment later,
so the page asks once (`request_logs`), keeps that URL in the session under a random ticket (the
browser never sees it), and the panel polls the dashboard with growing delays (htmx `load
delay:Ns`) until the text is there or GIVE_UP_SECONDS have passed. The dashboard reads the URL
without the key (see dashboard.vast.resources.instance_ops). Reboot and bid are writes: checked
for role and ownership as Start is, audited, sent to Vast once, then a sync is asked for; a
raised bid spends more, so it passes the spend decision at its new $/hr first.
"""

import logging
import secrets
import time

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import replace_url

from dashboard import audit, vast
from dashboard.guardrails import GuardrailExceeded
from dashboard.models import Action
from dashboard.permissions import forbidden, require_perm
from instances import actions, ledger, spending
from instances.console_forms import LINE_CHOICES, BidForm, LogsForm, min_bid_of
from instances.models import Instance
from instances.rows import rows_for
from instances.tasks import enqueue_sync

__all__ = ["bid", "logs", "logs_panel", "reboot"]

logger = logging.getLogger(__name__)
GIVE_UP_SECONDS = 60
SESSION_KEY = "instance_logs"
KEEP_TICKETS = 8  # log requests remembered per session (several tabs)
LOGS_ONLY_FOR = "Logs are for operators and admins: they can show what the instance's programs print."


def _now():
    """Wall-clock seconds (a seam for tests)."""
    return time.time()


def _poll_delay(attempt):
    """Seconds before poll number `attempt` (from 0): 1, 1.5, 2 … up to 5."""
    return min(1.0 + 0.5 * attempt, 5.0)


def _ops():
    """The service module's logs, reboot and bid calls."""
    return vast.get_client().instance_ops


def _row(request, instance_id):
    """The instance as this person may see it (from the ledger), or None if never seen."""
    found = Instance.objects.filter(vast_id=instance_id).first()
    return None if found is None else rows_for(request.user, [found])[0]


def _tickets(request):
    """This session's log requests: ticket → {url, instance, lines, at}."""
    tickets = request.session.get(SESSION_KEY)
    return tickets if isinstance(tickets, dict) else {}


def _remember(request, result_url, instance_id, lines):
    """Keep a result URL in the session under a new ticket (the newest KEEP_TICKETS only)."""
    now = _now()
    tickets = {
        key: entry
        for key, entry in _tickets(request).items()
        if isinstance(entry, dict) and now - entry.get("at", 0) < GIVE_UP_SECONDS * 5
    }
    ticket = secrets.token_urlsafe(16)
    tickets[ticket] = {"url": result_url, "instance": instance_id, "lines": lines, "at": now}
    request.session[SESSION_KEY] = dict(sorted(tickets.items(), key=lambda kv: kv[1]["at"])[-KEEP_TICKETS:])
    return ticket


def _forget(request, ticket):
    tickets = _tickets(request)
    if tickets.pop(ticket, None) is not None:
        request.session[SESSION_KEY] = tickets


def _panel(request, instance_id, lines, state, **context):
    """The logs panel fragment in `state`: asking, waiting, ready, gave_up, expired or error."""
    context.update(instance_id=instance_id, lines=lines, state=state)
    return render(request, "instances/logs.html#logs-panel", context)


@require_GET
@require_perm("manage_instance", message=LOGS_ONLY_FOR)
def logs(request, instance_id):
    """The logs page: a lines selector, Refresh, and the panel, which asks Vast for the logs as
    soon as it loads."""
    row = _row(request, instance_id)
    lines = LogsForm(request.GET).lines_or_default()
    context = {"row": row, "instance_id": instance_id, "lines": lines, "line_choices": LINE_CHOICES}
    context["state"] = "gone" if row is None or row.is_gone else "asking"
    return render(request, "instances/logs.html", context, status=404 if row is None else 200)


@require_GET
@require_perm("manage_instance", message=LOGS_ONLY_FOR)
def logs_panel(request, instance_id):
    """The panel: without a ticket, ask Vast for the logs; with one, read its result URL once and
    answer the lines, or "still preparing" with the next poll, or a message once it gives up."""
    lines = LogsForm(request.GET).lines_or_default()
    if not request.htmx:
        return redirect(f"{reverse('instances:logs', args=[instance_id])}?lines={lines}")
    ticket = request.GET.get("ticket", "")
    if not ticket:
        return _ask(request, instance_id, lines)
    entry = _tickets(request).get(ticket)
    if not isinstance(entry, dict) or entry.get("instance") != instance_id:
        return _panel(request, instance_id, lines, "expired")
    waited = _now() - entry["at"]
    try:
        found = _ops().fetch_logs(entry["url"], tail=entry["lines"])
    except vast.VastError as exc:
        logger.warning("logs of instance %s: %s", instance_id, exc.log_message())
        return _panel(request, instance_id, entry["lines"], "error", message=exc.message)
    if found.ready:
        _forget(request, ticket)
        return _panel(request, instance_id, entry["lines"], "ready", logs=found, fetched_at=_now())
    if waited >= GIVE_UP_SECONDS:
        _forget(request, ticket)
        return _panel(request, instance_id, entry["lines"], "gave_up", waited=round(waited))
    try:
        attempt = max(0, min(int(request.GET.get("attempt", "0")), 1000))
    except ValueError:
        attempt = 0
    return _panel(
        request,
        instance_id,
        entry["lines"],
        "waiting",
        ticket=ticket,
        attempt=attempt + 1,
        delay=_poll_delay(attempt + 1),
        waited=round(waited),
    )


def _ask(request, instance_id, lines):
    """Ask Vast for the last `lines` lines; the waiting panel polls for them."""
    try:
        asked = _ops().request_logs(instance_id, tail=lines)
    except vast.VastError as exc:
        logger.warning("logs of instance %s: %s", instance_id, exc.log_message())
        return _panel(request, instance_id, lines, "error", message=exc.message)
    if asked.result_url is None:
        message = asked.message or "Vast.ai did not say where the logs will be."
        return _panel(request, instance_id, lines, "error", message=f"Vast.ai gave no logs: {message}")
    ticket = _remember(request, asked.result_url, instance_id, lines)
    response = _panel(request, instance_id, lines, "waiting", ticket=ticket, attempt=0, delay=_poll_delay(0), waited=0)
    return replace_url(response, f"{reverse('instances:logs', args=[instance_id])}?lines={lines}")


def _refuse(request, kind, known, instance_id, what):
    """403 (audited) for an operator acting on an instance someone else launched."""
    owner = known.launched_by_name if known and known.launched_by_name else "someone outside the dashboard"
    message = (
        f"You may {what} only on instances you launched; {actions.name(known, instance_id)} is {owner}'s. Ask an admin."
    )
    logger.info("forbidden: %s may not %s on instance %s", request.user, kind, instance_id)
    audit.forbid(request.user, kind, message, instance_id=instance_id)
    return forbidden(request, message)


@require_POST
@require_perm("manage_instance", action=Action.Kind.REBOOT)
def reboot(request, instance_id):
    """Restart the container on the same GPU (nothing new is spent): audited, sent once."""
    known = actions.known(instance_id)
    if not actions.may_change(request.user, known):
        return _refuse(request, Action.Kind.REBOOT, known, instance_id, "reboot")
    price = known.dph_total if known else None
    action = audit.begin(
        request.user, Action.Kind.REBOOT, instance_id=instance_id, price=price, detail=actions.owner_detail(known)
    )
    try:
        said = _ops().reboot(instance_id)
    except Exception as exc:
        audit.fail(action, exc)
        raise
    message = f"Rebooting {actions.name(known, instance_id)}: its container restarts on the same GPU; the disk is kept."
    ledger.record_state(instance_id, "rebooting")
    audit.succeed(action, said or message)
    enqueue_sync()
    return actions.done(request, messages.SUCCESS, message, reverse("instances:detail", args=[instance_id]))


@require_POST
@require_perm("manage_instance", action=Action.Kind.BID)
def bid(request, instance_id):
    """Change an interruptible instance's bid ($/hr for the whole machine). A higher bid spends
    more, so it passes the spend decision at the new $/hr (storage included); a lower one does not."""
    known = actions.known(instance_id)
    back = reverse("instances:detail", args=[instance_id])
    if not actions.may_change(request.user, known):
        return _refuse(request, Action.Kind.BID, known, instance_id, "change bids")
    name = actions.name(known, instance_id)
    instance = ledger.as_vast(known) if known else None
    if instance is None or not instance.is_bid:
        return actions.done(
            request, messages.ERROR, f"{name} is not an interruptible instance, so it has no bid.", back
        )
    form = BidForm(request.POST, min_bid=min_bid_of(instance))
    if not form.is_valid():
        return actions.done(request, messages.ERROR, f"Bid not changed: {' '.join(form.errors['price'])}", back)
    price, current = form.cleaned_data["price"], instance.dph_base
    total = price + (known.storage_per_hour or 0.0)
    detail = {"bid": price, "previous": current, **actions.owner_detail(known)}
    if current is None or price > current:
        try:
            action = spending.begin(request.user, Action.Kind.BID, price=total, instance_id=instance_id, detail=detail)
        except GuardrailExceeded as refusal:
            return forbidden(request, refusal.message)
    else:
        action = audit.begin(request.user, Action.Kind.BID, instance_id=instance_id, price=total, detail=detail)
    try:
        _ops().change_bid(instance_id, price)
    except Exception as exc:
        audit.fail(action, exc)
        raise
    was = "" if current is None else f" (was ${current:.4f}/hr)"
    message = f"The bid on {name} is now ${price:.4f}/hr for the whole machine{was}."
    audit.succeed(action, message)
    enqueue_sync()
    return actions.done(request, messages.SUCCESS, message, back)
