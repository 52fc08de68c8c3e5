"""Check one kind (a layer, activation or loss: yours or ours) on one backend against its
NumPy reference: the forward pass, and the gradients of one full-batch SGD step against
central differences of the reference loss.

Call them from your own tests, or give a layer class ``examples()`` and let the conformance
suite (``unidl.testing.conformance``) check it on every backend that implements it::

    unidl.testing.kinds.check_layer(Scale(4), input_shape=(3,), backend="torch")

A failure is an ``AssertionError`` that names the kind, the backend and what differed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

import unidl
from unidl.losses import per_sample_loss
from unidl.spec import LOSS_KINDS, Layer, Shape

from .cases import random_weights
from .reference import forward

__all__ = ["check_activation", "check_layer", "check_loss"]

Array = npt.NDArray[Any]
#: Coordinates of each weight checked by finite differences (all when fewer).
_MAX_COORDS = 12


def _model_for(layers: list[Layer], backend: str) -> unidl.Model:
    spec = unidl.Sequential(layers)
    return unidl.build(spec, backend=backend, seed=0, device="cpu")


def _compare(what: str, got: Array, want: Array, rtol: float, atol: float) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {got.shape}, but the NumPy reference gives "
                             f"{want.shape}")
    err = np.abs(got - want)
    bound = atol + rtol * np.abs(want)
    if not np.all(err <= bound):
        i = np.unravel_index(int(np.argmax(err - bound)), err.shape)
        raise AssertionError(f"{what}: differs from the NumPy reference by up to "
                             f"{float(err.max()):.3g} (atol {atol:g}, rtol {rtol:g}); at "
                             f"index {tuple(int(k) for k in i)}: {float(got[i]):.7g} vs "
                             f"{float(want[i]):.7g}")


def _loss_of(spec: unidl.Sequential, loss: unidl.Loss, x: Array, y: Array
             ) -> Callable[[Mapping[str, Array]], float]:
    def value(w: Mapping[str, Array]) -> float:
        return float(per_sample_loss(loss, y, forward(spec, w, x)).mean())
    return value


def _check_step(label: str, model: unidl.Model, loss: unidl.Loss, x: Array, y: Array,
                weights: dict[str, Array], lr: float, atol: float) -> None:
    """One full-batch SGD step: (w0 - w1) / lr must equal the reference gradient."""
    spec = model.spec
    assert isinstance(spec, unidl.Sequential)
    model.set_weights(weights)
    model.compile(loss, unidl.SGD(lr=lr))
    model.fit((x, y), epochs=1, batch_size=len(x), shuffle=False, verbose=0)
    after = model.get_weights()
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    value = _loss_of(spec, loss, x, y)
    _compare(f"{label}: training loss", np.asarray(model.history["loss"][0]),
             np.asarray(value(w64)), 1e-4, 1e-6)
    rng = np.random.default_rng(0)
    eps = 1e-5
    for name, info in spec.params.items():
        if not info.trainable:
            continue
        flat = w64[name].reshape(-1)
        coords = rng.choice(flat.size, size=min(flat.size, _MAX_COORDS), replace=False)
        numeric = []
        for c in coords:
            saved = flat[c]
            flat[c] = saved + eps
            up = value(w64)
            flat[c] = saved - eps
            down = value(w64)
            flat[c] = saved
            numeric.append((up - down) / (2 * eps))
        step = (weights[name].astype(np.float64) - after[name]).reshape(-1)[coords] / lr
        _compare(f"{label}: gradient of {name}", step, np.asarray(numeric), 1e-2, atol)


def check_layer(layer: Layer, input_shape: Shape, backend: str, *, n: int = 6,
                seed: int = 0, rtol: float = 1e-5, atol: float = 1e-5,
                grad_atol: float = 1e-3) -> None:
    """``layer`` on ``backend`` equals ``layer.reference``: forward (inference mode), and
    the gradients of an MSE step through it. A Dense in front of a float input makes the
    gradient flow back through the layer even when it has no weights of its own."""
    label = f"layer kind {layer.kind} on backend {backend!r}"
    rng = np.random.default_rng(seed)
    integer = layer.takes_integers
    head: list[Layer] = [unidl.Input(input_shape, dtype="int64" if integer else "float32")]
    if not integer:
        head.append(unidl.Dense(input_shape[-1], name="check_pre"))
    model = _model_for([*head, layer], backend)
    spec = model.spec
    assert isinstance(spec, unidl.Sequential)
    weights = random_weights(spec, seed)
    if integer:
        x = rng.integers(0, 2, size=(n, *input_shape)).astype(np.int64)
    else:
        x = rng.normal(size=(n, *input_shape)).astype(np.float32)
    model.set_weights(weights)
    _compare(f"{label}: forward", model.predict(x), forward(spec, weights, x), rtol, atol)
    y = rng.normal(size=(n, *spec.output_shape)).astype(np.float32)
    _check_step(label, model, unidl.Loss("mse"), x, y, weights, lr=0.01, atol=grad_atol)


def check_activation(name: str, backend: str, *, seed: int = 0, rtol: float = 1e-5,
                     atol: float = 1e-5, grad_atol: float = 1e-3) -> None:
    """The activation ``name`` on ``backend`` equals its NumPy reference, forward and in
    the gradients of a Dense layer that uses it."""
    label = f"activation {name!r} on backend {backend!r}"
    model = _model_for([unidl.Input((4,)), unidl.Dense(5, activation=name)], backend)
    spec = model.spec
    assert isinstance(spec, unidl.Sequential)
    rng = np.random.default_rng(seed)
    weights = random_weights(spec, seed)
    x = (rng.normal(size=(8, 4)) * 2).astype(np.float32)
    model.set_weights(weights)
    _compare(f"{label}: forward", model.predict(x), forward(spec, weights, x), rtol, atol)
    y = rng.normal(size=(8, 5)).astype(np.float32)
    _check_step(label, model, unidl.Loss("mse"), x, y, weights, lr=0.01, atol=grad_atol)


def check_loss(name: str, backend: str, *, y_true: Array | None = None, seed: int = 0,
               grad_atol: float = 1e-3) -> None:
    """The loss ``name`` on ``backend`` equals its NumPy reference: the training loss and
    the gradients of a Dense model trained with it, ending in the activation the loss fuses
    with (so the fused path runs). ``y_true`` defaults to class indices, one-hot rows or
    0/1 values as the loss' facts suggest, else normal values; pass targets from your
    loss' domain."""
    label = f"loss {name!r} on backend {backend!r}"
    kind = LOSS_KINDS.lookup(name, "loss")
    rng = np.random.default_rng(seed)
    n, out = 8, 3
    x = rng.normal(size=(n, 4)).astype(np.float32)
    if y_true is None:
        classes = np.arange(n) % out
        y_true = (classes if kind.target == "class_index"
                  else np.eye(out, dtype=np.float32)[classes] if kind.fuses_with == "softmax"
                  else (rng.random((n, out)) < 0.5).astype(np.float32)
                  if kind.fuses_with == "sigmoid"
                  else rng.normal(size=(n, out)).astype(np.float32))
    model = _model_for([unidl.Input((4,)), unidl.Dense(out, activation=kind.fuses_with)],
                       backend)
    spec = model.spec
    assert isinstance(spec, unidl.Sequential)
    _check_step(label, model, unidl.Loss(kind.name), x, np.asarray(y_true),
                random_weights(spec, seed), lr=0.01, atol=grad_atol)
