"""Turn what users pass as data into validated arrays for the core and the backends.

All checks happen before training starts, with messages that name the array, its shape
and the shape the model expects: x/y length mismatch, wrong feature shape, NaN or inf,
labels the loss cannot use (a class index >= the number of outputs, ...), empty data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .data import ArrayData, Dataset, MappedData, SampleSource
from .errors import DataError, ShapeMismatchError
from .metrics import target_kind
from .spec.layers_shape import Embedding
from .spec.model import Sequential
from .spec.training import Loss

__all__ = ["as_source", "as_x", "as_y", "labels_of", "split_validation"]

Array = npt.NDArray[Any]


def _to_array(value: object, what: str) -> Array:
    if hasattr(value, "to_numpy"):  # pandas DataFrame / Series
        value = value.to_numpy()
    elif hasattr(value, "numpy") and callable(value.numpy):  # a framework tensor
        value = value.numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} cannot be converted to an array: {e}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numeric, got dtype {arr.dtype}; convert strings or "
                        "categories to numbers first")
    return arr


def _check_finite(arr: Array, what: str) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"{what} contains NaN or inf (first at index {tuple(int(i) for i in bad)}"
                        "); clean or impute the data before training")


def as_x(x: object, spec: Sequential, what: str = "x") -> Array:
    """Validated model input: shape ``(n, *spec.input_shape)`` in the Input's dtype."""
    arr = _to_array(x, what)
    expected = spec.input_shape
    if arr.ndim == 1 and expected == (1,):
        arr = arr.reshape(-1, 1)
    if arr.ndim == 0 or arr.shape[1:] != expected:
        hint = ""
        if (*arr.shape[1:], 1) == expected:
            hint = f"; add the channel axis with {what}[..., None]"
        raise ShapeMismatchError(
            f"{what} has shape {arr.shape} but the model's Input expects (n, "
            f"{', '.join(map(str, expected))}){hint}")
    if len(arr) == 0:
        raise DataError(f"{what} is empty (0 samples)")
    if spec.input.dtype.startswith("int"):
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise DataError(f"{what} must hold integers for an {spec.input.dtype} Input")
        arr = np.ascontiguousarray(arr, dtype=spec.input.dtype)
        first = spec.layers[1] if len(spec.layers) > 1 else None
        if isinstance(first, Embedding) and (arr.min() < 0 or arr.max() >= first.input_dim):
            bad = int(arr.min() if arr.min() < 0 else arr.max())
            raise DataError(f"{what} holds index {bad}, outside [0, {first.input_dim}) of "
                            f"Embedding {first.layer_name!r}; raise input_dim or map "
                            "unseen categories to a reserved index")
        return arr
    _check_finite(arr, what)
    return np.ascontiguousarray(arr, dtype=spec.input.dtype)


