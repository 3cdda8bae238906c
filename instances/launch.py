"""Launching an offer: the form (GET), its live price (htmx GET), and the launch itself (POST).

The launch happens at most once per form: each form carries a one-time LaunchToken that the
POST claims with a conditional UPDATE before anything is sent to Vast, and nothing retries.
"""

import logging
import secrets
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from django.contrib import messages
from django.db.models import Q
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from dashboard import audit, vast
from dashboard.guardrails import GuardrailExceeded, launch_limits
from dashboard.htmx import wants_fragment
from dashboard.models import Action
from dashboard.permissions import require_perm
from instances import launch_templates, ledger, spending, ssh_access
from instances.forms import IMAGE_PRESETS, LaunchForm, quote
from instances.models import LaunchToken
from instances.policies import lease
from instances.policies.config import max_stop_after
from instances.tasks import enqueue_sync
from offers.forms import OfferSearchForm

logger = logging.getLogger(__name__)

TOKEN_MAX_AGE = timedelta(days=1)
CLAIMED_TOKEN_KEEP = timedelta(days=7)
PREFILL_FIELDS = ("image", "disk", "price", "runtype", "args", "label", "env", "onstart")
OFFER_FILTERS = frozenset(OfferSearchForm.base_fields)


def _number(value, default):
    """A positive float from a query value, else `default`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if 0 < number < 1e6 else default


def _rental(params):
    """The rental type the page launches: "bid" (interruptible) or "on-demand"."""
    return "bid" if params.get("type") == "bid" else "on-demand"


def _clean_back(query):
    """Only the offer-search filters of a query string, re-encoded (so never a redirect elsewhere)."""
    params = QueryDict(query or "")
    kept = QueryDict(mutable=True)
    for key in params:
        if key in OFFER_FILTERS:
            kept.setlist(key, params.getlist(key)[:50])
    return kept.urlencode()


def _back_query(request):
    """The offer search to return to: an explicit `back`, else the Referer if it is the offer
    search, else the search filters the launch link carried (disk, type)."""
    if "back" in request.GET:
        return _clean_back(request.GET["back"])
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.path == reverse("offers:search") and referer.netloc in ("", request.get_host()):
        return _clean_back(referer.query)
    return _clean_back(request.GET.urlencode())


def _search_url(back):
    """The offer search with the filters of `back` (a cleaned query string)."""
    return reverse("offers:search") + (f"?{back}" if back else "")


def _go(request, url):
    """Navigate to `url`: a client-side redirect for htmx, a 302 otherwise."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _new_token(user, offer_id):
    """A fresh one-time token for a launch form; old tokens are pruned on the way."""
    now = timezone.now()
    LaunchToken.objects.filter(
        Q(claimed_at__isnull=True, created_at__lt=now - TOKEN_MAX_AGE) | Q(created_at__lt=now - CLAIMED_TOKEN_KEEP)
    ).delete()
    return LaunchToken.objects.create(token=secrets.token_urlsafe(32), user=user, offer_id=offer_id).token


def _claim(token):
    """Claim the token for this POST; False if another request (a double click, a second tab
    with the same form, a retry) claimed it first. One conditional UPDATE, so it holds across
    processes and replicas."""
    return bool(LaunchToken.objects.filter(pk=token.pk, claimed_at__isnull=True).update(claimed_at=timezone.now()))


def _unclaim(token):
    """Give a claimed token back: the launch it guarded was refused before anything was sent."""
    LaunchToken.objects.filter(pk=token.pk, action__isnull=True).update(claimed_at=None)


def _context(offer, form, *, user, token, back, rental, quote_disk, error=None):
    """The launch page's context, with the price quote for the form's current disk and bid, and
    the person's usage against the guardrails (the quote is `over` their $/hr limit or not)."""
    disk, price = form["disk"].value(), form["price"].value() if "price" in form.fields else None
    priced = quote(offer, _number(disk, quote_disk), _number(price, None) if rental == "bid" else None)
    limits = launch_limits(user)
    return {
        "offer": offer,
        "form": form,
        "token": token,
        "back": back,
        "rental": rental,
        "quote_disk": quote_disk,
        "quote": priced,
        "limits": limits,
        "over_limit": limits.max_dph is not None and Decimal(str(priced["total"])) > limits.max_dph,
        "image_presets": IMAGE_PRESETS,
        "error": error,
    }


