"""Worker processes for map-style datasets whose ``__getitem__`` holds the GIL.

Threads cannot overlap pure-Python item code with the training step; processes can, as
torch's ``DataLoader(num_workers=N)`` and Keras' ``PyDataset(use_multiprocessing=True)``
do. Each task is a whole batch: the worker runs :meth:`MappedData.gather` (the dataset's
``__getitems__`` when it has one, else ``__getitem__`` per sample, the item checks and
the stacking) and sends the stacked NumPy arrays back through its own pipe; the training
process validates them (``prepare``, which needs the model). Batch ``k`` goes to worker
``k % workers``, at most ``depth`` batches are in flight, and batches come out in plan
order.

Start method: "fork" on Linux, where nothing is pickled (any dataset works) and a worker
starts in milliseconds; "spawn" elsewhere (fork is unsafe on macOS), where the dataset is
pickled to each worker and its class must be importable. A failure is a ``DataError`` in
the training process at the batch it belongs to: an item that raises (its index and the
original error, the worker's traceback chained), or a worker that died (its exit code).
The workers are stopped whenever reading stops: at the end, at an error, or when the
consumer stops early (early stopping, an exception in training). A worker whose training
process is gone exits by itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
import signal
import sys
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from ..errors import DataError, SpecError, short
from .arrays import Arrays
from .mapped import MappedData
from .prefetch import available_cpus
from .shared_slots import Slots

__all__ = ["read_in_processes", "start_method", "use_processes"]

K = TypeVar("K")
#: Seconds between a waiting worker's checks that its training process is still there.
_WATCH_S = 1.0
#: Seconds a worker gets to exit after being asked, before it is terminated.
_JOIN_S = 2.0


def start_method() -> str:
    """"fork" on Linux, "spawn" elsewhere (see the module)."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


def use_processes(use_multiprocessing: object) -> bool:
    """Whether a map-style dataset is read by worker processes: as asked, or by default
    (None) when workers start by fork, there is more than one CPU to run them on and this
    process may have children (a daemonic one, e.g. a worker of ``fit(devices=N)``, may
    not)."""
    if use_multiprocessing is None:
        return (start_method() == "fork" and available_cpus() > 1
                and not mp.current_process().daemon)
    if not isinstance(use_multiprocessing, bool):
        raise SpecError("must be True (worker processes), False (worker threads) or None "
                        f"(processes on Linux with more than one CPU), got "
                        f"{short(use_multiprocessing)}", "use_multiprocessing")
    return use_multiprocessing


def _unprepared(x: Any, y: Any) -> tuple[Arrays, Arrays | None]:
    """What a spawned worker's copy of the source has instead of ``prepare`` (a closure
    over the model, which need not pickle; it runs in the training process)."""
    return x, y


class _Failure:
    """A worker's exception, as text (the exception itself need not pickle)."""

    def __init__(self, error: BaseException, trace: str) -> None:
        self.message = str(error) if isinstance(error, DataError) \
            else f"{type(error).__name__}: {error}"
        self.trace = trace


@dataclasses.dataclass(frozen=True)
class _Shared:
    """A batch left in the shared slots: its description."""

    described: Any


class _RemoteTraceback(Exception):
    """The worker's traceback, chained to the error raised in the training process."""

    def __str__(self) -> str:
        return f"\n\"\"\"\n{self.args[0]}\"\"\""


def _serve(conn: Connection, source: MappedData, parent: int,
           inherited: list[Connection], slots: Slots | None) -> None:
    """A worker: gather the batches asked for until told to stop or orphaned."""
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the training process
    for other in inherited:  # a forked copy of the training process' ends of the pipes
        other.close()
    while True:
        try:
            if not conn.poll(_WATCH_S):
                if os.getppid() != parent:
                    return
                continue
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        number, indices = task
        try:
            try:
                batch = source.gather(indices)
                described = slots.put(number, batch) if slots is not None else None
                conn.send((number, batch if described is None else _Shared(described)))
            except BaseException as e:  # the item's error, or a result that does not pickle
                conn.send((number, _Failure(e, traceback.format_exc())))
        except OSError:  # the training process is gone
            return


@contextlib.contextmanager
def _quiet_fork() -> Iterator[None]:
    # Python >= 3.12 warns about fork in a process with threads (the framework's); the
    # worker only runs the dataset's code, as torch's forked DataLoader workers do.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks",
                                category=DeprecationWarning)
        yield


