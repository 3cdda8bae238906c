"""The worker's tasks write models; Huey keeps none of their return values, which nobody reads
and which would otherwise pile up in its storage (a tick every few seconds, forever)."""

import pytest
from huey.contrib.djhuey import HUEY

from instances import tasks

pytestmark = pytest.mark.django_db


def test_tasks_that_return_values_leave_nothing_in_hueys_result_store():
    before = HUEY.result_count()
    assert tasks.sync_now() is None  # no result handle: results are off
    tasks.tick(chain_id="test")
    assert HUEY.result_count() == before == 0
