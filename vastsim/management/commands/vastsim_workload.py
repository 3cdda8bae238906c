"""Set what a simulated instance's GPU does, until the container next starts (vastsim/workload.py).

manage.py vastsim_workload 27000001                 # show
manage.py vastsim_workload 27000001 busy            # busy from now on
manage.py vastsim_workload 27000001 idle            # idle from now on
manage.py vastsim_workload 27000001 busy-for 30     # busy for 30 minutes, then idle
manage.py vastsim_workload 27000001 exit-after 10   # the container exits on its own in 10 minutes
"""

from django.core.management.base import BaseCommand, CommandError

from vastsim import clock, lifecycle, workload
from vastsim.models import Instance


class Command(BaseCommand):
    # The simulator stands apart from the dashboard: its tools run even while the site has check errors.
    requires_system_checks = []
    help = "Show or set a simulated instance's workload (busy, idle, busy-for MINUTES, exit-after MINUTES)."

    def add_arguments(self, parser):
        parser.add_argument("instance_id", type=int, help="the instance (contract) id")
        parser.add_argument("mode", nargs="?", choices=workload.MODES)
        parser.add_argument("minutes", nargs="?", type=float, help="for busy-for and exit-after")

    def handle(self, *args, instance_id, mode, minutes, **options):
        if mode is not None:
            if (minutes is None) != (mode in ("busy", "idle")):
                raise CommandError(f"{mode} takes {'no' if mode in ('busy', 'idle') else 'a number of'} minutes")
            try:
                workload.set_for(instance_id, mode, minutes)
            except LookupError:
                raise CommandError(f"no simulated instance {instance_id}") from None
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        instance = Instance.for_contract(instance_id).first()
        if instance is None:
            raise CommandError(f"no simulated instance {instance_id}")
        now = clock.now()
        shown = lifecycle.render(instance, now)
        util = "null" if shown["gpu_util"] is None else f"{shown['gpu_util']:g} %"
        self.stdout.write(f"instance {instance_id}: {shown['actual_status']}, gpu_util {util}")
        self.stdout.write(f"workload: {workload.describe(instance, now)}")
