"""Contract rules of training: the loss (fused heads, clipping precision, sample weights),
the epoch loss and the epoch's outputs. Each test names its rule when it fails."""

from __future__ import annotations

import numpy as np
import pytest

import unidl
from unidl.losses import compute_loss
from unidl.testing.expect import expect, expect_close
from unidl.testing.optimizers import ReferenceOptimizer
from unidl.testing.reference import forward

from ._replay import linear_data, linear_spec, replay_epoch
from ._support import arrays, native_model, plan, require, training_setup

FUSED = {"sparse_categorical_crossentropy": "softmax", "categorical_crossentropy": "softmax",
         "binary_crossentropy": "sigmoid"}


def _saturated(loss: str) -> tuple[unidl.Sequential, dict[str, np.ndarray], np.ndarray,
                                   np.ndarray]:
    """A one-layer classifier whose logits are tens apart, with targets it gets wrong half
    the time: probabilities saturate to exactly 0 and 1 in float32."""
    k = 1 if FUSED[loss] == "sigmoid" else 3
    spec = unidl.Sequential([unidl.Input((4,)), unidl.Dense(k, activation=FUSED[loss])])
    rng = np.random.default_rng(3)
    weights = {"dense/kernel": (rng.normal(size=(4, k)) * 25).astype(np.float32),
               "dense/bias": np.zeros(k, np.float32)}
    x = rng.normal(size=(32, 4)).astype(np.float32)
    cls = rng.integers(0, max(k, 2), size=32)
    y: np.ndarray
    if loss == "sparse_categorical_crossentropy":
        y = cls.astype(np.int64)
    elif loss == "categorical_crossentropy":
        y = np.eye(k, dtype=np.float32)[cls]
    else:
        y = cls.astype(np.float32).reshape(-1, 1)
    return spec, weights, x, y


@pytest.mark.parametrize("loss", sorted(FUSED))
def test_fused_head_loss_comes_from_the_pre_activation(backend: str, loss: str) -> None:
    """``logits_loss``: the cross-entropy of a softmax/sigmoid model is computed from the
    final layer's pre-activation, so a saturated output still gives its true loss (tens),
    not the loss of clipped probabilities (at most 16.1)."""
    require(backend, losses=loss, optimizers="SGD")
    spec, weights, x, y = _saturated(loss)
    model = unidl.build(spec, backend=backend, seed=0, device="cpu")
    model.set_weights(weights)
    model.compile(loss, unidl.SGD(lr=1e-6))
    model.fit((x, y), epochs=1, batch_size=len(x), shuffle=False, verbose=0)
    logits = x.astype(np.float64) @ weights["dense/kernel"]
    expected = compute_loss(unidl.Loss(loss), y, logits, logits=True)
    expect_close(model.history["loss"][0], expected, rtol=1e-4,
                 rule=f"logits_loss: {loss} after {FUSED[loss]} must be computed from the "
                      "pre-activation with from_logits semantics, not from clipped "
                      "probabilities")


def test_probability_clipping_is_done_in_float64(backend: str) -> None:
    """Without ``logits_loss``, binary cross-entropy clips probabilities to
    [1e-7, 1 - 1e-7] in float64: an output of exactly 1.0 with target 0 costs
    -log(1e-7) = 16.118, not the 15.942 of float32's 1 - 1.19e-7."""
    require(backend, losses="binary_crossentropy", optimizers="SGD")
    spec, weights, x, y = _saturated("binary_crossentropy")
    model = native_model(backend, spec, weights)
    probs = np.asarray(model.predict(x, len(x)))
    model.configure(training_setup("binary_crossentropy", unidl.SGD(lr=1e-6)))
    result = model.train_epoch(arrays(x, y), plan(np.arange(len(x)), len(x)), False)
    expected = compute_loss(unidl.Loss("binary_crossentropy"), y, probs)
    expect_close(result.loss, expected, rtol=1e-5,
                 rule="probability clipping for cross-entropies is done in float64 "
                      "(binary_crossentropy on saturated probabilities)")


