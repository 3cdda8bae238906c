"""Bulk start, stop and destroy, exactly as the official client sends them (vastai 1.9.1
`api/instances.py`: `start_instance`/`stop_instance`/`destroy_instance` given a list):

- start/stop: `PUT /api/v0/instances/` with `{"state": "running"|"stopped", "ids": [...]}`;
- destroy: `DELETE /api/v0/instances/` with `{"instance_ids": [...]}`.

Vast takes at most 64 ids a call ("chunk length of N > 64"), so longer lists go in chunks of 64,
one call each, as the CLI's `split_list(ids, 64)` does. Writes are never retried (the CLI retries
a failed chunk up to five times; a destroy or a start sent twice is not ours to risk). Each
chunk's outcome is kept apart, so a caller can tell which ids Vast accepted.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from dashboard.vast import parsing
from dashboard.vast.errors import VastError, vast_text

PATH: Final = "/api/v0/instances/"
MAX_IDS: Final = 64


@dataclass(frozen=True)
class BulkOutcome:
    """What Vast answered for one chunk of ids: accepted (`error` None; `queued` when a start waits
    for free GPUs) or refused/failed (`error`, whose `outcome_unknown` says the answer was lost)."""

    ids: tuple[int, ...]
    error: VastError | None = None
    queued: bool = False
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def _ids(ids: Iterable[int]) -> list[int]:
    """The ids once each, in order; each a positive integer."""
    unique = list(dict.fromkeys(ids))
    for value in unique:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"Vast ids are positive integers, not {value!r}")
    if not unique:
        raise ValueError("no instance ids given")
    return unique


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + MAX_IDS] for i in range(0, len(ids), MAX_IDS)]


class Bulk:
    """`client.bulk`: one call per chunk of at most 64 instances."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def set_state(self, ids: Iterable[int], state: Literal["running", "stopped"]) -> list[BulkOutcome]:
        """Start ("running") or stop ("stopped") these instances: `PUT /api/v0/instances/`
        `{"state": state, "ids": [...]}` per chunk. `resources_unavailable` means queued."""
        if state not in ("running", "stopped"):
            raise ValueError(f"state must be running or stopped, not {state!r}")
        outcomes = []
        for chunk in _chunks(_ids(ids)):
            body = {"state": state, "ids": chunk}
            try:
                change = self._client._call("PUT", PATH, body=body, parse=parsing.parse_state_change)
            except VastError as exc:
                outcomes.append(BulkOutcome(tuple(chunk), error=exc))
            else:
                outcomes.append(BulkOutcome(tuple(chunk), queued=change.queued, message=change.message))
        return outcomes

    def destroy(self, ids: Iterable[int]) -> list[BulkOutcome]:
        """Destroy these instances and their disks: `DELETE /api/v0/instances/`
        `{"instance_ids": [...]}` per chunk."""
        outcomes = []
        for chunk in _chunks(_ids(ids)):
            try:
                answer = self._client._call("DELETE", PATH, body={"instance_ids": chunk}, parse=parsing.parse_success)
            except VastError as exc:
                outcomes.append(BulkOutcome(tuple(chunk), error=exc))
            else:
                outcomes.append(BulkOutcome(tuple(chunk), message=vast_text(answer)))
        return outcomes
