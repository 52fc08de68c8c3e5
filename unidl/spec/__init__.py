"""The model description: pure, frozen, validated, JSON/YAML round-trip."""

from .activations import ACTIVATIONS
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
    ParamInfo,
    Shape,
)
from .model import LayerShapes, Sequential
from .serialize import from_dict, from_json, from_yaml
from .training import (
    LOSSES,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Loss,
    Optimizer,
    RMSprop,
    loss_from,
    optimizer_from,
)

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "SGD",
    "Activation",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "Layer",
    "LayerShapes",
    "Loss",
    "MaxPool2D",
    "Optimizer",
    "ParamInfo",
    "RMSprop",
    "Sequential",
    "Shape",
    "from_dict",
    "from_json",
    "from_yaml",
    "loss_from",
    "optimizer_from",
]
