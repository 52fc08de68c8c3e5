"""Worker processes reading a map-style dataset (``use_multiprocessing``, docs/data.md).

They read in the plan's order (so a run equals one read in the training process), they are
really other processes, and every way reading can stop leaves none behind: the end of the
data, an item that raises, a worker killed by the system, training that stops early, and
a training process that dies.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import unidl
from unidl.data.processes import start_method
from unidl.data.shared_slots import Slots

Array = npt.NDArray[Any]
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(start_method() != "fork",
                                reason="worker processes are tested where they fork")

rng = np.random.default_rng(4)
X = rng.normal(size=(96, 5)).astype(np.float32)
Y = (X[:, 0] > X[:, 1]).astype(np.int64)
SPEC = unidl.Sequential([unidl.Input((5,)), unidl.Dense(8, activation="relu"), unidl.Dense(2)])
FIT: dict[str, Any] = dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                           epochs=2, batch_size=8, verbose=0, seed=5)


class Rows:
    """A user's dataset; it notes which processes read it, and holds a lambda (it need not
    pickle: workers fork)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.scale: Callable[[Array], Array] = lambda a: a * 1.0

    def __len__(self) -> int:
        return len(X)

    def __getitem__(self, i: int) -> tuple[Array, int]:
        if self.folder is not None:
            (self.folder / f"{os.getpid()}-{i}").touch()
        return self.scale(X[i]), int(Y[i])


def _our_children() -> list[str]:
    return [p.name for p in multiprocessing.active_children()
            if p.name.startswith("unidl-data")]


