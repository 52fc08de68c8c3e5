"""unidl's PyTorch backend (entry point ``torch`` in group ``unidl.backends``).

Importing it registers a torch builder for every built-in kind; :mod:`unidl_torch.builders`
describes how to register your own.
"""

from .activations import TorchActivation
from .backend import TorchBackend
from .builders import BuildContext, TorchLayer, Weight
from .export import torch_module
from .graph_model import GraphModel
from .losses import LossFns, TorchLoss
from .model import TorchModel
from .optimizers import TorchOptimizer
from .sequential_model import SequentialModel

__all__ = ["BuildContext", "GraphModel", "LossFns", "SequentialModel", "TorchActivation",
           "TorchBackend", "TorchLayer", "TorchLoss", "TorchModel", "TorchOptimizer", "Weight",
           "torch_module"]
__version__ = "0.1.0"
