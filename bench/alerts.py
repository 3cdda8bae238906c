"""The price-alert worker's upstream searches per minute with 1, 10 and 100 alerting saved searches.

In-process and offline: Django on a temporary SQLite database, the simulator behind the client's
transport seam (no network), and a virtual clock: each virtual minute runs the worker's
periodic round and the further rounds it schedules (one search slot, 6 s, apart), with the
clock moved to each, and a round's short wait for its slot is not slept. Prints figures; stops
with a message only if the worker ever spends more than its third of Vast's search rate (10
searches a minute).

    .venv/bin/python bench/alerts.py [--minutes 20]
"""

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/, so that bench/offers.py does not shadow the app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=20, help="virtual minutes per case (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(workdir) / 'bench.sqlite3'}"
        os.environ["LOG_LEVEL"] = "WARNING"
        os.environ.pop("REDIS_URL", None)
        os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"{'alerting searches':>17}  {'max/min':>7}  {'mean/min':>8}  {'due at end':>10}  {'checks/alert/h':>14}")
        for count in (1, 10, 100):
            run_case(count, args.minutes)


def run_case(count, minutes):
    import httpx
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from dashboard import vast
    from dashboard.models import RateSlot
    from offers import alerts
    from offers.models import AlertMatch, MarketSample, SavedSearch
    from vastsim.transport import SimulatorTransport

    class Counting(httpx.BaseTransport):
        def __init__(self):
            self.inner, self.searches = SimulatorTransport(), 0

        def handle_request(self, request):
            self.searches += request.method == "POST" and request.url.path.startswith("/api/v0/bundles")
            return self.inner.handle_request(request)

    SavedSearch.objects.all().delete()
    AlertMatch.objects.all().delete()
    MarketSample.objects.all().delete()
    RateSlot.objects.all().delete()
    cache.clear()
    transport = Counting()
    vast.reset_client()
    vast._client = vast.VastClient(
        api_key=settings.VASTSIM_API_KEY, base_url=settings.VAST_URL, transport=transport, sleep=lambda s: None
    )
    owner, _ = get_user_model().objects.get_or_create(username="bench")
    gpus = ["RTX 4090", "RTX 3090", "H100 SXM", "A100 SXM4", "RTX 5090", "L40S", "A40", "H200", "RTX A6000"]
    for index in range(count):
        query = f"gpu={gpus[index % len(gpus)].replace(' ', '+')}&min_reliability={index % 90}"
        SavedSearch.objects.create(owner=owner, name=f"alert {index}", query=query, max_dph_per_gpu="0.05")

    start = datetime(2026, 12, 1, tzinfo=UTC)
    virtual = SimpleNamespace(seconds=0.0)
    alerts.timezone = SimpleNamespace(now=lambda: start + timedelta(seconds=virtual.seconds))
    per_minute, checks = [], 0
    for minute in range(minutes):
        before = transport.searches
        for offset in [0.0, *alerts.round_delays()]:
            virtual.seconds = minute * 60.0 + offset
            stats = alerts.run_round(sleep=lambda s: None, clock=lambda: 1e9 + virtual.seconds)
            checks += len(stats.checked)
        per_minute.append(transport.searches - before)
    due = alerts.due_searches(alerts.timezone.now()).count()
    vast.reset_client()
    if max(per_minute) > 10:
        sys.exit(f"{count} alerts: {max(per_minute)} searches in one minute, over the worker's 10")
    mean = sum(per_minute) / len(per_minute)
    print(f"{count:>17}  {max(per_minute):>7}  {mean:>8.2f}  {due:>10}  {checks / count / (minutes / 60):>14.1f}")


if __name__ == "__main__":
    main()
