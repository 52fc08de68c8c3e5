"""Turn what users pass as data into validated arrays for the core and the backends.

All checks happen before training starts, with messages that name the array, its shape
and the shape the model expects: x/y length mismatch, wrong feature shape, NaN or inf,
labels the loss cannot use (a class index >= the number of outputs, ...), empty data.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .data import (
    ArrayData,
    Arrays,
    Dataset,
    EpochPlan,
    LazyData,
    MappedData,
    SampleSource,
    StreamData,
    Subset,
    default_workers,
    is_lazy,
    is_stream,
    length,
    plan_batches,
    stack,
    take,
)
from .data.lazy import lazy_length
from .data.mapped import first_signature
from .data.processes import use_processes
from .errors import DataError, ShapeMismatchError, short
from .heads import Head
from .metrics import target_kind
from .spec import Embedding, Loss
from .spec.graph import Graph
from .spec.layers import Input, Shape
from .spec.serialize import ModelSpec

__all__ = ["DataSource", "as_inputs", "as_source", "as_tuple", "as_x", "as_y", "class_weights",
           "labels_of", "split_validation"]

Array = npt.NDArray[Any]
#: Whatever ``as_source`` makes of the user's data.
DataSource = ArrayData | LazyData | MappedData | StreamData


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


def _check_fits(arr: Array, dtype: npt.DTypeLike, what: str) -> None:
    """Refuse values that casting ``arr`` (finite) to ``dtype`` would change silently:
    beyond a float dtype's range (they would become inf and train to NaN) or outside an
    integer dtype's range (they would wrap around)."""
    target = np.dtype(dtype)
    if arr.size == 0 or arr.dtype == target:
        return
    if target.kind == "f":
        if arr.dtype.kind != "f" or arr.dtype.itemsize <= target.itemsize:
            return  # every int64 and every smaller float fits a float32
        limit = float(np.finfo(target).max)
        lo, hi = float(arr.min()), float(arr.max())
        if hi <= limit and lo >= -limit:
            return
        bad = hi if hi > limit else lo
        raise DataError(f"{what} holds {bad:.4g}, beyond the {target} range (+-{limit:.4g}) "
                        "the model computes in; rescale the data (e.g. standardise it)")
    if target.kind in "iu":
        info = np.iinfo(target)
        if arr.dtype.kind in "iu" and info.min <= np.iinfo(arr.dtype).min and \
                np.iinfo(arr.dtype).max <= info.max:
            return
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise DataError(f"{what} contains NaN or inf, which no {target} Input can hold")
        lo, hi = arr.min(), arr.max()
        over = hi > info.max if arr.dtype.kind in "iu" else float(hi) >= float(info.max) + 1
        if over or lo < info.min:
            bad = hi if over else lo
            raise DataError(f"{what} holds {bad}, outside the {target} range [{info.min}, "
                            f"{info.max}] of its Input; it would wrap around when cast")


def class_weights(value: Mapping[Any, Any]) -> dict[int, float]:
    """``{class index: weight}`` validated: keys are ints (a string key such as ``"1"`` is
    refused, not ignored), weights finite numbers >= 0 (NumPy scalars included)."""
    out: dict[int, float] = {}
    for c, w in value.items():
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) or c < 0:
            hint = f"; write {{{int(c)}: ...}}" if isinstance(c, str) and c.isdigit() \
                and len(c) < 20 else ""
            raise DataError(f"class_weight keys must be class indices (ints >= 0), got "
                            f"{short(c)} ({type(c).__name__}){hint}")
        number = math.nan
        if isinstance(w, (numbers.Real, np.number)) and not isinstance(w, (bool, np.bool_)):
            try:
                number = float(w)
            except (OverflowError, TypeError, ValueError):  # huge int, complex, ...
                number = math.nan
        if not math.isfinite(number) or number < 0:
            raise DataError(f"class_weight[{int(c)}] must be a finite number >= 0, got "
                            f"{short(w)}")
        out[int(c)] = number
    return out


