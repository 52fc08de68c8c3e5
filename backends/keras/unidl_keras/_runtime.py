"""Import Keras pinned to TensorFlow, once, with errors that say what to install.

Keras 3 picks its backend from ``KERAS_BACKEND`` at its first import, so the variable must be
set before anything imports keras; a process that already imported keras on JAX or torch
cannot be switched and gets a clear error instead of silently running elsewhere.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from unidl.errors import BackendImportError

__all__ = ["BACKEND", "keras", "tf"]

#: The backend's name: what its entry point is called and its builders are registered under.
BACKEND = "keras"

# setdefault: a user's explicit choice (e.g. more TF logging) always wins.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_HINT = ('install TensorFlow with: pip install "unidl-keras[cpu]" (or "unidl-keras[gpu]" '
         "for CUDA)")

try:
    import tensorflow as _tf
except ImportError as e:  # pragma: no cover - depends on the environment
    raise BackendImportError(
        f"the unidl 'keras' backend needs TensorFlow, which failed to import ({e}); {_HINT}"
    ) from e

try:
    import keras as _keras
except ImportError as e:  # pragma: no cover - depends on the environment
    raise BackendImportError(
        f"the unidl 'keras' backend needs Keras 3, which failed to import ({e}); "
        'install it with: pip install "keras>=3"'
    ) from e

if not _keras.__version__.startswith("3."):  # pragma: no cover - depends on the environment
    raise BackendImportError(
        f"the unidl 'keras' backend needs Keras 3, found keras {_keras.__version__}; "
        'upgrade with: pip install "keras>=3,<4"'
    )

if _keras.backend.backend() != "tensorflow":
    already = "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != "tensorflow"
    raise BackendImportError(
        f"Keras is running on the {_keras.backend.backend()!r} backend but the unidl 'keras' "
        "backend drives TensorFlow. "
        + ("Keras was imported before unidl_keras with KERAS_BACKEND="
           f"{os.environ.get('KERAS_BACKEND')!r}; " if already else "")
        + "set KERAS_BACKEND=tensorflow before importing keras (Keras cannot switch backends "
        "inside a running process)."
    )

tf: Any = _tf
keras: Any = _keras

# unidl's parity contract is true float32: TF32 (TensorFlow's default for matmuls and
# convolutions on Ampere and newer GPUs) has a 10-bit mantissa and breaks the 1e-5 forward
# parity. This is process-wide in TensorFlow; it changes nothing on CPUs.
tf.config.experimental.enable_tensor_float_32_execution(False)
