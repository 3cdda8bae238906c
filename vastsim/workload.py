"""What a simulated instance's GPU is doing: busy for a while after each start, then idle, and
whether the container exits on its own. Read by lifecycle.render (gpu_util and the other
monitoring fields of shared/vast-api-more.md §6) and lifecycle.actual_status ("exited").

The on-start script sets it with comment lines, which a real host runs as no-ops:

    # vastsim: busy 30m          busy for 30 minutes after each start, then idle
    # vastsim: busy              busy for as long as the container runs
    # vastsim: idle              idle from the start
    # vastsim: exit after 10m    the container exits on its own 10 minutes after each start

Durations are a number with `s`, `m` or `h` (a bare number is minutes); `for` after `busy` and
`after` after `exit` are optional; several directives may share a line, separated by `;`. The
last directive of each kind wins, and anything else is ignored. Without a busy/idle directive an
instance is busy for DEFAULT_BUSY_SECONDS after each start. A "start" is the moment the container
is up: after creation, a start, or a reboot, which all run the on-start script again.

`set_override` (tests, `manage.py vastsim_workload`) replaces the script's rule from now until
the container next starts.
"""

import hashlib
import math
import re
from dataclasses import dataclass
from functools import lru_cache

from django.db import transaction

from vastsim import clock
from vastsim.models import Instance

DEFAULT_BUSY_SECONDS = 20 * 60
_LINE = re.compile(r"^\s*#\s*vastsim\s*:(.*)$", re.IGNORECASE | re.MULTILINE)
_DURATION = r"(\d+(?:\.\d+)?)\s*([smh]?)"
_BUSY = re.compile(rf"busy(?:\s+(?:for\s+)?{_DURATION})?", re.IGNORECASE)
_IDLE = re.compile(r"idle", re.IGNORECASE)
_EXIT = re.compile(rf"exit\s+(?:after\s+)?{_DURATION}", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "": 60, "h": 3600}
MODES = ("busy", "idle", "busy-for", "exit-after")


@dataclass(frozen=True)
class Workload:
    """Seconds after each start that the GPU stays busy (inf: always; 0: never), and after which
    the container exits on its own (None: it does not)."""

    busy_seconds: float = DEFAULT_BUSY_SECONDS
    exit_seconds: float | None = None


def _seconds(number, unit):
    return float(number) * _UNIT_SECONDS[unit.lower()]


@lru_cache(maxsize=256)
def parse(onstart):
    """The Workload an on-start script asks for (the default when it says nothing)."""
    busy, exit_after = DEFAULT_BUSY_SECONDS, None
    for line in _LINE.findall(onstart or ""):
        for directive in line.split(";"):
            directive = directive.strip()
            if match := _BUSY.fullmatch(directive):
                busy = math.inf if match.group(1) is None else _seconds(match.group(1), match.group(2))
            elif _IDLE.fullmatch(directive):
                busy = 0.0
            elif match := _EXIT.fullmatch(directive):
                exit_after = _seconds(match.group(1), match.group(2))
    return Workload(busy_seconds=busy, exit_seconds=exit_after)


def last_start(instance):
    """When the container was last asked to (re)start: the workload's rules count from after it."""
    return max(instance.started_at, instance.rebooted_at or instance.started_at)


def override(instance):
    """The instance's override while it holds (set since the last start), else {}."""
    found = instance.workload
    if not found or found.get("set_at", -math.inf) < last_start(instance):
        return {}
    return found


