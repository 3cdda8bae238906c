"""The engine: takes the rules' decisions and acts on them, each at most once.

Information (NOTIFY) goes to `dashboard.notify`, which sends each key once. A rule in dry run
records the stops and destroys it would take (a `dry:` PolicyAction, once per occurrence) and
sends no warning of them. Any other stop or destroy is claimed before Vast is called: one
transaction checks that the ledger row is as the rule saw it, inserts the PolicyAction with the
decision's unique key (instance × policy × occurrence) and writes the PENDING audit row by
"system"; only the worker whose insert won calls Vast, through the service module. A crash after
the claim leaves it PENDING, and `settle_stale` later marks it UNKNOWN: it is never retried
blindly (the next sync shows whether it happened). Only a FAILED claim (Vast answered no, so
nothing happened) may be claimed again, by a conditional UPDATE, a few times.
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from dashboard import audit, vast
from dashboard.models import Action, NotificationEvent
from dashboard.notify import notify
from instances import ledger, sync
from instances.models import Instance, PolicyAction
from instances.policies import budget, idle, lease, storage
from instances.policies.config import Config
from instances.policies.facts import DESTROY, NOTIFY, STOP, WARN, detail_link, live_facts, name_of

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(minutes=5)
# A claim still PENDING this long after it was taken lost its worker between claim and outcome.
STALE_AFTER = timedelta(minutes=5)
LOST = (
    "The worker stopped between the decision and Vast.ai's answer, so this may or may not have happened; "
    "it is not retried. The instance's status in the ledger shows the outcome."
)
KINDS = {STOP: Action.Kind.STOP, DESTROY: Action.Kind.DESTROY}
PAST = {STOP: "Stopped", DESTROY: "Destroyed"}
Outcome = PolicyAction.Outcome


def decide(now=None, config=None):
    """Every rule's decisions now, from the ledger (acts on nothing)."""
    now = now or timezone.now()
    config = config or Config.current()
    facts = live_facts()
    return [
        *lease.decide(facts, config, now),
        *idle.decide(facts, config, now),
        *storage.decide(facts, config, now, storage.warned_at(facts)),
        *budget.decide(facts, config, now),
    ]


def preview(now=None, config=None):
    """The stops and destroys the policies would take now, for the policies page."""
    return [decision for decision in decide(now, config) if decision.acts_on_vast]


def evaluate(now=None):
    """Apply every policy once (the worker calls this after each sync). Returns [(key, what
    happened)]; one decision failing never keeps the others from being taken."""
    now = now or timezone.now()
    config = Config.current()
    settle_stale(now)
    decisions = decide(now, config)
    settled = _settled(decisions, config)
    outcomes = []
    for decision in decisions:
        if decision.key in settled:
            continue  # told, noted or claimed before: no write at every sync
        try:
            outcomes.append((decision.key, _apply(decision, config, now)))
        except Exception:
            logger.exception("policy %s: %s failed in the dashboard", decision.policy, decision.key)
            outcomes.append((decision.key, "error"))
    return outcomes


def _settled(decisions, config):
    """The keys among `decisions` that need nothing more (two queries): notifications already
    sent, dry runs already noted, and claims that may not be taken again (only a FAILED one with
    attempts left may). Only a shortcut: the inserts and the claim are what make each key once."""
    told = {d.key for d in decisions if d.act in (NOTIFY, WARN)}
    told = set(NotificationEvent.objects.filter(key__in=told).values_list("key", flat=True))
    keys = {d.key: d.key for d in decisions if d.acts_on_vast} | {f"dry:{d.key}": d.key for d in decisions}
    claims = PolicyAction.objects.filter(key__in=keys).values_list("key", "outcome", "attempts")
    dry = {key for key, *_ in claims if key.startswith("dry:")}
    taken = {keys[key] for key, outcome, attempts in claims if not key.startswith("dry:")}
    retry = {keys[key] for key, outcome, attempts in claims if outcome == Outcome.FAILED and attempts < MAX_ATTEMPTS}
    noted = {d.key for d in decisions if f"dry:{d.key}" in dry and config.is_dry(d.policy)}
    return told | (taken - retry) | noted


def _tell(decision):
    """Send the decision's notification (once per key); True if this call sent it."""
    return notify(
        decision.key, decision.kind, decision.text, users=decision.users, admins=decision.admins, link=decision.link
    )


def _apply(decision, config, now):
    if decision.act == NOTIFY:
        return "notified" if _tell(decision) else "notified before"
    if config.is_dry(decision.policy):
        return _record_dry(decision, now) if decision.acts_on_vast else "held back (dry run)"
    if decision.act == WARN:
        return "warned" if _tell(decision) else "warned before"
    return _act(decision, now)


def _record_dry(decision, now):
    """Note once what a rule in dry run would have done (it never uses the real action's key)."""
    try:
        with transaction.atomic():
            PolicyAction.objects.create(
                key=f"dry:{decision.key}",
                instance=decision.row,
                policy=decision.policy,
                act=decision.act,
                rule=decision.rule[:300],
                decided_at=now,
                outcome=Outcome.DRY_RUN,
                message=decision.would,
            )
    except IntegrityError:
        return "dry run (noted before)"
    logger.info("policy dry run: %s", decision.would)
    return "dry run"


