"""Core layers: the model input, fully connected layers, activations, dropout and
embeddings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError, UnknownNameError, short
from ..activations import check_activation, reference_activation
from .base import (
    DTYPES,
    INITIALIZERS,
    Array,
    Layer,
    ParamInfo,
    Shape,
    SymbolicTensor,
    positive_int,
    register_layer,
    set_field,
)

__all__ = ["Activation", "Dense", "Dropout", "Embedding", "Input"]

@register_layer
@dataclass(frozen=True)
class Input(Layer):
    """The model's input: per-sample ``shape`` (no batch dimension) and dtype."""

    shape: Shape
    dtype: str = "float32"
    name: str | None = None
    kind: ClassVar[str] = "Input"
    name_prefix: ClassVar[str] = "input"

    def __post_init__(self) -> None:
        super().__post_init__()
        raw: object = self.shape
        shape = (raw,) if isinstance(raw, int) else raw
        if not isinstance(shape, (tuple, list)) or not shape:
            raise SpecError(f"must be a non-empty tuple of positive ints, got {short(self.shape)}",
                            "Input.shape")
        set_field(self, "shape", tuple(positive_int(d, f"Input.shape[{i}]")
                                  for i, d in enumerate(shape)))
        if self.dtype not in DTYPES:
            raise UnknownNameError("dtype", self.dtype, DTYPES, "Input.dtype")

    def as_tensor(self, where: str) -> SymbolicTensor:
        """The one tensor of this Input (kept on it, so an Input used twice is one graph
        input, and it lives exactly as long as the Input)."""
        tensor: SymbolicTensor | None = self.__dict__.get("_tensor")
        if tensor is None:
            tensor = SymbolicTensor(self, (), self.shape, self.dtype)
            object.__setattr__(self, "_tensor", tensor)  # not a field: eq/config ignore it
        return tensor

    def __call__(self, inputs: object) -> SymbolicTensor:
        raise SpecError("an Input is not called; use it directly as a tensor, e.g. "
                        "unidl.Dense(8)(unidl.Input((4,)))", f"Input({self.name or ''})")

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return x


@register_layer
@dataclass(frozen=True)
class Dense(Layer):
    """Fully connected layer on the last axis: ``y = activation(x @ kernel + bias)``."""

    units: int
    activation: str | None = None
    use_bias: bool = True
    kernel_initializer: str = "glorot_uniform"
    name: str | None = None
    kind: ClassVar[str] = "Dense"
    name_prefix: ClassVar[str] = "dense"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(self.units, "Dense.units")
        set_field(self, "activation", check_activation(self.activation, "Dense.activation"))
        if self.kernel_initializer not in INITIALIZERS:
            raise UnknownNameError("initializer", self.kernel_initializer, INITIALIZERS,
                                   "Dense.kernel_initializer")

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        p = {"kernel": ParamInfo((input_shape[-1], self.units), self.kernel_initializer)}
        if self.use_bias:
            p["bias"] = ParamInfo((self.units,), "zeros")
        return p

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        y = x @ weights["kernel"]
        if self.use_bias:
            y = y + weights["bias"]
        return reference_activation(self.final_activation, y)

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(4, activation="tanh"), (3,)), (cls(2, use_bias=False), (2, 3)))


@register_layer
@dataclass(frozen=True)
class Activation(Layer):
    """Applies a named activation (see ``unidl.spec.activations``)."""

    activation: str
    name: str | None = None
    kind: ClassVar[str] = "Activation"
    name_prefix: ClassVar[str] = "activation"

    def __post_init__(self) -> None:
        super().__post_init__()
        set_field(self, "activation", check_activation(self.activation, "Activation.activation"))

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return reference_activation(self.final_activation, x)

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls("gelu"), (2, 3)),)


@register_layer
@dataclass(frozen=True)
class Dropout(Layer):
    """Zeroes a fraction ``rate`` of inputs in training and scales the rest by 1/(1-rate)."""

    rate: float
    name: str | None = None
    kind: ClassVar[str] = "Dropout"
    name_prefix: ClassVar[str] = "dropout"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not (
            0.0 <= self.rate < 1.0
        ):
            raise SpecError(f"must be a number in [0, 1), got {short(self.rate)}", "Dropout.rate")
        set_field(self, "rate", float(self.rate))

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return x  # inference mode


@register_layer
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
    takes_integers: ClassVar[bool] = True
    name_prefix: ClassVar[str] = "embedding"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(self.input_dim, "Embedding.input_dim")
        positive_int(self.output_dim, "Embedding.output_dim")

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        return {"embeddings": ParamInfo((self.input_dim, self.output_dim), "uniform_0.05")}

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return np.asarray(weights["embeddings"][x.astype(np.int64)])

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(2, 3), (4,)),)