def _input_array(x: object, layer: Input, embeddings: Sequence[Embedding], what: str) -> Array:
    """``x`` validated for one Input: shape ``(n, *layer.shape)``, the Input's dtype, finite,
    and (integer inputs) indices inside every Embedding that reads them."""
    arr = _to_array(x, what)
    expected = layer.shape
    if arr.ndim == 1 and expected == (1,):
        arr = arr.reshape(-1, 1)
    if arr.ndim == 0 or arr.shape[1:] != expected:
        hint = ""
        if (*arr.shape[1:], 1) == expected:
            hint = f"; add the channel axis with {what}[..., None]"
        raise ShapeMismatchError(
            f"{what} has shape {arr.shape} but Input {layer.layer_name!r} expects (n, "
            f"{', '.join(map(str, expected))}){hint}")
    if len(arr) == 0:
        raise DataError(f"{what} is empty (0 samples)")
    if layer.dtype.startswith("int"):
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise DataError(f"{what} must hold integers for an {layer.dtype} Input")
        _check_fits(arr, layer.dtype, what)
        arr = np.ascontiguousarray(arr, dtype=layer.dtype)
        for emb in embeddings:
            if arr.min() < 0 or arr.max() >= emb.input_dim:
                bad = int(arr.min() if arr.min() < 0 else arr.max())
                raise DataError(f"{what} holds index {bad}, outside [0, {emb.input_dim}) of "
                                f"Embedding {emb.layer_name!r}; raise input_dim or map "
                                "unseen categories to a reserved index")
        return arr
    _check_finite(arr, what)
    _check_fits(arr, layer.dtype, what)
    return np.ascontiguousarray(arr, dtype=layer.dtype)


