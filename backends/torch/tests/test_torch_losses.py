"""Training losses equal unidl.losses (the NumPy definitions), fused-logits path included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_refs import build, configure
from unidl_torch.losses import loss_fn

import unidl
from unidl.data import ArrayData, epoch_plan
from unidl.losses import compute_loss
from unidl.spec import LOSSES


def _targets(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, shape[-1], shape[0]).astype(np.int64)
    if name == "categorical_crossentropy":
        return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[0])]
    if name == "binary_crossentropy":
        return (rng.uniform(size=shape) > 0.5).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


BUILTIN_LOSSES = LOSSES.builtins()  # not a test's own kinds
CROSS_ENTROPIES = [n for n in BUILTIN_LOSSES if LOSSES[n].takes_logits]


@pytest.mark.parametrize(("name", "logits"), [(n, False) for n in BUILTIN_LOSSES]
                         + [(n, True) for n in CROSS_ENTROPIES])
def test_loss_function_equals_numpy(name: str, logits: bool, rng: np.random.Generator) -> None:
    loss = unidl.Loss(name, delta=0.7)
    z = (rng.standard_normal((16, 5)) * 4).astype(np.float32)
    if logits or not loss.is_cross_entropy:
        pred = z
    elif name == "binary_crossentropy":
        pred = 1 / (1 + np.exp(-z))
        pred[0, 0], pred[1, 1] = 0.0, 1.0  # exercise the clip
    else:
        pred = rng.uniform(0, 2, z.shape).astype(np.float32)  # unnormalised: renormalised
        pred[0, 0] = 0.0
    y = _targets(name, z.shape, rng)
    got = loss_fn(loss, logits)(torch.from_numpy(y), torch.from_numpy(pred))  # (y_true, y_pred)
    assert got.shape == ()
    np.testing.assert_allclose(float(got), compute_loss(loss, y, pred, logits), rtol=2e-6,
                               atol=1e-6)


FINAL = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax",
         "sparse_categorical_crossentropy": "softmax"}


@pytest.mark.parametrize(("name", "mode"), [(n, "probs") for n in BUILTIN_LOSSES] + [
    (n, m) for n in CROSS_ENTROPIES for m in ("logits_loss", "from_logits")])
def test_epoch_loss_equals_numpy(name: str, mode: str, rng: np.random.Generator) -> None:
    """One full batch: EpochResult.loss is the loss at the initial weights."""
    loss = unidl.Loss(name, from_logits=mode == "from_logits")
    final = FINAL.get(name) if mode != "from_logits" else None
    layers = [unidl.Input((6,)), unidl.Dense(8, activation="tanh"),
              unidl.Dense(4, activation=final)]
    spec = unidl.Sequential(layers)
    model = build(spec, seed=3)
    x = rng.standard_normal((20, 6)).astype(np.float32)
    y = _targets(name, (20, 4), rng)
    before = model.predict(x, 20)
    configure(model, loss, logits_loss=mode == "logits_loss")
    result = model.train_epoch(ArrayData(x, y), epoch_plan(20, 20, 0, 0), False)
    if mode == "logits_loss":  # the loss comes from the pre-activation logits
        pre = build(unidl.Sequential([*layers[:-1], unidl.Dense(4)]), seed=3).predict(x, 20)
        want = compute_loss(loss, y, pre, logits=True)
        assert abs(want - compute_loss(loss, y, before)) < 1e-4  # and equals the probs form
    else:
        want = compute_loss(loss, y, before, logits=mode == "from_logits")
    np.testing.assert_allclose(result.loss, want, rtol=1e-5)


def test_epoch_loss_is_sample_weighted_mean_over_batches(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(1)])
    model = build(spec)
    x = rng.standard_normal((10, 3)).astype(np.float32)
    y = rng.standard_normal((10, 1)).astype(np.float32)
    configure(model, "mse", unidl.SGD(lr=1e-9))  # weights barely move between batches
    before = model.predict(x, 10)
    result = model.train_epoch(ArrayData(x, y), epoch_plan(10, 4, 0, 0), False)
    np.testing.assert_allclose(result.loss, compute_loss(unidl.Loss("mse"), y, before),
                               rtol=1e-5)
