"""`/instances/history/`: gone instances, who launched them, when they lived, how they ended and
what they cost; filters by person and month, pages of 50, and a CSV export."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from dashboard import vast
from instances import sync
from instances.models import Instance, StatusChange

pytestmark = pytest.mark.django_db
JAN = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
FEB = datetime(2026, 2, 3, 14, 30, tzinfo=UTC)
vast_ids = iter(range(5_000_000, 6_000_000))


def gone(*, born, hours_running, hours_stopped=0.0, user=None, ended_by="", label="", dph=1.0, storage=0.1):
    """A gone ledger row: running from `born`, then stopped, then gone."""
    stopped_at = born + timedelta(hours=hours_running)
    gone_at = stopped_at + timedelta(hours=hours_stopped)
    row = Instance.objects.create(
        vast_id=next(vast_ids),
        label=label,
        gpu_name="RTX 4090",
        num_gpus=2,
        status="destroyed",
        dph_total=dph,
        storage_per_hour=storage,
        first_seen=born,
        gone_at=gone_at,
        ended=Instance.End.DESTROYED if ended_by else Instance.End.OUTSIDE,
        ended_by=ended_by,
        launched_by=user,
        launched_by_name=user.get_username() if user else "",
    )
    changes = [("", "running", born)]
    if hours_stopped:
        changes.append(("running", "stopped", stopped_at))
    changes.append((changes[-1][1], "destroyed", gone_at))
    for before, after, at in changes:
        StatusChange.objects.create(instance=row, from_status=before, to_status=after, at=at)
    return row


def rows_of(response):
    """{vast id: the row's cells as text} of the history table."""
    html = response.content.decode()
    found = {}
    for vast_id, body in re.findall(r'<tr data-instance-id="(\d+)">(.*?)</tr>', html, re.S):
        cells = [
            re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        ]
        found[int(vast_id)] = cells
    return found


@pytest.fixture
def lives(operator, other_operator):
    return {
        "otto_jan": gone(born=JAN, hours_running=3, hours_stopped=10, user=operator, ended_by="otto", label="jan-job"),
        "outside_jan": gone(born=JAN + timedelta(days=2), hours_running=1.5, dph=2.0),
        "olga_feb": gone(born=FEB, hours_running=4, user=other_operator, ended_by="ada", label="feb-job"),
    }


def test_history_lists_gone_instances_only_with_launcher_life_end_and_cost(viewer_client, lives, operator):
    alive = Instance.objects.create(vast_id=4_999_999, status="running", first_seen=JAN, launched_by=operator)
    response = viewer_client.get("/instances/history/")
    assert response.status_code == 200
    rows = rows_of(response)
    assert set(rows) == {row.vast_id for row in lives.values()}
    assert alive.vast_id not in rows
    name, gpu, launcher, lived, duration, ended, cost = rows[lives["otto_jan"].vast_id]
    assert name.startswith("jan-job")
    assert gpu == "2× RTX 4090"
    assert launcher == "otto"
    assert lived == "2026-01-10 09:00 UTC – 2026-01-10 22:00 UTC"  # app.js shows it in local time
    assert duration == "13 h"
    assert ended == "destroyed by otto"
    assert cost == "≈ $4.00"  # 3 h × $1 + 10 h stopped × $0.10
    outside = rows[lives["outside_jan"].vast_id]
    assert outside[2] == "outside the dashboard"
    assert outside[5] == "destroyed outside the dashboard"
    assert outside[6] == "≈ $3.00"
    assert rows[lives["olga_feb"].vast_id][5] == "destroyed by ada"
    assert list(rows) == [lives["olga_feb"].vast_id, lives["outside_jan"].vast_id, lives["otto_jan"].vast_id]
    assert "bandwidth is billed apart" in response.content.decode()


def test_history_of_a_real_sync_shows_what_we_destroyed_and_what_vanished(admin_client, upstream):
    offer_query = {"rentable": {"eq": True}, "num_gpus": {"eq": 1}, "limit": 20, "allocated_storage": 10}
    offers = vast.search_offers(offer_query)
    ours, theirs = (
        vast.create_instance(o.id, vast.LaunchRequest(image="nvidia/cuda:12.4.1")).instance_id for o in offers[:2]
    )
    sync.run(force=True)
    assert admin_client.post(f"/instances/{ours}/destroy/").status_code == 302
    vast.destroy(theirs)
    sync.run(force=True)
    rows = rows_of(admin_client.get("/instances/history/"))
    assert rows[ours][5] == "destroyed by ada"
    assert rows[theirs][5] == "destroyed outside the dashboard"


def test_an_empty_history_says_so(viewer_client):
    response = viewer_client.get("/instances/history/")
    assert 'data-testid="history-empty"' in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("person=otto", {"otto_jan"}),
        ("person=olga", {"olga_feb"}),
        ("person=outside", {"outside_jan"}),
        ("month=2026-01", {"otto_jan", "outside_jan"}),
        ("month=2026-02", {"olga_feb"}),
        ("month=2026-01&person=outside", {"outside_jan"}),
        ("month=2025-12", set()),
    ],
)
def test_history_filters_by_person_and_month(viewer_client, lives, query, expected):
    response = viewer_client.get(f"/instances/history/?{query}")
    assert response.status_code == 200
    assert set(rows_of(response)) == {lives[name].vast_id for name in expected}