def test_epoch_outputs_are_after_the_final_activation_in_plan_order(backend: str) -> None:
    """``EpochResult.outputs``: training-mode outputs after the final activation (softmax,
    even when the loss is fused on the pre-activation), float32, in the plan's (shuffled)
    order over several batches; None unless asked for. A learning rate of 1e-9 keeps the
    weights of later batches at the initial ones, to float32 precision."""
    loss = "sparse_categorical_crossentropy"
    require(backend, losses=loss, optimizers="SGD")
    spec, weights, x, y = _saturated(loss)
    weights = {k: v / 25 for k, v in weights.items()}  # not saturated: softmax shows
    model = native_model(backend, spec, weights)
    model.configure(training_setup(loss, unidl.SGD(lr=1e-9), logits_loss=True))
    order = np.random.default_rng(0).permutation(len(x))
    result = model.train_epoch(arrays(x, y), plan(order, 8), True)
    expect(result.outputs is not None, "EpochResult.outputs must be returned when "
           "collect_outputs is True")
    expect(np.asarray(result.outputs).dtype == np.float32, "EpochResult.outputs are float32")
    expected = forward(spec, weights, x[order])
    expect_close(result.outputs, expected, rtol=1e-5, atol=1e-6,
                 rule="EpochResult.outputs = training-mode outputs after the final "
                      "activation (softmax here), in plan order")
    again = model.train_epoch(arrays(x, y), plan(order, 8), False)
    expect(again.outputs is None, "EpochResult.outputs is None when collect_outputs is False")


def test_a_new_data_object_is_trained_on_not_a_cached_copy(backend: str) -> None:
    """``ArrayData`` is immutable and the core passes a new object when the data change: a
    backend caching device copies per object must train on the new one (same shapes,
    other targets)."""
    require(backend, losses="mse", optimizers="SGD")
    x, y = linear_data(n=16)
    model = native_model(backend, linear_spec())
    model.configure(training_setup("mse", unidl.SGD(lr=1e-9)))
    model.train_epoch(arrays(x, y), plan(np.arange(16), 16), False)
    zeros = np.zeros_like(y)
    out = np.asarray(model.predict(x, 16), dtype=np.float64)
    result = model.train_epoch(arrays(x, zeros), plan(np.arange(16), 16), False)
    expect_close(result.loss, float((out ** 2).mean()), rtol=1e-5,
                 rule="ArrayData: a new data object (other targets) is trained on, not a "
                      "copy cached from an earlier one")


def test_epoch_loss_weights_each_batch_by_its_size(backend: str) -> None:
    """``EpochResult.loss = sum(batch_loss * batch_size) / n``, each batch's loss measured
    at the weights before its own step: batches of 16, 16 and 8 samples."""
    require(backend, losses="mse", optimizers="SGD")
    x, y = linear_data(n=40)
    model = unidl.build(linear_spec(), backend=backend, seed=1, device="cpu")
    w0 = {k: v.astype(np.float64) for k, v in model.get_weights().items()}
    model.compile("mse", unidl.SGD(lr=0.2))
    model.fit((x, y), epochs=1, batch_size=16, shuffle=False, verbose=0)
    w, expected = replay_epoch(ReferenceOptimizer(unidl.SGD(lr=0.2), w0), w0, x, y, 16)
    expect_close(model.history["loss"][0], expected, rtol=1e-5,
                 rule="EpochResult.loss = sum(batch_loss * batch_size) / n, each batch "
                      "measured before its step (batches of 16, 16, 8)")
    for k, v in model.get_weights().items():
        expect_close(v, w[k], rule=f"one SGD step per batch of the plan, in order; "
                                   f"parameter {k}")


def test_sample_weighted_loss_is_normalised_by_the_batch_size(backend: str) -> None:
    """``sample_weight``: batch loss ``sum(w_i * loss_i) / batch size`` (Keras' rule, not
    ``/ sum(w)``), over several batches with weights whose mean is not 1."""
    require(backend, features="sample_weight", losses="mse", optimizers="SGD")
    x, y = linear_data(n=40)
    sw = np.random.default_rng(5).uniform(0.2, 3.0, size=len(x)).astype(np.float32)
    model = unidl.build(linear_spec(), backend=backend, seed=1, device="cpu")
    w0 = {k: v.astype(np.float64) for k, v in model.get_weights().items()}
    model.compile("mse", unidl.SGD(lr=0.1))
    model.fit((x, y), epochs=1, batch_size=16, shuffle=False, sample_weight=sw, verbose=0)
    w, expected = replay_epoch(ReferenceOptimizer(unidl.SGD(lr=0.1), w0), w0, x, y, 16, sw)
    expect_close(model.history["loss"][0], expected, rtol=1e-5,
                 rule="sample-weighted loss must be normalised by the batch size, not by "
                      "sum(w): batch loss = sum(w_i * loss_i) / batch_len")
    for k, v in model.get_weights().items():
        expect_close(v, w[k], rule="sample-weighted gradients: the gradient of "
                                   f"sum(w_i * loss_i) / batch_len; parameter {k}")