def _per_name(value: object, names: tuple[str, ...], kind: str, what: str) -> list[object]:
    """A graph's inputs or targets: a dict keyed by name, a list/tuple in order, or (one
    name) a single array."""
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        extra = [k for k in value if k not in names]
        if missing or extra:
            raise DataError(f"{what} is keyed {sorted(map(str, value))} but the model's "
                            f"{kind}s are {list(names)}" + (f"; missing {missing}" if missing
                                                            else "") +
                            (f"; unknown {extra}" if extra else ""))
        return [value[n] for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise DataError(f"{what} has {len(value)} arrays but the model has {len(names)} "
                            f"{kind}s {list(names)}; pass one per {kind} (or a dict keyed "
                            "by name)")
        return list(value)
    if len(names) > 1:
        raise DataError(f"{what} is a single array but the model has {len(names)} {kind}s "
                        f"{list(names)}; pass a dict keyed by {kind} name or a list in that "
                        "order")
    if isinstance(value, (list, tuple)) and len(value) == 1 and hasattr(value[0], "shape"):
        return [value[0]]
    return [value]


def _same_length(arrays: Sequence[Array], names: Sequence[str], what: str) -> None:
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        detail = ", ".join(f"{n}: {len(a)}" for n, a in zip(names, arrays, strict=True))
        raise DataError(f"{what} arrays have different numbers of samples ({detail})")


def as_x(x: object, spec: ModelSpec, what: str = "x") -> Arrays:
    """Validated model input: for a ``Sequential`` one array ``(n, *input_shape)`` in the
    Input's dtype; for a ``Graph`` a tuple, one such array per input."""
    if isinstance(spec, Graph):
        names = spec.input_names
        values = _per_name(x, names, "input", what)
        arrays = tuple(
            _input_array(v, layer, [n.layer for n in spec.consumers(name)
                                    if isinstance(n.layer, Embedding)],
                         what if len(names) == 1 else f"{what}[{name!r}]")
            for v, layer, name in zip(values, spec.input_layers, names, strict=True))
        _same_length(arrays, names, what)
        return arrays
    first = spec.layers[1] if len(spec.layers) > 1 else None
    return _input_array(x, spec.input, [first] if isinstance(first, Embedding) else [], what)


def _target(y: object, out: Shape, loss: Loss, what: str) -> Array:
    """Targets shaped for ``loss``: int64 ``(n,)`` class indices for the sparse
    cross-entropy, float32 ``(n, *out)`` otherwise."""
    arr = _to_array(y, what)
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
    _check_fits(arr, np.float32, what)
    return np.ascontiguousarray(arr, dtype=np.float32)


def as_y(y: object, spec: ModelSpec, heads: Sequence[Head], what: str = "y") -> Arrays:
    """Validated targets: one array (``Sequential``) or a tuple, one per output."""
    if not isinstance(spec, Graph):
        return _target(y, heads[0].shape, heads[0].loss, what)
    names = tuple(h.name for h in heads)
    values = _per_name(y, names, "output", what)
    arrays = tuple(_target(v, h.shape, h.loss, what if len(names) == 1 else
                           f"{what}[{h.name!r}]")
                   for v, h in zip(values, heads, strict=True))
    _same_length(arrays, names, what)
    return arrays


def _xy(data: object, what: str) -> tuple[object, object]:
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise DataError(f"{what} must be a pair (x, y), got a sequence of {len(data)} items")
        return data[0], data[1]
    raise DataError(f"{what} must be a pair (x, y) of arrays, a Dataset whose items are "
                    "(x, y), or an iterable of (x, y) batches (a DataLoader, a tf.data "
                    f"pipeline, a generator), got {type(data).__name__}")


def _workers(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
        raise DataError(f"workers must be an integer >= 0 (0 reads in the training thread), "
                        f"got {workers!r}")
    return int(workers)


def _lazy_leaves(value: object) -> bool:
    leaves = (value.values() if isinstance(value, dict) else value
              if isinstance(value, (tuple, list)) else [value])
    return any(is_lazy(leaf) for leaf in leaves)


def as_source(data: object, spec: ModelSpec, heads: Sequence[Head], what: str = "data",
              workers: int | None = None, use_multiprocessing: bool | None = None
              ) -> DataSource:
    """Validate training/evaluation data into one of the sources of ``unidl.data``:
    ``(x, y)`` arrays (``ArrayData``), with memory maps (``LazyData``), a map-style
    ``Dataset`` (``MappedData``) or a batch iterable (``StreamData``)."""
    if isinstance(data, (ArrayData, LazyData, MappedData, StreamData)):
        return data
    if not isinstance(data, (tuple, list, dict)) and isinstance(data, Dataset):
        return _mapped(data, spec, heads, what, _workers(workers), True,
                       processes=use_processes(use_multiprocessing))

    def prepare(xs: object, ys: object) -> tuple[Arrays, Arrays | None]:
        return as_x(xs, spec, f"{what} x"), as_y(ys, spec, heads, f"{what} y")

    if is_stream(data):
        _workers(workers)
        return StreamData(data, prepare, what)
    xv, yv = _xy(data, what)
    if _lazy_leaves(xv) or _lazy_leaves(yv):
        n = lazy_length(xv, yv, what)
        source = LazyData(xv, yv, prepare, n, workers=min(_workers(workers), 2), name=what,
                          prepare_y=lambda ys: as_y(ys, spec, heads, f"{what} y"))
        source.take(np.arange(min(n, 64)))  # fail fast on shapes and dtypes
        return source
    x = as_x(xv, spec, f"{what} x")
    y = as_y(yv, spec, heads, f"{what} y")
    if length(y) != length(x):
        raise DataError(f"{what}: x has {length(x)} samples but y has {length(y)}; they "
                        "must have the same length")
    return ArrayData(x, y)


def as_inputs(x: object, spec: ModelSpec, what: str = "x") -> Arrays | DataSource:
    """What ``predict`` reads: validated in-memory inputs, or a source of inputs (a memory
    map, a ``Dataset`` of ``x`` or ``(x, ...)`` items, an iterable of such batches)."""
    def prepare(xs: object, ys: object) -> tuple[Arrays, Arrays | None]:
        return as_x(xs, spec, what), None

    single = not isinstance(spec, Graph) or len(spec.input_names) == 1
    if not isinstance(x, (tuple, list, dict)) and isinstance(x, Dataset) \
            and not hasattr(x, "shape"):
        return _mapped(x, spec, (), what, default_workers(), False, single,
                       use_processes(None))
    if is_stream(x):
        return StreamData(x, prepare, what, targets=False, single_input=single)
    if _lazy_leaves(x):
        n = lazy_length(x, None, what)
        source = LazyData(x, None, prepare, n, workers=1, name=what)
        source.take(np.arange(min(n, 64)))
        return source
    return as_x(x, spec, what)


def _mapped(ds: Dataset, spec: ModelSpec, heads: Sequence[Head], what: str, workers: int,
            targets: bool, single_input: bool = True, processes: bool = False
            ) -> MappedData:
    n = len(ds)
    if n == 0:
        raise DataError(f"{what} is an empty Dataset (len 0)")
    try:
        first = ds[0]
    except Exception as e:
        raise DataError(f"{what}[0] failed: {type(e).__name__}: {e}") from e
    if targets and (not isinstance(first, (tuple, list)) or len(first) != 2):
        raise DataError(f"{what}[i] must return a pair (x, y), got {type(first).__name__}")

    def prepare(xs: object, ys: object) -> tuple[Arrays, Arrays | None]:
        return (as_x(xs, spec, f"{what} x"),
                as_y(ys, spec, heads, f"{what} y") if targets else None)

    probe = MappedData(ds, prepare, name=what, targets=targets, single_input=single_input)
    x0, y0 = probe.split(first, 0)
    prepare(stack([x0]), stack([y0]) if targets else None)  # fail fast on shapes
    expected, fast = first_signature(first, targets, single_input)
    return MappedData(ds, prepare, workers=workers, processes=processes, name=what,
                      targets=targets, expected=expected, single_input=single_input,
                      first_quick=fast)


def split_validation(train: SampleSource, fraction: float
                     ) -> tuple[SampleSource, SampleSource]:
    """Keras' ``validation_split``: the *last* ``fraction`` of samples, before shuffling.
    In-memory arrays are split into arrays; a memory map or a dataset into two views."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
        0.0 < fraction < 1.0
    ):
        raise DataError(f"validation_split must be in (0, 1), got {fraction!r}")
    n = len(train)
    n_val = int(n * fraction)
    if n_val == 0 or n_val == n:
        raise DataError(f"validation_split={fraction} of {n} samples leaves an empty "
                        "training or validation set")
    head, tail = np.arange(n - n_val), np.arange(n - n_val, n)
    if not isinstance(train, ArrayData):
        return Subset(train, head), Subset(train, tail)
    assert train.y is not None
    return (ArrayData(take(train.x, head), take(train.y, head)),
            ArrayData(take(train.x, tail), take(train.y, tail)))


def labels_of(source: SampleSource) -> Arrays:
    """All targets of a source, in sample order (one pass for a mapped dataset; only the
    targets of a memory map are read)."""
    if isinstance(source, ArrayData):
        assert source.y is not None
        return source.y
    read = getattr(source, "targets_of", None)
    if read is not None:
        ys = [read(np.arange(s, min(s + 8192, len(source))))
              for s in range(0, len(source), 8192)]
    else:
        everything = EpochPlan(np.arange(len(source), dtype=np.int64), 1024)
        ys = [y for _, _, y in plan_batches(source, everything) if y is not None]
    parts = [y for y in ys if y is not None]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))
    return np.concatenate(parts)


def as_tuple(arrays: Arrays) -> tuple[Array, ...]:
    """One array or a tuple of them, as a tuple."""
    return arrays if isinstance(arrays, tuple) else (arrays,)
