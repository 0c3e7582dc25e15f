"""bounded_map reaches its bound: ``max_in_flight`` calls really run at once (not one at a time)."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from airflow_provider_bio.core.bounded import bounded_map, prefetched


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


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_bounded_map_draws_a_new_item_only_when_a_result_was_handed_over(limit):
    """Item ``n`` (past the first ``limit``) is drawn once ``n - limit + 1`` results were taken, never sooner."""
    seen: list[int] = []
    taken_when_drawn: list[int] = []

    def items():
        for item in range(6):
            taken_when_drawn.append(len(seen))
            yield item

    for item, future in bounded_map(lambda i: i * 10, items(), limit):
        assert future.result() == item * 10  # each future is its own item's
        seen.append(item)
    assert sorted(seen) == [0, 1, 2, 3, 4, 5]
    assert taken_when_drawn == [0] * limit + list(range(1, 7 - limit))


def test_bounded_map_hands_a_failed_call_over_as_its_future():
    def work(item):
        if item == 2:
            raise KeyError(item)
        return item

    outcomes = {item: future.exception() for item, future in bounded_map(work, range(4), 1)}
    assert [item for item, error in outcomes.items() if error is not None] == [2]
    assert isinstance(outcomes[2], KeyError)


def test_bounded_map_of_nothing_or_stopped_at_once_yields_nothing():
    assert list(bounded_map(lambda i: i, [], 2)) == []
    drawn: list[int] = []

    def items():
        for item in (1, 2):
            drawn.append(item)
            yield item

    assert list(bounded_map(lambda i: i, items(), 2, stop=lambda: True)) == []
    assert drawn == []  # not even drawn


def drained(consumer, seconds: float = 5) -> list:
    """Everything ``consumer`` yields, read on a thread: a consumer that never ends fails the test, not hangs it."""
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(consumer), daemon=True)
    reader.start()
    reader.join(seconds)
    assert not reader.is_alive(), f"the consumer never ended after {got!r}"
    return got


def test_prefetched_stops_drawing_once_the_consumer_leaves():
    drawn: list[int] = []

    def endless():
        n = 0
        while True:
            drawn.append(n)
            yield n
            n += 1

    before = set(threading.enumerate())
    consumer = prefetched(endless(), 2)
    # Read on this thread (pytest-timeout ends a hang), so mutmut ties the test to ``prefetched``.
    assert list(itertools.islice(consumer, 2)) == [0, 1]
    [drawer] = [t for t in threading.enumerate() if t not in before and t.name == "prefetch"]
    # Leave only once the buffer is full and the drawer holds the next item, waiting for room.
    deadline = time.monotonic() + 5
    while len(drawn) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    consumer.close()
    drawer.join(timeout=5)
    assert not drawer.is_alive()
    assert len(drawn) <= 6  # two handed over, two buffered, one held when told to stop, and its next draw


def test_prefetched_of_nothing_ends_at_once():
    assert drained(prefetched(iter([]), 1)) == []
    assert drained(prefetched(range(5), 1)) == [0, 1, 2, 3, 4]


class _CountedSource:
    """An item source that counts how often it is asked for the next item."""

    def __init__(self, items: list[int]) -> None:
        self.items, self.asked = list(items), 0

    def __iter__(self):
        return self

    def __next__(self) -> int:
        self.asked += 1
        if not self.items:
            raise StopIteration
        return self.items.pop(0)


def test_bounded_map_does_not_ask_an_ended_source_again():
    source = _CountedSource([1, 2, 3])
    assert sorted(future.result() for _, future in bounded_map(lambda i: i, source, 2)) == [1, 2, 3]
    assert source.asked == 4  # three items and the one answer that says there are no more


def test_an_abandoned_prefetch_does_not_keep_the_process_alive():
    # A consumer that stops reading without closing the prefetch (an exception held on to, say)
    # leaves the drawing thread running, and Python waits at exit for every thread that is not
    # a daemon. Called on this thread, so mutmut ties the test to ``prefetched``.
    before = set(threading.enumerate())
    held = prefetched(itertools.count(), 2)
    assert next(held) == 0
    [drawer] = [t for t in threading.enumerate() if t not in before and t.name == "prefetch"]
    assert drawer.daemon
    held.close()
