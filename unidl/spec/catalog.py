"""Every layer type of the spec, by its ``kind`` (the ``"class"`` key in spec files)."""

from __future__ import annotations

from typing import Final

from .layers import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    Layer,
    MaxPool2D,
)
from .layers_1d import (
    AvgPool1D,
    Conv1D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    MaxPool1D,
)
from .layers_shape import Embedding, LayerNorm, Permute, Reshape
from .merge import Add, Average, Concatenate, Multiply, Subtract
from .recurrent import GRU, LSTM, SimpleRNN

__all__ = ["LAYER_TYPES"]

LAYER_TYPES: Final[dict[str, type[Layer]]] = {
    cls.kind: cls
    for cls in (Input, Dense, Conv2D, MaxPool2D, AvgPool2D, Flatten, Dropout, BatchNorm,
                Activation, Conv1D, MaxPool1D, AvgPool1D, GlobalAvgPool1D, GlobalMaxPool1D,
                GlobalAvgPool2D, GlobalMaxPool2D, Embedding, Reshape, LayerNorm, SimpleRNN,
                LSTM, GRU, Permute, Concatenate, Add, Subtract, Multiply, Average)
}
