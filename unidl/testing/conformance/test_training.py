"""Training follows the core: its loss, its batch plan, the documented optimizer formulas."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import unidl
from unidl.losses import compute_loss
from unidl.spec import LOSSES, OPTIMIZER_TYPES
from unidl.testing.cases import Pairs
from unidl.testing.expect import expect_close

from ._support import (
    caps,
    classification,
    dense,
    regression,
    require,
    require_spec,
    targets_for,
)

K = 3


def _loss_problem(loss: str) -> tuple[unidl.Sequential, Any, Any]:
    x, y_reg = regression(n=48, n_in=5, n_out=2)
    _, y_cls = classification(n=48, n_in=5, k=K)
    fuses_with = unidl.spec.LOSS_KINDS.lookup(loss, "loss").fuses_with
    if fuses_with == "softmax":
        spec = dense(5, K, "softmax")
    elif fuses_with == "sigmoid":
        spec = dense(5, 1, "sigmoid")
    else:
        spec = dense(5, 2)
    return spec, x, targets_for(loss, y_reg, y_cls, K)


@pytest.mark.parametrize("loss", LOSSES)
def test_epoch_loss_is_the_cores_loss_before_the_step(backend: str, loss: str) -> None:
    """One batch per epoch: the reported loss is unidl.losses at the initial weights."""
    require(backend, losses=loss, optimizers="SGD")
    spec, x, y = _loss_problem(loss)
    model = unidl.build(spec, backend=backend, seed=3, device="cpu")
    before = model.predict(x)
    model.compile(loss, unidl.SGD(lr=0.1))
    model.fit((x, y), epochs=1, batch_size=len(x), verbose=0)
    expected = compute_loss(unidl.Loss(loss), y, before)
    expect_close(model.history["loss"][0], expected, rtol=1e-5, atol=1e-6,
                 rule=f"Losses: the batch loss is unidl.losses' {loss} (mean over the batch "
                      "of per-sample loss), measured before the step")


@pytest.mark.parametrize("loss", ["binary_crossentropy", "sparse_categorical_crossentropy"])
def test_from_logits_losses(backend: str, loss: str) -> None:
    require(backend, losses=loss, optimizers="SGD")
    spec, x, y = _loss_problem(loss)
    spec = dense(5, spec.output_shape[-1])  # same shape, no final activation: logits
    model = unidl.build(spec, backend=backend, seed=3, device="cpu")
    logits = model.predict(x)
    model.compile(unidl.Loss(loss, from_logits=True), unidl.SGD(lr=0.1))
    model.fit((x, y), epochs=1, batch_size=len(x), verbose=0)
    expected = compute_loss(unidl.Loss(loss, from_logits=True), y, logits, logits=True)
    expect_close(model.history["loss"][0], expected, rtol=1e-5,
                 rule=f"Losses: {loss} with from_logits=True treats the model output as logits")


def test_training_outputs_come_back_in_plan_order(backend: str) -> None:
    """The epoch's outputs are paired with targets in the plan's (shuffled) order."""
    require(backend, losses="mse", optimizers="SGD")
    x, y = regression(n=40, n_out=2)
    model = unidl.build(dense(5, 2), backend=backend, seed=1, device="cpu")
    before = model.predict(x)
    model.compile("mse", unidl.SGD(lr=0.01), metrics=["mae", "r2"])
    model.fit((x, y), epochs=1, batch_size=len(x), verbose=0)  # shuffled single batch
    assert model.history["mae"][0] == pytest.approx(float(np.mean(np.abs(y - before))),
                                                    rel=1e-5)


# The documented update rule of every optimizer: test_rules_optimizers.py.


@pytest.mark.parametrize("kind", sorted(cls.kind for cls in OPTIMIZER_TYPES.values()))
def test_every_declared_optimizer_lowers_the_loss(backend: str, kind: str) -> None:
    require(backend, losses="mse", optimizers=kind)
    x, y = regression(n=128)
    lr = {"SGD": 0.05, "Adadelta": 1.0, "Adagrad": 0.05}.get(kind, 0.01)
    model = unidl.fit(dense(5, 1), (x, y), backend=backend, loss="mse",
                      optimizer=OPTIMIZER_TYPES.lookup(kind, "optimizer")(lr=lr), epochs=6,
                      batch_size=16, seed=0, device="cpu", verbose=0)
    assert model.history["loss"][-1] < 0.8 * model.history["loss"][0]


def test_classifier_learns_and_evaluate_agrees_with_predict(backend: str) -> None:
    require(backend, losses="sparse_categorical_crossentropy", optimizers="Adam")
    x, y = classification(n=150)
    model = unidl.fit(dense(5, K, "softmax"), (x, y), backend=backend,
                      loss="sparse_categorical_crossentropy", optimizer=unidl.Adam(lr=0.02),
                      metrics=["accuracy"], epochs=15, batch_size=16, seed=0, device="cpu",
                      verbose=0)
    result = model.evaluate((x, y), batch_size=7)
    probs = model.predict(x, batch_size=64)
    assert result["accuracy"] == pytest.approx(float(np.mean(probs.argmax(1) == y)))
    assert result["loss"] == pytest.approx(
        compute_loss(unidl.Loss("sparse_categorical_crossentropy"), y, probs), rel=1e-5)
    assert result["accuracy"] > 0.9


def test_same_seed_gives_the_same_model(backend: str) -> None:
    require(backend, losses="mse", optimizers="Adam")
    spec = dense(5, 1)
    c = caps(backend)
    if "Dropout" in c.layers and "dropout" in c.features:
        spec = unidl.Sequential([*spec.layers[:-1], unidl.Dropout(0.3), spec.layers[-1]])
    x, y = regression()
    runs = [unidl.fit(spec, (x, y), backend=backend, loss="mse", epochs=3, batch_size=8,
                      seed=9, device="cpu", verbose=0).get_weights() for _ in range(2)]
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k], err_msg=k)


def test_arrays_and_a_dataset_train_identically(backend: str) -> None:
    require(backend, losses="mse", optimizers="SGD")
    x, y = regression(n=50)
    kw: dict[str, Any] = dict(backend=backend, loss="mse", optimizer=unidl.SGD(lr=0.05),
                              epochs=2, batch_size=16, seed=4, device="cpu", verbose=0)
    a = unidl.fit(dense(5, 1), (x, y), **kw).get_weights()
    b = unidl.fit(dense(5, 1), Pairs(x, y), **kw).get_weights()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_batchnorm_training_updates_moving_statistics(backend: str) -> None:
    spec = unidl.Sequential([unidl.Input((4,)), unidl.BatchNorm(momentum=0.9, epsilon=1e-3),
                             unidl.Dense(1)])
    require_spec(backend, spec, training=True)
    require(backend, losses="mse", optimizers="SGD")
    x, y = regression(n=32, n_in=4)
    x = x * 3 + 1
    model = unidl.build(spec, backend=backend, seed=0, device="cpu")
    model.compile("mse", unidl.SGD(lr=1e-3))
    model.fit((x, y), epochs=1, batch_size=len(x), verbose=0)
    w = model.get_weights()
    np.testing.assert_allclose(w["batch_normalization/moving_mean"], 0.1 * x.mean(0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w["batch_normalization/moving_variance"],
                               0.9 + 0.1 * x.var(0), rtol=1e-5)  # biased variance



@pytest.mark.parametrize("shape", [(4,), (3, 3, 2)], ids=["features", "image"])
def test_batchnorm_moving_statistics_follow_every_batch(backend: str,
                                                         shape: tuple[int, ...]) -> None:
    """Batches of 16, 16 and 1 samples: each updates the moving statistics with its own
    (biased) variance over every axis but the channels, a batch of one with variance 0."""
    spec = unidl.Sequential([unidl.Input(shape), unidl.BatchNorm(momentum=0.8), unidl.Flatten(),
                             unidl.Dense(1)])
    require_spec(backend, spec, training=True)
    require(backend, losses="mse", optimizers="SGD")
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(33, *shape)) * 2 + 1).astype(np.float32)
    y = rng.normal(size=(33, 1)).astype(np.float32)
    model = unidl.build(spec, backend=backend, seed=0, device="cpu")
    model.compile("mse", unidl.SGD(lr=1e-3))
    model.fit((x, y), epochs=1, batch_size=16, shuffle=False, verbose=0)
    mean, var = np.zeros(shape[-1]), np.ones(shape[-1])
    for batch in (x[:16], x[16:32], x[32:]):
        rows = batch.reshape(-1, shape[-1]).astype(np.float64)
        mean = 0.8 * mean + 0.2 * rows.mean(0)
        var = 0.8 * var + 0.2 * rows.var(0)
    w = model.get_weights()
    np.testing.assert_allclose(w["batch_normalization/moving_mean"], mean, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(w["batch_normalization/moving_variance"], var, rtol=1e-5)