def _render_form(request, context, status=200):
    """The whole page, or for htmx just the form."""
    template = "instances/launch.html"
    if request.htmx and not request.htmx.boosted:
        template += "#launch-form"
        status = 200
    return render(request, template, context, status=status)


def _offer_gone(request, offer_id, back, message=None):
    """Back to the offer search (with its filters) saying the offer is gone."""
    messages.warning(request, message or f"Offer {offer_id} is no longer available. Pick another one.")
    return _go(request, _search_url(back))


def _already_submitted(request, token):
    """Where a reused token leads: the instance it launched, else the instance list."""
    action = token.action
    if action is not None and action.instance_id:
        messages.info(request, f"This launch form was already submitted: it launched instance {action.instance_id}.")
        return _go(request, reverse("instances:detail", args=[action.instance_id]))
    if action is not None and action.outcome == Action.Outcome.FAILED:
        note = f"it failed: {action.message}"
    else:
        note = "check below whether the instance exists before launching again"
    messages.info(request, f"This launch form was already submitted, so it was not sent again; {note}")
    return _go(request, reverse("instances:index"))


@require_http_methods(["GET", "POST"])
def launch(request, offer_id):
    """GET: the launch form for an offer (or, for htmx, its price); POST: launch it."""
    if request.method == "POST":
        return _submit(request, offer_id=offer_id)
    return _page(request, offer_id=offer_id)


@require_perm("launch_instance")
def _page(request, offer_id):
    """The offer and a form prefilled from the query (so a launch link can be shared), with a
    fresh one-time token; for htmx, only the price for the typed disk size and bid."""
    params = request.GET
    rental = _rental(params)
    quote_disk = _number(params.get("quote_disk") or params.get("disk"), 10.0)
    back = _back_query(request)
    try:
        offer = vast.get_offer(offer_id, disk_gb=quote_disk, rental_type=rental)
    except vast.VastNotFound:
        return _offer_gone(request, offer_id, back)
    if wants_fragment(request):
        form = LaunchForm(params, offer=offer, bid=rental == "bid")
        context = _context(offer, form, user=request.user, token="", back=back, rental=rental, quote_disk=quote_disk)
        return render(request, "instances/launch.html#launch-price", context)
    initial = {key: params[key] for key in PREFILL_FIELDS if params.get(key)}
    # A launch template (`?template=ID`, the page's picker) is the latest choice: its values win.
    picker = launch_templates.picked(params.get("template"), offer)
    initial.update(picker.initial)
    initial.setdefault("disk", f"{quote_disk:g}")
    form = LaunchForm(initial=initial, offer=offer, bid=rental == "bid", max_stop_after=max_stop_after(request.user))
    token = _new_token(request.user, offer_id)
    context = _context(offer, form, user=request.user, token=token, back=back, rental=rental, quote_disk=quote_disk)
    context["templates"] = picker
    return render(request, "instances/launch.html", context)


@require_perm("launch_instance", action=Action.Kind.LAUNCH)
def _submit(request, offer_id):
    """Check the token, the form and the guardrails, claim the token, then launch once."""
    data = request.POST
    rental = _rental(data)
    quote_disk = _number(data.get("quote_disk"), 10.0)
    back = _clean_back(data.get("back", ""))
    token = (
        LaunchToken.objects.select_related("action")
        .filter(token=data.get("token", ""), user=request.user, offer_id=offer_id)
        .first()
    )
    if token is not None and token.claimed_at is not None:
        return _already_submitted(request, token)
    try:
        offer = vast.get_offer(offer_id, disk_gb=quote_disk, rental_type=rental)
    except vast.VastNotFound:
        return _offer_gone(request, offer_id, back)
    form = LaunchForm(data, offer=offer, bid=rental == "bid", max_stop_after=max_stop_after(request.user))
    context = _context(
        offer,
        form,
        user=request.user,
        token=token.token if token else "",
        back=back,
        rental=rental,
        quote_disk=quote_disk,
    )
    if token is None or token.created_at < timezone.now() - TOKEN_MAX_AGE:
        context["token"] = _new_token(request.user, offer_id)
        context["error"] = "This launch form had expired, so nothing was sent. Check the values and press Launch again."
        return _render_form(request, context)
    if not form.is_valid():
        return _render_form(request, context)
    if not _claim(token):
        token.refresh_from_db()
        return _already_submitted(request, token)
    launch_request = form.launch_request()
    price = quote(offer, launch_request.disk, launch_request.price)["total"]
    try:
        action = spending.begin(
            request.user,
            Action.Kind.LAUNCH,
            price=price,
            offer_id=offer.id,
            detail=_detail(launch_request, offer, rental, form.cleaned_data.get("stop_after")),
        )
    except GuardrailExceeded as exc:
        _unclaim(token)  # nothing was sent: the same form may be sent again once the limit allows
        form.add_error(None, exc.message)
        return _render_form(request, context, status=403)
    return _send(request, form, token, action, price, context)