def as_y(y: object, spec: Sequential, loss: Loss, what: str = "y") -> Array:
    """Targets shaped for ``loss``: int64 ``(n,)`` class indices for the sparse
    cross-entropy, float32 ``(n, *output_shape)`` otherwise."""
    arr = _to_array(y, what)
    out = spec.output_shape
    kind = target_kind(loss)
    if arr.ndim == 0:
        raise ShapeMismatchError(f"{what} is a scalar; expected one target per sample")
    _check_finite(arr, what)
    if kind == "sparse":
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        k = out[-1]
        if arr.ndim != 1:
            raise ShapeMismatchError(
                f"{what} has shape {arr.shape}; sparse_categorical_crossentropy takes class "
                "indices of shape (n,). For one-hot targets use categorical_crossentropy")
        if len(out) != 1 or k < 2:
            raise ShapeMismatchError(
                f"sparse_categorical_crossentropy needs one output per class, but the model "
                f"outputs shape {out}; end with Dense(n_classes) (for a single yes/no output "
                "use binary_crossentropy)")
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise DataError(f"{what} must hold integer class indices for "
                            "sparse_categorical_crossentropy, got fractional values")
        if len(arr) and (arr.min() < 0 or arr.max() >= k):
            raise DataError(
                f"{what} holds class index {int(arr.max() if arr.max() >= k else arr.min())} "
                f"but the model has {k} outputs, so valid classes are 0..{k - 1}; "
                f"set the last Dense to the number of classes")
        return np.ascontiguousarray(arr, dtype=np.int64)
    if arr.shape[1:] != out:
        if arr.ndim == 1 and out == (1,):
            arr = arr.reshape(-1, 1)
        elif kind == "categorical" and arr.ndim == 1:
            raise ShapeMismatchError(
                f"{what} has shape {arr.shape} (class indices?) but categorical_crossentropy "
                f"needs one-hot targets of shape (n, {out[-1]}); use "
                "loss='sparse_categorical_crossentropy' for class indices")
        else:
            raise ShapeMismatchError(
                f"{what} has shape {arr.shape} but the model outputs (n, "
                f"{', '.join(map(str, out))}); targets must match the output shape")
    if kind == "binary" and len(arr) and (arr.min() < 0 or arr.max() > 1):
        raise DataError(f"{what} must lie in [0, 1] for binary_crossentropy, found values "
                        f"in [{arr.min()}, {arr.max()}]")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _xy(data: object, what: str) -> tuple[object, object]:
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise DataError(f"{what} must be a pair (x, y), got a sequence of {len(data)} items")
        return data[0], data[1]
    raise DataError(f"{what} must be a pair (x, y) of arrays or a Dataset whose items are "
                    f"(x, y), got {type(data).__name__}")


def as_source(data: object, spec: Sequential, loss: Loss,
              what: str = "data") -> ArrayData | MappedData:
    """Validate training/evaluation data into an ``ArrayData`` or ``MappedData``."""
    if not isinstance(data, (tuple, list)) and isinstance(data, Dataset):
        return _mapped(data, spec, loss, what)
    xv, yv = _xy(data, what)
    x = as_x(xv, spec, f"{what} x")
    y_raw = _to_array(yv, f"{what} y")
    if len(y_raw) != len(x):
        raise DataError(f"{what}: x has {len(x)} samples but y has {len(y_raw)}; they must "
                        "have the same length")
    y = as_y(y_raw, spec, loss, f"{what} y")
    return ArrayData(x, y)


def _mapped(ds: Dataset, spec: Sequential, loss: Loss, what: str) -> MappedData:
    n = len(ds)
    if n == 0:
        raise DataError(f"{what} is an empty Dataset (len 0)")
    try:
        first = ds[0]
    except Exception as e:
        raise DataError(f"{what}[0] failed: {type(e).__name__}: {e}") from e
    if not isinstance(first, (tuple, list)) or len(first) != 2:
        raise DataError(f"{what}[i] must return a pair (x, y), got {type(first).__name__}")

    def prepare(xs: Array, ys: Array) -> tuple[Array, Array | None]:
        return as_x(xs, spec, f"{what} x"), as_y(ys, spec, loss, f"{what} y")

    prepare(np.asarray(first[0])[None], np.asarray(first[1])[None])  # fail fast on shapes
    return MappedData(ds, prepare)


def split_validation(train: ArrayData, fraction: float) -> tuple[ArrayData, ArrayData]:
    """Keras' ``validation_split``: the *last* ``fraction`` of samples, before shuffling."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
        0.0 < fraction < 1.0
    ):
        raise DataError(f"validation_split must be in (0, 1), got {fraction!r}")
    n = len(train)
    n_val = int(n * fraction)
    if n_val == 0 or n_val == n:
        raise DataError(f"validation_split={fraction} of {n} samples leaves an empty "
                        "training or validation set")
    assert train.y is not None
    cut = n - n_val
    return (ArrayData(train.x[:cut], train.y[:cut]), ArrayData(train.x[cut:], train.y[cut:]))


def labels_of(source: SampleSource) -> Array:
    """All targets of a source, in sample order (one pass for a mapped dataset)."""
    if isinstance(source, ArrayData):
        assert source.y is not None
        return source.y
    ys = [source.take(np.arange(s, min(s + 1024, len(source))))[1]
          for s in range(0, len(source), 1024)]
    return np.concatenate([y for y in ys if y is not None])
