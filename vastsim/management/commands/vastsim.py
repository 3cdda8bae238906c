"""Serve the Vast.ai simulator over HTTP: `manage.py vastsim --port 8765`."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand

from vastsim import clock
from vastsim.wsgi import make_server


class Command(BaseCommand):
    # The simulator stands apart from the dashboard: its tools run even while the site has check errors.
    requires_system_checks = []
    help = "Serve the Vast.ai API simulator over HTTP (point VAST_URL or vastai --url at it)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--api-key",
            action="append",
            dest="api_keys",
            metavar="KEY",
            help="A key the simulator accepts; repeat for several. Replaces VASTSIM_API_KEY for this run.",
        )

    def handle(self, *args, host, port, api_keys, **options):
        logging.getLogger("vastsim").setLevel(logging.INFO)
        server = make_server(host, port, api_keys)
        keys = api_keys or [settings.VASTSIM_API_KEY]
        self.stdout.write(
            f"Vast.ai simulator on http://{host}:{server.server_port} accepting {len(keys)} key(s); Ctrl-C stops it."
        )
        # Reading the shared clock now applies VASTSIM_SPEED from the moment the server starts.
        self.stdout.write(f"Simulated time runs at {clock.state().speed:g}x (manage.py vastsim_clock).")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
