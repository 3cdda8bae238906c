"""The price-alert rounds the worker runs (offers/tasks.py): one each minute, and the minute's
further rounds one search slot apart (every 6 s with the default third of Vast's search rate).

Every alerting saved search that is due (checked more than ALERT_CHECK_SECONDS ago) is grouped
with the others that ask Vast the same question, and each group runs once. Each search books a
slot in the rate limiter's slot store, where the worker may use only ALERT_SEARCH_SHARE of
Vast's search rate: a round sends one search, in the worker's next slot, and leaves the other
groups due, longest-waiting first, for the next rounds. The rounds are spread so that each
finds its slot free: a round does not hold the worker waiting (the ledger's syncs share it).
Each newly matching offer is notified once per episode (see AlertMatch), with a link to launch it.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from dashboard import vast
from dashboard.notify import notify
from offers import market
from offers.models import AlertMatch, SavedSearch
from offers.saved import group_key, matching, search_for

logger = logging.getLogger(__name__)

JOB = "price-alerts"
ROUND_SECONDS = 60  # the periodic task's period: it schedules the minute's further rounds
MAX_NOTICES = 5  # per alert and round; more new offers at once are summed up in the last one
_LOCK_KEY, _LOCK_SECONDS = "offers:alert-round", 150


@dataclass
class Round:
    """What one round did: searches sent to Vast, groups deferred to the next round (the budget
    spent), groups whose search failed, notifications created, saved searches checked."""

    searched: int = 0
    deferred: int = 0
    failed: int = 0
    notified: int = 0
    checked: list = field(default_factory=list)


def due_searches(now):
    """Alerting saved searches not checked for ALERT_CHECK_SECONDS, the longest-waiting first."""
    cutoff = now - timedelta(seconds=settings.ALERT_CHECK_SECONDS)
    alerting = Q(max_dph_per_gpu__isnull=False) | Q(min_offers__isnull=False)
    due = Q(checked_at__isnull=True) | Q(checked_at__lte=cutoff)
    return (
        SavedSearch.objects.filter(alerting & due)
        .select_related("owner")
        .order_by(F("checked_at").asc(nulls_first=True), "id")
    )


def search_spacing():
    """Seconds between two of the worker's searches: Vast's search interval over its share."""
    _, threshold = vast.endpoint_for("POST", "/api/v0/bundles/") or ("search", 2.0)
    return threshold / settings.ALERT_SEARCH_SHARE


def round_delays():
    """When the minute's further rounds run, in seconds after its periodic round: as many rounds
    a minute as the worker has search slots, evenly spread, so that each finds its slot free
    (none when no saved search has an alert, or when a slot is longer than half a minute)."""
    if not SavedSearch.objects.filter(Q(max_dph_per_gpu__isnull=False) | Q(min_offers__isnull=False)).exists():
        return []
    rounds = min(int(ROUND_SECONDS // search_spacing()), ROUND_SECONDS)
    return [ROUND_SECONDS / rounds * k for k in range(1, rounds)]


def fetch(search, *, horizon=ROUND_SECONDS - 1, sleep=None, clock=time.time):
    """("ok", offers) from one booked search; ("deferred", None) when the worker's next slot is
    more than `horizon` seconds away (its share of the search budget is spent for now);
    ("failed", None) when Vast did not answer. A check never reuses the pages' cached answers:
    an offer that appeared since must be seen."""
    wait = vast.reserve_background_search(JOB, share=settings.ALERT_SEARCH_SHARE, horizon=horizon, clock=clock)
    if wait is None:
        return "deferred", None
    if wait > 0:
        (sleep or time.sleep)(wait)
    try:
        return "ok", vast.search_offers(search)
    except vast.VastError as exc:
        logger.warning("price alert search failed: %s", exc.log_message())
        return "failed", None


def launch_link(offer, search, user=None):
    """The launch page of `offer`, priced as the saved search prices it; for a `user` whose role
    cannot launch (a viewer), the offer's page, priced the same way."""
    query = QueryDict(mutable=True)
    query["disk"] = f"{search.disk_gb:g}"
    if search.rental_type == "bid":
        query["type"] = "bid"
    page = "offers:detail" if user is not None and not user.has_perm("dashboard.launch_instance") else "offers:launch"
    return f"{reverse(page, args=[offer.id])}?{query.urlencode()}"


