"""The one place JSON from Vast.ai becomes dataclasses.

A dataclass field typed `X` is required and `X | None` optional; the JSON key is the
field's name unless the parser says otherwise. A missing required field, an ill-typed
value or a wrong shape raises VastBadResponse. Numeric strings are accepted for numbers.

An offer search answers up to 256 offers of ~40 fields each, so the hot path is lean: each
class's fields and converters are worked out once (`_plan`), the common value types are
checked first, and a dataclass is filled without its frozen __init__ (`_make`).
"""

import dataclasses
import functools
import json
import math
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

import orjson

from dashboard.vast.errors import VastBadResponse, VastNotFound, refused, vast_text
from dashboard.vast.values import Account, ApiKey, Instance, LaunchResult, Offer, StateChange

T = TypeVar("T")
# Never copied into a dataclass, not even into `raw`.
_SECRET_FIELDS = frozenset({"api_key", "key", "instance_api_key", "new_api_key", "sid", "password"})


def _to_int(value: Any) -> int:
    if type(value) is int:  # the common case first: bool is not `int` here
        return value
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    number = float(value)  # numeric strings and integral floats are fine
    if not number.is_integer():
        raise ValueError
    return int(number)


def _to_float(value: Any) -> float:
    if type(value) is float and math.isfinite(value):  # the common case first
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise TypeError


def _to_datetime(value: Any) -> datetime:
    return datetime.fromtimestamp(_to_float(value), tz=UTC)


_COERCERS: dict[Any, Callable[[Any], Any]] = {
    int: _to_int,
    float: _to_float,
    str: _to_str,
    bool: _to_bool,
    datetime: _to_datetime,
}


class _Fields:
    """Typed reads from one JSON object; a missing required or ill-typed field raises VastBadResponse."""

    def __init__(self, data: Any, what: str) -> None:
        if not isinstance(data, dict):
            raise VastBadResponse(msg=f"{what} is {type(data).__name__}, not an object")
        self.data, self.what = data, what

    def opt(self, key: str, coerce: Callable[[Any], T]) -> T | None:
        value = self.data.get(key)
        if value is None:
            return None
        try:
            return coerce(value)
        except (TypeError, ValueError, OverflowError):
            raise VastBadResponse(msg=f"{self.what}.{key} is an ill-typed {type(value).__name__}") from None

    def need(self, key: str, coerce: Callable[[Any], T]) -> T:
        value = self.opt(key, coerce)
        if value is None:
            raise VastBadResponse(msg=f"{self.what}.{key} is missing")
        return value


@functools.cache
def _plan(cls: type, special: frozenset[str]) -> tuple[tuple[str, Callable[[Any], Any] | None, bool, type], ...]:
    """How to read `cls`'s fields not in `special`, worked out once per class: (name, converter,
    required, exact type) each; `X` is required, `X | None` optional, a converter of None marks
    a type with no converter (such a field must come in `special`), and a value of the exact
    type (a finite one for float) is taken as it is."""
    unknown = special - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    plan = []
    for f in dataclasses.fields(cls):
        if f.name in special:
            continue
        args = typing.get_args(f.type)
        optional = type(None) in args
        kind = args[0] if optional else f.type
        plan.append((f.name, _COERCERS.get(kind), not optional, kind if kind in (int, float, str, bool) else _NO_TYPE))
    return tuple(plan)


class _NO_TYPE:
    """No JSON value is of this type: such fields always go through their converter."""


def _build(cls: type[T], fields: _Fields, **special: Any) -> T:
    """Build a dataclass from same-named JSON fields: `X` is required, `X | None` optional;
    fields of other types must come in `special`."""
    values = dict(special)
    get = fields.data.get
    isfinite = math.isfinite
    for name, coerce, required, exact in _plan(cls, frozenset(special)):
        value = get(name)
        # Most values already have their field's type: no converter call (bool is not int here).
        if value.__class__ is exact and (exact is not float or isfinite(value)):
            values[name] = value
            continue
        if coerce is None:
            raise KeyError(f"{cls.__name__}.{name} has no converter; pass it to _build")
        if value is None:
            if required:
                raise VastBadResponse(msg=f"{fields.what}.{name} is missing")
            values[name] = None
            continue
        try:
            values[name] = coerce(value)
        except (TypeError, ValueError, OverflowError):
            raise VastBadResponse(msg=f"{fields.what}.{name} is an ill-typed {type(value).__name__}") from None
    return _make(cls, values)


