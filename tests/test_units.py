"""The format filters of `{% load units %}`: one way to show VRAM, money, durations and times."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.template import Context, Template

from dashboard.templatetags import units
from dashboard.vast import OfferSearch
from dashboard.vast.values import Offer, min_vram_mb


@pytest.mark.parametrize(
    ("mb", "shown"),
    [(24564, "24 GB"), (24576, "24 GB"), (81559, "80 GB"), (12288, "12 GB"), (8192, "8 GB"), (0, "0 GB")],
)
def test_vram_is_mb_over_1024_in_whole_gb(mb, shown):
    assert units.vram(mb) == shown


@pytest.mark.parametrize("value", [None, "", "n/a", float("nan"), True])
def test_every_filter_shows_a_dash_for_a_missing_value(value):
    for show in (units.vram, units.usd_hr, units.usd, units.usd_tb, units.duration):
        assert show(value) == "—"


@pytest.mark.parametrize("gb", [8, 12, 16, 24, 32, 40, 48, 80, 141])
def test_at_least_n_gb_keeps_every_card_shown_as_n_gb_and_no_smaller_one(gb):
    cards = [
        Offer(id=i, gpu_name="X", num_gpus=1, dph_total=1, gpu_ram=mb) for i, mb in enumerate(range(1, 200_000, 97))
    ]
    kept = OfferSearch(min_gpu_ram_gb=gb, verified_only=False)
    for card in cards:
        shown = int(units.vram(card.gpu_ram).split()[0])
        assert kept.matches(card) == (shown >= gb), card.gpu_ram
    assert OfferSearch(min_gpu_ram_gb=gb).to_query()["gpu_ram"] == {"gte": min_vram_mb(gb)}


def test_an_rtx_4090_is_24_gb_and_passes_at_least_24_gb():
    rtx_4090 = Offer(id=1, gpu_name="RTX 4090", num_gpus=1, dph_total=0.4, gpu_ram=24564)
    assert rtx_4090.gpu_ram_gb == pytest.approx(23.99, abs=0.01)
    assert OfferSearch(min_gpu_ram_gb=24, verified_only=False).matches(rtx_4090)
    assert not OfferSearch(min_gpu_ram_gb=25, verified_only=False).matches(rtx_4090)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.35, "$0.350/hr"), (1.23456, "$1.235/hr"), (0, "$0.000/hr"), ("0.0004", "$0.000/hr"), (12, "$12.000/hr")],
)
def test_usd_hr_has_three_decimals(value, shown):
    assert units.usd_hr(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1.2, "$1.20"), (0.004, "$0.00"), (-0.004, "$0.00"), (1234.5, "$1,234.50"), (-3.456, "-$3.46"), ("7", "$7.00")],
)
def test_usd_totals_have_two_decimals(value, shown):
    assert units.usd(value) == shown


@pytest.mark.parametrize(("per_gb", "shown"), [(0.003, "$3.07/TB"), (0.01, "$10.24/TB"), (0, "$0.00/TB")])
def test_usd_tb_turns_vasts_dollars_per_gb_into_dollars_per_tb(per_gb, shown):
    assert units.usd_tb(per_gb) == shown


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (45, "s", "45 s"),
        (0, "s", "0 s"),
        (59.6, "s", "1 min"),
        (60, "s", "1 min"),
        (725, "s", "12 min 5 s"),
        (7800, "s", "2 h 10 min"),
        (7200, "s", "2 h"),
        (3 * 86400 + 4 * 3600 + 59, "s", "3 d 4 h"),
        (86400 * 120.5, "s", "120 d 12 h"),
        (2.5, "h", "2 h 30 min"),
        (90, "min", "1 h 30 min"),
        (1.5, "d", "1 d 12 h"),
        (-90, "s", "-1 min 30 s"),
        (timedelta(hours=2, minutes=10, seconds=20), "s", "2 h 10 min"),
        (45, "weeks", "—"),
    ],
)
def test_duration_in_its_two_largest_units(value, unit, shown):
    assert units.duration(value, unit) == shown


def _render(source, **context):
    return Template("{% load units %}" + source).render(Context(context))


def test_time_is_a_time_element_in_utc_that_the_browser_localises():
    moment = datetime(2026, 1, 10, 9, 5, 7, tzinfo=UTC)
    assert _render("{% time when %}", when=moment) == (
        '<time datetime="2026-01-10T09:05:07Z" title="2026-01-10 09:05 UTC" data-local>2026-01-10 09:05 UTC</time>'
    )
    assert _render("{% time when seconds=True %}", when=moment) == (
        '<time datetime="2026-01-10T09:05:07Z" title="2026-01-10 09:05 UTC" data-local data-seconds>'
        "2026-01-10 09:05:07 UTC</time>"
    )


def test_time_converts_other_zones_to_utc_and_reads_naive_as_utc():
    paris = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert 'datetime="2026-07-01T10:00:00Z"' in _render("{% time when %}", when=paris)
    assert 'datetime="2026-07-01T12:00:00Z"' in _render("{% time when %}", when=datetime(2026, 7, 1, 12))


def test_time_of_nothing_is_a_dash():
    assert _render("{% time when %}", when=None) == "—"


def test_filters_work_in_templates():
    html = _render(
        "{{ mb|vram }} {{ rate|usd_hr }} {{ total|usd }} {{ bw|usd_tb }} {{ secs|duration }} {{ hours|duration:'h' }}",
        mb=24564, rate=0.4, total=12.5, bw=0.002, secs=45, hours=2.5,
    )  # fmt: skip
    assert html == "24 GB $0.400/hr $12.50 $2.05/TB 45 s 2 h 30 min"


def test_the_app_script_rewrites_every_time_element_to_local_time():
    from pathlib import Path

    script = (Path(__file__).resolve().parent.parent / "static" / "js" / "app.js").read_text()
    assert 'querySelectorAll("time[data-local]")' in script
    assert "htmx:load" in script
