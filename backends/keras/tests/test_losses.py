"""Training losses equal unidl.losses (the NumPy definitions), in every logits mode."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from keras_helpers import build, one_batch_epoch, setup
from unidl_keras.losses import make_loss

import unidl
from unidl.losses import compute_loss


def _model(final: str, units: int, scale: float, in_shape: tuple[int, ...] = (5,)) -> Any:
    spec = unidl.Sequential([unidl.Input(in_shape), unidl.Dense(units, activation=final)])
    model = build(spec)
    model.set_weights({k: v * scale for k, v in model.get_weights().items()})
    return spec, model


def _pre_activation(spec: unidl.Sequential, weights: Any, x: Any) -> Any:
    dense = spec.layers[-1]
    assert isinstance(dense, unidl.Dense)
    linear = unidl.Sequential([spec.input, unidl.Dense(dense.units)])
    return build(linear, weights=weights).predict(x, 64)


def _targets(name: str, rng: np.random.Generator, shape: tuple[int, ...]) -> Any:
    n, k = shape[0], shape[-1]
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, k, n).astype(np.int64)
    if name == "categorical_crossentropy":
        return np.eye(k, dtype=np.float32)[rng.integers(0, k, shape[:-1])]
    if name == "binary_crossentropy":
        return rng.integers(0, 2, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("loss", [unidl.Loss("mse"), unidl.Loss("mae"),
                                  unidl.Loss("huber", delta=0.7), unidl.Loss("huber")])
@pytest.mark.parametrize("in_shape", [(5,), (3, 5)])
def test_regression_losses(loss: unidl.Loss, in_shape: tuple[int, ...],
                           rng: np.random.Generator) -> None:
    spec, model = _model("linear", 3, 2.0, in_shape)
    x = rng.standard_normal((40, *in_shape)).astype(np.float32)
    y = _targets(loss.name, rng, (40, *spec.output_shape))
    want = compute_loss(loss, y, model.predict(x, 64))
    model.configure(setup(loss))
    assert one_batch_epoch(model, x, y).loss == pytest.approx(want, rel=1e-5)


CE = [("binary_crossentropy", "sigmoid"), ("categorical_crossentropy", "softmax"),
      ("sparse_categorical_crossentropy", "softmax")]


@pytest.mark.parametrize(("name", "final"), CE)
@pytest.mark.parametrize("scale", [1.0, 30.0])  # 30: saturated probabilities
@pytest.mark.parametrize("mode", ["probabilities", "logits_loss", "from_logits"])
def test_cross_entropies(name: str, final: str, scale: float, mode: str,
                         rng: np.random.Generator) -> None:
    act = "linear" if mode == "from_logits" else final
    spec, model = _model(act, 4, scale)
    x = rng.standard_normal((50, 5)).astype(np.float32)
    y = _targets(name, rng, (50, 4))
    loss = unidl.Loss(name, from_logits=mode == "from_logits")
    if mode == "logits_loss":
        pre = _pre_activation(spec, model.get_weights(), x)
        want = compute_loss(loss, y, pre, logits=True)
    else:
        want = compute_loss(loss, y, model.predict(x, 64), logits=loss.from_logits)
    model.configure(setup(loss, logits_loss=mode == "logits_loss"))
    got = one_batch_epoch(model, x, y).loss
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
    if mode == "logits_loss" and scale > 1:  # the fused loss is not the clipped one
        clipped = compute_loss(loss, y, model.predict(x, 64))
        assert abs(clipped - got) > 1e-3


def test_logits_loss_needs_a_fusable_pair() -> None:
    _, model = _model("sigmoid", 4, 1.0)
    with pytest.raises(unidl.NotSupportedError, match="fused"):
        model.configure(setup("categorical_crossentropy", logits_loss=True))


@pytest.mark.parametrize(("name", "logits"), [
    *[(n, lg) for n in ("binary_crossentropy", "categorical_crossentropy",
                        "sparse_categorical_crossentropy") for lg in (False, True)],
    ("mse", False), ("mae", False), ("huber", False),
])
def test_loss_functions_directly(name: str, logits: bool, rng: np.random.Generator) -> None:
    z = (rng.standard_normal((30, 2, 6)) * 4).astype(np.float32)
    if name == "sparse_categorical_crossentropy":
        z = z[:, 0]
    if logits or name in ("mse", "mae", "huber"):
        p = z
    elif name == "binary_crossentropy":
        p = (1 / (1 + np.exp(-z))).astype(np.float32)
    else:
        e = np.exp(z - z.max(-1, keepdims=True))
        p = (e / e.sum(-1, keepdims=True)).astype(np.float32)
    y = _targets(name, rng, p.shape)
    loss = unidl.Loss(name, from_logits=logits)
    got = float(make_loss(loss, logits)(y, p).numpy())
    assert got == pytest.approx(compute_loss(loss, y, p, logits=logits), rel=1e-5, abs=1e-6)
