"""NumPy data -> torch tensors, and the per-model cache of device-resident training arrays."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from unidl.data import ArrayData

__all__ = ["DeviceArrays", "DeviceTensors", "as_input", "as_target", "as_weights"]


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


DeviceTensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def as_weights(w: Any) -> torch.Tensor:
    """Per-sample loss weights, float32 ``(n,)``."""
    return _tensor(np.asarray(w).reshape(-1), np.float32)


class DeviceArrays:
    """Keeps one ``ArrayData``'s x, y (and sample weights) on the device across the epochs
    of a fit.

    Keyed by the identity of the (immutable) ``ArrayData`` object through a weak reference:
    a new data object replaces the cached tensors, and the device copy is released as soon
    as the core drops its data object.
    """

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._key: tuple[weakref.ref[ArrayData], bool] | None = None
        self._tensors: DeviceTensors | None = None

    def get(self, data: ArrayData, class_indices: bool) -> DeviceTensors:
        key = self._key
        if key is not None and key[0]() is data and key[1] == class_indices \
                and self._tensors is not None:
            return self._tensors
        self.clear()
        if data.y is None:
            from unidl import DataError

            raise DataError("training data has no targets (y); pass (x, y)")
        x = as_input(data.x).to(self._device)
        y = as_target(data.y, class_indices).to(self._device)
        w = None if data.sample_weight is None else \
            as_weights(data.sample_weight).to(self._device)
        self._key = (weakref.ref(data, self._forget), class_indices)
        self._tensors = (x, y, w)
        return x, y, w

    def _forget(self, ref: weakref.ref[ArrayData]) -> None:
        if self._key is not None and self._key[0] is ref:
            self.clear()

    def clear(self) -> None:
        self._key = None
        self._tensors = None
