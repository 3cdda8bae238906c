"""Inject, list and clear simulator faults for demos.

manage.py vastsim_fault add bundles --status 500 --times 1
manage.py vastsim_fault add instances --status 429 --retry-after 2
manage.py vastsim_fault add '*' --latency 1.5
manage.py vastsim_fault add asks --kind truncated
manage.py vastsim_fault list
manage.py vastsim_fault clear [ENDPOINT]
"""

import json

from django.core.management.base import BaseCommand, CommandError

from vastsim import faults
from vastsim.router import ROUTE_NAMES


class Command(BaseCommand):
    # The simulator stands apart from the dashboard: its tools run even while the site has check errors.
    requires_system_checks = []
    help = "Inject (add), show (list) or remove (clear) faults of the Vast.ai simulator."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="inject a fault")
        add.add_argument(
            "endpoint", help=f'route name ({", ".join(ROUTE_NAMES)}), "*", or a path regex starting with "/"'
        )
        add.add_argument("--method", default="", help="only this HTTP method")
        add.add_argument("--kind", choices=faults.KINDS)
        add.add_argument("--status", type=int)
        add.add_argument("--latency", type=float, default=0.0, help="seconds added")
        add.add_argument("--retry-after", help="Retry-After header value for 429s")
        add.add_argument("--body", help="JSON body to send instead (a JSON string is sent raw)")
        add.add_argument("--times", type=int, help="fire this many times, then clear")
        sub.add_parser("list", help="show active faults")
        clear = sub.add_parser("clear", help="remove faults")
        clear.add_argument("endpoint", nargs="?")

    def handle(self, *args, action, **options):
        if action == "add":
            self._add(options)
        elif action == "list":
            for fault in faults.active():
                self.stdout.write(self._describe(fault))
        else:
            faults.clear(options["endpoint"])
            self.stdout.write("Faults cleared.")

    def _add(self, options):
        """Inject the fault described by the parsed options."""
        body = None
        if options["body"] is not None:
            try:
                body = json.loads(options["body"])
            except ValueError as exc:
                raise CommandError(f"--body is not JSON: {exc}") from None
        try:
            fault = faults.inject(
                options["endpoint"],
                method=options["method"],
                kind=options["kind"],
                status=options["status"],
                latency=options["latency"],
                retry_after=options["retry_after"],
                body=body,
                times=options["times"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Added {self._describe(fault)}")

    @staticmethod
    def _describe(fault):
        """One line describing a fault for the console."""
        parts = [f"#{fault.pk} {fault.kind} on {fault.method or '*'} {fault.endpoint}"]
        if fault.status:
            parts.append(f"status {fault.status}")
        if fault.latency:
            parts.append(f"+{fault.latency}s")
        if fault.retry_after:
            parts.append(f"Retry-After {fault.retry_after}")
        parts.append("forever" if fault.remaining is None else f"{fault.remaining} more time(s)")
        return ", ".join(parts)
