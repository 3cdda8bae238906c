"""The search grammar: `{field: {op: value}}` conditions, ordering, limits.

Offer search (`compile_search`) and the v1 instance list share the condition
and ordering code. Values are coerced to the column's type at comparison
time, because the CLI sends numbers as strings (`{"gte": "2"}`).
"""

import functools
import operator
from dataclasses import dataclass

from vastsim.catalog import driver_vers
from vastsim.pricing import RENTAL_TYPES

OPS = {"eq", "neq", "gt", "gte", "lt", "lte", "in", "notin"}
_ORDERING = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
DEFAULT_LIMIT = 64
DEFAULT_STORAGE_GB = 8.0

# Server-side aliases and virtual columns (vast-api.md §2.2).
OFFER_ALIASES = {
    "reliability2": "reliability",
    "dphtotal": "dph_total",
    "gpu_totalram": "gpu_total_ram",
    "ubuntu_version": "os_version",
}
_GB_COLUMNS = {"gpu_ram_GB": "gpu_ram", "cpu_ram_GB": "cpu_ram", "gpu_totalram_GB": "gpu_total_ram"}
_VIRTUAL = {
    "geolocation": lambda offer: offer["geolocation"][-2:],
    "datacenter": lambda offer: offer["hosting_type"] == 1,
    "verified": lambda offer: offer["vericode"] == 1,
    "driver_version": lambda offer: offer["driver_vers"],
    # Real offers have external null; the CLI's default `external eq false` must keep them.
    "external": lambda offer: bool(offer["external"]),
}
_SEARCH_KEYS = {"order", "type", "limit", "allocated_storage", "target_reliability"}
_IGNORED_KEYS = {"disable_bundling", "extra_ids", "gpu_option", "show_incompatible", "sort_option", "template_id"}


class QueryError(Exception):
    """A query the server refuses; the caller prefixes the message for `msg`."""


@dataclass(frozen=True)
class Condition:
    """One compiled `field op operand` test."""

    field: str
    getter: object
    op: str
    operand: object


@dataclass(frozen=True)
class Search:
    """A validated offer query."""

    conditions: tuple
    order: tuple  # of (getter, descending)
    limit: int
    kind: str
    storage_gb: float


def _number(value, what):
    """`value` as a float, accepting numeric strings; QueryError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QueryError(f"{what} must be a number")
    try:
        return float(value)
    except ValueError:
        raise QueryError(f"{what} must be a number") from None


def coerce(operand, value):
    """The query operand converted to the type of the row's `value`."""
    if operand is None or value is None:
        return operand
    if isinstance(value, bool):
        if isinstance(operand, str) and operand.lower() in {"true", "false"}:
            return operand.lower() == "true"
        return operand
    if isinstance(value, (int, float)):
        if isinstance(operand, str):
            try:
                return float(operand)
            except ValueError:
                return operand
        return operand
    if isinstance(value, str) and isinstance(operand, (int, float)) and not isinstance(operand, bool):
        return str(operand)
    return operand


def test(op, value, operand):
    """Whether a row `value` satisfies `op operand`."""
    if op in {"in", "notin"}:
        hit = any(value == coerce(item, value) for item in operand)
        return hit if op == "in" else not hit
    operand = coerce(operand, value)
    if op == "eq":
        return value == operand
    if op == "neq":
        return value != operand
    if value is None or operand is None:
        return False
    try:
        return _ORDERING[op](value, operand)
    except TypeError:
        return False


def compile_conditions(conditions, resolve, transform=None):
    """Compile `{field: {op: value}}` into Conditions; `resolve(field)` gives
    a getter or raises QueryError, `transform(field, operand)` adjusts values."""
    compiled = []
    for field, ops in conditions.items():
        getter = resolve(field)
        if not isinstance(ops, dict):
            raise QueryError(f"condition for {field} must be a dict of operators")
        for op, operand in ops.items():
            if op not in OPS:
                raise QueryError(f"unknown operator {op!r} for {field}")
            if op in {"in", "notin"}:
                if not isinstance(operand, list):
                    raise QueryError(f"{field} {op} needs a list")
                operand = [transform(field, item) if transform else item for item in operand]
            elif transform:
                operand = transform(field, operand)
            compiled.append(Condition(field, getter, op, operand))
    return tuple(compiled)