def _unchanged(fresh, seen):
    """The ledger row is still as the rule saw it (nobody stopped, extended or exempted it meanwhile)."""
    fields = ("status", "stop_at", "keep_running", "gone_at")
    return all(getattr(fresh, name) == getattr(seen, name) for name in fields)


def _claim(decision, now):
    """Claim the decision's action and write its PENDING audit row by "system", in one
    transaction; the claim, or None when it is taken (or moot: the row changed)."""
    row = decision.row
    with transaction.atomic():
        fresh = Instance.objects.select_for_update().filter(pk=row.pk).first()
        if fresh is None or not _unchanged(fresh, row):
            return None
        try:
            with transaction.atomic():
                claim = PolicyAction.objects.create(
                    key=decision.key,
                    instance=row,
                    policy=decision.policy,
                    act=decision.act,
                    rule=decision.rule[:300],
                    decided_at=now,
                    outcome=Outcome.PENDING,
                )
        except IntegrityError:
            again = PolicyAction.objects.filter(
                key=decision.key, outcome=Outcome.FAILED, attempts__lt=MAX_ATTEMPTS, decided_at__lte=now - RETRY_AFTER
            ).update(outcome=Outcome.PENDING, attempts=F("attempts") + 1, decided_at=now, message="")
            if not again:
                return None
            claim = PolicyAction.objects.get(key=decision.key)
        owner = row.launched_by_name or "outside the dashboard"
        detail = {"policy": decision.policy, "rule": decision.rule, "key": decision.key, "owner": owner}
        if decision.act == STOP:
            detail["state"] = "stopped"
        claim.action = audit.begin(
            None, KINDS[decision.act], instance_id=row.vast_id, price=row.dph_total, detail=detail
        )
        claim.save(update_fields=["action"])
    return claim


def _call(decision):
    """The one call to Vast, through the service module."""
    if decision.act == STOP:
        vast.set_state(decision.row.vast_id, "stopped")
    else:
        vast.destroy(decision.row.vast_id)


def _act(decision, now):
    """Claim, call Vast, record: the stop or destroy happens at most once."""
    claim = _claim(decision, now)
    if claim is None:
        return "taken"
    row = decision.row
    try:
        _call(decision)
    except Exception as error:
        if not isinstance(error, vast.VastError):
            logger.exception("policy %s: the call for %s failed in the dashboard", decision.policy, decision.key)
        audit.fail(claim.action, error)
        lost = not isinstance(error, vast.VastError) or error.outcome_unknown
        claim.outcome = Outcome.UNKNOWN if lost else Outcome.FAILED
        claim.message = claim.action.message
        claim.save(update_fields=["outcome", "message"])
        text = f"The policy could not {decision.act} {name_of(row)} ({decision.rule}): {claim.message}"
        notify(
            f"policy-failed:{decision.key}:{claim.attempts}", "policy_action", text, admins=True, link=detail_link(row)
        )
        sync.request_sync()
        return claim.outcome
    if decision.act == STOP:
        ledger.record_state(row.vast_id, "stopping")
    else:
        ledger.record_destroyed(row.vast_id, None)
    message = f"{PAST[decision.act]} {name_of(row)} by policy: {decision.rule}."
    audit.succeed(claim.action, message)
    claim.outcome, claim.message = Outcome.DONE, message
    claim.save(update_fields=["outcome", "message"])
    logger.info("policy %s: %s", decision.policy, message)
    notify(
        f"policy:{decision.key}", "policy_action", message, users=decision.users, admins=decision.admins,
        link=detail_link(row),
    )  # fmt: skip
    sync.request_sync()
    return Outcome.DONE


def settle_stale(now=None):
    """Claims left PENDING by a worker that died between claim and outcome become UNKNOWN (with
    their audit rows), and the admins are told; nothing is retried."""
    now = now or timezone.now()
    stale = PolicyAction.objects.filter(outcome=Outcome.PENDING, decided_at__lt=now - STALE_AFTER)
    for claim in stale.select_related("instance"):
        if not PolicyAction.objects.filter(pk=claim.pk, outcome=Outcome.PENDING).update(
            outcome=Outcome.UNKNOWN, message=LOST
        ):
            continue
        Action.objects.filter(pk=claim.action_id, outcome=Action.Outcome.PENDING).update(
            outcome=Action.Outcome.UNKNOWN, message=LOST
        )
        text = f"The policy's {claim.act} of {name_of(claim.instance)} ({claim.rule}) has no known outcome: {LOST}"
        notify(f"policy-unknown:{claim.key}", "policy_action", text, admins=True, link=detail_link(claim.instance))
        logger.warning("policy claim %s lost its worker; marked unknown", claim.key)


__all__ = ["decide", "evaluate", "preview", "settle_stale"]
