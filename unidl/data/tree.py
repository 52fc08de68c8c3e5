"""Samples and batches as trees of arrays: conversion, consistency checks, stacking.

A sample or batch is an array, or a dict (keyed by input/output name) or a tuple/list
(one entry per input/output) of them. Framework tensors become NumPy arrays by duck
typing, without importing any framework: a tensor with ``detach``/``cpu`` (torch) is
moved to the host first, then ``.numpy()`` (torch, TensorFlow) or ``__array__`` is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["describe", "entries", "gather", "inputs_of", "quick", "rows", "signature",
           "slice_tree", "stack", "to_numpy", "to_numpy_tree"]

Array = npt.NDArray[Any]
#: ``(path, per-item shape, dtype)`` of each leaf: what must not change between items.
Signature = tuple[tuple[str, tuple[int, ...], str], ...]


def to_numpy(value: Any) -> Any:
    """``value`` as a NumPy array when it is a tensor or array-like; left alone when it is
    something else (a string, a ragged list), for the validation to report."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, any device
        value = value.detach().cpu()
    if hasattr(value, "to_numpy") and callable(value.to_numpy):  # pandas
        return value.to_numpy()
    if hasattr(value, "numpy") and callable(value.numpy):  # torch / TensorFlow tensors
        return np.asarray(value.numpy())
    try:
        return np.asarray(value)
    except (TypeError, ValueError):
        return value


def entries(value: Any) -> bool:
    """A tuple, or a list of arrays/tensors, holds one entry per input/output; any other
    list is the values of one array."""
    return isinstance(value, tuple) or (isinstance(value, list) and bool(value)
                                        and hasattr(value[0], "shape"))


def to_numpy_tree(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: to_numpy(v) for k, v in tree.items()}
    if entries(tree):
        return tuple(to_numpy(v) for v in tree)
    return to_numpy(tree)


def inputs_of(item: Any, single_input: bool) -> Any:
    """The ``x`` of a prediction item or batch: the first entry of an ``(x, y)`` or ``(x,
    y, w)`` tuple or list (what loaders yield), else the item itself. For a model with
    several inputs a list/tuple of arrays is its inputs; wrap them as ``(inputs,)`` or use
    a dict keyed by input name."""
    if isinstance(item, (tuple, list)) and 1 <= len(item) <= 3 and (
            single_input or not hasattr(item[0], "shape")):
        return item[0]
    return item


def _leaves(tree: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(tree, dict):
        return [leaf for k, v in tree.items() for leaf in _leaves(v, f"{path}[{k!r}]")]
    if isinstance(tree, tuple):
        return [leaf for i, v in enumerate(tree) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, tree)]


def signature(tree: Any, path: str, batched: bool = False) -> Signature:
    """Each leaf's path, shape (per sample when ``batched``) and dtype."""
    out = []
    for p, leaf in _leaves(tree, path):
        shape = tuple(getattr(leaf, "shape", ()))
        out.append((p, shape[1:] if batched else shape, str(getattr(leaf, "dtype", "?"))))
    return tuple(out)


def quick(tree: Any) -> Any:
    """A cheap stand-in for :func:`signature` (compared per sample): shapes and dtypes
    without the paths and names."""
    if isinstance(tree, np.ndarray):
        return tree.shape, tree.dtype
    if isinstance(tree, dict):
        return tuple((k, quick(v)) for k, v in tree.items())
    if isinstance(tree, tuple):
        return tuple(quick(v) for v in tree)
    return type(tree)


def describe(got: Signature, expected: Signature) -> str:
    """What differs between two signatures, in words."""
    paths = [p for p, _, _ in expected]
    if [p for p, _, _ in got] != paths:
        return f"holds {[p for p, _, _ in got]} but the first held {paths}"
    for (p, shape, dtype), (_, shape0, dtype0) in zip(got, expected, strict=True):
        if shape != shape0:
            return f"{p} has shape {shape} but the first had {shape0}"
        if dtype != dtype0:
            return f"{p} has dtype {dtype} but the first had {dtype0}"
    return "is the same"  # pragma: no cover - only called on a difference


def stack(samples: list[Any]) -> Any:
    """Samples -> a batch: arrays (and lists) stacked; a sample that is a dict (keyed by
    input/output name) or a tuple (one entry per input/output) is stacked per entry."""
    first = samples[0]
    if isinstance(first, dict):
        return {k: np.stack([np.asarray(to_numpy(s[k])) for s in samples]) for k in first}
    if entries(first):
        return tuple(np.stack([np.asarray(to_numpy(s[i])) for s in samples])
                     for i in range(len(first)))
    return np.stack([np.asarray(to_numpy(s)) for s in samples])


def rows(leaf: Any, indices: npt.NDArray[np.int64]) -> Array:
    """``leaf[indices]`` read from an array or array-like (an ``h5py``/``zarr`` dataset
    wants increasing indices: they are sorted for the read and put back in order)."""
    if isinstance(leaf, np.ndarray):
        return np.asarray(leaf[indices])
    order = np.argsort(indices, kind="stable")
    got = np.asarray(leaf[indices[order]])
    out = np.empty_like(got)
    out[order] = got
    return out


def gather(tree: Any, indices: npt.NDArray[np.int64]) -> Any:
    """The rows ``indices`` of every leaf of ``tree`` (dict, tuple/list or array-like)."""
    if isinstance(tree, dict):
        return {k: rows(v, indices) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return tuple(rows(v, indices) for v in tree)
    return rows(tree, indices)


def slice_tree(tree: Any, part: slice) -> Any:
    if isinstance(tree, dict):
        return {k: v[part] for k, v in tree.items()}
    if isinstance(tree, tuple):
        return tuple(v[part] for v in tree)
    return tree[part]
