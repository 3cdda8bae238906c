"""Ids outside 1..2^63-1, or not numbers, are a 404 page: no view runs, nothing is audited, Vast is not asked."""

import pytest

from dashboard.models import Action

BAD_IDS = ["0", "00", str(2**63), str(2**64 + 5), "99999999999999999999", "-1", "abc", "1e3", "７"]
PAGES = ["/instances/{id}/", "/instances/{id}/row/", "/offers/{id}/", "/offers/{id}/launch/"]
WRITES = [
    "/instances/{id}/start/",
    "/instances/{id}/stop/",
    "/instances/{id}/label/",
    "/instances/{id}/destroy/",
    "/offers/{id}/launch/",
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_are_a_404_page_with_no_audit_row_and_no_upstream_call(admin_client, upstream, bad):
    for url in PAGES:
        response = admin_client.get(url.format(id=bad))
        assert response.status_code == 404, url
    for url in WRITES:
        response = admin_client.post(url.format(id=bad), {"label": "x"})
        assert response.status_code == 404, url
    assert not Action.objects.exists()
    assert upstream.requests == []


def test_the_largest_id_is_accepted(admin_client, upstream):
    largest = 2**63 - 1
    assert admin_client.get(f"/instances/{largest}/").status_code == 404  # not in the ledger: a page saying so
    response = admin_client.post(f"/instances/{largest}/stop/")
    assert response.status_code != 500
    assert Action.objects.filter(instance_id=largest).exists()
