"""The data protocol (docs/data.md): every kind of source on every backend.

Indexable sources (arrays, memory maps, map-style datasets with or without
``__getitems__``) follow the core's seeded plan, so they train identically; batch
iterables (lists of batches, generators, torch ``DataLoader``, ``tf.data``) are consumed
in their own order. Options a source cannot honour, items that change mid-epoch, workers
that raise and streams that end early are errors that name what went wrong.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import unidl
from unidl.data import EpochPlan, epoch_plan, plan_batches, shard, shard_batch
from unidl.inputs import as_source

Array = npt.NDArray[Any]
ROOT = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TF = importlib.util.find_spec("tensorflow") is not None

rng = np.random.default_rng(0)
X = rng.normal(size=(90, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
SPEC = unidl.Sequential([unidl.Input((4,)), unidl.Dense(6, activation="relu"), unidl.Dense(2)])
FIT = dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"], epochs=2,
           verbose=0, seed=3)


class Items:
    """A user's map-style dataset."""

    def __init__(self, x: Array, y: Array) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Array, Any]:
        return self.x[i], int(self.y[i])


class BatchedItems(Items):
    """... offering torch's batched fetch (its calls counted across forked workers)."""

    calls = multiprocessing.Value("i", 0)

    def __getitems__(self, indices: list[int]) -> list[tuple[Array, Any]]:
        with BatchedItems.calls.get_lock():
            BatchedItems.calls.value += 1
        return [(self.x[i], int(self.y[i])) for i in indices]


def _batches(bs: int = 16, x: Array = X, y: Array = Y) -> list[tuple[Array, Array]]:
    return [(x[i:i + bs], y[i:i + bs]) for i in range(0, len(x), bs)]


def _memmap(tmp_path: Path, a: Array, name: str) -> Array:
    np.save(tmp_path / name, a)
    return np.load(tmp_path / name, mmap_mode="r")


def _same(a: unidl.Model, b: unidl.Model) -> None:
    assert a.history.keys() == b.history.keys()
    for k in a.history:
        np.testing.assert_allclose(a.history[k], b.history[k], rtol=1e-5, atol=1e-7)
    for k, w in a.get_weights().items():
        np.testing.assert_allclose(w, b.get_weights()[k], rtol=1e-5, atol=1e-6)


# -- indexable sources: the seeded plan ------------------------------------------------
def test_indexable_sources_follow_the_seeded_plan(backend: str, tmp_path: Path) -> None:
    ref = unidl.fit(SPEC, (X, Y), backend=backend, batch_size=16, validation_split=0.2, **FIT)
    xm, ym = _memmap(tmp_path, X, "x.npy"), _memmap(tmp_path, Y, "y.npy")
    sources: list[tuple[object, dict[str, Any]]] = [((xm, ym), {}), ((xm, Y), {})]
    sources += [(ds, {"use_multiprocessing": processes}) for ds in (Items(X, Y),
                BatchedItems(X, Y)) for processes in (False, True)]
    for data, readers in sources:
        BatchedItems.calls.value = 0
        got = unidl.fit(SPEC, data, backend=backend, batch_size=16, validation_split=0.2,
                        workers=2, **readers, **FIT)
        _same(ref, got)
        if isinstance(data, BatchedItems):  # a batched fetch per batch, in either reader
            assert BatchedItems.calls.value >= 2 * len(X) * 0.8 // 16, readers
    model = unidl.fit(SPEC, Items(X, Y), backend=backend, batch_size=16, workers=0, **FIT)
    expected = model.evaluate((X, Y))
    for data in [(xm, ym), Items(X, Y), _batches()]:
        got_logs = model.evaluate(data)
        assert got_logs == pytest.approx(expected, rel=1e-5)
    out = model.predict(X)
    for x in [xm, Items(X, Y), _batches(), (b[0] for b in _batches())]:
        np.testing.assert_allclose(model.predict(x), out, rtol=1e-5, atol=1e-6)