def _detail(launch_request, offer, rental, stop_after=None):
    """What the audit row keeps of a launch: never an environment value."""
    return {
        "image": launch_request.image,
        "disk": launch_request.disk,
        "runtype": launch_request.runtype,
        "label": launch_request.label,
        "rental": rental,
        "bid": launch_request.price,
        "env_keys": sorted(launch_request.env),
        "gpu": f"{offer.num_gpus}× {offer.gpu_name}",
        "stop_after": stop_after,
    }


def _send(request, form, token, action, price, context):
    """PUT the launch (whose pending `action` the spend decision wrote) to Vast exactly once,
    record it, and lead the user to the outcome."""
    launch_request, offer = form.launch_request(), context["offer"]
    token.action = action
    token.save(update_fields=["action"])
    try:
        result = vast.create_instance(offer.id, launch_request)
    except vast.VastError as exc:
        unknown = exc.outcome_unknown
        audit.fail(action, exc, unknown=unknown)
        logger.warning("launch of offer %s failed: %s", offer.id, exc.log_message())
        return _launch_failed(request, exc, unknown, form, context)
    except Exception as exc:
        audit.fail(action, exc)
        raise
    ledger.record_launch(
        request.user,
        result.instance_id,
        offer,
        price=price,
        label=launch_request.label,
        image=launch_request.image,
        disk=launch_request.disk,
        started=result.started,
    )
    lease.begin(result.instance_id, form.cleaned_data.get("stop_after"))
    enqueue_sync()
    what = f"instance {result.instance_id} ({offer.num_gpus}× {offer.gpu_name}, ${price:.3f}/hr)"
    if result.started:
        audit.succeed(action, f"Launched {what}.", instance_id=result.instance_id)
        messages.success(request, f"Launched {what}. It is starting; this page updates when it is running.")
    else:
        note = result.message or "the resources are not available right now"
        audit.succeed(action, f"Created {what} but Vast.ai left it stopped: {note}", instance_id=result.instance_id)
        messages.warning(
            request,
            f"Vast.ai created {what} but left it stopped: {note}. Its disk is billed while it waits; "
            "press Start to try again, or Destroy it.",
        )
    ssh_access.attach_launcher_keys(request, result.instance_id)  # never fails the launch
    return _go(request, reverse("instances:detail", args=[result.instance_id]))


def _launch_failed(request, exc, unknown, form, context):
    """The page for a launch Vast did not confirm: may have happened, offer gone, or refused."""
    offer = context["offer"]
    if unknown:
        enqueue_sync()  # if it happened, the next sync finds it
        messages.warning(
            request,
            f"Vast.ai did not confirm the launch of offer {offer.id}, so it may have happened. "
            "Check the list below before launching again; the dashboard did not retry.",
        )
        return _go(request, reverse("instances:index"))
    if isinstance(exc, vast.VastNotFound):
        return _offer_gone(
            request,
            offer.id,
            context["back"],
            f"Offer {offer.id} was rented by someone else or withdrawn. Pick another one.",
        )
    # Vast refused or never got the request, so nothing was created: a fresh token allows a retry.
    context["token"] = _new_token(request.user, offer.id)
    reason = exc.msg or exc.error or ""
    if isinstance(exc, vast.VastRejected) and exc.error == "invalid_price" and "price" in form.fields:
        form.add_error("price", f"Vast.ai refused this bid: {reason}")
    elif isinstance(exc, vast.VastRejected) and "label_too_long" in f"{exc.error} {exc.msg}":
        form.add_error("label", "Vast.ai refused this label as too long.")
    else:
        form.add_error(None, exc.message)
    return _render_form(request, context, status=exc.http_status)
