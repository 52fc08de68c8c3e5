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

from dataclasses import dataclass
from typing import ClassVar

from ..errors import SpecError
from .layers import Layer, ParamInfo, Shape, positive_int

__all__ = ["GRU", "LSTM", "SimpleRNN"]


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
            raise SpecError(f"must be True or False, got {self.return_sequences!r}",
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


@dataclass(frozen=True)
class SimpleRNN(_Recurrent):
    kind: ClassVar[str] = "SimpleRNN"
    name_prefix: ClassVar[str] = "simple_rnn"


@dataclass(frozen=True)
class LSTM(_Recurrent):
    kind: ClassVar[str] = "LSTM"
    name_prefix: ClassVar[str] = "lstm"
    gates: ClassVar[int] = 4

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        p = super().params(input_shape)
        p["bias"] = ParamInfo((4 * self.units,), "unit_forget_bias")
        return p


@dataclass(frozen=True)
class GRU(_Recurrent):
    kind: ClassVar[str] = "GRU"
    name_prefix: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        p = super().params(input_shape)
        p["bias"] = ParamInfo((2, 3 * self.units), "zeros")
        return p