def test_class_and_sample_weights_on_a_dataset(backend: str) -> None:
    kw = dict(batch_size=16, class_weight={0: 0.5, 1: 2.0}, sample_weight=np.linspace(0, 1, 90))
    _same(unidl.fit(SPEC, (X, Y), backend=backend, **kw, **FIT),  # type: ignore[arg-type]
          unidl.fit(SPEC, Items(X, Y), backend=backend, **kw, **FIT))  # type: ignore[arg-type]


# -- streams: their own order ----------------------------------------------------------
def test_a_stream_in_plan_order_trains_like_unshuffled_arrays(backend: str) -> None:
    ref = unidl.fit(SPEC, (X, Y), backend=backend, batch_size=16, shuffle=False,
                    class_weight={1: 3.0}, validation_data=(X, Y), **FIT)

    def fresh() -> Any:
        yield from _batches()

    for data in [_batches(), fresh]:
        got = unidl.fit(SPEC, data, backend=backend, class_weight={1: 3.0},
                        validation_data=_batches(), **FIT)
        _same(ref, got)


def test_steps_per_epoch_continues_the_stream(backend: str) -> None:
    stream = iter(_batches() * 2)  # a one-pass generator of 12 batches
    m = unidl.fit(SPEC, stream, backend=backend, steps_per_epoch=4, **{**FIT, "epochs": 3})
    assert len(m.history["loss"]) == 3
    with pytest.raises(unidl.DataError, match=r"ended after 0 of the 4 batches"):
        m.fit(stream, steps_per_epoch=4, epochs=1, verbose=0)
    with pytest.raises(unidl.DataError, match=r"ended after 2 of the 4 batches"):
        unidl.fit(SPEC, iter(_batches()[:2]), backend=backend, steps_per_epoch=4, **FIT)


