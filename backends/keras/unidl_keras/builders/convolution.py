"""Keras builders of the convolutions (Conv1D, Conv2D).

Both are built linear and followed by their own activation layer (added by the backend,
as for every layer with an activation); every hyper-parameter is passed explicitly, with
``data_format="channels_last"``. TensorFlow's "same" padding is unidl's (the extra padded
cell goes after). Kernels keep Keras' layout and names, the canonical ones.

A model holding a convolution trains without XLA (``xla=False``): XLA's CPU convolutions
and their gradients ran the 2-conv MNIST CNNs of ``benchmarks/bench_fit.py`` at 102-274
samples/s, TensorFlow's graph executor (oneDNN kernels) at 6,768-9,171.
"""

from __future__ import annotations

from typing import Any

from unidl.spec import Conv1D, Conv2D, register_builder

from .._runtime import BACKEND, keras
from .base import CHANNELS_LAST, BuildContext, KerasLayerBuilder

__all__: list[str] = []


def _conv1d(layer: Conv1D, ctx: BuildContext) -> Any:
    return keras.layers.Conv1D(layer.filters, layer.kernel_size, strides=layer.strides,
                               padding=layer.padding, dilation_rate=1, groups=1,
                               activation=None, use_bias=layer.use_bias,
                               data_format=CHANNELS_LAST, name=ctx.name)


register_builder(Conv1D, BACKEND, KerasLayerBuilder(_conv1d, xla=False))


def _conv2d(layer: Conv2D, ctx: BuildContext) -> Any:
    return keras.layers.Conv2D(layer.filters, layer.kernel, strides=layer.stride,
                               padding=layer.padding, activation=None,
                               use_bias=layer.use_bias, data_format=CHANNELS_LAST,
                               name=ctx.name)


register_builder(Conv2D, BACKEND, KerasLayerBuilder(_conv2d, xla=False))
