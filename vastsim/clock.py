"""The simulator's clock, one world for every process: it lives in the database (models.Clock).

Simulated time is `anchor + (real - anchor) * speed + offset`, `real` being the wall clock in
epoch seconds. At speed 1 and offset 0 that is the wall clock; `advance()` moves it by hand (the
offset), and `set_speed()` makes it run that many times faster from the moment it is called (the
anchor), without a jump. Everything time-dependent in the simulator (boot, reboot, log readiness,
workloads, offer durations, dates, rate limits) reads `now()`, so the web process, the worker and
`manage.py vastsim` agree, and tests move the clock instead of sleeping.

A process whose VASTSIM_SPEED is not 1 sets the shared clock to that speed the first time it
reads it. Each process reads the row at most every REFRESH_SECONDS: a change made by another
process shows here within that time (at once after `refresh()`), one made here shows at once.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from vastsim.models import Clock

REFRESH_SECONDS = 0.5
ROW_ID = 1


@dataclass(frozen=True)
class State:
    """The clock's parameters as last read or written."""

    anchor: float
    speed: float
    offset: float

    def at(self, real):
        """The simulated time at wall-clock time `real`."""
        return self.anchor + (real - self.anchor) * self.speed + self.offset


_wall = time.time  # the real clock (a seam for tests)
_cached = None  # (State, time.monotonic() when read)
_adopted = False  # whether this process has applied its VASTSIM_SPEED


def now():
    """Seconds since the epoch, as the simulator sees them."""
    return state().at(_wall())


def state():
    """The shared clock's parameters, re-read from the database at most every REFRESH_SECONDS."""
    cached = _cached
    if cached is not None and time.monotonic() - cached[1] < REFRESH_SECONDS:
        return cached[0]
    row = Clock.objects.filter(pk=ROW_ID).first() or _created()
    current = _remember(row)
    if not _adopted:
        current = _adopt(current)
    return current


def advance(seconds):
    """Move the shared clock forward by `seconds` (negative moves it back)."""

    def change(row, real):
        row.offset += seconds

    return _update(change)


def set_speed(speed):
    """Run the shared clock `speed` times faster than the wall clock from now on (no jump)."""
    speed = float(speed)
    if not speed > 0:
        raise ValueError(f"speed must be above 0, not {speed!r}")

    def change(row, real):
        simulated = _state(row).at(real)
        row.anchor, row.speed, row.offset = real, speed, simulated - real

    return _update(change)


def reset():
    """Put the shared clock back on the wall clock, running at VASTSIM_SPEED from now."""
    global _cached, _adopted
    _cached, _adopted = None, False

    def change(row, real):
        row.anchor, row.speed, row.offset = real, float(settings.VASTSIM_SPEED), 0.0

    try:
        _update(change)
    except RuntimeError:
        # Outside a database test pytest-django refuses every query; the test database is rolled
        # back (or flushed) around each test, so it holds no clock to reset, and forgetting the
        # cached state above is all a reset needs there.
        return
    _adopted = True


def refresh():
    """Forget the cached state: the next read sees what another process just changed."""
    global _cached
    _cached = None


def _state(row):
    return State(anchor=row.anchor, speed=row.speed, offset=row.offset)


def _remember(row):
    """Cache the state of `row` for REFRESH_SECONDS and return it."""
    global _cached
    current = _state(row)
    _cached = (current, time.monotonic())
    return current


def _defaults():
    return {"anchor": _wall(), "speed": float(settings.VASTSIM_SPEED), "offset": 0.0}


def _created():
    """The clock row, created on first use: the wall clock, at VASTSIM_SPEED from now."""
    row, _ = Clock.objects.get_or_create(pk=ROW_ID, defaults=_defaults())
    return row


def _adopt(current):
    """Apply this process's VASTSIM_SPEED once, if it is not 1 and not the clock's speed."""
    global _adopted
    _adopted = True
    wanted = float(settings.VASTSIM_SPEED)
    if wanted != 1 and current.speed != wanted:
        return set_speed(wanted)
    return current


def _update(change):
    """Apply `change(row, wall-clock now)` to the locked clock row; cache and return the result."""
    with transaction.atomic():
        row = Clock.objects.select_for_update().filter(pk=ROW_ID).first() or _created()
        change(row, _wall())
        row.save()
    return _remember(row)
