"""Convolutions over channels-last input: ``(steps, channels)`` and ``(H, W, C)``. "same"
padding follows TensorFlow (output ``ceil(size / stride)``; the extra padded cell goes at
the end)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError, UnknownNameError
from ..activations import check_activation, reference_activation
from .base import (
    INITIALIZERS,
    Array,
    Layer,
    Padding,
    ParamInfo,
    Shape,
    padding_mode,
    pair,
    positive_int,
    register_layer,
    set_field,
    sliding_windows,
    spatial_out,
)

__all__ = ["Conv1D", "Conv2D"]


def needs_rank(layer: Layer, shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise SpecError(f"expects input {what}, got {shape}", layer.kind)

@register_layer
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
            raise UnknownNameError("initializer", self.kernel_initializer, INITIALIZERS,
                                   "Conv1D.kernel_initializer")

    def output_shape(self, input_shape: Shape) -> Shape:
        needs_rank(self, input_shape, 2, "(steps, channels)")
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

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        win, _ = sliding_windows(x[:, None], (1, self.kernel_size), (1, self.strides),
                                 self.padding, 0.0)
        y = np.einsum("nhwijc,ijco->nhwo", win, weights["kernel"][None])[:, 0]
        if self.use_bias:
            y = y + weights["bias"]
        return reference_activation(self.final_activation, y)

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(3, 2, strides=2, padding="same", activation="relu"), (7, 2)),)


@register_layer
@dataclass(frozen=True)
class Conv2D(Layer):
    """2-D convolution over channels-last input (H, W, C); kernel (kh, kw, in, out)."""

    filters: int
    kernel_size: int | tuple[int, int]
    strides: int | tuple[int, int] = 1
    padding: Padding = "valid"
    activation: str | None = None
    use_bias: bool = True
    kernel_initializer: str = "glorot_uniform"
    name: str | None = None
    kind: ClassVar[str] = "Conv2D"
    name_prefix: ClassVar[str] = "conv2d"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(self.filters, "Conv2D.filters")
        set_field(self, "kernel_size", pair(self.kernel_size, "Conv2D.kernel_size"))
        set_field(self, "strides", pair(self.strides, "Conv2D.strides"))
        set_field(self, "padding", padding_mode(self.padding, "Conv2D.padding"))
        set_field(self, "activation", check_activation(self.activation, "Conv2D.activation"))
        if self.kernel_initializer not in INITIALIZERS:
            raise UnknownNameError("initializer", self.kernel_initializer, INITIALIZERS,
                                   "Conv2D.kernel_initializer")

    @property
    def kernel(self) -> tuple[int, int]:
        return pair(self.kernel_size, "Conv2D.kernel_size")

    @property
    def stride(self) -> tuple[int, int]:
        return pair(self.strides, "Conv2D.strides")

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise SpecError(f"expects input (height, width, channels), got {input_shape}",
                            "Conv2D")
        (kh, kw), (sh, sw) = self.kernel, self.stride
        h = spatial_out(input_shape[0], kh, sh, self.padding)
        w = spatial_out(input_shape[1], kw, sw, self.padding)
        if h <= 0 or w <= 0:
            raise SpecError(f"kernel {self.kernel} is larger than its input {input_shape}",
                            "Conv2D.kernel_size")
        return (h, w, self.filters)

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        kh, kw = self.kernel
        p = {"kernel": ParamInfo((kh, kw, input_shape[-1], self.filters),
                                 self.kernel_initializer)}
        if self.use_bias:
            p["bias"] = ParamInfo((self.filters,), "zeros")
        return p

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        win, _ = sliding_windows(x, self.kernel, self.stride, self.padding, 0.0)
        y = np.einsum("nhwijc,ijco->nhwo", win, weights["kernel"])
        if self.use_bias:
            y = y + weights["bias"]
        return reference_activation(self.final_activation, y)

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(2, (3, 2), padding="same"), (5, 4, 2)), (cls(2, 2, strides=2), (5, 5, 1)))
