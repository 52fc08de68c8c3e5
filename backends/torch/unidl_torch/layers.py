"""Spec layers -> torch modules, and the layout plan that keeps convolutions channels-first.

unidl data is channels-last (N, H, W, C). torch's convolution, pooling and batch-norm
kernels want (N, C, H, W), so the network permutes once when a stretch of image layers
starts and permutes back when it ends (before any layer but Dropout, Activation and a global
2-D pool, which reduces the channels-first tensor itself; and at the output). Flatten and
Reshape therefore see (H, W, C) order and weights stay portable. The permutes are views; torch's
conv kernels accept the resulting strides (they are torch's "channels_last" memory format).

Parameters keep torch's names and layouts (``weight`` (out, in) etc.) so the network's
``state_dict`` loads into stock ``torch.nn`` layers; :mod:`unidl_torch.weights` converts
to and from unidl's canonical Keras layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from unidl import NotSupportedError
from unidl.spec import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    MaxPool2D,
    Sequential,
)
from unidl.spec.layers import Layer

from .activations import Fn, activation_fn
from .layers_seq import GLOBAL_POOLS_2D, build_seq_module

__all__ = ["DropoutRng", "FnLayer", "Net", "build_module", "identity", "is_image_op",
           "module_name", "same_padding", "to_channels_first", "to_channels_last", "to_float"]


class DropoutRng:
    """The generator every Dropout layer of one model draws from (seeded by ``configure``)."""

    def __init__(self, device: torch.device) -> None:
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(0)


def same_padding(size: int, window: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same": output ceil(size/stride); the odd pixel goes after (bottom/right)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _split_padding(padding: str, hw: tuple[int, ...], window: tuple[int, int],
                   stride: tuple[int, int], at_most_half_window: bool
                   ) -> tuple[tuple[int, int], tuple[int, int, int, int] | None]:
    """``(native, pre_pad)`` of a 2-D window op: padding for the torch kernel itself, or
    ``F.pad``'s (left, right, top, bottom) to apply first, the kernel then running unpadded.

    torch kernels pad only symmetrically (pooling only up to half the window); TF's odd
    total (the extra pixel bottom/right) and larger pooling pads need the explicit pad.
    """
    top = bottom = left = right = 0
    if padding != "valid":
        top, bottom = same_padding(hw[0], window[0], stride[0])
        left, right = same_padding(hw[1], window[1], stride[1])
    native = top == bottom and left == right and not (
        at_most_half_window and (top > window[0] // 2 or left > window[1] // 2))
    if native:
        return (top, left), None
    return (0, 0), (left, right, top, bottom)


class DenseLayer(nn.Module):
    """``activation(x @ W.T + b)`` on the last axis, any rank (torch ``Linear`` layout)."""

    def __init__(self, spec: Dense, in_features: int, act: Fn | None,
                 device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(spec.units, in_features, device=device))
        self.bias = (nn.Parameter(torch.empty(spec.units, device=device))
                     if spec.use_bias else None)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        return y if self.act is None else self.act(y)


class Conv2DLayer(nn.Module):
    """2-D convolution on (N, C, H, W) with TensorFlow "same" padding (torch layout weight)."""

    def __init__(self, spec: Conv2D, in_shape: tuple[int, ...], act: Fn | None,
                 device: torch.device) -> None:
        super().__init__()
        (kh, kw), stride = spec.kernel, spec.stride
        self.weight = nn.Parameter(torch.empty(spec.filters, in_shape[2], kh, kw, device=device))
        self.bias = (nn.Parameter(torch.empty(spec.filters, device=device))
                     if spec.use_bias else None)
        self.stride = stride
        # Symmetric padding goes to the conv kernel itself (no copy).
        self.padding, self.pre_pad = _split_padding(spec.padding, in_shape, (kh, kw), stride,
                                                    at_most_half_window=False)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return y if self.act is None else self.act(y)


class MaxPoolLayer(nn.Module):
    """Max pooling on (N, C, H, W); "same" padding cells are -inf so they never win."""

    def __init__(self, spec: MaxPool2D, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.window, self.stride = spec.window, spec.stride
        # torch pads max pooling with -inf itself, but only symmetrically and <= window/2.
        self.padding, self.pre_pad = _split_padding(spec.padding, in_shape, self.window,
                                                    self.stride, at_most_half_window=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad, value=-math.inf)
        return F.max_pool2d(x, self.window, self.stride, self.padding)


class AvgPoolLayer(nn.Module):
    """Average pooling on (N, C, H, W); "same" padding cells are excluded from the mean."""

    scale: torch.Tensor | None

    def __init__(self, spec: AvgPool2D, in_shape: tuple[int, ...],
                 device: torch.device) -> None:
        super().__init__()
        self.window, self.stride = spec.window, spec.stride
        self.padding, self.pre_pad = _split_padding(spec.padding, in_shape, self.window,
                                                    self.stride, at_most_half_window=True)
        scale = None
        if self.pre_pad is not None:
            # Mean over real cells only: zero-pad, average over the full window, then rescale
            # each output cell by window_area / real_cells (a constant map, computed once).
            ones = F.pad(torch.ones(1, 1, in_shape[0], in_shape[1], device=device),
                         self.pre_pad)
            real = F.avg_pool2d(ones, self.window, self.stride)
            scale = 1.0 / real
        self.register_buffer("scale", scale, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_pad is None:
            return F.avg_pool2d(x, self.window, self.stride, self.padding,
                                count_include_pad=False)
        y = F.avg_pool2d(F.pad(x, self.pre_pad), self.window, self.stride)
        assert self.scale is not None
        return y * self.scale


class BatchNormLayer(nn.Module):
    """Keras batch normalisation over the channel axis.

    Training normalises with the batch mean and biased variance and updates
    ``moving = momentum * moving + (1 - momentum) * batch`` with the *biased* variance.
    torch's fused kernel updates the running variance with the *unbiased* one; rather than a
    second pass over the batch for its statistics, the (channels-sized) buffer is corrected:
    with ``kept = (1 - u) * old``, torch gives ``kept + u * var * n / (n - 1)``, so
    ``kept + (torch's - kept) * (n - 1) / n`` is Keras' update.
    """

    def __init__(self, spec: BatchNorm, channels: int, channels_first: bool,
                 device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, device=device))
        self.bias = nn.Parameter(torch.empty(channels, device=device))
        self.register_buffer("running_mean", torch.empty(channels, device=device))
        self.register_buffer("running_var", torch.empty(channels, device=device))
        self.running_mean: torch.Tensor
        self.running_var: torch.Tensor
        self.channels = channels
        self.channels_first = channels_first
        self.update = 1.0 - spec.momentum
        self.eps = spec.epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x if (self.channels_first or x.dim() == 2) else x.reshape(-1, self.channels)
        cudnn = torch.backends.cudnn.enabled
        if not self.training:
            y = torch.batch_norm(flat, self.weight, self.bias, self.running_mean,
                                 self.running_var, False, 0.0, self.eps, cudnn)
        elif (n := flat.numel() // self.channels) > 1:
            # torch's kernel writes the unbiased update into a copy (autograd keeps that
            # copy, so it must not change again); the buffer gets the biased one.
            unbiased = self.running_var.clone()
            y = torch.batch_norm(flat, self.weight, self.bias, self.running_mean, unbiased,
                                 True, self.update, self.eps, cudnn)
            with torch.no_grad():
                kept = self.running_var.mul_(1.0 - self.update)
                kept.add_(unbiased - kept, alpha=(n - 1) / n)
        else:
            # One sample (Keras allows it: variance 0). torch.batch_norm, not F.batch_norm,
            # which refuses a batch of one in training mode; torch's unbiased variance
            # would divide by zero, so the buffers are updated here.
            with torch.no_grad():
                dims = (0, 2, 3) if self.channels_first else (0,)
                var, mean = torch.var_mean(flat, dims, correction=0)
                self.running_mean.lerp_(mean, self.update)
                self.running_var.lerp_(var, self.update)
            y = torch.batch_norm(flat, self.weight, self.bias, None, None, True, 0.0,
                                 self.eps, cudnn)
        return y if y.shape == shape else y.reshape(shape)


class DropoutLayer(nn.Module):
    """Inverted dropout drawing its masks from the model's seeded generator."""

    def __init__(self, rate: float, rng: DropoutRng) -> None:
        super().__init__()
        self.rate = rate
        self.keep = 1.0 - rate
        self.rng = rng

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        mask = torch.empty_like(x).bernoulli_(self.keep, generator=self.rng.generator)
        return x * mask.div_(self.keep)


class FnLayer(nn.Module):
    """A parameter-free function (flatten, activation) as a module."""

    def __init__(self, fn: Fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def to_channels_first(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W, C) -> (N, C, H, W), a view."""
    return x.permute(0, 3, 1, 2)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H, W, C), a view."""
    return x.permute(0, 2, 3, 1)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float()


def module_name(name: str, index: int, taken: set[str]) -> str:
    """The spec layer name when torch accepts it as a module name, else ``layer<index>``."""
    ok = name.isidentifier() and not hasattr(nn.Module, name) and name not in taken
    return name if ok else f"layer{index}"


def build_module(layer: Layer, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                 act: Fn | None, channels_first: bool, rng: DropoutRng,
                 device: torch.device) -> nn.Module:
    """The module computing ``layer`` (with ``act`` fused in where the layer has one).

    Convolutions and 2-D pools take channels-first tensors (their callers permute);
    ``channels_first`` tells the layers that reduce over channels (BatchNorm, a global 2-D
    pool) which layout they will see. An ``Activation`` layer's module is ``act`` itself.
    """
    if isinstance(layer, Dense):
        return DenseLayer(layer, in_shape[-1], act, device)
    if isinstance(layer, Conv2D):
        return Conv2DLayer(layer, in_shape, act, device)
    if isinstance(layer, MaxPool2D):
        return MaxPoolLayer(layer, in_shape)
    if isinstance(layer, AvgPool2D):
        return AvgPoolLayer(layer, in_shape, device)
    if isinstance(layer, BatchNorm):
        return BatchNormLayer(layer, in_shape[-1], channels_first, device)
    if isinstance(layer, Dropout):
        return DropoutLayer(layer.rate, rng)
    if isinstance(layer, Flatten):
        return FnLayer(_flatten)
    if isinstance(layer, Activation):
        return FnLayer(act or identity)
    module = build_seq_module(layer, in_shape, out_shape, act, channels_first, device)
    if module is None:
        raise _unsupported(layer)
    return module


def is_image_op(layer: Layer, in_shape: tuple[int, ...]) -> bool:
    """Whether ``layer`` runs on channels-first (N, C, H, W) tensors in a ``Net``."""
    return isinstance(layer, (Conv2D, MaxPool2D, AvgPool2D)) or (
        isinstance(layer, BatchNorm) and len(in_shape) == 3)


class Net(nn.Module):
    """A unidl ``Sequential`` as one torch module taking and returning channels-last tensors.

    ``pre(x)`` runs everything up to the final activation (the logits for a fused
    cross-entropy); ``head`` is that activation (``None`` when linear); ``forward`` is both.
    Each spec layer is registered under its own name, so ``state_dict()`` keys read
    ``"<layer>.weight"`` (see :mod:`unidl_torch.export`).
    """

    def __init__(self, spec: Sequential, rng: DropoutRng, device: torch.device) -> None:
        super().__init__()
        self.spec = spec
        self.layer_modules: dict[str, nn.Module] = {}  # spec layer name -> module
        steps: list[Callable[[torch.Tensor], torch.Tensor]] = []
        channels_first = False
        shapes = spec.layer_shapes
        head: Fn | None = None
        if spec.input.dtype.startswith("int") and not (
                shapes and isinstance(shapes[0].layer, Embedding)):
            steps.append(to_float)  # integer inputs stay integer only for an Embedding
        for i, ls in enumerate(shapes):
            layer, last = ls.layer, i == len(shapes) - 1
            image_op = is_image_op(layer, ls.input_shape)
            if image_op and not channels_first:
                steps.append(to_channels_first)
                channels_first = True
            elif channels_first and not image_op and not isinstance(
                    layer, (Dropout, Activation, *GLOBAL_POOLS_2D)):
                steps.append(to_channels_last)  # Permute, Flatten, Reshape, ... see (H, W, C)
                channels_first = False
            act_name = str(getattr(layer, "activation", "linear"))
            if last:  # the final activation runs apart, on the channels-last output
                head = activation_fn(act_name)
                act_name = "linear"
            act = activation_fn(act_name, 1 if channels_first else -1)
            module = build_module(layer, ls.input_shape, ls.output_shape, act, channels_first,
                                  rng, device)
            if isinstance(layer, GLOBAL_POOLS_2D):
                channels_first = False  # (N, C): the same in both layouts
            self.add_module(module_name(ls.name, i + 1, set(self._modules)), module)
            self.layer_modules[ls.name] = module
            if not (isinstance(module, FnLayer) and module.fn is identity):
                steps.append(module.forward)  # bound forward: no per-call hook machinery
        if channels_first:
            steps.append(to_channels_last)
        self.head = head
        self._steps = tuple(steps)

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        for step in self._steps:
            x = step(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pre(x)
        return y if self.head is None else self.head(y)


def _unsupported(layer: Layer) -> NotSupportedError:
    return NotSupportedError(f"the torch backend cannot build layer {layer.kind!r} "
                             f"({getattr(layer, 'name', None)!r})")
