"""Pooling over channels-last input: windowed (1-D, 2-D) and global. "same" padding follows
TensorFlow; max pooling never picks a padded cell and average pooling excludes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from .base import (
    Array,
    Layer,
    Padding,
    Shape,
    padding_mode,
    pair,
    positive_int,
    register_layer,
    set_field,
    sliding_windows,
    spatial_out,
)
from .convolution import needs_rank

__all__ = ["AvgPool1D", "AvgPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D",
           "GlobalMaxPool2D", "MaxPool1D", "MaxPool2D"]

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
        needs_rank(self, input_shape, 2, "(steps, channels)")
        t = spatial_out(input_shape[0], self.pool_size, self.stride, self.padding)
        if t <= 0:
            raise SpecError(f"pool {self.pool_size} is longer than its input {input_shape}",
                            f"{self.kind}.pool_size")
        return (t, input_shape[1])

@register_layer
@dataclass(frozen=True)
class MaxPool1D(_Pool1D):
    kind: ClassVar[str] = "MaxPool1D"
    name_prefix: ClassVar[str] = "max_pool1d"

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        win, _ = sliding_windows(x[:, None], (1, self.pool_size), (1, self.stride),
                                 self.padding, -np.inf)
        return np.asarray(win.max(axis=(3, 4))[:, 0])

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(3, strides=2, padding="same"), (7, 2)),)


@register_layer
@dataclass(frozen=True)
class AvgPool1D(_Pool1D):
    kind: ClassVar[str] = "AvgPool1D"
    name_prefix: ClassVar[str] = "average_pool1d"

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        win, mask = sliding_windows(x[:, None], (1, self.pool_size), (1, self.stride),
                                    self.padding, 0.0)
        return np.asarray((win.sum(axis=(3, 4)) / mask.sum(axis=(3, 4)))[:, 0])

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(2, padding="same"), (5, 2)),)


@dataclass(frozen=True)
class _Pool2D(Layer):
    pool_size: int | tuple[int, int] = 2
    strides: int | tuple[int, int] | None = None
    padding: Padding = "valid"
    name: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        set_field(self, "pool_size", pair(self.pool_size, f"{self.kind}.pool_size"))
        if self.strides is not None:
            set_field(self, "strides", pair(self.strides, f"{self.kind}.strides"))
        set_field(self, "padding", padding_mode(self.padding, f"{self.kind}.padding"))

    @property
    def window(self) -> tuple[int, int]:
        return pair(self.pool_size, f"{self.kind}.pool_size")

    @property
    def stride(self) -> tuple[int, int]:
        """Strides default to the pool size, as in both frameworks."""
        return self.window if self.strides is None else pair(self.strides, self.kind)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise SpecError(f"expects input (height, width, channels), got {input_shape}",
                            self.kind)
        (ph, pw), (sh, sw) = self.window, self.stride
        h = spatial_out(input_shape[0], ph, sh, self.padding)
        w = spatial_out(input_shape[1], pw, sw, self.padding)
        if h <= 0 or w <= 0:
            raise SpecError(f"pool {self.window} is larger than its input {input_shape}",
                            f"{self.kind}.pool_size")
        return (h, w, input_shape[2])

@register_layer
@dataclass(frozen=True)
class MaxPool2D(_Pool2D):
    """Max pooling; with ``padding='same'`` padded cells never win (they are -inf)."""

    kind: ClassVar[str] = "MaxPool2D"
    name_prefix: ClassVar[str] = "max_pool2d"

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        win, _ = sliding_windows(x, self.window, self.stride, self.padding, -np.inf)
        return np.asarray(win.max(axis=(3, 4)))

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(2), (4, 4, 2)),)


@register_layer
@dataclass(frozen=True)
class AvgPool2D(_Pool2D):
    """Average pooling; with ``padding='same'`` padded cells are excluded from the mean."""

    kind: ClassVar[str] = "AvgPool2D"
    name_prefix: ClassVar[str] = "average_pool2d"

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        win, mask = sliding_windows(x, self.window, self.stride, self.padding, 0.0)
        return np.asarray(win.sum(axis=(3, 4)) / mask.sum(axis=(3, 4)))

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(2, padding="same"), (5, 5, 2)),)


@dataclass(frozen=True)
class _GlobalPool(Layer):
    """Reduces every axis but the channels (the last) to one value per channel, by the
    mean or the max (``reduces``)."""

    name: str | None = None
    rank: ClassVar[int] = 2
    reduces: ClassVar[str] = "mean"

    def output_shape(self, input_shape: Shape) -> Shape:
        what = "(steps, channels)" if self.rank == 2 else "(height, width, channels)"
        needs_rank(self, input_shape, self.rank, what)
        return (input_shape[-1],)

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        cells = x.reshape(len(x), -1, x.shape[-1])
        return np.asarray(cells.max(axis=1) if self.reduces == "max" else cells.mean(axis=1))

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(), (5, 3) if cls.rank == 2 else (3, 4, 2)),)


@register_layer
@dataclass(frozen=True)
class GlobalAvgPool1D(_GlobalPool):
    kind: ClassVar[str] = "GlobalAvgPool1D"
    name_prefix: ClassVar[str] = "global_average_pooling1d"


@register_layer
@dataclass(frozen=True)
class GlobalMaxPool1D(_GlobalPool):
    kind: ClassVar[str] = "GlobalMaxPool1D"
    name_prefix: ClassVar[str] = "global_max_pooling1d"
    reduces: ClassVar[str] = "max"


@register_layer
@dataclass(frozen=True)
class GlobalAvgPool2D(_GlobalPool):
    kind: ClassVar[str] = "GlobalAvgPool2D"
    name_prefix: ClassVar[str] = "global_average_pooling2d"
    rank: ClassVar[int] = 3


@register_layer
@dataclass(frozen=True)
class GlobalMaxPool2D(_GlobalPool):
    kind: ClassVar[str] = "GlobalMaxPool2D"
    name_prefix: ClassVar[str] = "global_max_pooling2d"
    rank: ClassVar[int] = 3
    reduces: ClassVar[str] = "max"
