"""unidl's Keras 3 (TensorFlow) backend; registered as the ``keras`` unidl backend.

Importing this package imports TensorFlow (its start-up log lines filtered) and runs Keras
3 on it: ``KERAS_BACKEND`` naming another backend is a ``unidl.BackendImportError`` naming
the variable and the fix (see ``_runtime``). It registers the keras builder of every
built-in kind; your own kinds' builders follow the contract in ``unidl_keras.builders``.
"""

from .backend import KerasBackend
from .builders import BuildContext, KerasLayerBuilder
from .model import KerasModel

__version__ = "0.1.0"

__all__ = ["BuildContext", "KerasBackend", "KerasLayerBuilder", "KerasModel", "__version__"]
