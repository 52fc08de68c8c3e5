"""Import Keras pinned to TensorFlow, once, with errors that say what to install.

This backend runs Keras 3 on TensorFlow and nothing else. Keras picks its backend from
``KERAS_BACKEND`` at its first import: unset, it is set to ``tensorflow`` here; set to
another backend (``jax``, ``torch``), or Keras already imported on one, is a
``BackendImportError`` naming the variable and the fix, never Keras silently running
elsewhere. TensorFlow's start-up log lines are filtered (see ``_quiet``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from unidl.errors import BackendImportError

from ._quiet import quiet_stderr

__all__ = ["BACKEND", "keras", "tf"]

#: The backend's name: what its entry point is called and its builders are registered under.
BACKEND = "keras"

_FIX = ("unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow for this process (Keras picks "
        "its backend once, at its first import, and cannot switch inside a running process)")


def _check_requested() -> None:
    """Refuse a ``KERAS_BACKEND`` other than TensorFlow before Keras is imported, rather than
    let Keras fail on a missing JAX or run on torch."""
    requested = os.environ.get("KERAS_BACKEND", "").strip()
    if "keras" in sys.modules or requested in ("", "tensorflow"):
        return
    raise BackendImportError(
        f"KERAS_BACKEND={requested!r} is set, but the unidl 'keras' backend runs Keras 3 on "
        f"TensorFlow only; {_FIX}. (For PyTorch use unidl's 'torch' backend.)")


_check_requested()
# setdefault: set before Keras' first import, it overrides ~/.keras/keras.json's backend.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's own variable; _quiet also applies it to the start-up lines TF 2.21 prints
# regardless. A user's explicit choice (e.g. 0 for all of TF's logging) always wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_HINT = ('install TensorFlow with: pip install unidl-keras (it requires tensorflow-cpu or '
         'tensorflow for this platform); for CUDA see the unidl-keras README')

try:
    with quiet_stderr():
        import tensorflow as _tf
except ImportError as e:  # pragma: no cover - depends on the environment
    raise BackendImportError(
        f"the unidl 'keras' backend needs TensorFlow, which failed to import ({e}); {_HINT}"
    ) from e

try:
    with quiet_stderr():
        import keras as _keras
except ImportError as e:  # pragma: no cover - depends on the environment
    raise BackendImportError(
        f"the unidl 'keras' backend needs Keras 3, which failed to import ({e}); "
        'install it with: pip install "keras>=3,<4"'
    ) from e

if not _keras.__version__.startswith("3."):  # pragma: no cover - depends on the environment
    raise BackendImportError(
        f"the unidl 'keras' backend needs Keras 3, found keras {_keras.__version__}; "
        'upgrade with: pip install "keras>=3,<4"'
    )

if _keras.backend.backend() != "tensorflow":  # keras was imported first, on another backend
    raise BackendImportError(
        f"Keras was imported before unidl_keras and runs on the "
        f"{_keras.backend.backend()!r} backend (KERAS_BACKEND="
        f"{os.environ.get('KERAS_BACKEND', '')!r}), but the unidl 'keras' backend runs "
        f"Keras 3 on TensorFlow only; {_FIX}."
    )

tf: Any = _tf
keras: Any = _keras

# unidl's parity contract is true float32: TF32 (TensorFlow's default for matmuls and
# convolutions on Ampere and newer GPUs) has a 10-bit mantissa and breaks the 1e-5 forward
# parity. This is process-wide in TensorFlow; it changes nothing on CPUs.
tf.config.experimental.enable_tensor_float_32_execution(False)