class _Pool:
    """``workers`` processes, each with its own pipe."""

    def __init__(self, source: MappedData, workers: int, slots: Slots | None) -> None:
        self.source, self.name, self.slots = source, source.name, slots
        self.method = start_method()
        self.procs: list[BaseProcess] = []
        self.conns: list[Connection] = []
        context: Any = mp.get_context(self.method)  # typeshed's BaseContext lacks Process
        shipped = source if self.method == "fork" else dataclasses.replace(
            source, prepare=_unprepared, sample_weight=None)
        for w in range(workers):
            mine, theirs = context.Pipe()
            inherited = [*self.conns, mine] if self.method == "fork" else []
            proc = context.Process(target=_serve, args=(theirs, shipped, os.getpid(),
                                                        inherited, slots),
                                   name=f"unidl-data-{w}", daemon=True)
            try:
                with _quiet_fork():
                    proc.start()
            except Exception as e:
                mine.close()
                theirs.close()
                raise DataError(f"{self.name}: cannot start worker processes by "
                                f"{self.method} ({type(e).__name__}: {e}); with spawn the "
                                "dataset must pickle and its class be importable; pass "
                                "use_multiprocessing=False to read it with threads"
                                ) from e
            finally:
                theirs.close()
            self.procs.append(proc)
            self.conns.append(mine)

    def send(self, number: int, indices: list[int]) -> None:
        with contextlib.suppress(OSError):  # the worker died; receive() says so
            self.conns[number % len(self.conns)].send((number, indices))

    def receive(self, number: int, indices: list[int]) -> tuple[Any, Any]:
        w = number % len(self.conns)
        conn, proc = self.conns[w], self.procs[w]
        where = f"the batch of items {short(indices)}"
        if conn in wait([conn, proc.sentinel]):
            try:
                got, result = conn.recv()
            except (EOFError, OSError):
                pass
            else:
                assert got == number, (got, number)
                if isinstance(result, _Failure):
                    raise DataError(f"{result.message} (in worker process {w}, reading "
                                    f"{where}; the workers were stopped)"
                                    ) from _RemoteTraceback(result.trace)
                if isinstance(result, _Shared):
                    assert self.slots is not None
                    shared: tuple[Any, Any] = self.slots.take(result.described)
                    return shared
                stacked: tuple[Any, Any] = result
                return stacked
        proc.join(_JOIN_S)
        code = proc.exitcode
        how = (f"was killed by signal {signal.Signals(-code).name}" if code is not None
               and code < 0 and -code in signal.valid_signals() else f"exited (code {code})")
        raise DataError(f"{self.name}: worker process {w} (pid {proc.pid}) {how} while "
                        f"reading {where}, e.g. out of memory; the workers were stopped. "
                        "Use fewer workers, or read in the training process with "
                        "use_multiprocessing=False or workers=0")

    def close(self, finished: bool) -> None:
        """Stop every worker: asked to exit when all was read, else terminated (a worker
        may be blocked sending a batch nobody will read)."""
        for conn in self.conns:
            if finished:
                with contextlib.suppress(OSError):
                    conn.send(None)
        for proc in self.procs:
            if finished:
                proc.join(_JOIN_S)
            if proc.is_alive():
                proc.terminate()
                proc.join(_JOIN_S)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()
        if self.slots is not None:
            self.slots.close()


def read_in_processes(source: MappedData, batches: Iterable[tuple[K, list[int]]],
                      workers: int, depth: int | None = None
                      ) -> Iterator[tuple[K, Arrays, Arrays | None]]:
    """For each ``(key, indices)`` of ``batches``: ``(key, x, y)`` of the items
    ``indices`` of ``source``, in order, gathered by ``workers`` processes at most
    ``depth`` (default ``2 * workers``) batches ahead of the consumer."""
    ahead = max(workers, depth if depth is not None else 2 * workers)
    todo = iter(batches)
    first = next(todo, None)
    if first is None:
        return
    # The first batch is read here: it sizes the shared slots the workers inherit.
    first_key, first_indices = first
    first_batch = source.gather(first_indices)
    slots = None
    if start_method() == "fork":
        slots = Slots.sized(first_batch, len(first_indices), workers, ahead)
    if slots is not None:
        ahead = min(ahead, slots.depth)
    pending: deque[tuple[K, list[int]]] = deque()
    sent = received = 0
    finished = False
    pool = _Pool(source, workers, slots)
    try:
        for key, indices in todo:
            pool.send(sent, indices)
            pending.append((key, indices))
            sent += 1
            if len(pending) >= ahead:
                break
        yield first_key, *source.finish(first_indices, first_batch)
        while pending:
            key, indices = pending.popleft()
            stacked = pool.receive(received, indices)
            received += 1
            for next_key, next_indices in todo:
                pool.send(sent, next_indices)
                pending.append((next_key, next_indices))
                sent += 1
                break
            x, y = source.finish(indices, stacked)
            yield key, x, y
        finished = True
    finally:
        pool.close(finished)
