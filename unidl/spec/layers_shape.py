"""Embedding, Reshape and LayerNorm."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..errors import SpecError
from .layers import Layer, ParamInfo, Shape, positive_int, set_field

__all__ = ["Embedding", "LayerNorm", "Permute", "Reshape"]


@dataclass(frozen=True)
class Embedding(Layer):
    """Looks up row ``i`` of ``embeddings (input_dim, output_dim)`` for each integer index
    ``i`` of its input; follows an integer ``Input``. An index outside ``[0, input_dim)``
    is a ``DataError`` before anything runs. Initial rows are uniform in [-0.05, 0.05]
    (Keras)."""

    input_dim: int
    output_dim: int
    name: str | None = None
    kind: ClassVar[str] = "Embedding"
    name_prefix: ClassVar[str] = "embedding"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(self.input_dim, "Embedding.input_dim")
        positive_int(self.output_dim, "Embedding.output_dim")

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        return {"embeddings": ParamInfo((self.input_dim, self.output_dim), "uniform_0.05")}


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
            raise SpecError(f"must be positive ints with at most one -1, got {raw!r}",
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


@dataclass(frozen=True)
class LayerNorm(Layer):
    """Normalises each sample over its last axis: ``gamma * (x - mean) / sqrt(var +
    epsilon) + beta`` with the biased variance. epsilon default 1e-3 (Keras; torch
    1e-5)."""

    epsilon: float = 1e-3
    name: str | None = None
    kind: ClassVar[str] = "LayerNorm"
    name_prefix: ClassVar[str] = "layer_normalization"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.epsilon, (int, float)) or self.epsilon <= 0:
            raise SpecError(f"must be > 0, got {self.epsilon!r}", "LayerNorm.epsilon")
        set_field(self, "epsilon", float(self.epsilon))

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        c = (input_shape[-1],)
        return {"gamma": ParamInfo(c, "ones"), "beta": ParamInfo(c, "zeros")}


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
                            f"{raw!r}", "Permute.dims")
        set_field(self, "dims", dims)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(self.dims) != len(input_shape):
            raise SpecError(f"permutes {len(self.dims)} axes but the input {input_shape} "
                            f"has {len(input_shape)}", "Permute.dims")
        return tuple(input_shape[d - 1] for d in self.dims)
