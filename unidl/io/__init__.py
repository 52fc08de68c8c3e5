"""The portable model format (:mod:`unidl.io.format`): a directory any backend can load.

It stores and verifies documents and arrays and knows no training loop; what the
documents say is :class:`unidl.Model`'s business. Reading is bounded
(:mod:`~unidl.io.documents`, :mod:`~unidl.io.tensors`); saving is crash-safe
(:mod:`~unidl.io.swap`) and locked against concurrent saves and loads (:mod:`~unidl.io.lock`).
"""

from .format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    META_FILE,
    OPTIMIZER_FILE,
    SPEC_FILE,
    WEIGHTS_FILE,
    ModelFiles,
    read_model_files,
    write_model_files,
)
from .lock import LockTimeoutError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "META_FILE", "OPTIMIZER_FILE", "SPEC_FILE",
           "WEIGHTS_FILE", "LockTimeoutError", "ModelFiles", "read_model_files",
           "write_model_files"]