def _notice(saved, offer, extra):
    ceiling = f" (alert under ${saved.ceiling}/GPU·hr)" if saved.ceiling else ""
    more = f" and {extra} more new offer{'s' if extra != 1 else ''}" if extra else ""
    return (
        f"“{saved.name}”: {offer.num_gpus}× {offer.gpu_name} at ${offer.price_per_gpu:.3f}/GPU·hr "
        f"(${offer.dph_total:.3f}/hr, offer {offer.id}){ceiling}{more}."
    )


def evaluate(saved, offers, search, now):
    """Notify each offer that newly meets the alert; remember the ones it has seen. Returns the
    number of notifications created."""
    quiet = now - timedelta(seconds=settings.ALERT_QUIET_SECONDS)
    previous_check = saved.checked_at
    hits = matching(saved, offers)
    known = {m.offer_id: m for m in AlertMatch.objects.filter(search=saved, offer_id__in=[o.id for o in hits])}
    new, still = [], []
    for offer in hits:
        match = known.get(offer.id)
        if match is None:
            match = AlertMatch.objects.create(search=saved, offer_id=offer.id, episode_start=now, last_seen=now)
            new.append((offer, match))
        elif match.last_seen < quiet and previous_check is not None and previous_check > match.last_seen:
            # Gone for a quiet period (missed by at least one check) and back: new again.
            match.episode_start = match.last_seen = now
            match.save(update_fields=["episode_start", "last_seen"])
            new.append((offer, match))
        else:
            still.append(offer.id)
    AlertMatch.objects.filter(search=saved, offer_id__in=still).update(last_seen=now)
    notified = 0
    shown = new[:MAX_NOTICES]
    for index, (offer, match) in enumerate(shown):
        extra = len(new) - len(shown) if index == len(shown) - 1 else 0
        key = f"price:{saved.id}:{offer.id}:{int(match.episode_start.timestamp() * 1_000_000)}"
        if notify(
            key,
            "price_alert",
            _notice(saved, offer, extra),
            users=[saved.owner],
            link=launch_link(offer, search, saved.owner),
            webhook=saved.notify_to == "team",
        ):
            notified += 1
    return notified


def _fetch_counted(search, stats, horizon, sleep, clock):
    """fetch() counted in `stats`: the offers, or None (the searches stay due)."""
    if stats.searched or stats.deferred:  # one search per round: the next round is a slot later
        stats.deferred += 1
        return None
    outcome, offers = fetch(search, horizon=horizon, sleep=sleep, clock=clock)
    if outcome == "deferred":
        stats.deferred += 1
    else:
        stats.searched += 1
        stats.failed += outcome == "failed"
    return offers


def run_round(*, horizon=ROUND_SECONDS - 1, sleep=None, clock=time.time):
    """One round: the longest-waiting due alerts (one search for their group), or else the hourly
    market round, waiting for the worker's next search slot if it is at most `horizon` seconds
    away. Returns a Round, or None when another round is still running."""
    if not cache.add(_LOCK_KEY, True, _LOCK_SECONDS):
        return None
    try:
        return _run(horizon, sleep, clock)
    finally:
        cache.delete(_LOCK_KEY)


def _run(horizon, sleep, clock):
    now, stats = timezone.now(), Round()
    groups = {}
    for saved in due_searches(now):
        search = search_for(saved.query)
        if search is None:
            logger.warning("saved search %s no longer validates; alert skipped", saved.id)
            SavedSearch.objects.filter(pk=saved.pk).update(checked_at=now)
            continue
        groups.setdefault(group_key(search), (search, []))[1].append(saved)
    seen = {}
    for search, members in groups.values():
        offers = _fetch_counted(search, stats, horizon, sleep, clock)
        if offers is None:
            continue
        for offer in offers:
            seen.setdefault(search.rental_type, {})[offer.id] = offer
        for saved in members:
            stats.notified += evaluate(saved, offers, search, now)
            stats.checked.append(saved.id)
        SavedSearch.objects.filter(pk__in=[s.pk for s in members]).update(checked_at=now)
    market.record(seen, now)
    if market.default_round_due():
        search = market.default_search()
        offers = _fetch_counted(search, stats, horizon, sleep, clock)
        if offers is not None:
            market.record({search.rental_type: {o.id: o for o in offers}}, now)
            market.default_round_done()
    if stats.searched or stats.deferred:
        logger.info(
            "price alerts: %d searched (%d failed), %d deferred, %d notified",
            stats.searched,
            stats.failed,
            stats.deferred,
            stats.notified,
        )
    return stats