def matches(row, conditions):
    """Whether `row` satisfies every condition."""
    return all(test(c.op, c.getter(row), c.operand) for c in conditions)


def _compare(a, b):
    """Compare two column values; None sorts after everything (NULLS LAST)."""
    if a is None or b is None:
        return (a is None) - (b is None)
    try:
        return (a > b) - (a < b)
    except TypeError:
        return (str(a) > str(b)) - (str(a) < str(b))


def compare_keys(left, right, descending):
    """Compare two tuples of column values under per-column directions."""
    for a, b, desc in zip(left, right, descending, strict=True):
        result = _compare(a, b)
        if result:
            return -result if desc else result
    return 0


def sort_rows(rows, order):
    """`rows` sorted by `order`, a sequence of (getter, descending) pairs."""
    getters = [getter for getter, _ in order]
    descending = [desc for _, desc in order]

    def cmp(x, y):
        return compare_keys([g(x) for g in getters], [g(y) for g in getters], descending)

    return sorted(rows, key=functools.cmp_to_key(cmp))


def _offer_getter(field, columns):
    """A getter for an offer field, after aliases and virtual columns."""
    if field in _VIRTUAL:
        return _VIRTUAL[field]
    if field in _GB_COLUMNS:
        column = _GB_COLUMNS[field]
        return lambda offer: offer[column] / 1000
    column = OFFER_ALIASES.get(field, field)
    if column not in columns:
        raise QueryError(f"unknown field {field!r}")
    return operator.itemgetter(column)


def _offer_operand(field, operand):
    """Offer-specific operand conversions (dotted driver versions)."""
    if field == "driver_version" and isinstance(operand, str) and "." in operand:
        return driver_vers(operand)
    return operand


def _order(order, columns):
    """Parse `[[field, "asc"|"desc"], ...]` into (getter, descending) pairs."""
    if not isinstance(order, list):
        raise QueryError("order must be a list of [field, direction] pairs")
    parsed = []
    for entry in order:
        if isinstance(entry, str):
            entry = [entry]
        if not isinstance(entry, list) or not 1 <= len(entry) <= 2 or not isinstance(entry[0], str):
            raise QueryError("order must be a list of [field, direction] pairs")
        direction = entry[1] if len(entry) == 2 else "asc"
        if direction not in {"asc", "desc"}:
            raise QueryError(f"order direction must be asc or desc, not {direction!r}")
        parsed.append((_offer_getter(entry[0], columns), direction == "desc"))
    return tuple(parsed)


def compile_search(query, columns):
    """Validate an offer query and compile it into a Search; `columns` are
    the offer's real column names."""
    if not isinstance(query, dict):
        raise QueryError("must be dict of conditions")
    kind = query.get("type", "on-demand")
    if kind not in RENTAL_TYPES:
        raise QueryError(f"type must be one of on-demand, bid, reserved, not {kind!r}")
    limit = query.get("limit")
    limit = DEFAULT_LIMIT if limit is None else int(_number(limit, "limit"))
    storage = query.get("allocated_storage")
    storage_gb = DEFAULT_STORAGE_GB if storage is None else _number(storage, "allocated_storage")

    fields = {k: v for k, v in query.items() if k not in _SEARCH_KEYS and k not in _IGNORED_KEYS}
    conditions = compile_conditions(fields, lambda f: _offer_getter(f, columns), _offer_operand)
    extra = {"disk_space": {"gte": storage_gb}}
    target = query.get("target_reliability")
    if target is not None:
        extra["expected_reliability"] = target if isinstance(target, dict) else {"gte": target}
    conditions += compile_conditions(extra, lambda f: _offer_getter(f, columns))

    order = _order(query.get("order") or [["score", "desc"]], columns)
    order += ((operator.itemgetter("id"), False),)
    return Search(conditions, order, max(limit, 0), RENTAL_TYPES[kind], storage_gb)
