"""Run a function over a stream of items on threads, with a bounded number in flight."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def bounded_map(
    function: Callable[[Item], Result],
    items: Iterable[Item],
    max_in_flight: int,
    *,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[Item, Future[Result]]]:
    """Yield ``(item, finished future)`` pairs as calls complete, never more than ``max_in_flight`` running.

    Items are drawn lazily, so a stream of millions costs no memory up front. Once ``stop()``
    is true no new item is started; calls already running still finish and are yielded.

    :param function: called once per item, on a worker thread.
    :param items: the items, drawn as slots free up.
    :param max_in_flight: the most calls running at once (also the thread count).
    :param stop: checked before each new call.
    """
    pending = iter(items)
    running: dict[Future[Result], Item] = {}
    exhausted = False
    with ThreadPoolExecutor(max_workers=max_in_flight) as pool:
        while True:
            while not exhausted and len(running) < max_in_flight and not stop():
                try:
                    item = next(pending)
                except StopIteration:
                    exhausted = True
                    break
                running[pool.submit(function, item)] = item
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield running.pop(future), future
