"""Optional training features, each checked only on backends that declare it:
per-step learning rates, chunked epochs, resuming with optimizer state, sample weights and
gradient clipping (see ``unidl.capabilities.FEATURES``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unidl
import unidl.registry
from unidl.data import epoch_plan
from unidl.testing.cases import linear_problem
from unidl.testing.expect import expect_close

from ._support import require


def _linear() -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((3,)), unidl.Dense(1)])


def test_per_step_schedule_applies_exactly_the_documented_rates(backend: str) -> None:
    require(backend, features="lr_schedule", optimizers="SGD", losses="mse")
    x, y = linear_problem()
    schedule = unidl.StepLR(step_size=3, gamma=0.5, per="step")
    model = unidl.fit(_linear(), (x, y), backend=backend, loss="mse",
                      optimizer=unidl.SGD(lr=0.1), lr_schedule=schedule, epochs=2,
                      batch_size=16, seed=3, device="cpu", verbose=0)
    w = {k: v.astype(np.float64) for k, v in unidl.build(_linear(), backend=backend,
                                                          seed=3).get_weights().items()}
    step = 0
    for epoch in range(2):  # replay: same batch plan, plain SGD with the scheduled rates
        for idx in epoch_plan(len(x), 16, 3, epoch).batches():
            err = x[idx] @ w["dense/kernel"] + w["dense/bias"] - y[idx]
            lr = 0.1 * 0.5 ** (step // 3)
            w["dense/kernel"] -= lr * 2 * x[idx].T @ err / len(idx)
            w["dense/bias"] -= lr * 2 * err.sum(0) / len(idx)
            step += 1
    got = model.get_weights()
    for k in ("dense/kernel", "dense/bias"):
        expect_close(got[k], w[k], rule=f"lr_schedule: step i uses EpochPlan."
                     f"learning_rates[i]; parameter {k} after 2 epochs of StepLR per step")
    assert model.history["lr"] == pytest.approx([0.1 * 0.5 ** (2 // 3), 0.1 * 0.5 ** (5 // 3)])


class Batches(unidl.Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def on_batch_end(self, model: unidl.Model, batch: int, logs: dict[str, float]) -> None:
        assert np.isfinite(logs["loss"])
        self.seen.append((model.epochs_trained, batch))


def test_batch_callbacks_see_every_batch_without_changing_training(backend: str) -> None:
    require(backend, optimizers="Adam", losses="mse")
    x, y = linear_problem(50)
    layers: list[unidl.spec.Layer] = [unidl.Input((3,)), unidl.Dense(8, activation="relu")]
    if "dropout" in unidl.registry.get_backend(backend).capabilities.features:
        layers.append(unidl.Dropout(0.2))
    spec = unidl.Sequential([*layers, unidl.Dense(1)])
    kw: dict[str, Any] = dict(backend=backend, loss="mse", optimizer=unidl.Adam(lr=0.01),
                              epochs=2, batch_size=16, seed=5, verbose=0)
    batches = Batches()
    chunked = unidl.fit(spec, (x, y), callbacks=[batches], **kw)
    whole = unidl.fit(spec, (x, y), **kw)
    assert batches.seen == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    for k, v in whole.get_weights().items():
        expect_close(chunked.get_weights()[k], v, rtol=1e-6, atol=1e-7,
                     rule=f"chunked plans: an epoch in chunks (first_batch > 0) trains as the "
                          f"whole epoch (optimizer state and dropout stream carry on); {k}")
    expect_close(chunked.history["loss"], whole.history["loss"], rtol=1e-6,
                 rule="chunked plans: the epoch loss of an epoch in chunks equals the whole "
                      "epoch's")


RESUME_CASES: list[unidl.spec.Optimizer] = [
    unidl.SGD(lr=0.05, momentum=0.9), unidl.Adam(lr=0.01),
    unidl.RMSprop(momentum=0.5, centered=True), unidl.Adagrad(lr=0.05), unidl.Adadelta(lr=1.0),
    unidl.AdamW(lr=0.01, amsgrad=True)]


@pytest.mark.parametrize("optimizer", RESUME_CASES, ids=lambda o: o.kind)
def test_resuming_a_saved_model_continues_the_same_trajectory(
        backend: str, optimizer: unidl.spec.Optimizer, tmp_path: Path) -> None:
    require(backend, features="optimizer_state", optimizers=optimizer.kind, losses="mse")
    require(backend, features="lr_schedule")
    x, y = linear_problem(60)
    layers: list[unidl.spec.Layer] = [unidl.Input((3,)), unidl.Dense(16, activation="tanh")]
    if "dropout" in unidl.registry.get_backend(backend).capabilities.features:
        layers.append(unidl.Dropout(0.25))
    spec = unidl.Sequential([*layers, unidl.Dense(1)])
    kw: dict[str, Any] = dict(backend=backend, loss="mse", optimizer=optimizer,
                              lr_schedule=unidl.ExponentialLR(gamma=0.8), batch_size=16,
                              seed=11, verbose=0)
    straight = unidl.fit(spec, (x, y), epochs=4, **kw)
    first = unidl.fit(spec, (x, y), epochs=2, **kw)
    resumed = unidl.load(first.save(tmp_path / "half"), backend=backend)
    resumed.fit((x, y), epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    rule = (f"optimizer_state: resuming {optimizer.kind} at an epoch boundary (saved and "
            "restored state, dropout reseeded from (seed, epoch)) continues the same "
            "trajectory")
    expect_close(resumed.history["loss"], straight.history["loss"], rtol=1e-5,
                 rule=f"{rule}; epoch losses")
    for k, v in straight.get_weights().items():
        expect_close(resumed.get_weights()[k], v, rule=f"{rule}; parameter {k}")


def test_sample_weighted_loss_is_keras_rule(backend: str) -> None:
    from unidl.losses import per_sample_loss

    require(backend, features="sample_weight", optimizers="SGD", losses="mse")
    x, y = linear_problem()
    w = np.linspace(0, 2, len(x)).astype(np.float32)
    model = unidl.build(_linear(), backend=backend, seed=1)
    before = model.predict(x)
    model.compile("mse", unidl.SGD(lr=0.01))
    model.fit((x, y), epochs=1, batch_size=len(x), sample_weight=w, verbose=0)
    expected = float((w * per_sample_loss(unidl.Loss("mse"), y, before)).sum() / len(x))
    expect_close(model.history["loss"][0], expected, rtol=1e-5,
                 rule="sample_weight: batch loss = sum(w_i * loss_i) / batch_len")


def test_gradient_clipping_by_norm_and_value(backend: str) -> None:
    require(backend, features="gradient_clipping", optimizers="SGD", losses="mse")
    x, y = linear_problem()
    y = y * 100  # huge gradients
    for opt, bound in ((unidl.SGD(lr=1.0, clipnorm=0.01), 0.01),
                       (unidl.SGD(lr=1.0, clipvalue=0.001), 0.001 * 2)):
        model = unidl.build(_linear(), backend=backend, seed=1)
        before = model.get_weights()
        model.compile("mse", opt)
        model.fit((x, y), epochs=1, batch_size=len(x), verbose=0)
        after = model.get_weights()
        delta = np.concatenate([(after[k] - before[k]).ravel() for k in after])
        if opt.clipnorm:
            assert np.linalg.norm(delta) == pytest.approx(bound, rel=1e-3)
        else:
            np.testing.assert_allclose(np.abs(delta), 0.001, rtol=1e-4)
            assert np.linalg.norm(delta) <= bound


