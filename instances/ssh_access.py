"""Who can SSH into an instance: attaching people's keys through Vast, detaching them, and the
dashboard's records of both (`SshAttachment`), each write audited.

Attach and detach are writes: each is sent once and never retried. A key attached at launch
that Vast refuses (or never confirms) is a warning on the launch, never a failed launch.
"""

import logging
from dataclasses import dataclass

from django.contrib import messages
from django.utils import timezone

from dashboard import audit, vast
from dashboard.models import Action
from instances.models import SshAttachment, SshKey
from instances.ssh_keys import fingerprint_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What an attach or detach came to: `ok` False when it failed or may not have happened."""

    ok: bool
    message: str


@dataclass(frozen=True)
class VastEntry:
    """A key on Vast's list for an instance, with whose it is as far as the dashboard knows."""

    key: object  # dashboard.vast.resources.ssh.SshKey
    fingerprint: str | None
    owners: tuple  # names of the people holding this key in the dashboard
    record: SshAttachment | None  # the live attach record it matches, if any


def live_attachments(instance_id):
    """The keys the dashboard attached to an instance and has not detached."""
    return SshAttachment.objects.filter(instance_id=instance_id, detached_at__isnull=True)


def _blob(line):
    """The type and base64 of a key line (comments differ between copies of one key)."""
    return tuple(line.split()[:2])


def _record(user, instance_id, key, vast_key_id):
    """Note that `key` is on the instance (one live record per key and instance)."""
    record = live_attachments(instance_id).filter(key=key).first()
    if record is None:
        return SshAttachment.objects.create(
            instance_id=instance_id,
            key=key,
            user=user,
            username=user.get_username(),
            key_name=key.name,
            fingerprint=key.fingerprint,
            vast_key_id=vast_key_id,
        )
    if vast_key_id and record.vast_key_id != vast_key_id:
        record.vast_key_id = vast_key_id
        record.save(update_fields=["vast_key_id"])
    return record


def attach(user, instance_id, key, *, via):
    """Attach `user`'s `key` to an instance on Vast (once), record it and audit it. A VastError
    is an Outcome that says so; any other exception is audited and raised."""
    detail = {"fingerprint": key.fingerprint, "key_name": key.name, "via": via}
    action = audit.begin(user, Action.Kind.SSH_ATTACH, instance_id=instance_id, detail=detail)
    try:
        result = vast.ssh_keys().attach(instance_id, key.public_key)
    except vast.VastError as exc:
        audit.fail(action, exc)
        logger.warning("attaching key %s to instance %s failed: %s", key.fingerprint, instance_id, exc.log_message())
        if exc.outcome_unknown:
            return Outcome(False, f"Vast.ai did not confirm attaching your key “{key.name}”; it may be there.")
        return Outcome(False, f"Your key “{key.name}” was not attached: {exc.message}")
    except Exception as exc:
        audit.fail(action, exc)
        raise
    _record(user, instance_id, key, result.key.id if result.key else None)
    if result.attached:
        message = f"Attached your key “{key.name}” ({key.fingerprint}) to instance {instance_id}."
    else:
        message = f"Your key “{key.name}” was already on instance {instance_id}."
    audit.succeed(action, message)
    return Outcome(True, message)


def attach_after_launch(user, instance_id):
    """Attach each of the launcher's keys to their new instance; [Outcome] (empty without keys).
    Nothing here can fail the launch: an unexpected error is logged and becomes a failed Outcome."""
    outcomes = []
    for key in SshKey.objects.filter(user=user):
        try:
            outcomes.append(attach(user, instance_id, key, via="launch"))
        except Exception:
            logger.exception("attaching key %s to new instance %s failed", key.fingerprint, instance_id)
            outcomes.append(Outcome(False, f"Your key “{key.name}” could not be attached (a dashboard fault)."))
    return outcomes


def attach_launcher_keys(request, instance_id):
    """After a launch: attach the launcher's keys to the new instance and say how it went (a
    warning per key that failed; a hint when they have no key)."""
    outcomes = attach_after_launch(request.user, instance_id)
    if not outcomes:
        messages.info(
            request,
            "You have no SSH key in the dashboard, so none was attached: add your public key under "
            "SSH keys, then press “Add my key” on this page.",
        )
    attached = [outcome for outcome in outcomes if outcome.ok]
    if len(attached) == 1:
        messages.info(request, attached[0].message)
    elif attached:
        messages.info(request, f"Attached {len(attached)} of your SSH keys to instance {instance_id}.")
    for outcome in outcomes:
        if not outcome.ok:
            messages.warning(request, f"{outcome.message} The instance was launched; try “Add my key” on its page.")


