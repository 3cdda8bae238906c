"""The one decision before anything starts spending: launch, Start, and later a policy's resume.

`begin(user, kind, price=...)` takes the person's spend lock, counts from the ledger what they run
and what they have in flight (our pending launches and starts), checks the team's limits, and
writes the PENDING audit row inside the same lock: the next decision for that person sees it as in
flight, so parallel requests cannot all pass a cap of one. The call to Vast happens after the lock
is released; its outcome moves the row on (`dashboard.audit.succeed` / `fail`).
"""

from datetime import timedelta

from django.utils import timezone

from dashboard import audit
from dashboard.guardrails import GuardrailExceeded, Usage, check_spend, person_lock
from dashboard.models import Action
from instances import costs
from instances.models import Instance

SPENDING = (Action.Kind.LAUNCH, Action.Kind.START)
# A pending action older than this is a crash's leftover, not a call still in flight.
IN_FLIGHT_FOR = timedelta(minutes=15)


def usage(user, now=None, *, besides=None):
    """What `user` spends now, from the ledger and our pending actions; `besides` (a Vast id)
    leaves that instance out of the running count (a raised bid keeps its instance, not a new one)."""
    now = now or timezone.now()
    running = Instance.objects.filter(launched_by=user, gone_at__isnull=True, status__in=costs.BILLED_AS_RUNNING)
    if besides is not None:
        running = running.exclude(vast_id=besides)
    running = running.count()
    in_flight = Action.objects.filter(
        user=user, kind__in=SPENDING, outcome=Action.Outcome.PENDING, created_at__gte=now - IN_FLIGHT_FOR
    ).count()
    return Usage(running=running, in_flight=in_flight, month_spend=costs.month_spend(user, now=now))


def begin(user, kind, *, price, offer_id=None, instance_id=None, detail=None):
    """Decide, under `user`'s lock, whether they may start spending at `price` $/hr; if so, return
    the PENDING audit row of the action, else record the refusal and raise GuardrailExceeded.
    A raised bid (kind BID) is checked at its new $/hr without counting its own instance twice:
    running, it already holds its GPU; stopped (outbid), the bid may start it again."""
    what = "launch" if kind == Action.Kind.LAUNCH else "start"
    besides = instance_id if kind == Action.Kind.BID else None
    with person_lock(user):
        try:
            check_spend(user, price, usage(user, besides=besides), what=what)
        except GuardrailExceeded as refusal:
            refused = refusal
        else:
            return audit.begin(user, kind, offer_id=offer_id, instance_id=instance_id, price=price, detail=detail)
    audit.forbid(user, kind, refused.message, offer_id=offer_id, instance_id=instance_id, limit=refused.limit)
    raise refused
