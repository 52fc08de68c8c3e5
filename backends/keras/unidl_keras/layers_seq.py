"""Sequence, global-pooling, embedding, shape, normalisation and recurrent layers.

Each spec layer maps to the Keras layer with the same definition (the NumPy reference in
``unidl.testing.reference`` was checked against exactly these), every hyper-parameter
passed explicitly so a user's ``keras.json`` or a changed Keras default cannot alter it.
Weights keep Keras' own names (``kernel``, ``recurrent_kernel``, ``bias``, ``embeddings``,
``gamma``, ``beta``), which are the canonical ones; initial values come from the core, so
initializer arguments (``unit_forget_bias`` and the like) do not matter.

Conv1D is built linear, like Dense/Conv2D, and followed by its own activation layer (see
``layers``).

Recurrent layers never use cuDNN: its kernel (``CudnnRNNV3``) is not XLA-compilable and
would push the whole compiled epoch loop back to graph mode. Without it Keras runs the
cell in a ``tf.while_loop`` (``unroll=False``) that XLA compiles together with the rest of
the training step, on CPU and GPU alike.
"""

from __future__ import annotations

from typing import Any

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
    Input,
    LayerNorm,
    MaxPool1D,
    Permute,
    Reshape,
    SimpleRNN,
)
from unidl.spec.layers import Layer, Shape

from ._runtime import keras

__all__ = ["LINEAR_WITH_ACTIVATION", "SEQUENCE_LAYER_KINDS", "input_dtype", "sequence_layer"]

_CHANNELS_LAST = "channels_last"

#: Layers with an ``activation`` that are built linear plus a separate activation layer.
LINEAR_WITH_ACTIVATION: tuple[type[Layer], ...] = (Conv1D,)

#: The spec layer kinds :func:`sequence_layer` implements.
SEQUENCE_LAYER_KINDS: frozenset[str] = frozenset(cls.kind for cls in (
    Conv1D, MaxPool1D, AvgPool1D, GlobalAvgPool1D, GlobalMaxPool1D, GlobalAvgPool2D,
    GlobalMaxPool2D, Embedding, Reshape, Permute, LayerNorm, SimpleRNN, LSTM, GRU))


def input_dtype(layer: Input) -> str:
    """The dtype the Keras model takes for ``layer``: integer Inputs stay integer (Embedding
    indices); every other Input is computed in float32."""
    dtype = str(layer.dtype)
    return dtype if dtype in ("int32", "int64") else "float32"


def _recurrent(layer: SimpleRNN | LSTM | GRU, name: str) -> Any:
    common: dict[str, Any] = dict(activation="tanh", use_bias=True,
                                  return_sequences=layer.return_sequences,
                                  return_state=False, go_backwards=False, stateful=False,
                                  unroll=False, dropout=0.0, recurrent_dropout=0.0, name=name)
    if isinstance(layer, LSTM):
        return keras.layers.LSTM(layer.units, recurrent_activation="sigmoid",
                                 use_cudnn=False, **common)
    if isinstance(layer, GRU):
        return keras.layers.GRU(layer.units, recurrent_activation="sigmoid",
                                reset_after=True, use_cudnn=False, **common)
    return keras.layers.SimpleRNN(layer.units, **common)


def sequence_layer(layer: Layer, name: str, output_shape: Shape) -> Any | None:
    """The Keras layer for one of this module's spec layers (``output_shape`` is its
    resolved per-sample output shape), or None for any other layer."""
    if isinstance(layer, Conv1D):
        return keras.layers.Conv1D(layer.filters, layer.kernel_size, strides=layer.strides,
                                   padding=layer.padding, dilation_rate=1, groups=1,
                                   activation=None, use_bias=layer.use_bias,
                                   data_format=_CHANNELS_LAST, name=name)
    if isinstance(layer, MaxPool1D):
        return keras.layers.MaxPooling1D(layer.pool_size, strides=layer.stride,
                                         padding=layer.padding, data_format=_CHANNELS_LAST,
                                         name=name)
    if isinstance(layer, AvgPool1D):  # TF's "same" average already excludes the padding
        return keras.layers.AveragePooling1D(layer.pool_size, strides=layer.stride,
                                             padding=layer.padding,
                                             data_format=_CHANNELS_LAST, name=name)
    if isinstance(layer, GlobalAvgPool1D):
        return keras.layers.GlobalAveragePooling1D(data_format=_CHANNELS_LAST, name=name)
    if isinstance(layer, GlobalMaxPool1D):
        return keras.layers.GlobalMaxPooling1D(data_format=_CHANNELS_LAST, name=name)
    if isinstance(layer, GlobalAvgPool2D):
        return keras.layers.GlobalAveragePooling2D(data_format=_CHANNELS_LAST, name=name)
    if isinstance(layer, GlobalMaxPool2D):
        return keras.layers.GlobalMaxPooling2D(data_format=_CHANNELS_LAST, name=name)
    if isinstance(layer, Embedding):
        return keras.layers.Embedding(layer.input_dim, layer.output_dim, mask_zero=False,
                                      name=name)
    if isinstance(layer, Reshape):  # the resolved shape: no -1 left to infer at run time
        return keras.layers.Reshape(tuple(output_shape), name=name)
    if isinstance(layer, Permute):  # the same convention: per-sample axes counted from 1
        return keras.layers.Permute(layer.dims, name=name)
    if isinstance(layer, LayerNorm):
        return keras.layers.LayerNormalization(axis=-1, epsilon=layer.epsilon, center=True,
                                               scale=True, name=name)
    if isinstance(layer, (SimpleRNN, LSTM, GRU)):
        return _recurrent(layer, name)
    return None
