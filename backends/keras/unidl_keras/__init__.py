"""unidl's Keras 3 (TensorFlow) backend; registered as the ``keras`` unidl backend.

Importing this package imports TensorFlow and pins Keras to it (see ``_runtime``), and
registers the keras builder of every built-in kind; your own kinds' builders follow the
contract in ``unidl_keras.builders``.
"""

from .backend import KerasBackend
from .builders import BuildContext, KerasLayerBuilder
from .model import KerasModel

__version__ = "0.1.0"

__all__ = ["BuildContext", "KerasBackend", "KerasLayerBuilder", "KerasModel", "__version__"]
