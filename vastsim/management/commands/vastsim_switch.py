"""Show or flip the simulator's scenario switches.

manage.py vastsim_switch                          # show all
manage.py vastsim_switch rate_limits on
manage.py vastsim_switch start_unavailable '[27000001]'
manage.py vastsim_switch legacy_instances off
manage.py vastsim_switch --clear
"""

import json

from django.core.management.base import BaseCommand, CommandError

from vastsim import switches


class Command(BaseCommand):
    # The simulator stands apart from the dashboard: its tools run even while the site has check errors.
    requires_system_checks = []
    help = "Show or set the Vast.ai simulator's switches (" + ", ".join(switches.KNOWN) + ")."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", choices=switches.KNOWN)
        parser.add_argument("value", nargs="?", help="on, off, or a JSON value")
        parser.add_argument("--clear", action="store_true", help="reset every switch to its default")

    def handle(self, *args, name, value, clear, **options):
        if clear:
            switches.clear()
        elif name:
            if value is None:
                raise CommandError("give a value: on, off, or JSON")
            switches.enable(name, self._parse(value))
        for switch, current in switches.current().items():
            self.stdout.write(f"{switch}: {json.dumps(current)}")

    @staticmethod
    def _parse(value):
        """on/off words as booleans, anything else as JSON."""
        if value.lower() in {"on", "true", "yes"}:
            return True
        if value.lower() in {"off", "false", "no"}:
            return False
        try:
            return json.loads(value)
        except ValueError:
            raise CommandError(f"{value!r} is not on, off or JSON") from None
