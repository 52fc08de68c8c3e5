"""Max, average and global pooling on torch, with TensorFlow "same" padding.

MaxPool2D / AvgPool2D run on channels-first (N, C, H, W) tensors (layout
``"channels_first"``); the 1-D pools take unidl's (N, steps, C) and transpose inside. A
global 2-D pool takes whichever layout it is handed (layout ``"any"``): ending a run of
channels-first image layers it reduces the (N, C, H, W) tensor directly, the result (N, C)
being the same in both layouts. "same" max pooling pads with -inf (padding never wins);
"same" average pooling leaves padding out of the mean. No pool has weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from unidl.spec import (
    AvgPool1D,
    AvgPool2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    MaxPool1D,
    MaxPool2D,
)

from .base import BuildContext, builds
from .padding import split_padding_1d, split_padding_2d

__all__ = ["AvgPool1DModule", "AvgPool2DModule", "GlobalPoolModule", "MaxPool1DModule",
           "MaxPool2DModule"]


def _to_cf(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2)


class MaxPool2DModule(nn.Module):
    """Max pooling on (N, C, H, W); "same" padding cells are -inf so they never win."""

    def __init__(self, spec: MaxPool2D, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.window, self.stride = spec.window, spec.stride
        # torch pads max pooling with -inf itself, but only symmetrically and <= window/2.
        self.padding, self.pre_pad = split_padding_2d(spec.padding, in_shape, self.window,
                                                      self.stride, at_most_half_window=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad, value=-math.inf)
        return F.max_pool2d(x, self.window, self.stride, self.padding)


@builds(MaxPool2D, layout="channels_first")
def _max_pool2d(layer: MaxPool2D, ctx: BuildContext) -> nn.Module:
    return MaxPool2DModule(layer, ctx.input_shape)


class AvgPool2DModule(nn.Module):
    """Average pooling on (N, C, H, W); "same" padding cells are excluded from the mean."""

    scale: torch.Tensor | None

    def __init__(self, spec: AvgPool2D, in_shape: tuple[int, ...],
                 device: torch.device) -> None:
        super().__init__()
        self.window, self.stride = spec.window, spec.stride
        self.padding, self.pre_pad = split_padding_2d(spec.padding, in_shape, self.window,
                                                      self.stride, at_most_half_window=True)
        scale = None
        if self.pre_pad is not None:
            # Mean over real cells only: zero-pad, average over the full window, then rescale
            # each output cell by window_area / real_cells (a constant map, computed once).
            ones = F.pad(torch.ones(1, 1, in_shape[0], in_shape[1], device=device),
                         self.pre_pad)
            scale = 1.0 / F.avg_pool2d(ones, self.window, self.stride)
        self.register_buffer("scale", scale, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_pad is None:
            return F.avg_pool2d(x, self.window, self.stride, self.padding,
                                count_include_pad=False)
        y = F.avg_pool2d(F.pad(x, self.pre_pad), self.window, self.stride)
        assert self.scale is not None
        return y * self.scale


@builds(AvgPool2D, layout="channels_first")
def _avg_pool2d(layer: AvgPool2D, ctx: BuildContext) -> nn.Module:
    return AvgPool2DModule(layer, ctx.input_shape, ctx.device)


class MaxPool1DModule(nn.Module):
    """Max pooling on (N, steps, C); "same" padding cells are -inf."""

    def __init__(self, spec: MaxPool1D, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.window, self.stride = spec.pool_size, spec.stride
        self.padding, self.pre_pad = split_padding_1d(spec.padding, in_shape[0], self.window,
                                                      self.stride, at_most_half_window=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_cf(x)
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad, value=-math.inf)
        return _to_cf(F.max_pool1d(x, self.window, self.stride, self.padding))


@builds(MaxPool1D)
def _max_pool1d(layer: MaxPool1D, ctx: BuildContext) -> nn.Module:
    return MaxPool1DModule(layer, ctx.input_shape)


class AvgPool1DModule(nn.Module):
    """Average pooling on (N, steps, C); "same" padding cells are left out of the mean."""

    scale: torch.Tensor | None

    def __init__(self, spec: AvgPool1D, in_shape: tuple[int, ...],
                 device: torch.device) -> None:
        super().__init__()
        self.window, self.stride = spec.pool_size, spec.stride
        self.padding, self.pre_pad = split_padding_1d(spec.padding, in_shape[0], self.window,
                                                      self.stride, at_most_half_window=True)
        scale = None
        if self.pre_pad is not None:
            # zero-pad, average over the full window, rescale by window / real cells
            ones = F.pad(torch.ones(1, 1, in_shape[0], device=device), self.pre_pad)
            scale = 1.0 / F.avg_pool1d(ones, self.window, self.stride)
        self.register_buffer("scale", scale, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_cf(x)
        if self.pre_pad is None:
            y = F.avg_pool1d(x, self.window, self.stride, self.padding,
                             count_include_pad=False)
        else:
            assert self.scale is not None
            y = F.avg_pool1d(F.pad(x, self.pre_pad), self.window, self.stride) * self.scale
        return _to_cf(y)


@builds(AvgPool1D)
def _avg_pool1d(layer: AvgPool1D, ctx: BuildContext) -> nn.Module:
    return AvgPool1DModule(layer, ctx.input_shape, ctx.device)


class GlobalPoolModule(nn.Module):
    """Mean or max over every axis but the channels (last, or dim 1 when channels-first)."""

    def __init__(self, is_max: bool, rank: int, channels_first: bool) -> None:
        super().__init__()
        self.is_max = is_max
        # rank counts the per-sample axes (channels included); +1 for the batch
        self.dims = tuple(range(2, rank + 1)) if channels_first else tuple(range(1, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=self.dims) if self.is_max else x.mean(dim=self.dims)


@builds(GlobalAvgPool1D)
def _global_avg_pool1d(layer: GlobalAvgPool1D, ctx: BuildContext) -> nn.Module:
    return GlobalPoolModule(False, len(ctx.input_shape), False)


@builds(GlobalMaxPool1D)
def _global_max_pool1d(layer: GlobalMaxPool1D, ctx: BuildContext) -> nn.Module:
    return GlobalPoolModule(True, len(ctx.input_shape), False)


@builds(GlobalAvgPool2D, layout="any")
def _global_avg_pool2d(layer: GlobalAvgPool2D, ctx: BuildContext) -> nn.Module:
    return GlobalPoolModule(False, len(ctx.input_shape), ctx.channels_first)


@builds(GlobalMaxPool2D, layout="any")
def _global_max_pool2d(layer: GlobalMaxPool2D, ctx: BuildContext) -> nn.Module:
    return GlobalPoolModule(True, len(ctx.input_shape), ctx.channels_first)
