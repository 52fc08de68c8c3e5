"""The portable model format (:mod:`unidl.io.format`): a directory any backend can load.

It stores and verifies documents and arrays and knows no training loop; what the
documents say is :class:`unidl.Model`'s business.
"""

from .format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    META_FILE,
    OPTIMIZER_FILE,
    SPEC_FILE,
    WEIGHTS_FILE,
    read_model_files,
    write_model_files,
)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "META_FILE", "OPTIMIZER_FILE", "SPEC_FILE",
           "WEIGHTS_FILE", "read_model_files", "write_model_files"]
