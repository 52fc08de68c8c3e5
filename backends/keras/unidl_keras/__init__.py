"""unidl's Keras 3 (TensorFlow) backend; registered as the ``keras`` unidl backend.

Importing this package imports TensorFlow and pins Keras to it (see ``_runtime``).
"""

from .backend import KerasBackend
from .model import KerasModel

__version__ = "0.1.0"

__all__ = ["KerasBackend", "KerasModel", "__version__"]