def vast_entries(instance_id):
    """Vast's list of the instance's keys (a live read), each with whose it is. Fills in the
    Vast id of dashboard records that lacked it, so they can be detached."""
    keys = vast.ssh_keys().on_instance(instance_id)
    records = list(live_attachments(instance_id))
    prints = {key.id: fingerprint_of(key.public_key) for key in keys}
    owners = {}
    for fp, username in SshKey.objects.filter(fingerprint__in=set(prints.values()) - {None}).values_list(
        "fingerprint", "user__username"
    ):
        owners.setdefault(fp, []).append(username)
    entries = []
    for key in keys:
        fp = prints[key.id]
        record = next((r for r in records if r.vast_key_id == key.id), None)
        if record is None and fp is not None:
            record = next((r for r in records if r.vast_key_id is None and r.fingerprint == fp), None)
            if record is not None:
                record.vast_key_id = key.id
                record.save(update_fields=["vast_key_id"])
        entries.append(VastEntry(key=key, fingerprint=fp, owners=tuple(sorted(owners.get(fp, ()))), record=record))
    return entries


def find_record(instance_id, vast_key_id):
    """The live record of the key Vast knows as `vast_key_id` on an instance, or None; a record
    whose Vast id is not known yet is matched through Vast's list (one read)."""
    records = live_attachments(instance_id)
    record = records.filter(vast_key_id=vast_key_id).first()
    if record is None and records.filter(vast_key_id__isnull=True).exists():
        entry = next((e for e in vast_entries(instance_id) if e.key.id == vast_key_id), None)
        record = entry.record if entry else None
    return record


def detach(user, instance_id, vast_key_id, record, *, via):
    """Detach the key Vast knows as `vast_key_id` from an instance (once) and audit it; `record`
    (or None for a key the dashboard did not attach) is marked detached. A key Vast no longer has
    there counts as detached."""
    detail = {"vast_key_id": vast_key_id, "via": via}
    if record is not None:
        detail.update(fingerprint=record.fingerprint, key_name=record.key_name, owner=record.username)
    action = audit.begin(user, Action.Kind.SSH_DETACH, instance_id=instance_id, detail=detail)
    what = f"“{record.key_name}” ({record.username}'s)" if record else f"key {vast_key_id}"
    try:
        vast.ssh_keys().detach(instance_id, vast_key_id)
    except vast.VastNotFound:
        message = f"The SSH key {what} was no longer on instance {instance_id}."
    except vast.VastError as exc:
        audit.fail(action, exc)
        logger.warning("detaching key %s from instance %s failed: %s", vast_key_id, instance_id, exc.log_message())
        return Outcome(False, f"The SSH key {what} was not detached: {exc.message}")
    except Exception as exc:
        audit.fail(action, exc)
        raise
    else:
        message = f"Detached the SSH key {what} from instance {instance_id}."
    if record is not None:
        record.detached_at, record.detached_by = timezone.now(), user.get_username()
        record.save(update_fields=["detached_at", "detached_by"])
    audit.succeed(action, message)
    return Outcome(True, message)


def remove_key(user, key, live_instance_ids):
    """Remove one of `user`'s keys: first detach it from each live instance the dashboard put it
    on (`live_instance_ids`: the instances not yet gone), then delete it. [Outcome] of the detaches."""
    outcomes = []
    records = SshAttachment.objects.filter(key=key, detached_at__isnull=True)
    for record in records.filter(instance_id__in=live_instance_ids):
        vast_key_id = record.vast_key_id
        if vast_key_id is None:
            try:
                vast_key_id = _vast_id_of(record)
            except vast.VastNotFound:  # the instance is gone on Vast, and the key with it
                vast_key_id = None
            except vast.VastError as exc:
                outcomes.append(Outcome(False, f"Not detached from instance {record.instance_id}: {exc.message}"))
                continue
        if vast_key_id is None:  # Vast does not list it there: nothing to detach
            record.detached_at, record.detached_by = timezone.now(), user.get_username()
            record.save(update_fields=["detached_at", "detached_by"])
            continue
        outcomes.append(detach(user, record.instance_id, vast_key_id, record, via="key removed"))
    action = audit.begin(user, Action.Kind.SSH_KEY_REMOVE, detail=key_detail(key))
    # On instances that are gone the key went with them.
    records.exclude(instance_id__in=live_instance_ids).update(detached_at=timezone.now(), detached_by="")
    key.delete()
    audit.succeed(action, f"Removed the SSH key “{key.name}” ({key.fingerprint}).")
    return outcomes


def _vast_id_of(record):
    """The Vast id of a record's key on its instance, from Vast's list (None if not listed)."""
    for entry in vast_entries(record.instance_id):
        if entry.fingerprint == record.fingerprint:
            return entry.key.id
    return None


def key_detail(key):
    """What the audit log keeps of a key: never more than its name, type, size and fingerprint."""
    return {"fingerprint": key.fingerprint, "key_name": key.name, "key_type": key.key_type, "bits": key.bits}
