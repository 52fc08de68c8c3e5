"""Canonical (Keras layout) weights <-> the torch tensors of a :class:`~unidl_torch.layers.Net`.

Dense kernel (in, out) is torch ``Linear.weight`` (out, in); Conv2D kernel (kh, kw, in, out)
is torch ``Conv2d.weight`` (out, in, kh, kw); BatchNorm gamma/beta/moving_mean/
moving_variance are ``weight``/``bias``/``running_mean``/``running_var``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from unidl.spec import BatchNorm, Conv2D, Dense, Sequential

from .layers import Net
from .layers_seq import WEIGHT_MAP as _SEQ_MAP

__all__ = ["Slot", "slots"]

Array = npt.NDArray[Any]


def _same(a: Array) -> Array:
    return a


def _dense_to_torch(a: Array) -> Array:
    return a.T


def _conv_to_torch(a: Array) -> Array:
    return a.transpose(3, 2, 0, 1)


def _conv_to_canonical(a: Array) -> Array:
    return a.transpose(2, 3, 1, 0)


# (spec layer type, canonical param) -> (torch attribute, to torch, to canonical)
_MAP: dict[tuple[type, str], tuple[str, Callable[[Array], Array], Callable[[Array], Array]]] = {
    (Dense, "kernel"): ("weight", _dense_to_torch, _dense_to_torch),
    (Dense, "bias"): ("bias", _same, _same),
    (Conv2D, "kernel"): ("weight", _conv_to_torch, _conv_to_canonical),
    (Conv2D, "bias"): ("bias", _same, _same),
    (BatchNorm, "gamma"): ("weight", _same, _same),
    (BatchNorm, "beta"): ("bias", _same, _same),
    (BatchNorm, "moving_mean"): ("running_mean", _same, _same),
    (BatchNorm, "moving_variance"): ("running_var", _same, _same),
    **_SEQ_MAP,  # Conv1D, Embedding, LayerNorm, SimpleRNN, LSTM, GRU
}


@dataclass(frozen=True)
class Slot:
    """One canonical weight and the live torch tensor holding it."""

    name: str
    tensor: torch.Tensor
    to_torch: Callable[[Array], Array]
    to_canonical: Callable[[Array], Array]

    @property
    def shape(self) -> tuple[int, ...]:
        """The canonical shape."""
        view = np.broadcast_to(np.float32(0), tuple(self.tensor.shape))  # no allocation
        return tuple(self.to_canonical(view).shape)

    def get(self) -> npt.NDArray[np.float32]:
        value = self.tensor.detach().to("cpu", copy=True).numpy()
        return np.ascontiguousarray(self.to_canonical(value), dtype=np.float32)

    def set(self, value: Array) -> None:
        src = torch.from_numpy(np.ascontiguousarray(self.to_torch(np.asarray(value)),
                                                    dtype=np.float32))
        with torch.no_grad():  # in place: the optimizer keeps pointing at the same tensors
            self.tensor.copy_(src)


def slots(spec: Sequential, net: Net) -> list[Slot]:
    """The slots of every canonical parameter of ``spec``, in ``spec.params`` order."""
    out: list[Slot] = []
    for ls in spec.layer_shapes:
        module = net.layer_modules[ls.name]
        for pname in ls.layer.params(ls.input_shape):
            attr, to_torch, to_canonical = _MAP[(type(ls.layer), pname)]
            tensor = getattr(module, attr)
            out.append(Slot(f"{ls.name}/{pname}", tensor, to_torch, to_canonical))
    return out
