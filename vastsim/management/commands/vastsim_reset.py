"""Reset the simulator: `manage.py vastsim_reset`."""

from django.core.management.base import BaseCommand

from vastsim import state


class Command(BaseCommand):
    # The simulator stands apart from the dashboard: its tools run even while the site has check errors.
    requires_system_checks = []
    help = "Forget all simulated instances, faults, switches and rate-limit history; reseed the API keys."

    def handle(self, *args, **options):
        state.reset()
        self.stdout.write("Simulator reset.")
