"""Sequence (1-D) convolution and pooling, and global pooling, channels-last ``(T, C)`` /
``(H, W, C)``. "same" padding follows TensorFlow (output ``ceil(T / stride)``; the extra
padded cell goes at the end); average pooling excludes padded cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import SpecError, UnknownNameError
from .activations import check_activation
from .layers import (
    INITIALIZERS,
    Layer,
    Padding,
    ParamInfo,
    Shape,
    padding_mode,
    positive_int,
    set_field,
    spatial_out,
)

__all__ = [
    "AvgPool1D",
    "Conv1D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "MaxPool1D",
]


def _needs_rank(layer: Layer, shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise SpecError(f"expects input {what}, got {shape}", layer.kind)


@dataclass(frozen=True)
class Conv1D(Layer):
    """1-D convolution over ``(steps, channels)``; kernel ``(k, in, out)``."""

    filters: int
    kernel_size: int
    strides: int = 1
    padding: Padding = "valid"
    activation: str | None = None
    use_bias: bool = True
    kernel_initializer: str = "glorot_uniform"
    name: str | None = None
    kind: ClassVar[str] = "Conv1D"
    name_prefix: ClassVar[str] = "conv1d"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(self.filters, "Conv1D.filters")
        positive_int(self.kernel_size, "Conv1D.kernel_size")
        positive_int(self.strides, "Conv1D.strides")
        set_field(self, "padding", padding_mode(self.padding, "Conv1D.padding"))
        set_field(self, "activation", check_activation(self.activation, "Conv1D.activation"))
        if self.kernel_initializer not in INITIALIZERS:
            raise UnknownNameError("initializer", str(self.kernel_initializer), INITIALIZERS,
                                   "Conv1D.kernel_initializer")

    def output_shape(self, input_shape: Shape) -> Shape:
        _needs_rank(self, input_shape, 2, "(steps, channels)")
        t = spatial_out(input_shape[0], self.kernel_size, self.strides, self.padding)
        if t <= 0:
            raise SpecError(f"kernel {self.kernel_size} is longer than its input {input_shape}",
                            "Conv1D.kernel_size")
        return (t, self.filters)

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        p = {"kernel": ParamInfo((self.kernel_size, input_shape[-1], self.filters),
                                 self.kernel_initializer)}
        if self.use_bias:
            p["bias"] = ParamInfo((self.filters,), "zeros")
        return p


@dataclass(frozen=True)
class _Pool1D(Layer):
    pool_size: int = 2
    strides: int | None = None
    padding: Padding = "valid"
    name: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(self.pool_size, f"{self.kind}.pool_size")
        if self.strides is not None:
            positive_int(self.strides, f"{self.kind}.strides")
        set_field(self, "padding", padding_mode(self.padding, f"{self.kind}.padding"))

    @property
    def stride(self) -> int:
        return self.pool_size if self.strides is None else self.strides

    def output_shape(self, input_shape: Shape) -> Shape:
        _needs_rank(self, input_shape, 2, "(steps, channels)")
        t = spatial_out(input_shape[0], self.pool_size, self.stride, self.padding)
        if t <= 0:
            raise SpecError(f"pool {self.pool_size} is longer than its input {input_shape}",
                            f"{self.kind}.pool_size")
        return (t, input_shape[1])


@dataclass(frozen=True)
class MaxPool1D(_Pool1D):
    kind: ClassVar[str] = "MaxPool1D"
    name_prefix: ClassVar[str] = "max_pool1d"


@dataclass(frozen=True)
class AvgPool1D(_Pool1D):
    kind: ClassVar[str] = "AvgPool1D"
    name_prefix: ClassVar[str] = "average_pool1d"


@dataclass(frozen=True)
class _GlobalPool(Layer):
    """Reduces every axis but the channels (the last) to one value per channel."""

    name: str | None = None
    rank: ClassVar[int] = 2

    def output_shape(self, input_shape: Shape) -> Shape:
        what = "(steps, channels)" if self.rank == 2 else "(height, width, channels)"
        _needs_rank(self, input_shape, self.rank, what)
        return (input_shape[-1],)


@dataclass(frozen=True)
class GlobalAvgPool1D(_GlobalPool):
    kind: ClassVar[str] = "GlobalAvgPool1D"
    name_prefix: ClassVar[str] = "global_average_pooling1d"


@dataclass(frozen=True)
class GlobalMaxPool1D(_GlobalPool):
    kind: ClassVar[str] = "GlobalMaxPool1D"
    name_prefix: ClassVar[str] = "global_max_pooling1d"


@dataclass(frozen=True)
class GlobalAvgPool2D(_GlobalPool):
    kind: ClassVar[str] = "GlobalAvgPool2D"
    name_prefix: ClassVar[str] = "global_average_pooling2d"
    rank: ClassVar[int] = 3


@dataclass(frozen=True)
class GlobalMaxPool2D(_GlobalPool):
    kind: ClassVar[str] = "GlobalMaxPool2D"
    name_prefix: ClassVar[str] = "global_max_pooling2d"
    rank: ClassVar[int] = 3
