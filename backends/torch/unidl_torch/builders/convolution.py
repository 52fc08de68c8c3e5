"""Conv1D and Conv2D on torch, with TensorFlow "same" padding.

=============  ====================================================================
unidl layer    torch tensors (layout)
=============  ====================================================================
Conv1D         ``weight`` (out, in, k), ``bias`` (out,)  -> ``nn.Conv1d``
Conv2D         ``weight`` (out, in, kh, kw), ``bias``    -> ``nn.Conv2d``
=============  ====================================================================

Conv2D runs on channels-first (N, C, H, W) tensors (its layout is ``"channels_first"``: a
network permutes once around a run of image layers). Conv1D takes unidl's (N, steps, C) and
transposes to torch's (N, C, steps) inside; the transposes are views, and back-to-back 1-D
layers cancel them out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unidl.spec import Conv1D, Conv2D

from .base import Array, BuildContext, Weight, builds
from .padding import split_padding_1d, split_padding_2d

__all__ = ["Conv1DModule", "Conv2DModule"]


def _conv1d_to_torch(a: Array) -> Array:
    return a.transpose(2, 1, 0)  # (k, in, out) -> (out, in, k); its own inverse


def _conv2d_to_torch(a: Array) -> Array:
    return a.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)


def _conv2d_to_canonical(a: Array) -> Array:
    return a.transpose(2, 3, 1, 0)


def _to_cf(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2)


class Conv1DModule(nn.Module):
    """1-D convolution on (N, steps, C) with TensorFlow "same" padding."""

    def __init__(self, spec: Conv1D, in_shape: tuple[int, ...], device: torch.device) -> None:
        super().__init__()
        k = spec.kernel_size
        self.weight = nn.Parameter(torch.empty(spec.filters, in_shape[-1], k, device=device))
        self.bias = (nn.Parameter(torch.empty(spec.filters, device=device))
                     if spec.use_bias else None)
        self.stride = spec.strides
        self.padding, self.pre_pad = split_padding_1d(spec.padding, in_shape[0], k,
                                                      spec.strides, at_most_half_window=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_cf(x)
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        return _to_cf(F.conv1d(x, self.weight, self.bias, self.stride, self.padding))


@builds(Conv1D, weights={"kernel": Weight("weight", _conv1d_to_torch, _conv1d_to_torch),
                         "bias": Weight("bias")})
def _conv1d(layer: Conv1D, ctx: BuildContext) -> nn.Module:
    return Conv1DModule(layer, ctx.input_shape, ctx.device)


class Conv2DModule(nn.Module):
    """2-D convolution on (N, C, H, W) with TensorFlow "same" padding (torch layout weight)."""

    def __init__(self, spec: Conv2D, in_shape: tuple[int, ...], device: torch.device) -> None:
        super().__init__()
        (kh, kw), stride = spec.kernel, spec.stride
        self.weight = nn.Parameter(torch.empty(spec.filters, in_shape[2], kh, kw, device=device))
        self.bias = (nn.Parameter(torch.empty(spec.filters, device=device))
                     if spec.use_bias else None)
        self.stride = stride
        # Symmetric padding goes to the conv kernel itself (no copy).
        self.padding, self.pre_pad = split_padding_2d(spec.padding, in_shape, (kh, kw), stride,
                                                      at_most_half_window=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


@builds(Conv2D, layout="channels_first",
        weights={"kernel": Weight("weight", _conv2d_to_torch, _conv2d_to_canonical),
                 "bias": Weight("bias")})
def _conv2d(layer: Conv2D, ctx: BuildContext) -> nn.Module:
    return Conv2DModule(layer, ctx.input_shape, ctx.device)
