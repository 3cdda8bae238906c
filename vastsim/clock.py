"""The simulator's clock: wall time plus an offset tests can move forward.

Everything time-dependent (boot progress, offer durations, rate limits) reads
`now()`, so a test advances the clock instead of sleeping. The offset is per
process; a server run by `manage.py vastsim` follows the wall clock.
"""

import time

_offset = 0.0


def now():
    """Seconds since the epoch, as the simulator sees them."""
    return time.time() + _offset


def advance(seconds):
    """Move the simulator's clock forward by `seconds` (negative moves it back)."""
    global _offset
    _offset += seconds


def reset():
    """Put the clock back on the wall clock."""
    global _offset
    _offset = 0.0
