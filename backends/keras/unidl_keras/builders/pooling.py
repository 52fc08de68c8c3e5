"""Keras builders of the pooling layers: windowed (1-D, 2-D, max and average) and global.

TensorFlow's "same" average pooling already excludes the padded cells, as unidl defines
it; every layer gets ``data_format="channels_last"`` explicitly.
"""

from __future__ import annotations

from typing import Any

from unidl.spec import (
    AvgPool1D,
    AvgPool2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    MaxPool1D,
    MaxPool2D,
    register_builder,
)

from .._runtime import BACKEND, keras
from .base import CHANNELS_LAST, BuildContext

__all__: list[str] = []


def _max_pool1d(layer: MaxPool1D, ctx: BuildContext) -> Any:
    return keras.layers.MaxPooling1D(layer.pool_size, strides=layer.stride,
                                     padding=layer.padding, data_format=CHANNELS_LAST,
                                     name=ctx.name)


register_builder(MaxPool1D, BACKEND, _max_pool1d)


def _avg_pool1d(layer: AvgPool1D, ctx: BuildContext) -> Any:
    return keras.layers.AveragePooling1D(layer.pool_size, strides=layer.stride,
                                         padding=layer.padding, data_format=CHANNELS_LAST,
                                         name=ctx.name)


register_builder(AvgPool1D, BACKEND, _avg_pool1d)


def _max_pool2d(layer: MaxPool2D, ctx: BuildContext) -> Any:
    return keras.layers.MaxPooling2D(layer.window, strides=layer.stride,
                                     padding=layer.padding, data_format=CHANNELS_LAST,
                                     name=ctx.name)


register_builder(MaxPool2D, BACKEND, _max_pool2d)


def _avg_pool2d(layer: AvgPool2D, ctx: BuildContext) -> Any:
    return keras.layers.AveragePooling2D(layer.window, strides=layer.stride,
                                         padding=layer.padding, data_format=CHANNELS_LAST,
                                         name=ctx.name)


register_builder(AvgPool2D, BACKEND, _avg_pool2d)


def _global_avg_pool1d(layer: GlobalAvgPool1D, ctx: BuildContext) -> Any:
    return keras.layers.GlobalAveragePooling1D(data_format=CHANNELS_LAST, name=ctx.name)


register_builder(GlobalAvgPool1D, BACKEND, _global_avg_pool1d)


def _global_max_pool1d(layer: GlobalMaxPool1D, ctx: BuildContext) -> Any:
    return keras.layers.GlobalMaxPooling1D(data_format=CHANNELS_LAST, name=ctx.name)


register_builder(GlobalMaxPool1D, BACKEND, _global_max_pool1d)


def _global_avg_pool2d(layer: GlobalAvgPool2D, ctx: BuildContext) -> Any:
    return keras.layers.GlobalAveragePooling2D(data_format=CHANNELS_LAST, name=ctx.name)


register_builder(GlobalAvgPool2D, BACKEND, _global_avg_pool2d)


def _global_max_pool2d(layer: GlobalMaxPool2D, ctx: BuildContext) -> Any:
    return keras.layers.GlobalMaxPooling2D(data_format=CHANNELS_LAST, name=ctx.name)


register_builder(GlobalMaxPool2D, BACKEND, _global_max_pool2d)
