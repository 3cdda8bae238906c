"""Validation of the create-instance body (`PUT /asks/{id}/`, vast-api.md §3).

The client sends every option, with explicit nulls for unset ones; `env`
is a dict from the client or a docker-flag string per the docs.
"""

import shlex

from vastsim import catalog
from vastsim.protocol import ApiError

DEFAULT_DISK_GB = 8.0
LABEL_MAX = 1024
ONSTART_MAX = 4048
BID_MIN, BID_MAX = 0.001, 128.0
RUNTYPE_TOKENS = {
    "ssh",
    "ssh_proxy",
    "ssh_direc",
    "ssh_direct",
    "jupyter",
    "jupyter_proxy",
    "jupyter_direc",
    "jupyter_direct",
    "args",
}


def _invalid(ask_id, msg, error="invalid_args"):
    """A 400 in the create endpoint's shape (success false, error, msg, ask_id)."""
    return ApiError(400, {"success": False, "error": error, "msg": msg, "ask_id": ask_id})


def _is_number(value):
    """Whether `value` is a JSON number (bools excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_env(env):
    """`env` as a list of [key, value] pairs, or None if it is not valid.

    A docker-flag string follows the client's rules: `-e K=V` gives [K, V],
    `-p a:b` and `-v a:b` give ["-p a:b", "1"], `-h host` gives ["-h", host]."""
    if env is None:
        return []
    if isinstance(env, dict):
        return [[str(key), "" if value is None else str(value)] for key, value in env.items()]
    if not isinstance(env, str):
        return None
    try:
        tokens = shlex.split(env)
    except ValueError:
        return None
    pairs = []
    for flag, value in zip(tokens, tokens[1:], strict=False):
        if flag == "-e" and "=" in value:
            pairs.append(value.split("=", 1))
        elif flag in {"-p", "-v"}:
            pairs.append([f"{flag} {value}", "1"])
        elif flag == "-h":
            pairs.append(["-h", value])
    return pairs


def _runtype(body, ask_id):
    """The runtype to store: as sent if valid, else ssh (args when args are given)."""
    runtype = body.get("runtype")
    if runtype is None:
        return "args" if body.get("args") else "ssh"
    tokens = runtype.split() if isinstance(runtype, str) else []
    if not tokens or not set(tokens) <= RUNTYPE_TOKENS:
        raise _invalid(ask_id, f"error 400/3467: Invalid args: unknown runtype {runtype!r}.")
    if "args" in tokens and len(tokens) > 1:
        raise _invalid(ask_id, "error 400/3467: Invalid args: runtype args cannot be combined with ssh or jupyter.")
    return runtype


def _image(body, ask_id):
    """The image to run and the template hash id (if any) it came from."""
    template_hash_id = body.get("template_hash_id")
    image = body.get("image")
    if template_hash_id is not None:
        template = catalog.TEMPLATES.get(template_hash_id)
        if template is None:
            raise _invalid(ask_id, f"error 400/3467: Invalid args: template {template_hash_id!r} not found.")
        image = image or template["image"]
    if not isinstance(image, str) or not image.strip():
        raise _invalid(ask_id, "error 400/3467: Invalid args: 'image' is required when no template_hash_id is given.")
    return image.strip(), template_hash_id


def _disk(body, offer, ask_id):
    """The disk size in GB: a positive number the offer has room for."""
    disk = body.get("disk")
    if disk is None:
        return DEFAULT_DISK_GB
    if not _is_number(disk) or disk <= 0:
        raise _invalid(ask_id, "error 400/3467: Invalid args: disk must be a positive number of GB.")
    if disk > offer["disk_space"]:
        raise _invalid(
            ask_id, f"error 400/3467: Invalid args: disk {disk} GB exceeds the {offer['disk_space']} GB available."
        )
    return float(disk)


def _bid(body, offer, ask_id):
    """The bid price ($/hr for the whole offer), or None for on-demand."""
    price = body.get("price")
    if price is None:
        return None
    if not _is_number(price) or not BID_MIN <= price <= BID_MAX:
        raise _invalid(ask_id, f"Please set a bid price between {BID_MIN} and {BID_MAX:g}.", error="invalid_price")
    if price < offer["min_bid"]:
        raise _invalid(
            ask_id,
            f"error 400/3625: Your bid of ${price:.4f}/hr is below the minimum bid of ${offer['min_bid']:.4f}/hr for ask {ask_id}.",
            error="invalid_price",
        )
    return float(price)


def parse_create_body(body, offer, ask_id):
    """The Instance fields for a create body, or ApiError 400 as the API gives."""
    if not isinstance(body, dict):
        raise _invalid(ask_id, "error 400/3467: Invalid args: body must be a JSON object.")
    image, template_hash_id = _image(body, ask_id)
    label = body.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > LABEL_MAX):
        raise _invalid(
            ask_id,
            "label_too_long" if isinstance(label, str) else "error 400/3467: Invalid args: label must be a string.",
        )
    onstart = body.get("onstart")
    if onstart is not None and (not isinstance(onstart, str) or len(onstart) > ONSTART_MAX):
        raise _invalid(
            ask_id, f"error 400/3467: Invalid args: onstart must be a string of at most {ONSTART_MAX} characters."
        )
    env = parse_env(body.get("env"))
    if env is None:
        raise _invalid(ask_id, "error 400/3467: Invalid args: env must be an object or a docker flag string.")
    args = body.get("args")
    if args is not None and (not isinstance(args, list) or not all(isinstance(a, str) for a in args)):
        raise _invalid(ask_id, "error 400/3467: Invalid args: args must be a list of strings.")
    jupyter_dir = body.get("jupyter_dir")
    return {
        "image": image,
        "template_hash_id": template_hash_id or "",
        "label": label,
        "onstart": onstart,
        "env": env,
        "args": args,
        "runtype": _runtype(body, ask_id),
        "disk": _disk(body, offer, ask_id),
        "bid_price": _bid(body, offer, ask_id),
        "jupyter_dir": jupyter_dir if isinstance(jupyter_dir, str) else "",
    }
