"""bounded_map reaches its bound: ``max_in_flight`` calls really run at once (not one at a time)."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_bio.core.bounded import bounded_map


@pytest.mark.parametrize("limit", [2, 4])
def test_bounded_map_runs_max_in_flight_calls_at_once(limit):
    # Every call waits until ``limit`` calls are waiting together: run one at a time (or fewer
    # than ``limit`` at once), the first call's wait times out and breaks the barrier.
    barrier = threading.Barrier(limit, timeout=2)

    def work(item):
        barrier.wait()
        return item

    results = sorted(future.result() for _, future in bounded_map(work, range(limit * 3), limit))
    assert results == list(range(limit * 3))
