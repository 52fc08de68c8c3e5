"""unidl-numpy: a pure-NumPy CPU backend for unidl, written as an example plugin.

Registered as ``numpy = "unidl_numpy:NumpyBackend"`` in the entry-point group
``unidl.backends``; ``unidl.fit(spec, data, backend="numpy", ...)`` then uses it.
"""

from .backend import NumpyBackend
from .model import NumpyModel

__all__ = ["NumpyBackend", "NumpyModel"]
__version__ = "0.1.0"
