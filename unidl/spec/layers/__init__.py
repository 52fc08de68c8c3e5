"""Layer specs by family; importing this package registers every built-in layer kind.

A new kind is written in its family module and listed here once; ``unidl`` and
``unidl.spec`` re-export this ``__all__``.
"""

from .base import (
    DTYPES,
    INITIALIZERS,
    Layer,
    ParamInfo,
    Shape,
    SymbolicTensor,
    register_layer,
)
from .convolution import Conv1D, Conv2D
from .core import Activation, Dense, Dropout, Embedding, Input
from .merge import Add, Average, Concatenate, Merge, Multiply, Subtract
from .normalization import BatchNorm, LayerNorm
from .pooling import (
    AvgPool1D,
    AvgPool2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    MaxPool1D,
    MaxPool2D,
)
from .recurrent import GRU, LSTM, SimpleRNN
from .reshaping import Flatten, Permute, Reshape

__all__ = [
    "DTYPES",
    "GRU",
    "INITIALIZERS",
    "LSTM",
    "Activation",
    "Add",
    "Average",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNorm",
    "Concatenate",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "Input",
    "Layer",
    "LayerNorm",
    "MaxPool1D",
    "MaxPool2D",
    "Merge",
    "Multiply",
    "ParamInfo",
    "Permute",
    "Reshape",
    "Shape",
    "SimpleRNN",
    "Subtract",
    "SymbolicTensor",
    "register_layer",
]