def test_worker_processes_read_in_plan_order(backend: str, tmp_path: Path) -> None:
    here = unidl.fit(SPEC, Rows(), backend=backend, workers=0, validation_split=0.25, **FIT)
    there = unidl.fit(SPEC, Rows(tmp_path), backend=backend, workers=2,
                      use_multiprocessing=True, validation_split=0.25, **FIT)
    reads = [tuple(int(n) for n in p.name.split("-")) for p in tmp_path.iterdir()]
    # this process reads item 0 (checked before training) and the first batch of a pass
    # (it sizes the workers' shared memory); the workers read the rest
    ours = {i for pid, i in reads if pid == os.getpid()}
    theirs = {i for pid, i in reads if pid != os.getpid()}
    passes = 2 * FIT["epochs"] + 1  # training and validation each epoch, the prediction
    assert len(ours) <= 1 + passes * FIT["batch_size"] and ours | theirs == set(range(len(X)))
    assert len(theirs) > len(X) / 2
    assert len({pid for pid, _ in reads} - {os.getpid()}) >= 2
    for key, values in here.history.items():
        np.testing.assert_allclose(there.history[key], values, rtol=1e-6)
    for key, w in here.get_weights().items():
        np.testing.assert_allclose(there.get_weights()[key], w, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(there.predict(Rows()), here.predict(X), rtol=1e-5, atol=1e-6)
    assert _our_children() == []


class Failing(Rows):
    def __init__(self, at: int, how: str) -> None:
        super().__init__()
        self.at, self.how, self.parent = at, how, os.getpid()

    def __getitem__(self, i: int) -> tuple[Array, int]:
        if i == self.at and os.getpid() != self.parent:  # in a worker, not the first probe
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("disk on fire")
        return super().__getitem__(i)


@pytest.mark.parametrize(("how", "message"), [
    ("raise", r"data\[61\] failed: RuntimeError: disk on fire \(in worker process \d, "
              r"reading the batch of items \[56, 57, 58, 59, 60, 61, .*\]; the workers "
              r"were stopped\)"),
    ("kill", r"data: worker process \d \(pid \d+\) was killed by signal SIGKILL while "
             r"reading the batch of items \[56, 57, 58, 59, 60, 61, .*\]"),
])
def test_a_worker_that_fails_is_named_and_none_is_left(backend: str, how: str,
                                                       message: str) -> None:
    start = time.monotonic()
    with pytest.raises(unidl.DataError, match=message):
        unidl.fit(SPEC, Failing(61, how), backend=backend, workers=3,
                  use_multiprocessing=True, shuffle=False, **FIT)
    assert time.monotonic() - start < 60
    assert _our_children() == []


class StopAt(unidl.Callback):
    def on_batch_end(self, model: Any, batch: int, logs: Any) -> None:
        if batch == 2:
            raise KeyboardInterrupt


def test_training_that_stops_early_stops_the_workers(backend: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        unidl.fit(SPEC, Rows(), backend=backend, workers=2, use_multiprocessing=True,
                  callbacks=[StopAt()], **FIT)
    assert _our_children() == []


@pytest.mark.parametrize("data", [Rows(), (X, Y)], ids=["dataset", "arrays"])
def test_use_multiprocessing_must_be_a_bool_or_none(backend: str, data: object) -> None:
    with pytest.raises(unidl.SpecError, match=r"use_multiprocessing.*got 'yes'"):
        unidl.fit(SPEC, data, backend=backend,
                  use_multiprocessing="yes", **FIT)  # type: ignore[arg-type]


ORPHAN = """
import os, sys, time
import numpy as np
sys.path.insert(0, {root!r})
import unidl

class Slow:
    def __len__(self):
        return 100000
    def __getitem__(self, i):
        time.sleep(0.001)
        return np.zeros(4, np.float32), 0

spec = unidl.Sequential([unidl.Input((4,)), unidl.Dense(2)])
class Report(unidl.Callback):
    def on_batch_end(self, model, batch, logs):
        if batch == 3:
            import multiprocessing
            print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
            time.sleep(60)
unidl.fit(spec, Slow(), loss="sparse_categorical_crossentropy", batch_size=32, workers=2,
          use_multiprocessing=True, verbose=0, callbacks=[Report()], backend={backend!r})
"""


def test_workers_exit_when_the_training_process_dies(backend: str, tmp_path: Path) -> None:
    script = tmp_path / "orphan.py"
    script.write_text(textwrap.dedent(ORPHAN.format(root=str(ROOT), backend=backend)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2, pids
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 20
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in pids if _running(p)]
    assert alive == [], f"worker processes {alive} outlived their training process"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie (reaped by init later) is gone
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


_DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_, np.uint16])


@st.composite
def _batches(draw: st.DrawFn) -> tuple[Any, int]:
    rows = draw(st.integers(1, 6))

    def leaf() -> Array:
        shape = (rows, *draw(st.lists(st.integers(0, 4), max_size=3)))
        return draw(hnp.arrays(draw(_DTYPES), shape))

    x: Any = draw(st.sampled_from(["array", "tuple", "dict"]))
    x = (leaf() if x == "array" else (leaf(), leaf()) if x == "tuple"
         else {"a": leaf(), "b": leaf()})
    return (x, draw(st.sampled_from([None, "y"])) and leaf()), rows


@settings(max_examples=60, deadline=None)
@given(_batches(), st.integers(1, 3), st.integers(0, 20))
def test_shared_slots_give_back_what_was_put(case: tuple[Any, int], workers: int,
                                             number: int) -> None:
    batch, rows = case
    slots = Slots.sized(batch, rows, workers, depth=8)
    assert slots is not None
    assert slots.depth >= workers  # at least two slots per worker
    try:
        described = slots.put(number, batch)
        assert described is not None
        got = slots.take(described)
        flat = [np.asarray(a) for a in _flat(batch)]
        back = _flat(got)
        assert len(back) == len(flat)
        for a, b in zip(flat, back, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        bigger = ((np.zeros((rows + 2) * slots.size, np.uint8)), None)
        assert slots.put(number, bigger) is None  # too big: sent through the pipe instead
        assert slots.put(number, (np.array([object()]), None)) is None
    finally:
        slots.close()


def _flat(tree: Any) -> list[Any]:
    if tree is None:
        return []
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _flat(v)]
    if isinstance(tree, tuple):
        return [leaf for v in tree for leaf in _flat(v)]
    return [tree]
