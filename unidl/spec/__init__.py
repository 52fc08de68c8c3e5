"""The model description: pure, frozen, validated, JSON/YAML round-trip.

Every kind (layer, activation, loss, optimizer) is registered in :mod:`unidl.spec.kinds`;
importing this package registers the built-in ones.
"""

from . import layers
from .activations import ACTIVATIONS, register_activation
from .graph import Graph, GraphNode
from .kinds import (
    ACTIVATION_KINDS,
    LAYER_KINDS,
    LOSS_KINDS,
    OPTIMIZER_KINDS,
    ActivationKind,
    LossKind,
    builder_for,
    implemented,
    register_builder,
)
from .layers import *  # noqa: F403  (every layer kind: see layers.__all__)
from .losses import LOSSES, Loss, loss_from, register_loss
from .model import LayerShapes, Sequential
from .optimizers import (
    OPTIMIZER_TYPES,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    optimizer_from,
    register_optimizer,
)
from .serialize import ModelSpec, from_dict, from_json, from_yaml

#: Every registered layer class by kind (the ``"class"`` of a layer in a spec file).
LAYER_TYPES = LAYER_KINDS

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_KINDS",
    "LAYER_KINDS",
    "LAYER_TYPES",
    "LOSSES",
    "LOSS_KINDS",
    "OPTIMIZER_KINDS",
    "OPTIMIZER_TYPES",
    "SGD",
    "ActivationKind",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Graph",
    "GraphNode",
    "LayerShapes",
    "Loss",
    "LossKind",
    "ModelSpec",
    "Optimizer",
    "RMSprop",
    "Sequential",
    "builder_for",
    "from_dict",
    "from_json",
    "from_yaml",
    "implemented",
    "loss_from",
    "optimizer_from",
    "register_activation",
    "register_builder",
    "register_loss",
    "register_optimizer",
]
__all__ += layers.__all__
