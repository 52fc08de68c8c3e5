"""Data-parallel training (docs/distributed.md): ``fit(devices=2)`` follows the
one-process run with the same global batch and seed on every backend that trains
data-parallel (torch: two CPU workers over gloo, also under ``torchrun``; keras:
MirroredStrategy over two logical CPUs); files are written once, by rank 0; a killed
worker ends the run with an error naming it; bad launch settings are refused before any
worker starts. A backend without a data-parallel engine is skipped.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import unidl
from unidl import registry

from .conftest import GOOD

needs_torch = pytest.mark.skipif("torch" not in registry.backend_names(),
                                 reason="the torch backend is not installed")

ROOT = Path(__file__).resolve().parents[1]
Array = npt.NDArray[Any]

#: 70 samples in global batches of 15: parts of 8 and 7 samples, then 5 and 5 (the last
#: batch of 10), so each rank's loss must be weighted by its share of the global batch.
N, BATCH, EPOCHS = 70, 15, 3
TOLERANCE = 1e-5


def _spec() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((6, 6, 2)),
        unidl.Conv2D(3, 3, activation="relu"),
        unidl.BatchNorm(),
        unidl.Flatten(),
        unidl.Dense(8, activation="relu"),
        unidl.BatchNorm(),
        unidl.Dense(3, activation="softmax"),
    ])


def _data() -> tuple[Array, Array]:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(N, 6, 6, 2)).astype(np.float32),
            rng.integers(0, 3, N).astype(np.int64))


FIT: dict[str, Any] = {"loss": "sparse_categorical_crossentropy",
                       "optimizer": unidl.Adam(lr=1e-3), "metrics": ["accuracy"],
                       "epochs": EPOCHS, "batch_size": BATCH, "seed": 3, "verbose": 0}


@pytest.fixture(scope="module")
def fit(backend: str) -> dict[str, Any]:
    """The one-process and the data-parallel runs' options on ``backend``; skips a
    backend that does not train data-parallel."""
    if getattr(registry.get_backend(backend), "distributed", None) is None:
        pytest.skip(f"the {backend} backend does not train data-parallel")
    return {**FIT, "backend": backend}


def _max_difference(a: dict[str, Array], b: dict[str, Array]) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


class Mark(unidl.Callback):
    """Touches ``<folder>/<what>-rank<RANK>`` when training ends (``-rankalone`` in a
    process without a rank: one process training on several replicas)."""

    def __init__(self, folder: str, what: str, rank_zero_only: bool) -> None:
        self.folder, self.what, self.rank_zero_only = folder, what, rank_zero_only

    def on_train_end(self, model: Any, logs: Any) -> None:
        rank = os.environ.get("RANK", "alone")
        Path(self.folder, f"{self.what}-rank{rank}").touch()


class KillRank(unidl.Callback):
    """Kills the worker of rank ``rank`` (SIGKILL: no clean-up) at a batch of epoch 1; a
    worker process without a rank (several replicas in one process) is that worker."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def on_batch_end(self, model: Any, batch: int, logs: Any) -> None:
        worker = os.environ.get("RANK", "alone" if multiprocessing.parent_process() else "")
        if worker in (str(self.rank), "alone") and model.epochs_trained == 1 and batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture(scope="module")
def one_process(fit: dict[str, Any]) -> unidl.Model:
    return unidl.fit(_spec(), _data(), **fit)


def test_two_workers_follow_one_process_and_only_rank_0_writes(
        one_process: unidl.Model, fit: dict[str, Any], tmp_path: Path) -> None:
    csv = tmp_path / "log.csv"
    callbacks = [unidl.CSVLogger(csv), Mark(str(tmp_path), "writes", True),
                 Mark(str(tmp_path), "decides", False)]
    two = unidl.fit(_spec(), _data(), devices=2, callbacks=callbacks, **fit)
    difference = _max_difference(one_process.get_weights(), two.get_weights())
    print(f"devices=2: max |w_2 - w_1| = {difference:.3g}")
    assert difference < TOLERANCE
    assert two.epochs_trained == EPOCHS
    assert two.history.keys() == one_process.history.keys() == {"loss", "accuracy"}
    for key, values in one_process.history.items():
        np.testing.assert_allclose(two.history[key], values, rtol=1e-5)
    assert _max_difference(one_process.optimizer_state(), two.optimizer_state()) < TOLERANCE
    marks = sorted(p.name for p in tmp_path.iterdir() if p.name != "log.csv")
    deciders = [m.removeprefix("decides-") for m in marks if m.startswith("decides-")]
    writers = [m.removeprefix("writes-") for m in marks if m.startswith("writes-")]
    # every worker process ran the deciding callback, only the first the writing one
    assert deciders in (["rank0", "rank1"], ["rankalone"]), marks
    assert writers == deciders[:1], marks
    assert len(csv.read_text().splitlines()) == 1 + EPOCHS  # a header, one row an epoch
    # the model that came back is an ordinary model: it trains on here, in this process
    two.fit(_data(), epochs=1, batch_size=BATCH, verbose=0)
    assert two.epochs_trained == EPOCHS + 1


