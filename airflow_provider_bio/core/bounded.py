"""Run a function over a stream of items on threads, with a bounded number in flight."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from queue import Full, Queue, SimpleQueue
from typing import Any, TypeVar

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
    finished: SimpleQueue[tuple[Item, Future[Result]]] = SimpleQueue()
    running = 0
    exhausted = False
    with ThreadPoolExecutor(max_workers=max_in_flight) as pool:
        while True:
            while not exhausted and running < max_in_flight and not stop():
                try:
                    item = next(pending)
                except StopIteration:
                    exhausted = True
                    break
                future = pool.submit(function, item)
                future.add_done_callback(lambda done, item=item: finished.put((item, done)))
                running += 1
            if not running:
                return
            yield finished.get()
            running -= 1


_END = object()


def prefetched(items: Iterable[Item], max_buffered: int) -> Iterator[Item]:
    """Draw ``items`` on a background thread, at most ``max_buffered`` ahead of the consumer.

    Lets a paginated listing fetch its next page while the consumer works on the current one,
    with memory bounded by ``max_buffered``. An exception raised while drawing is re-raised to
    the consumer at the point it happened.

    :param items: the (slow) iterable.
    :param max_buffered: the most items held ahead.
    """
    buffer: Queue[Any] = Queue(maxsize=max_buffered)
    abandoned = threading.Event()

    def draw() -> None:
        try:
            for item in items:
                while not abandoned.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if abandoned.is_set():
                    return
            buffer.put(_END)
        except BaseException as error:  # handed to the consumer
            buffer.put(error)

    thread = threading.Thread(target=draw, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        abandoned.set()