@pytest.mark.parametrize("query", ["month=2026-13", "month=January", "month=2026-01-01", "person=nobody"])
def test_a_bad_filter_is_a_form_error_not_a_server_error(viewer_client, lives, query):
    response = viewer_client.get(f"/instances/history/?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Check the filters" in html
    assert rows_of(response) == {}


def test_the_person_filter_offers_everyone_who_launched_and_outside(viewer_client, lives):
    html = viewer_client.get("/instances/history/").content.decode()
    options = re.findall(r'<option value="([^"]*)"', html)
    assert options[:2] == ["", "outside"]
    assert {"otto", "olga"} <= set(options)


def test_history_is_paginated_by_fifty_newest_gone_first(viewer_client):
    start = datetime(2026, 4, 1, tzinfo=UTC)
    made = [gone(born=start + timedelta(hours=i), hours_running=1).vast_id for i in range(120)]
    newest_first = made[::-1]
    first = viewer_client.get("/instances/history/")
    assert list(rows_of(first)) == newest_first[:50]
    assert "Page 1 of 3" in first.content.decode()
    assert "page=2" in first.content.decode()
    third = viewer_client.get("/instances/history/?page=3")
    assert list(rows_of(third)) == newest_first[100:]
    assert viewer_client.get("/instances/history/?page=99").status_code == 200  # the last page, no 404
    assert list(rows_of(viewer_client.get("/instances/history/?page=x"))) == newest_first[:50]


def test_page_links_keep_the_filters(viewer_client, operator):
    for i in range(55):
        gone(born=JAN + timedelta(hours=i), hours_running=1, user=operator)
    html = viewer_client.get("/instances/history/?person=otto&month=2026-01").content.decode()
    assert "?person=otto&amp;month=2026-01&amp;page=2" in html


def test_htmx_gets_only_the_results(viewer_client, lives):
    response = viewer_client.get("/instances/history/?person=otto", headers={"HX-Request": "true"})
    body = response.content.decode().strip()
    assert body.startswith('<section id="history-results"')
    assert "<html" not in body
    assert set(rows_of(response)) == {lives["otto_jan"].vast_id}


def test_csv_export_has_the_columns_and_every_gone_instance(viewer_client, lives):
    response = viewer_client.get("/instances/history/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="instance-history-')
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0] == [
        "instance",
        "label",
        "gpu",
        "launched_by",
        "from",
        "to",
        "hours",
        "ended",
        "ended_by",
        "estimated_cost_usd",
    ]
    by_id = {int(line[0]): line for line in table[1:]}
    assert set(by_id) == {row.vast_id for row in lives.values()}
    assert by_id[lives["otto_jan"].vast_id][1:] == [
        "jan-job",
        "2x RTX 4090",
        "otto",
        "2026-01-10T09:00:00+00:00",
        "2026-01-10T22:00:00+00:00",
        "13.00",
        "destroyed",
        "otto",
        "4.00",
    ]
    outside = by_id[lives["outside_jan"].vast_id]
    assert (outside[3], outside[7], outside[8], outside[9]) == ("outside the dashboard", "outside", "", "3.00")


def test_csv_export_follows_the_filters(viewer_client, lives):
    response = viewer_client.get("/instances/history/?person=outside&format=csv")
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(line[0]) for line in table[1:]] == [lives["outside_jan"].vast_id]


def test_the_export_link_carries_the_filters(viewer_client, lives):
    html = viewer_client.get("/instances/history/?person=otto").content.decode()
    assert 'href="?person=otto&amp;format=csv"' in html


def test_csv_export_spans_more_than_one_chunk(viewer_client):
    start = datetime(2026, 5, 1, tzinfo=UTC)
    for i in range(520):
        gone(born=start + timedelta(minutes=i), hours_running=0.5)
    response = viewer_client.get("/instances/history/?format=csv")
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 521


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_opened_as_text(admin_client):
    from dashboard.csv_export import _cell

    assert _cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert _cell("+1") == "'+1"
    assert _cell("@SUM(A1)") == "'@SUM(A1)"
    assert _cell("train-a") == "train-a"
    assert _cell(3) == 3
    assert _cell(None) == ""


def test_the_audit_csv_opens_a_formula_like_message_as_text(admin_client, admin):
    from dashboard.models import Action

    Action.objects.create(user=admin, username="ada", kind="stop", outcome="failed", message="=WEBSERVICE(1)")
    body = b"".join(admin_client.get("/audit/?format=csv").streaming_content).decode()
    assert "'=WEBSERVICE(1)" in body
    assert ",=WEBSERVICE" not in body