def _make(cls: type[T], values: dict[str, Any]) -> T:
    """cls(**values) for a frozen dataclass given every one of its fields, without the generated
    __init__: a frozen one sets each field through object.__setattr__, which for Offer's 42 fields
    was half the time of parsing an answer. Classes with a __post_init__ or slots go through it."""
    if not _plain(cls):
        return cls(**values)
    made = object.__new__(cls)
    made.__dict__.update(values)
    return made


@functools.cache
def _plain(cls: type) -> bool:
    """Whether `cls` can be filled through its __dict__ (no __post_init__, no slots)."""
    return not (hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"))


def _public(data: dict[str, Any]) -> Mapping[str, Any]:
    """A read-only view of `data` without its secret fields (`data` itself when it has none)."""
    if _SECRET_FIELDS.isdisjoint(data):
        return MappingProxyType(data)
    return MappingProxyType({k: v for k, v in data.items() if k not in _SECRET_FIELDS})


def _list_at(data: Any, key: str, what: str) -> list[Any]:
    value = _Fields(data, what).data.get(key)
    if not isinstance(value, list):
        raise VastBadResponse(msg=f"{what}.{key} is {type(value).__name__}, not a list")
    return value


def _parse_offer(data: Any) -> Offer:
    f = _Fields(data, "offer")
    reliability = f.opt("reliability", _to_float)
    if reliability is None:
        reliability = f.opt("reliability2", _to_float)
    return _build(Offer, f, reliability=reliability, raw=_public(f.data))


def _parse_env(value: Any) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    pairs = value.items() if isinstance(value, dict) else value
    try:
        return MappingProxyType({_to_str(k): str(v) for k, v in pairs})
    except (TypeError, ValueError):
        raise VastBadResponse(msg="instance.extra_env is not a list of [key, value] pairs") from None


def _parse_ports(value: Any) -> Mapping[str, tuple[int, ...]]:
    if not isinstance(value, dict):  # null unless running; one old schema has a bare list
        if value is None or isinstance(value, list):
            return MappingProxyType({})
        raise VastBadResponse(msg="instance.ports is not an object")
    try:
        return MappingProxyType(
            {_to_str(port): tuple(_to_int(b["HostPort"]) for b in bindings or ()) for port, bindings in value.items()}
        )
    except (TypeError, ValueError, KeyError):
        raise VastBadResponse(msg="instance.ports has an ill-typed binding") from None


def _parse_args(value: Any) -> tuple[str, ...]:
    """`image_args`: the entrypoint's arguments (a list of strings; null or missing means none)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise VastBadResponse(msg="instance.image_args is not a list")
    return tuple(_to_str(arg) for arg in value)


def _parse_instance(data: Any) -> Instance:
    f = _Fields(data, "instance")
    start, end = (f.opt(key, _to_int) for key in ("direct_port_start", "direct_port_end"))
    return _build(
        Instance,
        f,
        image=f.opt("image_uuid", _to_str),
        image_args=_parse_args(f.data.get("image_args")),
        env=_parse_env(f.data.get("extra_env")),
        ports=_parse_ports(f.data.get("ports")),
        direct_port_start=start if start is not None and start > 0 else None,
        direct_port_end=end if end is not None and end > 0 else None,
        raw=_public(f.data),
    )


def parse_instance(data: Any) -> Instance:
    """One instance object (as the list gives it, or a stored copy of its `raw`) → Instance."""
    return _parse_instance(data)


def read_json(content: bytes) -> Any:
    """Vast's JSON (an answer, or one the offer cache kept). orjson reads an offer search (~0.5 MB)
    in a quarter of the time the standard library takes; what it refuses and Python's json allows
    (NaN, Infinity, UTF-16, lone surrogates) is read by the standard library, as httpx would.
    orjson reads an integer past 64 bits as a float where the standard library keeps it exact:
    Vast's ids and counts are far below that."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(content)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past the interpreter's limit
        raise VastBadResponse(msg="answer is not JSON") from exc


def parse_offers(data: Any) -> list[Offer]:
    """`{"offers": [...]}` from the search → offers, in Vast's order."""
    return [_parse_offer(item) for item in _list_at(data, "offers", "search answer")]


def names_no_secret(data: Any) -> bool:
    """Whether a search answer that parse_offers read names no secret field, at its top or in any
    offer (the fields `raw` drops): its bytes may then be kept as Vast sent them."""
    return _SECRET_FIELDS.isdisjoint(data) and all(_SECRET_FIELDS.isdisjoint(item) for item in data["offers"])


def offers_from_raw(raws: list[Any]) -> list[Offer]:
    """Offers rebuilt from stored copies of their `raw` fields (the offer cache keeps those),
    parsed exactly as a fresh answer is; VastBadResponse if a copy no longer parses."""
    return [_parse_offer(item) for item in raws]


def parse_instance_page(data: Any) -> tuple[list[Instance], str | None]:
    """One v1 list page → (its instances, the `next_token` or None on the last page)."""
    instances = [_parse_instance(item) for item in _list_at(data, "instances", "instance page")]
    return instances, _Fields(data, "instance page").opt("next_token", _to_str)


def parse_one_instance(data: Any) -> Instance:
    """`{"instances": {...}}` → the instance; `{"instances": null}` raises VastNotFound."""
    body = _Fields(data, "instance answer").data
    if "instances" not in body:
        raise VastBadResponse(msg="instance answer has no 'instances' key")
    if body["instances"] is None:
        raise VastNotFound(error="no_such_instance")
    return _parse_instance(body["instances"])


def parse_success(data: Any) -> dict[str, Any]:
    """The object of a write answer; `success: false` raises VastRejected with Vast's reason."""
    body = _Fields(data, "answer").data
    if body.get("success") is False:
        raise refused(body)
    return body


def parse_launch(data: Any) -> LaunchResult:
    """A create answer → LaunchResult. `success: false` with a `new_contract` means created but
    left stopped (started=False), not failure; without one it raises VastRejected."""
    f = _Fields(data, "launch answer")
    instance_id = f.opt("new_contract", _to_int)
    started = f.opt("success", _to_bool) is not False
    if instance_id is None:
        raise refused(f.data) if not started else VastBadResponse(msg="launch answer has no new_contract")
    message = vast_text(f.data)
    if not started and not message:
        message = "Vast.ai created the instance but left it stopped: the resources are not available right now."
    return LaunchResult(instance_id=instance_id, started=started, message=message)


def parse_state_change(data: Any) -> StateChange:
    """A start/stop answer → StateChange; `resources_unavailable` means queued, other refusals raise."""
    body = _Fields(data, "state answer").data
    if body.get("success") is False and body.get("error") == "resources_unavailable":
        message = vast_text(body) or "Vast.ai queued the change until the resources are free."
        return StateChange(queued=True, message=message)
    return StateChange(message=vast_text(parse_success(body)))


def parse_api_keys(data: Any) -> list[ApiKey]:
    """`{"apikeys": [...]}` (or the bare list) → key descriptions, never the key values."""
    items = data if isinstance(data, list) else _list_at(data, "apikeys", "api keys")
    return [_build(ApiKey, _Fields(item, "api key")) for item in items]


def parse_account(data: Any) -> Account:
    """The flat current-user object → Account; `api_key` and every other field not declared are dropped."""
    return _build(Account, _Fields(data, "user"))


def parse_gpu_names(data: Any) -> list[str]:
    """`{"gpu_names": [...]}` → the names, as the API spells them."""
    names = _list_at(data, "gpu_names", "gpu names")
    if not all(isinstance(name, str) for name in names):
        raise VastBadResponse(msg="gpu_names holds a non-string")
    return names