def test_a_distributed_run_resumed_follows_the_uninterrupted_one(
        one_process: unidl.Model, fit: dict[str, Any], tmp_path: Path) -> None:
    """Two epochs on two workers, saved and loaded, then the third on two workers again:
    the epoch count, the optimizer state and the history carry over."""
    first = unidl.fit(_spec(), _data(), devices=2, **{**fit, "epochs": EPOCHS - 1})
    first.save(tmp_path / "half")
    resumed = unidl.load(tmp_path / "half")
    resumed.fit(_data(), epochs=1, batch_size=BATCH, verbose=0, devices=2)
    difference = _max_difference(one_process.get_weights(), resumed.get_weights())
    print(f"resumed: max |w_2 - w_1| = {difference:.3g}")
    assert difference < TOLERANCE
    assert resumed.epochs_trained == EPOCHS
    np.testing.assert_allclose(resumed.history["loss"], one_process.history["loss"],
                               rtol=1e-5)


def test_unequal_and_empty_parts_weighted_samples_and_validation_follow_one_process(
        fit: dict[str, Any]) -> None:
    """31 samples in global batches of 3: parts of 2 and 1, and a last batch of one
    sample that leaves rank 1 nothing; sample weights, metrics gathered from both ranks,
    validation and EarlyStopping on the same logs. Without BatchNorm, whose statistics
    over 3 samples make float32 rounding grow (docs/distributed.md)."""
    spec = unidl.Sequential([unidl.Input((6, 6, 2)), unidl.Conv2D(3, 3, activation="relu"),
                             unidl.Flatten(), unidl.Dense(8, activation="relu"),
                             unidl.Dense(3, activation="softmax")])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(31, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, 31)
    options = {**fit, "epochs": 2, "batch_size": 3,
               "sample_weight": rng.uniform(0.5, 2.0, 31).astype(np.float32),
               "validation_data": (x[:8], y[:8]),
               "callbacks": [unidl.EarlyStopping(monitor="val_loss", patience=3)]}
    one = unidl.fit(spec, (x, y), **options)
    two = unidl.fit(spec, (x, y), devices=2, **options)
    difference = _max_difference(one.get_weights(), two.get_weights())
    print(f"unequal parts: max |w_2 - w_1| = {difference:.3g}")
    assert difference < TOLERANCE
    assert two.history.keys() == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key, values in one.history.items():
        np.testing.assert_allclose(two.history[key], values, rtol=1e-5)


def test_a_graph_with_two_inputs_and_two_outputs_follows_one_process(
        fit: dict[str, Any]) -> None:
    a, b = unidl.Input((4,), name="a"), unidl.Input((3,), name="b")
    h = unidl.BatchNorm()(unidl.Dense(8, activation="relu")(unidl.Concatenate()([a, b])))
    spec = unidl.Graph(inputs=[a, b], outputs=[unidl.Dense(1, name="price")(h),
                                               unidl.Dense(3, activation="softmax",
                                                           name="kind")(h)])
    rng = np.random.default_rng(2)
    xa = rng.normal(size=(N, 4)).astype(np.float32)
    xb = rng.normal(size=(N, 3)).astype(np.float32)
    data = ([xa, xb], [xa.sum(axis=1, keepdims=True), rng.integers(0, 3, N)])
    options = {**fit, "loss": {"price": "mse", "kind": "sparse_categorical_crossentropy"},
               "metrics": {"price": ["mae"], "kind": ["accuracy"]}, "epochs": 2}
    one = unidl.fit(spec, data, **options)
    two = unidl.fit(spec, data, devices=2, **options)
    difference = _max_difference(one.get_weights(), two.get_weights())
    print(f"graph: max |w_2 - w_1| = {difference:.3g}")
    assert difference < TOLERANCE
    assert "kind_accuracy" in two.history and "price_loss" in two.history
    for key, values in one.history.items():
        np.testing.assert_allclose(two.history[key], values, rtol=1e-5)


