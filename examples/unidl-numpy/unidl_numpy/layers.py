"""Spec layers -> a flat list of NumPy steps, each with a forward and a hand-written backward.

A ``Dense`` layer becomes two steps, ``Affine`` then ``Act``. Splitting the activation off
makes the fused loss head trivial: when the core asks for the loss on logits
(``TrainingSetup.logits_loss``), the model simply stops before the last ``Act`` step.

Every step has ``forward(params, x) -> (y, cache)`` and
``backward(params, cache, dy, grads) -> dx``: backward gets back what forward cached, stores
its parameters' gradients in ``grads`` and returns the gradient w.r.t. its input.

Parameters are not stored in the steps: every step reads and writes the model's one
``dict`` of canonical weights (``"<layer>/<param>"``, Keras layout), so the backend's own
layout *is* the canonical one and ``get_weights``/``set_weights`` are plain copies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from unidl import NotSupportedError
from unidl.spec import Activation, Dense, Dropout, Flatten, Input, Sequential
from unidl.spec.activations import LEAKY_RELU_SLOPE
from unidl.testing.reference import activation

__all__ = ["Act", "Affine", "Drop", "Flat", "Step", "compile_steps"]

Array = npt.NDArray[Any]
Params = dict[str, Array]

# The same constants as unidl.testing.reference (the forward we reuse).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_erf = np.vectorize(math.erf, otypes=[np.float64])


# dy/dx of each element-wise activation, written with its input x and output y. Where the
# derivative is undefined (relu at 0) we take torch's value, so trajectories match torch's.
_DERIVATIVES: dict[str, Callable[[Array, Array], Array]] = {
    "linear": lambda x, y: np.ones_like(x),
    "relu": lambda x, y: x > 0,
    "sigmoid": lambda x, y: y * (1 - y),
    "tanh": lambda x, y: 1 - y * y,
    # gelu = x * Phi(x): Phi(x) + x * phi(x), with the standard normal cdf Phi and pdf phi
    "gelu": lambda x, y: (0.5 * (1 + _erf(x / math.sqrt(2)))
                          + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)),
    "leaky_relu": lambda x, y: np.where(x > 0, 1.0, LEAKY_RELU_SLOPE),
    "elu": lambda x, y: np.where(x > 0, 1.0, y + 1),  # x <= 0: d expm1(x) = e^x = y + 1
    "selu": lambda x, y: np.where(x > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA),
    "softplus": lambda x, y: activation("sigmoid", x),  # d log(1 + e^x) = sigmoid(x)
    "swish": lambda x, y: activation("sigmoid", x) * (1 - y) + y,  # = s + x s (1 - s)
}


def activation_grad(name: str, x: Array, y: Array, g: Array) -> Array:
    """Backward of ``y = activation(name, x)``: dL/dx given ``g`` = dL/dy."""
    if name == "softmax":  # not element-wise: the Jacobian-vector product y * (g - <g, y>)
        return np.asarray(y * (g - (g * y).sum(axis=-1, keepdims=True)))
    derivative = _DERIVATIVES.get(name)
    if derivative is None:
        raise NotSupportedError(f"the numpy backend has no activation {name!r}")
    return np.asarray(g * derivative(x, y), dtype=g.dtype)


class Affine:
    """``x @ kernel + bias`` on the last axis of ``x`` (any rank), kernel (in, out)."""

    def __init__(self, layer: str, use_bias: bool) -> None:
        self.kernel = f"{layer}/kernel"
        self.bias = f"{layer}/bias" if use_bias else None

    def forward(self, p: Params, x: Array) -> tuple[Array, Any]:
        y = x @ p[self.kernel]
        if self.bias is not None:
            y = y + p[self.bias]
        return y, x

    def backward(self, p: Params, x: Any, g: Array, grads: Params) -> Array:
        # Fold every leading axis into one "rows" axis: a rank-3 input is a batch of rows.
        kernel = p[self.kernel]
        rows_x, rows_g = x.reshape(-1, kernel.shape[0]), g.reshape(-1, kernel.shape[1])
        grads[self.kernel] = rows_x.T @ rows_g
        if self.bias is not None:
            grads[self.bias] = rows_g.sum(axis=0)
        return np.asarray(g @ kernel.T)


class Act:
    """A named activation (a Dense layer's, or an ``Activation`` layer)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def forward(self, p: Params, x: Array) -> tuple[Array, Any]:
        # reference.activation may compute in float64 (gelu); keep the model's dtype.
        y = np.asarray(activation(self.name, x), dtype=x.dtype)
        return y, (x, y)

    def backward(self, p: Params, cache: Any, g: Array, grads: Params) -> Array:
        x, y = cache
        return activation_grad(self.name, x, y, g)


class Flat:
    """Flatten per-sample features; data is channels-last, so this is a plain reshape."""

    def forward(self, p: Params, x: Array) -> tuple[Array, Any]:
        return x.reshape(len(x), -1), x.shape

    def backward(self, p: Params, shape: Any, g: Array, grads: Params) -> Array:
        return g.reshape(shape)


class Drop:
    """Inverted dropout: in training, zero each element with probability ``rate`` and scale
    the kept ones by ``1 / (1 - rate)``; in inference, the identity.

    The model switches ``training`` on for its training steps and hands over ``rng``, the
    random stream it seeds once per epoch (see ``NumpyModel.train_epoch``).
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.training = False
        self.rng = np.random.default_rng(0)

    def forward(self, p: Params, x: Array) -> tuple[Array, Any]:
        if not self.training or self.rate == 0:
            return x, None
        scale = np.asarray(1 / (1 - self.rate), dtype=x.dtype)
        mask = (self.rng.random(x.shape) >= self.rate).astype(x.dtype) * scale
        return x * mask, mask

    def backward(self, p: Params, mask: Any, g: Array, grads: Params) -> Array:
        return g if mask is None else g * mask


Step = Affine | Act | Flat | Drop


def compile_steps(spec: Sequential) -> list[Step]:
    """The steps for ``spec``. Anything not declared in our capabilities is refused here
    too, although the core already refuses it before ``build``."""
    steps: list[Step] = []
    for layer in spec.layers:
        if isinstance(layer, Input):
            continue
        if isinstance(layer, Dense):
            steps += [Affine(layer.layer_name, layer.use_bias), Act(str(layer.activation))]
        elif isinstance(layer, Activation):
            steps.append(Act(str(layer.activation)))
        elif isinstance(layer, Flatten):
            steps.append(Flat())
        elif isinstance(layer, Dropout):
            steps.append(Drop(layer.rate))
        else:
            raise NotSupportedError(f"the numpy backend has no {layer.kind} layer "
                                    f"({layer.layer_name!r})")
    return steps
