"""Reading ahead of the training step: ordered worker threads and a bounded queue.

Threads serve memory maps and array-likes (NumPy slicing and file reads release the GIL)
and datasets where worker processes are not used (:mod:`unidl.data.processes` reads
datasets whose pure-Python ``__getitem__`` holds the GIL). Batches always come out in
plan order, whatever order workers finish in. A failure in a worker is raised in the
consumer, at the batch it belongs to, after the other workers are stopped; nothing is
left running when the consumer stops early.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["available_cpus", "default_workers", "read_ahead", "stream_ahead"]

T = TypeVar("T")
R = TypeVar("R")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform says, not the host's
    count: a container or ``taskset`` gives fewer)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def default_workers() -> int:
    """Readers used when ``workers`` is not given: one per available CPU, up to 4."""
    return max(1, min(4, available_cpus()))


def read_ahead(fetch: Callable[[T], R], items: Iterable[T], workers: int,
               depth: int | None = None) -> Iterator[R]:
    """``fetch(item)`` for each item, in order, computed by ``workers`` threads at most
    ``depth`` (default ``2 * workers``) items ahead of the consumer. ``workers=0`` fetches
    in the consumer's thread."""
    if workers <= 0:
        for item in items:
            yield fetch(item)
        return
    ahead = max(1, depth if depth is not None else 2 * workers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="unidl-data")
    pending: deque[Future[R]] = deque()
    source = iter(items)
    try:
        for item in source:
            pending.append(pool.submit(fetch, item))
            if len(pending) >= ahead:
                break
        while pending:
            result = pending.popleft().result()  # a worker's exception is raised here
            for item in source:
                pending.append(pool.submit(fetch, item))
                break
            yield result
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def stream_ahead(iterator: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The items of ``iterator``, pulled by one background thread into a queue of at most
    ``depth`` items. Closing the result stops the thread after its current item."""
    items: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                items.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_END)
        except BaseException as e:  # handed to the consumer, raised there
            put(_Failure(e))

    thread = threading.Thread(target=produce, name="unidl-stream", daemon=True)
    thread.start()
    try:
        while True:
            value = items.get()
            if value is _END:
                return
            if isinstance(value, _Failure):
                raise value.error
            yield value
    finally:
        stop.set()
        thread.join(timeout=5.0)