def test_options_a_stream_cannot_honour_are_errors(backend: str) -> None:
    for option, value in [("batch_size", 16), ("shuffle", True), ("validation_split", 0.2),
                          ("sample_weight", np.ones(90))]:
        with pytest.raises(unidl.SpecError, match=option):
            unidl.fit(SPEC, _batches(), backend=backend, **{option: value}, **FIT)
    with pytest.raises(unidl.DataError, match="one-pass iterator"):
        unidl.fit(SPEC, iter(_batches()), backend=backend, **FIT)
    with pytest.raises(unidl.SpecError, match="steps_per_epoch"):
        unidl.fit(SPEC, (X, Y), backend=backend, steps_per_epoch=2, **FIT)


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_the_pytorch_scenario_dataset_and_dataloader(backend: str) -> None:
    import torch
    from torch.utils.data import DataLoader
    from torch.utils.data import Dataset as TorchDataset

    class Housing(TorchDataset):  # type: ignore[type-arg]
        def __init__(self) -> None:
            self.x, self.y = torch.from_numpy(X), torch.from_numpy(Y)

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            return self.x[i], self.y[i]

    ref = unidl.fit(SPEC, (X, Y), backend=backend, batch_size=16, **FIT)
    _same(ref, unidl.fit(SPEC, Housing(), backend=backend, batch_size=16, **FIT))
    loader = DataLoader(Housing(), batch_size=16, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    model = unidl.fit(SPEC, loader, backend=backend, validation_data=loader, **FIT)
    assert len(model.history["val_loss"]) == 2
    assert model.predict(loader).shape == (90, 2)


@pytest.mark.skipif(not HAS_TF, reason="needs tensorflow")
def test_a_tf_data_pipeline(backend: str) -> None:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(16)
    _same(unidl.fit(SPEC, (X, Y), backend=backend, batch_size=16, shuffle=False, **FIT),
          unidl.fit(SPEC, ds, backend=backend, **FIT))
    shuffled = tf.data.Dataset.from_tensor_slices((X, Y)).shuffle(90, seed=0).batch(16)
    assert len(unidl.fit(SPEC, shuffled.repeat(), backend=backend, steps_per_epoch=3,
                         **FIT).history["loss"]) == 2


def test_graph_inputs_as_dicts(backend: str) -> None:
    a, b = unidl.Input((2,), name="a"), unidl.Input((2,), name="b")
    out = unidl.Dense(2, name="out")(unidl.Concatenate()([a, b]))
    graph = unidl.Graph([a, b], out)

    class Pairs:
        def __len__(self) -> int:
            return 90

        def __getitem__(self, i: int) -> tuple[dict[str, Array], Any]:
            return {"a": X[i, :2], "b": X[i, 2:]}, Y[i]

    kw = {**FIT, "metrics": None}
    ref = unidl.fit(graph, ({"a": X[:, :2], "b": X[:, 2:]}, Y), backend=backend, batch_size=16,
                    shuffle=False, **kw)
    _same(ref, unidl.fit(graph, Pairs(), backend=backend, batch_size=16, shuffle=False, **kw))
    stream = [({"a": xb[:, :2], "b": xb[:, 2:]}, yb) for xb, yb in _batches()]
    _same(ref, unidl.fit(graph, stream, backend=backend, **kw))


# -- bad input -------------------------------------------------------------------------
class Changing(Items):
    def __init__(self, at: int, change: str) -> None:
        super().__init__(X, Y)
        self.at, self.change = at, change

    def __getitem__(self, i: int) -> tuple[Array, Any]:
        x, y = super().__getitem__(i)
        if i == self.at:
            if self.change == "shape":
                x = x[:3]
            elif self.change == "dtype":
                x = x.astype(np.float64)
            else:
                raise RuntimeError("disk on fire")
        return x, y


@pytest.mark.parametrize(("change", "message"), [
    ("shape", r"data\[57\] item\[0\] has shape \(3,\) but the first had \(4,\)"),
    ("dtype", r"data\[57\] item\[0\] has dtype float64 but the first had float32"),
    ("raise", r"data\[57\] failed: RuntimeError: disk on fire"),
])
@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_a_dataset_item_that_changes_or_fails_is_named(backend: str, change: str,
                                                       message: str, processes: bool) -> None:
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(unidl.DataError, match=message):
        unidl.fit(SPEC, Changing(57, change), backend=backend, batch_size=8, workers=3,
                  use_multiprocessing=processes, **FIT)
    left = [t.name for t in threading.enumerate()
            if t.name not in before and t.name.startswith("unidl-")]
    left += [p.name for p in multiprocessing.active_children()]
    assert left == []  # the workers are shut down


def test_a_stream_yielding_the_wrong_thing_is_named(backend: str) -> None:
    wrong = _batches()
    wrong[2] = ({"x": wrong[2][0]}, wrong[2][1])  # type: ignore[call-overload]
    with pytest.raises(unidl.DataError, match=r"batch 2 batch\[0\] holds|batch 2 holds"):
        unidl.fit(SPEC, wrong, backend=backend, **FIT)
    dicts = [{"x": xb, "y": yb} for xb, yb in _batches()]
    with pytest.raises(unidl.DataError, match=r"batch 0: a batch iterable must yield \(x, y\)"):
        unidl.fit(SPEC, lambda: iter(dicts), backend=backend, **FIT)
    later = _batches()
    later[3] = (later[3][0].astype(np.float64), later[3][1])
    with pytest.raises(unidl.DataError, match=r"batch 3 batch\[0\] has dtype float64"):
        unidl.fit(SPEC, later, backend=backend, **FIT)

    def failing() -> Any:
        yield _batches()[0]
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        unidl.fit(SPEC, failing, backend=backend, **FIT)
    assert not [t for t in threading.enumerate() if t.name == "unidl-stream" and t.is_alive()]


def test_a_memory_map_with_a_bad_batch_is_named(tmp_path: Path) -> None:
    bad = X.copy()
    bad[70, 1] = np.nan
    xm = _memmap(tmp_path, bad, "bad.npy")
    model = unidl.Sequential([unidl.Input((4,)), unidl.Dense(1)])
    source = as_source((xm, Y.astype(np.float32)), model, _heads(model))
    plan = EpochPlan(np.arange(90, dtype=np.int64), 32)
    with pytest.raises(unidl.DataError, match=r"batch of samples \[64, 65.*NaN"):
        list(plan_batches(source, plan))


def _heads(spec: Any) -> Any:
    from unidl.heads import resolve_heads

    return resolve_heads(spec, "mse", None, None)


# -- sharding --------------------------------------------------------------------------
@pytest.mark.parametrize("world", [2, 3])
def test_every_source_shards_into_disjoint_parts_covering_the_epoch(tmp_path: Path,
                                                                    world: int) -> None:
    ids = np.arange(50, dtype=np.float32)[:, None].repeat(4, 1)
    y = np.zeros(50, np.float32)
    model = unidl.Sequential([unidl.Input((4,)), unidl.Dense(1)])
    heads = _heads(model)
    sources = [as_source((ids, y), model, heads), as_source((_memmap(tmp_path, ids, "i.npy"),
                                                             y), model, heads),
               as_source(Items(ids, y), model, heads)]
    plan = epoch_plan(50, 8, seed=1, epoch=2)
    for source in sources:
        parts = [np.concatenate([xb[:, 0] for _, xb, _ in plan_batches(shard(source, r, world),
                                                                       plan)])
                 for r in range(world)]
        seen = np.concatenate(parts)
        assert sorted(seen.tolist()) == list(range(50))  # disjoint, and every sample once
        assert [len(p) for p in parts] == [
            sum(len(b[shard_batch(len(b), r, world)]) for b in plan.batches())
            for r in range(world)]  # part r of every global batch
    stream = as_source([(ids[i:i + 8], y[i:i + 8]) for i in range(0, 50, 8)], model, heads)
    parts = [np.concatenate([xb[:, 0] for xb, _, _ in shard(stream, r, world).epoch()])
             for r in range(world)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(50))
    with pytest.raises(unidl.DataError, match="rank"):
        shard(stream, world, world)


# -- memory ----------------------------------------------------------------------------
MEMORY_CHILD = textwrap.dedent("""
    import resource, sys, numpy as np, unidl
    path, backend = sys.argv[1], sys.argv[2]
    x = np.load(path, mmap_mode="r")
    y = np.zeros(len(x), np.float32)
    spec = unidl.Sequential([unidl.Input(x.shape[1:]), unidl.Dense(1)])
    model = unidl.build(spec, backend, seed=0)
    model.compile("mse", unidl.SGD(lr=1e-3))
    model.fit((x[:64], y[:64]), epochs=1, batch_size=64, verbose=0)  # warm the framework
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model.fit((x, y), epochs=1, batch_size=512, verbose=0, validation_data=(x[-4096:], y[-4096:]))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024)
""")


def test_training_on_a_memory_map_keeps_the_resident_set_bounded(backend: str,
                                                                  tmp_path: Path) -> None:
    """A memory-mapped ``.npy`` of UNIDL_TEST_MAP_MB (default 1024) MB: peak RSS growth
    stays under 600 MB per 2 GB of map (docs/data.md records the 2 GB run)."""
    megabytes = int(os.environ.get("UNIDL_TEST_MAP_MB", "1024"))
    rows = megabytes * (1 << 20) // (256 * 4)
    path = tmp_path / "big.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 256))
    del mm  # sparse: zeros, read back through the page cache
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(path), backend],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    growth = int(done.stdout.split()[-1])
    bound = megabytes * (1 << 20) * 600 // 2048  # 600 MB for a 2 GB map, in proportion
    assert growth < bound, f"peak RSS grew {growth / 2**20:.0f} MB"


# -- the page --------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_TORCH, reason="the page trains on the torch backend")
def test_the_data_page_runs_top_to_bottom(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/data.md: its ``python`` blocks run in order as one script; ``py`` blocks are
    fragments."""
    import re

    text = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 6
    exec(compile("\n\n".join(blocks), str(ROOT / "docs" / "data.md"), "exec"),
         {"__name__": "__data_page__"})
    assert "shuffle: does not apply" in capsys.readouterr().out
