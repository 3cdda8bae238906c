"""The worker's offer tasks (Huey): the price-alert rounds (each minute, and the minute's further
rounds a search slot apart), the history cleanup hourly."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from offers import alerts, market


def _summary(stats):
    return (
        None if stats is None else {"searched": stats.searched, "deferred": stats.deferred, "notified": stats.notified}
    )


@db_periodic_task(crontab(minute="*"))
def check_price_alerts():
    """Run the alerting saved searches that are due, within the worker's share of Vast's search
    rate, and schedule the minute's further rounds: Huey's periodic tasks run once a minute, and
    the share allows a search every few seconds (one per round, the rounds a slot apart)."""
    for delay in alerts.round_delays():
        price_alert_round.schedule(delay=delay)
    return _summary(alerts.run_round())


@db_task()
def price_alert_round():
    """One of the minute's further rounds (see check_price_alerts). Its slot is due when it runs;
    a slot further away (taken by a duplicate round: each consumer schedules the minute's rounds)
    is left to the next round rather than waited for. It returns nothing: Huey keeps an ordinary
    task's result until someone reads it, and ten a minute nobody reads would pile up."""
    alerts.run_round(horizon=alerts.search_spacing() / 2)


@db_periodic_task(crontab(minute="7"))
def downsample_market_history():
    """Keep the market history bounded: hourly rows after a day, daily rows after a month."""
    return market.downsample()
