"""unidl: one model description, any deep-learning framework."""

from ._version import __version__
from .api import build, evaluate, fit, load, predict, save
from .data import Dataset
from .errors import (
    BackendError,
    BackendImportError,
    BackendNotFoundError,
    DataError,
    DeviceError,
    ModelFormatError,
    NotSupportedError,
    ShapeMismatchError,
    SpecError,
    UnidlError,
    UnknownNameError,
    UnregisteredKindError,
)
from .model import Model
from .registry import BackendInfo, available_backends, backend_names
from .spec import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Graph,
    Loss,
    Optimizer,
    RMSprop,
    Sequential,
    register_activation,
    register_builder,
    register_loss,
    register_optimizer,
)
from .spec import layers as _layers
from .spec.layers import *  # noqa: F403  (every layer kind: see spec.layers.__all__)
from .training.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    TensorBoard,
    TerminateOnNaN,
)
from .training.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearWarmup,
    MultiStepLR,
    ReduceLROnPlateau,
    StepLR,
)

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "BackendError",
    "BackendImportError",
    "BackendInfo",
    "BackendNotFoundError",
    "CSVLogger",
    "Callback",
    "CosineAnnealingLR",
    "DataError",
    "Dataset",
    "DeviceError",
    "EarlyStopping",
    "ExponentialLR",
    "Graph",
    "LinearWarmup",
    "Loss",
    "Model",
    "ModelCheckpoint",
    "ModelFormatError",
    "MultiStepLR",
    "NotSupportedError",
    "Optimizer",
    "RMSprop",
    "ReduceLROnPlateau",
    "Sequential",
    "ShapeMismatchError",
    "SpecError",
    "StepLR",
    "TensorBoard",
    "TerminateOnNaN",
    "UnidlError",
    "UnknownNameError",
    "UnregisteredKindError",
    "__version__",
    "available_backends",
    "backend_names",
    "build",
    "evaluate",
    "fit",
    "load",
    "predict",
    "register_activation",
    "register_builder",
    "register_loss",
    "register_optimizer",
    "save",
]
__all__ += _layers.__all__
