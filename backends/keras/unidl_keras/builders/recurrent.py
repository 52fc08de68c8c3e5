"""Keras builders of the recurrent layers (SimpleRNN, LSTM, GRU).

Each maps to the Keras layer with the same definition (tanh cell, sigmoid gates, GRU with
``reset_after=True``), every hyper-parameter passed explicitly so a user's ``keras.json``
or a changed Keras default cannot alter it. Weights keep Keras' names (``kernel``,
``recurrent_kernel``, ``bias``), the canonical ones; initial values come from the core, so
initializer arguments (``unit_forget_bias`` and the like) do not matter.

They never use cuDNN: its kernel (``CudnnRNNV3``) is not XLA-compilable and would push the
whole compiled epoch loop back to graph mode. Without it Keras runs the cell in a
``tf.while_loop`` (``unroll=False``). A model holding one trains without XLA
(``KerasLayerBuilder.xla``): XLA's while loop made an LSTM(64) epoch 0.38 s against 0.19 s
in graph mode on CPU.
"""

from __future__ import annotations

from typing import Any

from unidl.spec import GRU, LSTM, SimpleRNN, register_builder

from .._runtime import BACKEND, keras
from .base import BuildContext, KerasLayerBuilder

__all__: list[str] = []


def _common(layer: SimpleRNN | LSTM | GRU, ctx: BuildContext) -> dict[str, Any]:
    return dict(activation="tanh", use_bias=True, return_sequences=layer.return_sequences,
                return_state=False, go_backwards=False, stateful=False, unroll=False,
                dropout=0.0, recurrent_dropout=0.0, name=ctx.name)


def _simple_rnn(layer: SimpleRNN, ctx: BuildContext) -> Any:
    return keras.layers.SimpleRNN(layer.units, **_common(layer, ctx))


def _lstm(layer: LSTM, ctx: BuildContext) -> Any:
    return keras.layers.LSTM(layer.units, recurrent_activation="sigmoid", use_cudnn=False,
                             **_common(layer, ctx))


def _gru(layer: GRU, ctx: BuildContext) -> Any:
    return keras.layers.GRU(layer.units, recurrent_activation="sigmoid", reset_after=True,
                            use_cudnn=False, **_common(layer, ctx))


register_builder(SimpleRNN, BACKEND, KerasLayerBuilder(_simple_rnn, xla=False))
register_builder(LSTM, BACKEND, KerasLayerBuilder(_lstm, xla=False))
register_builder(GRU, BACKEND, KerasLayerBuilder(_gru, xla=False))
