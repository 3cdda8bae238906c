"""Show or move the simulator's clock, which every process shares (vastsim/clock.py).

manage.py vastsim_clock                 # show
manage.py vastsim_clock advance 3600    # one hour later (also 90s, 30m, 2h, 1d; `-- -1h` moves back)
manage.py vastsim_clock speed 60        # 60 simulated seconds per real second from now
manage.py vastsim_clock reset           # back on the wall clock, at VASTSIM_SPEED
"""

import re
import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from vastsim import clock

_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text):
    """A duration argument in seconds: a number, optionally with s, m, h or d."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise CommandError(f"{text!r} is not a duration (e.g. 3600, 90s, 30m, 2h, 1d)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Command(BaseCommand):
    # The simulator stands apart from the dashboard: its tools run even while the site has check errors.
    requires_system_checks = []
    help = "Show, advance, speed up or reset the Vast.ai simulator's shared clock."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action")
        sub.add_parser("show", help="show the simulated time (the default)")
        advance = sub.add_parser("advance", help="move the clock forward (negative: back)")
        advance.add_argument("duration", help="seconds, or a number with s, m, h or d")
        speed = sub.add_parser("speed", help="simulated seconds per real second, from now on")
        speed.add_argument("factor", type=float)
        sub.add_parser("reset", help="back on the wall clock, at VASTSIM_SPEED")

    def handle(self, *args, action=None, **options):
        if action == "advance":
            clock.advance(_seconds(options["duration"]))
        elif action == "speed":
            if not 0 < options["factor"] <= 100_000:
                raise CommandError("the speed must be above 0 and at most 100000")
            clock.set_speed(options["factor"])
        elif action == "reset":
            clock.reset()
        state = clock.state()
        real = time.time()
        simulated = state.at(real)
        stamp = datetime.fromtimestamp(simulated, tz=UTC).isoformat(timespec="seconds")
        self.stdout.write(f"now: {stamp} (epoch {simulated:.3f})")
        self.stdout.write(f"ahead of the wall clock: {simulated - real:.3f} s")
        self.stdout.write(f"speed: {state.speed:g}x")