def test_a_killed_worker_ends_the_run_with_an_error_naming_it(fit: dict[str, Any]) -> None:
    """torch names the rank of its worker processes, keras its one process of replicas."""
    with pytest.raises(unidl.DistributedError,
                       match=r"(worker rank 1 of 2|worker process \(2 replicas.*\)) died"
                             r".*SIGKILL"):
        unidl.fit(_spec(), _data(), devices=2, callbacks=[KillRank(1)],
                  **{**fit, "epochs": 50})


def test_a_callback_that_does_not_pickle_is_named_before_any_worker_starts(
        fit: dict[str, Any]) -> None:
    class Local(unidl.Callback):  # defined in a function: the workers cannot import it
        pass

    with pytest.raises(unidl.DistributedError, match="must pickle"):
        unidl.fit(_spec(), _data(), devices=2, callbacks=[Local()], **fit)


TORCHRUN_SCRIPT = """
import sys
import numpy as np
import unidl
from unidl.distributed import launcher_rank
sys.path.insert(0, {root!r})
from tests.test_distributed import FIT, Mark, _data, _spec

folder = sys.argv[1]
model = unidl.fit(_spec(), _data(), callbacks=[Mark(folder, "writes", True)], backend="torch",
                  **FIT)
if launcher_rank().rank == 0:
    np.savez(folder + "/weights.npz", **model.get_weights())
"""


@needs_torch
def test_a_script_under_torchrun_follows_one_process(one_process: unidl.Model,
                                                      fit: dict[str, Any],
                                                      tmp_path: Path) -> None:
    if fit["backend"] != "torch":
        pytest.skip("torchrun launches the torch backend's workers")
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(TORCHRUN_SCRIPT.format(root=str(ROOT))))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", str(script), str(tmp_path)],
                         capture_output=True, text=True, timeout=240, env=env, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    with np.load(tmp_path / "weights.npz") as saved:
        weights = {k: saved[k] for k in saved.files}
    difference = _max_difference(one_process.get_weights(), weights)
    print(f"torchrun: max |w_2 - w_1| = {difference:.3g}")
    assert difference < TOLERANCE
    assert sorted(p.name for p in tmp_path.glob("writes-*")) == ["writes-rank0"]


def test_the_command_line_trains_on_two_workers(fit: dict[str, Any], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from unidl.cli import main
    x, y = _data()
    np.savez(tmp_path / "data.npz", x=x, y=y)
    (tmp_path / "spec.json").write_text(__import__("json").dumps(_spec().to_dict()))
    status = main(["fit", str(tmp_path / "spec.json"), "--data", str(tmp_path / "data.npz"),
                   "--out", str(tmp_path / "model"), "--backend", fit["backend"], "--loss",
                   "sparse_categorical_crossentropy", "--epochs", "1", "--batch-size", "15",
                   "--seed", "3", "--devices", "2", "-q"])
    assert status == 0, capsys.readouterr().err
    assert unidl.load(tmp_path / "model").epochs_trained == 1


@pytest.mark.parametrize("devices", [0, -1, 1.5, "2", True])
def test_a_bad_devices_value_is_refused_before_training(backend: str,
                                                        devices: object) -> None:
    with pytest.raises(unidl.SpecError, match="devices"):
        unidl.fit(_spec(), _data(), devices=devices,  # type: ignore[arg-type]
                  backend=backend, **FIT)


def test_devices_that_disagree_with_the_launcher_are_refused(
        fit: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(unidl.SpecError, match=r"devices.*rank 0 of 2"):
        unidl.fit(_spec(), _data(), devices=3, **fit)


def test_keras_under_a_launcher_of_one_process_per_worker_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """MultiWorkerMirroredStrategy is not run: the error says what to do instead."""
    if "keras" not in registry.backend_names():
        pytest.skip("the keras backend is not installed")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(unidl.NotSupportedError, match=r"rank 1 of 2.*devices=N"):
        unidl.fit(_spec(), _data(), backend="keras", **FIT)


def test_a_backend_without_data_parallel_training_is_named(plugin: Any) -> None:
    plugin("unidl-serial", "serial", GOOD)
    spec = unidl.Sequential([unidl.Input((4,)), unidl.Dense(2)])
    with pytest.raises(unidl.NotSupportedError, match="'serial' does not implement "
                                                     "data-parallel"):
        unidl.fit(spec, (np.zeros((8, 4), np.float32), np.zeros((8, 2), np.float32)),
                  backend="serial", loss="mse", devices=2)
