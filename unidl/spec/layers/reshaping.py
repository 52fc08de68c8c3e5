"""Layers that only rearrange values: Flatten, Reshape, Permute."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from ...errors import SpecError, short
from .base import Array, Layer, Shape, register_layer, set_field

__all__ = ["Flatten", "Permute", "Reshape"]

@register_layer
@dataclass(frozen=True)
class Flatten(Layer):
    """Flattens per-sample features in channels-last (row-major H, W, C) order."""

    name: str | None = None
    kind: ClassVar[str] = "Flatten"
    name_prefix: ClassVar[str] = "flatten"

    def output_shape(self, input_shape: Shape) -> Shape:
        return (math.prod(input_shape),)

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return x.reshape(len(x), -1)

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(), (2, 3, 2)),)


@register_layer
@dataclass(frozen=True)
class Reshape(Layer):
    """Reshapes each sample (row-major, channels-last) to ``target_shape``; one entry may
    be -1 (inferred)."""

    target_shape: tuple[int, ...]
    name: str | None = None
    kind: ClassVar[str] = "Reshape"
    name_prefix: ClassVar[str] = "reshape"

    def __post_init__(self) -> None:
        super().__post_init__()
        raw: object = self.target_shape
        shape = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
        if not shape or any(not isinstance(d, int) or isinstance(d, bool) or d == 0 or d < -1
                            for d in shape) or shape.count(-1) > 1:
            raise SpecError(f"must be positive ints with at most one -1, got {short(raw)}",
                            "Reshape.target_shape")
        set_field(self, "target_shape", shape)

    def output_shape(self, input_shape: Shape) -> Shape:
        size = math.prod(input_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise SpecError(f"cannot reshape {input_shape} ({size} values) to "
                                f"{self.target_shape}", "Reshape.target_shape")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise SpecError(f"cannot reshape {input_shape} ({size} values) to "
                            f"{self.target_shape} ({known} values)", "Reshape.target_shape")
        return self.target_shape

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return x.reshape(len(x), *self.output_shape(x.shape[1:]))

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls((3, -1)), (12,)),)


@register_layer
@dataclass(frozen=True)
class Permute(Layer):
    """Permutes the per-sample axes: ``dims`` is a permutation of ``1..rank`` (Keras'
    convention, batch axis excluded), e.g. ``Permute((2, 1))`` swaps the two axes of
    ``(steps, features)``."""

    dims: tuple[int, ...]
    name: str | None = None
    kind: ClassVar[str] = "Permute"
    name_prefix: ClassVar[str] = "permute"

    def __post_init__(self) -> None:
        super().__post_init__()
        raw: object = self.dims
        dims = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
        if sorted(dims) != list(range(1, len(dims) + 1)) or any(
                isinstance(d, bool) for d in dims):
            raise SpecError(f"must be a permutation of 1..n (the batch axis excluded), got "
                            f"{short(raw)}", "Permute.dims")
        set_field(self, "dims", dims)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(self.dims) != len(input_shape):
            raise SpecError(f"permutes {len(self.dims)} axes but the input {input_shape} "
                            f"has {len(input_shape)}", "Permute.dims")
        return tuple(input_shape[d - 1] for d in self.dims)

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return x.transpose(0, *self.dims)

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls((2, 1)), (3, 4)),)
