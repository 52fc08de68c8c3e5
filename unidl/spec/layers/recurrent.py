"""Recurrent layers over ``(steps, features)``, Keras' definitions and weight layout.

Canonical weights: ``kernel (in, G*units)``, ``recurrent_kernel (units, G*units)``,
``bias`` with gates side by side in Keras' order. Initial state is zeros; the output is
the last step's state, or every step's with ``return_sequences=True``.

- ``SimpleRNN``: ``h = tanh(x W + h U + b)`` (G = 1).
- ``LSTM``: gates ``i, f, c, o`` (G = 4): ``i = sigmoid(.)``, ``f = sigmoid(.)``,
  ``g = tanh(.)``, ``o = sigmoid(.)``, ``c = f c + i g``, ``h = o tanh(c)``. The forget
  gate's bias starts at 1 (Keras' ``unit_forget_bias``).
- ``GRU`` (Keras' ``reset_after=True``, which is torch's GRU): gates ``z, r, h`` (G = 3),
  ``bias (2, 3*units)`` = input and recurrent biases;
  ``z = sigmoid(x Wz + bz0 + h Uz + bz1)``, ``r`` likewise,
  ``n = tanh(x Wh + bh0 + r * (h Uh + bh1))``, ``h = z h + (1 - z) n``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError, short
from .base import Array, Layer, ParamInfo, Shape, positive_int, register_layer

__all__ = ["GRU", "LSTM", "SimpleRNN"]


def _sigmoid(x: Array) -> Array:
    return np.asarray(1 / (1 + np.exp(-x)))

@dataclass(frozen=True)
class _Recurrent(Layer):
    units: int
    return_sequences: bool = False
    name: str | None = None
    gates: ClassVar[int] = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(self.units, f"{self.kind}.units")
        if not isinstance(self.return_sequences, bool):
            raise SpecError(f"must be True or False, got {short(self.return_sequences)}",
                            f"{self.kind}.return_sequences")

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2:
            raise SpecError(f"expects input (steps, features), got {input_shape}", self.kind)
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        g = self.gates * self.units
        return {
            "kernel": ParamInfo((input_shape[-1], g), "glorot_uniform"),
            "recurrent_kernel": ParamInfo((self.units, g), "orthogonal"),
            "bias": ParamInfo((g,), "zeros"),
        }

    def step(self, xt: Array, h: Array, c: Array, w: Mapping[str, Array]) -> tuple[Array, Array]:
        """One step of the NumPy reference: the new (h, c)."""
        raise NotImplementedError

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        h = np.zeros((len(x), self.units))
        c = np.zeros((len(x), self.units))
        outs = []
        for t in range(x.shape[1]):
            h, c = self.step(x[:, t], h, c, weights)
            outs.append(h)
        return np.stack(outs, axis=1) if self.return_sequences else h


@register_layer
@dataclass(frozen=True)
class SimpleRNN(_Recurrent):
    kind: ClassVar[str] = "SimpleRNN"
    name_prefix: ClassVar[str] = "simple_rnn"

    def step(self, xt: Array, h: Array, c: Array, w: Mapping[str, Array]) -> tuple[Array, Array]:
        return np.tanh(xt @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]), c

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(3), (4, 2)), (cls(2, return_sequences=True), (3, 2)))


@register_layer
@dataclass(frozen=True)
class LSTM(_Recurrent):
    kind: ClassVar[str] = "LSTM"
    name_prefix: ClassVar[str] = "lstm"
    gates: ClassVar[int] = 4

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        p = super().params(input_shape)
        p["bias"] = ParamInfo((4 * self.units,), "unit_forget_bias")
        return p

    def step(self, xt: Array, h: Array, c: Array, w: Mapping[str, Array]) -> tuple[Array, Array]:
        u = self.units
        z = xt @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
        i, f, g, o = (z[:, k * u:(k + 1) * u] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c), c

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(3), (4, 2)),)


@register_layer
@dataclass(frozen=True)
class GRU(_Recurrent):
    kind: ClassVar[str] = "GRU"
    name_prefix: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        p = super().params(input_shape)
        p["bias"] = ParamInfo((2, 3 * self.units), "zeros")
        return p

    def step(self, xt: Array, h: Array, c: Array, w: Mapping[str, Array]) -> tuple[Array, Array]:
        u, bias = self.units, w["bias"]
        xz = xt @ w["kernel"] + bias[0]
        hz = h @ w["recurrent_kernel"] + bias[1]
        z = _sigmoid(xz[:, :u] + hz[:, :u])
        r = _sigmoid(xz[:, u:2 * u] + hz[:, u:2 * u])
        n = np.tanh(xz[:, 2 * u:] + r * hz[:, 2 * u:])
        return z * h + (1 - z) * n, c

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(2, return_sequences=True), (3, 2)),)
