"""unidl's PyTorch backend (entry point ``torch`` in group ``unidl.backends``)."""

from .backend import TorchBackend
from .export import torch_module
from .model import TorchModel
from .model_graph import GraphModel
from .model_seq import SequentialModel

__all__ = ["GraphModel", "SequentialModel", "TorchBackend", "TorchModel", "torch_module"]
__version__ = "0.1.0"
