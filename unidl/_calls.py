"""Keras' calling conventions where they are unambiguous: ``fit(x, y)``, ``evaluate(x, y)``.

unidl's own form is one ``data`` argument (``(x, y)``, a dict, a Dataset, a loader); Keras
users write ``x, y`` as two arguments. Both are accepted when ``x`` is array-like (an
array, anything with ``__array__`` such as a DataFrame or a tensor, or a dict or list of
those for several inputs); otherwise the error is one line showing the right call. Values
are quoted only through :func:`unidl.errors.short`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpecError, short

__all__ = ["FRAMEWORK_SUFFIXES", "check_save_path", "data_with_y", "is_array_like"]


def _array(value: object) -> bool:
    return isinstance(value, np.ndarray) or hasattr(value, "__array__")


def is_array_like(x: object) -> bool:
    """An array, or a non-empty dict/list of arrays (one per input)."""
    if _array(x):
        return True
    if isinstance(x, dict):
        return bool(x) and all(_array(v) for v in x.values())
    if isinstance(x, list):
        return bool(x) and all(_array(v) for v in x)
    return False


def data_with_y(data: Any, y: Any, call: str) -> Any:
    """``data`` unchanged when ``y`` is None, else ``(data, y)`` (Keras' ``x, y``).

    ``call`` shows the call with ``{}`` where the data goes, e.g. ``"model.fit({})"``."""
    if y is None:
        return data
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool):
        raise SpecError(f"got {short(y)} as the second argument, which is y (the targets); "
                        f"pass the batch size by name: "
                        f"{call.format(f'data, batch_size={short(y)}')}", "y")
    if isinstance(data, tuple):
        raise SpecError(f"data is already a tuple (x, y) and y is given too; call "
                        f"{call.format('(x, y)')} or {call.format('x, y')}", "y")
    if not is_array_like(data):
        raise SpecError(f"{call.format('x, y')} needs x to be an array or a dict/list of "
                        f"arrays, got {type(data).__name__}, which brings its own targets; "
                        f"call {call.format('data')} without y", "y")
    return (data, y)


#: File suffixes of frameworks' own formats: ``save`` writes a directory, never these.
FRAMEWORK_SUFFIXES = (".keras", ".h5", ".hdf5", ".pt", ".pth", ".ckpt", ".safetensors",
                      ".onnx", ".pb", ".tflite", ".bin", ".pkl", ".pickle", ".joblib")


def check_save_path(path: object, native_formats: Sequence[str]) -> None:
    """``model.save`` writes a directory: a path in a framework's file suffix is refused,
    pointing to ``export``."""
    suffix = Path(str(path)).suffix.lower()
    if suffix not in FRAMEWORK_SUFFIXES:
        return
    stem = Path(str(path)).with_suffix("")
    export = (f"; for a framework's own file use model.export(...) (this backend writes: "
              f"{', '.join(native_formats)})" if native_formats else "")
    raise SpecError(f"{short(str(path))} ends in {suffix!r}, a framework's file suffix, but "
                    f"model.save writes unidl's portable format, a directory (spec.json, "
                    f"weights.safetensors, meta.json): name a directory, e.g. "
                    f"model.save({short(str(stem))}){export}", "path")
