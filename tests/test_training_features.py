"""Callbacks, schedules, weights, clipping and resuming, on every backend."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unidl
from unidl.testing.cases import linear_problem

from .helpers import mlp


def _linear() -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((3,)), unidl.Dense(1)])


class Script(unidl.Callback):
    """Overwrites a log value with scripted numbers and records weights each epoch."""

    def __init__(self, key: str, values: list[float]) -> None:
        self.key, self.values = key, values
        self.weights: list[dict[str, np.ndarray]] = []

    def on_epoch_end(self, model: unidl.Model, epoch: int, logs: dict[str, float]) -> None:
        logs[self.key] = self.values[epoch]
        self.weights.append(model.get_weights())


def test_reduce_lr_on_plateau_lowers_the_next_epochs_rate(backend: str) -> None:
    x, y = linear_problem()
    flat = unidl.build(_linear(), backend=backend, seed=0)
    flat.compile("mse", unidl.SGD(lr=0.1),
                 lr_schedule=unidl.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                                     min_delta=1e3))  # never "improves"
    flat.fit((x, y), epochs=4, verbose=0)
    # epoch 0 sets the best; each later epoch fails to improve and halves the next rate
    assert flat.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_early_stopping_stops_on_a_plateau_and_restores_the_best(backend: str) -> None:
    x, y = linear_problem()
    script = Script("val_loss", [5.0, 3.0, 2.0, 2.5, 2.1, 2.05, 1.0, 0.5])
    stop = unidl.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    model = unidl.fit(_linear(), (x, y), backend=backend, loss="mse", epochs=8,
                      validation_data=(x, y), callbacks=[script, stop], seed=0, verbose=0)
    assert stop.best_epoch == 2 and stop.stopped_epoch == 5
    assert len(model.history["loss"]) == 6 and model.epochs_trained == 6
    for k, v in script.weights[2].items():
        np.testing.assert_array_equal(model.get_weights()[k], v)


def test_model_checkpoint_keeps_the_best(backend: str, tmp_path: Path) -> None:
    x, y = linear_problem()
    script = Script("val_loss", [3.0, 2.0, 2.5, 1.0, 4.0])
    ckpt = unidl.ModelCheckpoint(tmp_path / "best", save_best_only=True)
    every = unidl.ModelCheckpoint(tmp_path / "e{epoch:02d}")
    unidl.fit(_linear(), (x, y), backend=backend, loss="mse", epochs=5,
              validation_data=(x, y), callbacks=[script, ckpt, every], seed=0, verbose=0)
    assert len(ckpt.saved) == 3 and ckpt.best == 1.0
    best = unidl.load(tmp_path / "best", backend=backend)
    for k, v in script.weights[3].items():
        np.testing.assert_array_equal(best.get_weights()[k], v)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("e")) == \
        [f"e{i:02d}" for i in range(1, 6)]


def test_terminate_on_nan_and_csv_logger(backend: str, tmp_path: Path) -> None:
    x, y = linear_problem()
    script = Script("loss", [0.5, float("nan"), 0.1])
    log = tmp_path / "log.csv"
    model = unidl.fit(_linear(), (x, y), backend=backend, loss="mse", metrics=["mae"],
                      epochs=3, callbacks=[script, unidl.TerminateOnNaN(),
                                           unidl.CSVLogger(log)], seed=0, verbose=0)
    assert model.epochs_trained == 2
    rows = list(csv.reader(log.open()))
    assert rows[0] == ["epoch", "loss", "mae"] and len(rows) == 3 and rows[2][1] == "nan"


def test_tensorboard_writes_events_tensorboard_reads(backend: str, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, y = linear_problem()
    model = unidl.fit(_linear(), (x, y), backend=backend, loss="mse", metrics=["mae"],
                      epochs=3, validation_data=(x, y),
                      lr_schedule=unidl.ExponentialLR(gamma=0.5),
                      callbacks=[unidl.TensorBoard(tmp_path / "tb")], seed=0, verbose=0)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"epoch_loss", "epoch_mae", "epoch_val_loss", "epoch_val_mae", "epoch_lr"} <= tags
    for key in ("loss", "val_mae", "lr"):
        scalars = events.Scalars(f"epoch_{key}")
        assert [s.step for s in scalars] == [0, 1, 2]
        np.testing.assert_allclose([s.value for s in scalars], model.history[key], rtol=1e-6)


def test_class_weight_equals_the_same_sample_weights(backend: str, digits: Any) -> None:
    x, y, _, _ = digits
    cw = {c: 1.0 + c / 3 for c in range(10)}
    kw: dict[str, Any] = dict(backend=backend, loss="sparse_categorical_crossentropy",
                              epochs=2, seed=0, verbose=0)
    a = unidl.fit(mlp(), (x, y), class_weight=cw, **kw)
    b = unidl.fit(mlp(), (x, y), sample_weight=np.array([cw[c] for c in y]), **kw)
    for k, v in a.get_weights().items():
        np.testing.assert_allclose(b.get_weights()[k], v, rtol=1e-5, atol=1e-6)


def test_weights_and_schedules_validate(backend: str) -> None:
    x, y = linear_problem()
    model = unidl.build(_linear(), backend=backend).compile("mse")
    with pytest.raises(unidl.DataError, match="sample_weight has 3 values"):
        model.fit((x, y), sample_weight=[1, 2, 3], verbose=0)
    with pytest.raises(unidl.SpecError, match="class_weight needs a classification loss"):
        model.fit((x, y), class_weight={0: 1.0}, verbose=0)
    with pytest.raises(unidl.SpecError, match="initial_epoch"):
        model.fit((x, y), epochs=2, initial_epoch=3, verbose=0)
    with pytest.raises(unidl.SpecError, match="not in the epoch logs"):
        model.fit((x, y), callbacks=[unidl.EarlyStopping()], verbose=0)


def test_tensorboard_logs_a_constant_learning_rate_too(backend: str, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, y = linear_problem()
    unidl.fit(_linear(), (x, y), backend=backend, loss="mse", optimizer=unidl.SGD(lr=0.03),
              epochs=2, callbacks=[unidl.TensorBoard(tmp_path)], seed=0, verbose=0)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [s.value for s in events.Scalars("epoch_lr")] == pytest.approx([0.03, 0.03])


def test_shuffle_false_trains_on_the_samples_in_order(backend: str) -> None:
    x, y = linear_problem(30)
    model = unidl.fit(_linear(), (x, y), backend=backend, loss="mse",
                      optimizer=unidl.SGD(lr=0.05), epochs=2, batch_size=8, shuffle=False,
                      seed=4, verbose=0)
    w = {k: v.astype(np.float64)
         for k, v in unidl.build(_linear(), backend=backend, seed=4).get_weights().items()}
    for _ in range(2):
        for start in range(0, 30, 8):
            xb, yb = x[start:start + 8], y[start:start + 8]
            err = xb @ w["dense/kernel"] + w["dense/bias"] - yb
            w["dense/kernel"] -= 0.05 * 2 * xb.T @ err / len(xb)
            w["dense/bias"] -= 0.05 * 2 * err.sum(0) / len(xb)
    for k, v in w.items():
        np.testing.assert_allclose(model.get_weights()[k], v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("kw", "path"), [
    ({"verbose": 3}, "verbose"),
    ({"shuffle": "yes"}, "shuffle"),
    ({"callbacks": unidl.EarlyStopping()}, "callbacks"),
    ({"callbacks": [unidl.EarlyStopping]}, "callbacks[0]"),
    ({"callbacks": ["early"]}, "callbacks[0]"),
    ({"class_weight": [1.0, 2.0]}, "class_weight"),
])
def test_fit_arguments_are_checked_before_training(backend: str, kw: dict[str, Any],
                                                   path: str) -> None:
    x, y = linear_problem()
    model = unidl.build(_linear(), backend=backend, seed=0).compile("mse")
    before = model.get_weights()
    with pytest.raises(unidl.SpecError) as info:
        model.fit((x, y), **kw)
    assert info.value.path == path
    assert model.epochs_trained == 0
    assert all(np.array_equal(before[k], v) for k, v in model.get_weights().items())
