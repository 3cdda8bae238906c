"""SSH keys on Vast.ai: the account's keys, and the keys attached to one instance.

Request shapes are those of the official client (vastai 1.9.1 `api/keys.py`); where Vast's
docs disagree about answers (shared/vast-api-more.md §1) both shapes are read, and
docs/vast-api-decisions.md says which way each point went. A public key is no secret, but
nothing else of an answer is kept.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dashboard.vast.errors import VastBadResponse, VastNotFound, refused, vast_text
from dashboard.vast.parsing import _Fields, _to_float, _to_int, _to_str

# `error` codes (or words of `msg`) of a 200 `success: false` attach that mean "already there".
_ALREADY = ("already", "duplicate", "exists")


@dataclass(frozen=True)
class SshKey:
    """A public key Vast holds, for the account or for one instance; `id` is Vast's (the one
    `detach` takes), `public_key` the OpenSSH line as stored."""

    id: int
    public_key: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class Attachment:
    """The outcome of an attach: `attached` False when Vast already had the key on the instance
    (it answers 200 with success false). `key` is the row Vast made, when it says."""

    attached: bool
    key: SshKey | None = None
    message: str = ""


def _check_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Vast ids are positive integers, not {value!r}")
    return value


def _created(value: Any) -> datetime | None:
    """created_at as Vast sends it (an ISO string; older answers an epoch number), else None."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(_to_float(value), tz=UTC)
    return None


def _parse_key(data: Any, what: str = "ssh key") -> SshKey:
    """One key row: `public_key` (old docs: `key`; some answers `ssh_key`) and an int `id`."""
    f = _Fields(data, what)
    text = next((f.opt(name, _to_str) for name in ("public_key", "key", "ssh_key") if f.data.get(name)), None)
    if text is None:
        raise VastBadResponse(msg=f"{what} has no public_key")
    return SshKey(id=f.need("id", _to_int), public_key=text.strip(), created_at=_created(f.data.get("created_at")))


def _key_list(items: Any, what: str) -> list[SshKey]:
    """The live keys of a list (rows with a `deleted_at` are gone)."""
    if isinstance(items, str):  # the per-instance list is JSON inside a string
        try:
            items = json.loads(items)
        except ValueError:
            raise VastBadResponse(msg=f"{what} is a string but not JSON") from None
    if not isinstance(items, list):
        raise VastBadResponse(msg=f"{what} is {type(items).__name__}, not a list")
    return [_parse_key(item, what) for item in items if not (isinstance(item, dict) and item.get("deleted_at"))]


def parse_account_keys(data: Any) -> list[SshKey]:
    """GET /api/v0/ssh/: a bare array (a vast-cli test also accepts `{"ssh_keys": [...]}`)."""
    return _key_list(data if isinstance(data, list) else _Fields(data, "ssh keys").data.get("ssh_keys"), "ssh keys")


def parse_instance_keys(data: Any) -> list[SshKey]:
    """GET /api/v0/instances/{id}/ssh/: `{"success", "ssh_keys": "<JSON array in a string>"}`."""
    body = _Fields(data, "instance ssh keys").data
    if body.get("success") is False:
        raise refused(body)
    return _key_list(body.get("ssh_keys"), "instance ssh keys")


def parse_created(data: Any) -> SshKey:
    """POST /api/v0/ssh/: `{"success": true, "key": {row}}`."""
    body = _Fields(data, "ssh key answer").data
    if body.get("success") is False:
        raise refused(body)
    return _parse_key(body.get("key"), "ssh key answer.key")


def parse_attached(data: Any) -> Attachment:
    """POST /api/v0/instances/{id}/ssh/: `{"success", "msg", "key": "<row as JSON>"}`; a key
    already on the instance is a 200 with success false, which is not a failure here."""
    body = _Fields(data, "attach answer").data
    message = vast_text(body)
    if body.get("success") is False:
        said = f"{body.get('error') or ''} {message}".lower()
        if any(word in said for word in _ALREADY):
            return Attachment(attached=False, message=message)
        raise refused(body)
    raw = body.get("key")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    key = _parse_key(raw, "attach answer.key") if isinstance(raw, dict) else None
    return Attachment(attached=True, key=key, message=message)


def parse_detached(data: Any) -> str:
    """DELETE /api/v0/instances/{id}/ssh/{key_id}/: `{"success", "msg"}`. Vast's generated docs
    answer a missing key or instance with 200 and success false, its older docs with a 404:
    both raise VastNotFound."""
    body = _Fields(data, "detach answer").data
    if body.get("success") is False:
        code = body.get("error") if isinstance(body.get("error"), str) else None
        if code and code.startswith("no_such"):
            raise VastNotFound(status=200, error=code, msg=vast_text(body) or None)
        raise refused(body)
    return vast_text(body)


def _parse_deleted(data: Any) -> None:
    body = _Fields(data, "delete answer").data
    if body.get("success") is False:
        raise refused(body)


class SshKeys:
    """`client.ssh_keys`: the account's SSH keys and each instance's, over the client's `_call`
    (so the same auth, rate limits, retries of reads only, redaction and logging)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def account_keys(self) -> list[SshKey]:
        """The account's keys, which Vast adds to every instance created after them: GET /api/v0/ssh/."""
        return self._client._call("GET", "/api/v0/ssh/", parse=parse_account_keys)

    def add_to_account(self, public_key: str) -> SshKey:
        """Add a key to the account: POST /api/v0/ssh/ {"ssh_key": ...}. Sent once."""
        return self._client._call("POST", "/api/v0/ssh/", body={"ssh_key": public_key}, parse=parse_created)

    def remove_from_account(self, key_id: int) -> None:
        """Remove an account key: DELETE /api/v0/ssh/{id}/ with body {} (the client's DELETEs send {})."""
        self._client._call("DELETE", f"/api/v0/ssh/{_check_id(key_id)}/", body={}, parse=_parse_deleted)

    def on_instance(self, instance_id: int) -> list[SshKey]:
        """The keys on one instance: GET /api/v0/instances/{id}/ssh/. VastNotFound when it is gone."""
        path = f"/api/v0/instances/{_check_id(instance_id)}/ssh/"
        return self._client._call("GET", path, parse=parse_instance_keys)

    def attach(self, instance_id: int, public_key: str) -> Attachment:
        """Attach a key to an instance: POST /api/v0/instances/{id}/ssh/ {"ssh_key": ...}, as the
        official client's `attach ssh` sends it. A write: sent once, never retried."""
        path = f"/api/v0/instances/{_check_id(instance_id)}/ssh/"
        return self._client._call("POST", path, body={"ssh_key": public_key}, parse=parse_attached)

    def detach(self, instance_id: int, key_id: int) -> str:
        """Detach a key (its id on the instance) from an instance: DELETE
        /api/v0/instances/{id}/ssh/{key_id}/ with body {}. VastNotFound when it is not (or no
        longer) there."""
        path = f"/api/v0/instances/{_check_id(instance_id)}/ssh/{_check_id(key_id)}/"
        return self._client._call("DELETE", path, body={}, parse=parse_detached)
