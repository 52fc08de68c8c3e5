"""NumPy data -> torch tensors, and the per-model cache of device-resident training arrays."""

from __future__ import annotations

import weakref
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
import torch

from unidl.data import ArrayData, Arrays

__all__ = ["DeviceArrays", "DeviceGraphArrays", "DeviceTensors", "GraphTensors", "as_input",
           "as_target", "as_tuple", "as_weights"]

T = TypeVar("T")


def _tensor(a: npt.NDArray[Any], dtype: type[np.generic]) -> torch.Tensor:
    """A CPU tensor sharing ``a``'s memory when it already has the right dtype and layout."""
    if a.dtype != dtype or not a.flags.c_contiguous or not a.flags.writeable:
        a = np.array(a, dtype=dtype, order="C")  # torch refuses read-only arrays
    return torch.from_numpy(a)


def as_input(x: Any) -> torch.Tensor:
    """Model inputs: integer arrays (an int32/int64 ``Input``) become int64 (the index type
    ``Embedding`` takes; the network casts them to float32 when no Embedding follows),
    everything else float32."""
    a = np.asarray(x)
    return _tensor(a, np.int64 if a.dtype.kind in "iu" else np.float32)


def as_target(y: Any, class_indices: bool) -> torch.Tensor:
    """Targets: int64 class indices for sparse cross-entropy, float32 otherwise."""
    return _tensor(np.asarray(y), np.int64 if class_indices else np.float32)


#: (x, y, sample weights or None) on the device
DeviceTensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]
#: A ``Graph``'s (inputs, targets, sample weights or None) on the device
GraphTensors = tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...], torch.Tensor | None]


def as_weights(w: Any) -> torch.Tensor:
    """Per-sample loss weights, float32 ``(n,)``."""
    return _tensor(np.asarray(w).reshape(-1), np.float32)


def as_tuple(arrays: Arrays) -> tuple[npt.NDArray[Any], ...]:
    """A ``Graph``'s arrays as a tuple (a lone array is the one input or output)."""
    return arrays if isinstance(arrays, tuple) else (arrays,)


class _DeviceCache(Generic[T]):
    """Keeps one ``ArrayData``'s tensors on the device across the epochs of a fit.

    Keyed by the identity of the (immutable) ``ArrayData`` object through a weak reference,
    plus ``key`` (how the targets were converted): a new data object replaces the cached
    tensors, and the device copy is released as soon as the core drops its data object.
    """

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._key: tuple[weakref.ref[ArrayData], object] | None = None
        self._tensors: T | None = None

    def _cached(self, data: ArrayData, key: object) -> T | None:
        if self._key is not None and self._key[0]() is data and self._key[1] == key:
            return self._tensors
        self.clear()
        if data.y is None:
            from unidl import DataError

            raise DataError("training data has no targets (y); pass (x, y)")
        return None

    def _keep(self, data: ArrayData, key: object, tensors: T) -> T:
        self._key = (weakref.ref(data, self._forget), key)
        self._tensors = tensors
        return tensors

    def _weights(self, data: ArrayData) -> torch.Tensor | None:
        w = data.sample_weight
        return None if w is None else as_weights(w).to(self._device)

    def _forget(self, ref: weakref.ref[ArrayData]) -> None:
        if self._key is not None and self._key[0] is ref:
            self.clear()

    def clear(self) -> None:
        self._key = None
        self._tensors = None


class DeviceArrays(_DeviceCache[DeviceTensors]):
    """A ``Sequential``'s x, y (and sample weights) on the device."""

    def get(self, data: ArrayData, class_indices: bool) -> DeviceTensors:
        cached = self._cached(data, class_indices)
        if cached is not None:
            return cached
        return self._keep(data, class_indices, (as_input(data.x).to(self._device),
                                                as_target(data.y, class_indices).to(
                                                    self._device),
                                                self._weights(data)))


class DeviceGraphArrays(_DeviceCache[GraphTensors]):
    """A ``Graph``'s inputs and targets (tuples, in the spec's order) and sample weights on
    the device; ``class_indices[k]``: output ``k``'s targets are class indices."""

    def get(self, data: ArrayData, class_indices: tuple[bool, ...]) -> GraphTensors:
        cached = self._cached(data, class_indices)
        if cached is not None:
            return cached
        assert data.y is not None  # checked by _cached
        device = self._device
        xs = tuple(as_input(x).to(device) for x in as_tuple(data.x))
        ys = tuple(as_target(y, c).to(device)
                   for y, c in zip(as_tuple(data.y), class_indices, strict=True))
        return self._keep(data, class_indices, (xs, ys, self._weights(data)))
