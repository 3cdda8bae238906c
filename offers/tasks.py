"""The worker's offer tasks (Huey): the price-alert round every minute, the history cleanup hourly."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from offers import alerts, market


@db_periodic_task(crontab(minute="*"))
def check_price_alerts():
    """Run the alerting saved searches that are due, within the worker's share of Vast's search rate."""
    stats = alerts.run_round()
    return (
        None if stats is None else {"searched": stats.searched, "deferred": stats.deferred, "notified": stats.notified}
    )


@db_periodic_task(crontab(minute="7"))
def downsample_market_history():
    """Keep the market history bounded: hourly rows after a day, daily rows after a month."""
    return market.downsample()
