"""Merge layers: take a list of tensors (in a :class:`~unidl.Graph`) and return one.

``Concatenate`` joins along an axis; ``Add``, ``Subtract``, ``Multiply`` and ``Average``
combine element-wise and need inputs of one shape (no broadcasting: a shape mismatch is
a spec error, not a silent broadcast). They have no parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...errors import SpecError, short
from .base import Array, Layer, Shape, SymbolicTensor, as_tensor, register_layer

__all__ = ["Add", "Average", "Concatenate", "Merge", "Multiply", "Subtract"]

@dataclass(frozen=True)
class Merge(Layer):
    """Base of layers called on a list of tensors, ``Concatenate()([a, b])``."""

    kind: ClassVar[str] = "Merge"
    #: the exact number of inputs the layer takes (None: two or more)
    arity: ClassVar[int | None] = None

    def output_shape(self, input_shape: Shape) -> Shape:
        raise SpecError(f"{self.kind} merges a list of tensors; use it in a unidl.Graph, "
                        f"e.g. unidl.{self.kind}()([a, b])", self.kind)

    def check_count(self, count: int) -> None:
        if self.arity is not None and count != self.arity:
            raise SpecError(f"takes exactly {self.arity} inputs, got {count}", self.kind)
        if count < 2:
            raise SpecError(f"takes a list of at least 2 tensors, got {count}", self.kind)

    def merge_shape(self, shapes: tuple[Shape, ...]) -> Shape:
        """The output shape for inputs of ``shapes`` (per sample)."""
        self.check_count(len(shapes))
        if any(s != shapes[0] for s in shapes):
            raise SpecError(f"needs inputs of one shape, got {', '.join(map(str, shapes))}; "
                            "reshape or project them (e.g. with Dense) to match", self.kind)
        return shapes[0]

    def call_inputs(self, inputs: object, where: str) -> tuple[SymbolicTensor, ...]:
        if not isinstance(inputs, (list, tuple)):
            raise SpecError(f"takes a list of tensors, e.g. unidl.{self.kind}()([a, b])",
                            where)
        return tuple(as_tensor(t, f"{where} input {i}") for i, t in enumerate(inputs))

    def call_shape(self, shapes: tuple[Shape, ...]) -> Shape:
        return self.merge_shape(shapes)


@register_layer
@dataclass(frozen=True)
class Concatenate(Merge):
    """Joins its inputs along ``axis`` (Keras' convention: counted on the batched tensor,
    so -1 is the last feature axis and 0, the batch axis, is not allowed)."""

    axis: int = -1
    name: str | None = None
    kind: ClassVar[str] = "Concatenate"
    name_prefix: ClassVar[str] = "concatenate"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.axis, bool) or not isinstance(self.axis, int) or self.axis == 0:
            raise SpecError(f"must be a non-zero int (0 is the batch axis), got {short(self.axis)}",
                            "Concatenate.axis")

    def feature_axis(self, rank: int) -> int:
        """The axis as an index into a per-sample shape of ``rank`` dimensions."""
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise SpecError(f"axis {self.axis} is out of range for inputs of rank "
                            f"{rank + 1} (batch included)", "Concatenate.axis")
        return axis

    def merge_shape(self, shapes: tuple[Shape, ...]) -> Shape:
        self.check_count(len(shapes))
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise SpecError(f"needs inputs of one rank, got {', '.join(map(str, shapes))}; "
                            "Flatten or Reshape them first", "Concatenate")
        axis = self.feature_axis(len(shapes[0]))
        rest = {s[:axis] + s[axis + 1:] for s in shapes}
        if len(rest) != 1:
            raise SpecError(f"inputs {', '.join(map(str, shapes))} differ outside the "
                            f"concatenation axis {self.axis}", "Concatenate")
        first = shapes[0]
        return (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1:])

    def reference(self, x: Any, weights: Mapping[str, Array]) -> Array:
        return np.concatenate(x, axis=1 + self.feature_axis(x[0].ndim - 1))


@register_layer
@dataclass(frozen=True)
class Add(Merge):
    """Element-wise sum of its inputs."""

    name: str | None = None
    kind: ClassVar[str] = "Add"
    name_prefix: ClassVar[str] = "add"

    def reference(self, x: Any, weights: Mapping[str, Array]) -> Array:
        return np.asarray(sum(x[1:], x[0]))


@register_layer
@dataclass(frozen=True)
class Subtract(Merge):
    """``a - b`` of exactly two inputs."""

    name: str | None = None
    kind: ClassVar[str] = "Subtract"
    name_prefix: ClassVar[str] = "subtract"
    arity: ClassVar[int | None] = 2

    def reference(self, x: Any, weights: Mapping[str, Array]) -> Array:
        return np.asarray(x[0] - x[1])


@register_layer
@dataclass(frozen=True)
class Multiply(Merge):
    """Element-wise product of its inputs."""

    name: str | None = None
    kind: ClassVar[str] = "Multiply"
    name_prefix: ClassVar[str] = "multiply"

    def reference(self, x: Any, weights: Mapping[str, Array]) -> Array:
        return np.asarray(np.prod(np.stack(x), axis=0))


@register_layer
@dataclass(frozen=True)
class Average(Merge):
    """Element-wise mean of its inputs."""

    name: str | None = None
    kind: ClassVar[str] = "Average"
    name_prefix: ClassVar[str] = "average"

    def reference(self, x: Any, weights: Mapping[str, Array]) -> Array:
        return np.asarray(np.mean(np.stack(x), axis=0))


