"""Sequence, global-pooling, embedding, reshape, permute, layer-norm and recurrent layers.

Every module here takes and returns unidl's channels-last tensors: ``(N, steps, C)`` for the
1-D layers (convolution and pooling transpose to torch's ``(N, C, steps)`` inside; the
transposes are views, and back-to-back 1-D layers cancel them out). The one exception is a
global 2-D pool that ends a channels-first stretch of image layers: it reduces the
``(N, C, H, W)`` tensor directly (the result ``(N, C)`` is the same in both layouts).

Parameters keep torch's names and layouts so a ``state_dict`` loads into stock modules:

=============  ====================================================================
unidl layer    torch tensors (layout)
=============  ====================================================================
Conv1D         ``weight`` (out, in, k), ``bias`` (out,)  -> ``nn.Conv1d``
Embedding      ``weight`` (input_dim, output_dim)        -> ``nn.Embedding``
LayerNorm      ``weight`` (C,), ``bias`` (C,)            -> ``nn.LayerNorm(C, eps)``
SimpleRNN/     ``weight_ih`` (G*u, in), ``weight_hh`` (G*u, u), ``bias`` (G*u,): torch's
LSTM           ``weight_ih_l0``/``weight_hh_l0``/``bias_ih_l0`` with ``bias_hh_l0 = 0``
GRU            the same with gates in torch's ``r, z, n`` order and ``bias`` (2, 3u) =
               ``[bias_ih_l0; bias_hh_l0]``
=============  ====================================================================

:data:`WEIGHT_MAP` converts canonical (Keras) weights to and from these layouts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from unidl.spec import (
    GRU,
    LSTM,
    AvgPool1D,
    Conv1D,
    Embedding,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    LayerNorm,
    MaxPool1D,
    Permute,
    Reshape,
    SimpleRNN,
)
from unidl.spec.layers import Layer

from .activations import Fn
from .recurrent import (
    RecurrentLayer,
    gru_gates,
    gru_kernel_to_canonical,
    gru_kernel_to_torch,
    transpose,
)

__all__ = ["GLOBAL_POOLS_2D", "SEQ_LAYERS", "WEIGHT_MAP", "build_seq_module"]

Array = npt.NDArray[Any]

#: The spec layer types this module builds.
SEQ_LAYERS: tuple[type[Layer], ...] = (
    Conv1D, MaxPool1D, AvgPool1D, GlobalAvgPool1D, GlobalMaxPool1D, GlobalAvgPool2D,
    GlobalMaxPool2D, Embedding, Reshape, Permute, LayerNorm, SimpleRNN, LSTM, GRU)
#: Global pools that may consume a channels-first (N, C, H, W) stretch directly.
GLOBAL_POOLS_2D: tuple[type[Layer], ...] = (GlobalAvgPool2D, GlobalMaxPool2D)


def _same_pads(size: int, window: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same": output ceil(size/stride); the odd cell goes at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _split_padding_1d(padding: str, size: int, window: int, stride: int,
                      at_most_half_window: bool) -> tuple[int, tuple[int, int] | None]:
    """``(native, pre_pad)``: symmetric padding the torch kernel applies itself, or the
    ``F.pad`` (left, right) to apply first (TF's odd total, or a pooling pad above half the
    window, which torch's pooling kernels refuse)."""
    left, right = _same_pads(size, window, stride) if padding != "valid" else (0, 0)
    if left == right and not (at_most_half_window and left > window // 2):
        return left, None
    return 0, (left, right)


def _to_cf(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2)


class Conv1DLayer(nn.Module):
    """1-D convolution on (N, steps, C) with TensorFlow "same" padding."""

    def __init__(self, spec: Conv1D, in_shape: tuple[int, ...], act: Fn | None,
                 device: torch.device) -> None:
        super().__init__()
        k = spec.kernel_size
        self.weight = nn.Parameter(torch.empty(spec.filters, in_shape[-1], k, device=device))
        self.bias = (nn.Parameter(torch.empty(spec.filters, device=device))
                     if spec.use_bias else None)
        self.stride = spec.strides
        self.padding, self.pre_pad = _split_padding_1d(spec.padding, in_shape[0], k,
                                                       spec.strides, at_most_half_window=False)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_cf(x)
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        y = _to_cf(F.conv1d(x, self.weight, self.bias, self.stride, self.padding))
        return y if self.act is None else self.act(y)


class MaxPool1DLayer(nn.Module):
    """Max pooling on (N, steps, C); "same" padding cells are -inf."""

    def __init__(self, spec: MaxPool1D, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.window, self.stride = spec.pool_size, spec.stride
        self.padding, self.pre_pad = _split_padding_1d(spec.padding, in_shape[0], self.window,
                                                       self.stride, at_most_half_window=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_cf(x)
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad, value=-math.inf)
        return _to_cf(F.max_pool1d(x, self.window, self.stride, self.padding))


class AvgPool1DLayer(nn.Module):
    """Average pooling on (N, steps, C); "same" padding cells are left out of the mean."""

    scale: torch.Tensor | None

    def __init__(self, spec: AvgPool1D, in_shape: tuple[int, ...],
                 device: torch.device) -> None:
        super().__init__()
        self.window, self.stride = spec.pool_size, spec.stride
        self.padding, self.pre_pad = _split_padding_1d(spec.padding, in_shape[0], self.window,
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


class GlobalPoolLayer(nn.Module):
    """Mean or max over every axis but the channels (last, or dim 1 when channels-first)."""

    def __init__(self, is_max: bool, rank: int, channels_first: bool) -> None:
        super().__init__()
        self.is_max = is_max
        # rank counts the per-sample axes (channels included); +1 for the batch
        self.dims = tuple(range(2, rank + 1)) if channels_first else tuple(range(1, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=self.dims) if self.is_max else x.mean(dim=self.dims)


class EmbeddingLayer(nn.Module):
    """Row lookup of ``weight (input_dim, output_dim)`` for integer indices."""

    def __init__(self, spec: Embedding, device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(spec.input_dim, spec.output_dim, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():  # a caller outside unidl handing float indices
            x = x.long()
        return F.embedding(x, self.weight)


class ReshapeLayer(nn.Module):
    """Row-major reshape of each (channels-last) sample."""

    def __init__(self, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.out_shape = out_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.out_shape)


class PermuteLayer(nn.Module):
    """Permutes the per-sample axes of a channels-last tensor (a view; Keras' 1-based
    ``dims``, so the batch axis stays first)."""

    def __init__(self, spec: Permute) -> None:
        super().__init__()
        self.dims = (0, *spec.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class LayerNormLayer(nn.Module):
    """``gamma * (x - mean) / sqrt(var + eps) + beta`` over the last axis (biased var)."""

    def __init__(self, spec: LayerNorm, channels: int, device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, device=device))
        self.bias = nn.Parameter(torch.empty(channels, device=device))
        self.shape = (channels,)
        self.eps = spec.epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.shape, self.weight, self.bias, self.eps)


def build_seq_module(layer: Layer, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                     act: Fn | None, channels_first: bool,
                     device: torch.device) -> nn.Module | None:
    """The module for one of :data:`SEQ_LAYERS` (``None`` for any other layer type).

    ``channels_first`` is only ever true for a global 2-D pool ending an image stretch.
    """
    if isinstance(layer, Conv1D):
        return Conv1DLayer(layer, in_shape, act, device)
    if isinstance(layer, MaxPool1D):
        return MaxPool1DLayer(layer, in_shape)
    if isinstance(layer, AvgPool1D):
        return AvgPool1DLayer(layer, in_shape, device)
    if isinstance(layer, (GlobalAvgPool1D, GlobalMaxPool1D, GlobalAvgPool2D, GlobalMaxPool2D)):
        return GlobalPoolLayer(isinstance(layer, (GlobalMaxPool1D, GlobalMaxPool2D)),
                               len(in_shape), channels_first)
    if isinstance(layer, Embedding):
        return EmbeddingLayer(layer, device)
    if isinstance(layer, Reshape):
        return ReshapeLayer(out_shape)
    if isinstance(layer, Permute):
        return PermuteLayer(layer)
    if isinstance(layer, LayerNorm):
        return LayerNormLayer(layer, in_shape[-1], device)
    if isinstance(layer, (SimpleRNN, LSTM, GRU)):
        return RecurrentLayer(layer, in_shape[-1], device)
    return None


def _same(a: Array) -> Array:
    return a


def _conv1d_to_torch(a: Array) -> Array:
    return a.transpose(2, 1, 0)  # (k, in, out) -> (out, in, k); its own inverse


Convert = Callable[[Array], Array]

#: (spec layer type, canonical param) -> (torch attribute, to torch, to canonical)
WEIGHT_MAP: dict[tuple[type, str], tuple[str, Convert, Convert]] = {
    (Conv1D, "kernel"): ("weight", _conv1d_to_torch, _conv1d_to_torch),
    (Conv1D, "bias"): ("bias", _same, _same),
    (Embedding, "embeddings"): ("weight", _same, _same),
    (LayerNorm, "gamma"): ("weight", _same, _same),
    (LayerNorm, "beta"): ("bias", _same, _same),
    **{(t, p): (attr, transpose, transpose) for t in (SimpleRNN, LSTM)
       for p, attr in (("kernel", "weight_ih"), ("recurrent_kernel", "weight_hh"))},
    (SimpleRNN, "bias"): ("bias", _same, _same),
    (LSTM, "bias"): ("bias", _same, _same),
    (GRU, "kernel"): ("weight_ih", gru_kernel_to_torch, gru_kernel_to_canonical),
    (GRU, "recurrent_kernel"): ("weight_hh", gru_kernel_to_torch, gru_kernel_to_canonical),
    (GRU, "bias"): ("bias", gru_gates, gru_gates),
}