def set_override(instance, mode, now, minutes=None):
    """From `now` until the next start: `busy` (indefinitely), `idle`, `busy-for` `minutes` then
    idle, or `exit-after` `minutes` (0: at once). Saves the instance."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode in ("busy-for", "exit-after") and (minutes is None or not minutes >= 0):
        raise ValueError(f"{mode} needs a number of minutes, 0 or more")
    changed = {**override(instance), "set_at": now}
    if mode == "exit-after":
        changed["exit_at"] = now + minutes * 60
    else:
        changed["busy_until"] = {"busy": None, "idle": now, "busy-for": now + (minutes or 0) * 60}[mode]
    instance.workload = changed
    instance.save(update_fields=["workload"])


def set_for(contract_id, mode, minutes=None):
    """`set_override` on the instance with this contract id, at the simulator's now; returns the
    instance. LookupError when there is none."""
    with transaction.atomic():
        instance = Instance.for_contract(contract_id).select_for_update().first()
        if instance is None:
            raise LookupError(f"no simulated instance {contract_id}")
        set_override(instance, mode, clock.now(), minutes)
    return instance


def exit_at(instance):
    """When the container exits on its own after its current start, or None."""
    found = override(instance)
    if "exit_at" in found:
        return found["exit_at"]
    seconds = parse(instance.onstart).exit_seconds
    return None if seconds is None else instance.ready_at + seconds


def is_busy(instance, now):
    """Whether the GPU works at `now` (the container being up)."""
    found = override(instance)
    if "busy_until" in found:
        return found["busy_until"] is None or now < found["busy_until"]
    return now < instance.ready_at + parse(instance.onstart).busy_seconds


def _when(moment, now):
    """A simulated time as "N min from now" / "N min ago"."""
    minutes = (moment - now) / 60
    return f"{minutes:.1f} min from now" if minutes >= 0 else f"{-minutes:.1f} min ago"


def describe(instance, now):
    """One line on what the GPU does and when the container exits, and what says so."""
    found = override(instance)
    if "busy_until" in found:
        until = found["busy_until"]
        gpu = "busy" if until is None else f"busy until {_when(until, now)}, then idle"
        gpu = "idle" if until is not None and until <= found["set_at"] else gpu
        gpu += " (set by hand until the next start)"
    else:
        seconds = parse(instance.onstart).busy_seconds
        gpu = f"busy for {seconds / 60:g} min after each start, then idle" if seconds else "idle"
        gpu = "busy while running" if math.isinf(seconds) else gpu
    exits = exit_at(instance)
    return f"{gpu}; {'no exit' if exits is None else f'exit {_when(exits, now)}'}"


def _noise(instance, now, salt, low, high):
    """A pseudo-random value in [low, high], stable for a simulated minute, so polls look alive."""
    digest = hashlib.sha256(f"{instance.pk}:{int(now // 60)}:{salt}".encode()).digest()
    return round(low + (high - low) * digest[0] / 255, 2)


def monitoring(instance, now, running):
    """gpu_util (%, averaged over the GPUs), gpu_temp (°C), cpu_util (%), mem_usage and
    vmem_usage (GB): busy or idle figures while running, nulls (cpu_util 0) otherwise."""
    if not running:
        return {"gpu_util": None, "gpu_temp": None, "cpu_util": 0.0, "mem_usage": None, "vmem_usage": None}
    busy = is_busy(instance, now)
    ram_gb, vram_gb = instance.offer["cpu_ram"] / 1024, instance.offer["gpu_total_ram"] / 1024
    if busy:
        return {
            "gpu_util": _noise(instance, now, "gpu", 85, 99),
            "gpu_temp": _noise(instance, now, "temp", 66, 82),
            "cpu_util": _noise(instance, now, "cpu", 35, 90),
            "mem_usage": _noise(instance, now, "mem", ram_gb * 0.25, ram_gb * 0.5),
            "vmem_usage": _noise(instance, now, "vmem", vram_gb * 0.6, vram_gb * 0.95),
        }
    return {
        "gpu_util": _noise(instance, now, "gpu", 0, 3),
        "gpu_temp": _noise(instance, now, "temp", 31, 42),
        "cpu_util": _noise(instance, now, "cpu", 0, 4),
        "mem_usage": _noise(instance, now, "mem", 1, 2),
        "vmem_usage": _noise(instance, now, "vmem", 0.3, 0.6),
    }
