"""Canonical (Keras layout) weights <-> the torch tensors of a :class:`~unidl_torch.layers.Net`
or a :class:`~unidl_torch.graph.GraphNet`.

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
from torch import nn

from unidl.spec import BatchNorm, Conv2D, Dense, Graph, Sequential
from unidl.spec.layers import Layer, Shape

from .graph import GraphNet
from .layers import Net
from .layers_seq import WEIGHT_MAP as _SEQ_MAP

__all__ = ["Slot", "graph_slots", "slots"]

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


def _layer_slots(name: str, layer: Layer, in_shape: Shape, module: nn.Module) -> list[Slot]:
    out: list[Slot] = []
    for pname in layer.params(in_shape):
        attr, to_torch, to_canonical = _MAP[(type(layer), pname)]
        out.append(Slot(f"{name}/{pname}", getattr(module, attr), to_torch, to_canonical))
    return out


def slots(spec: Sequential, net: Net) -> list[Slot]:
    """The slots of every canonical parameter of ``spec``, in ``spec.params`` order."""
    return [slot for ls in spec.layer_shapes
            for slot in _layer_slots(ls.name, ls.layer, ls.input_shape,
                                     net.layer_modules[ls.name])]


def graph_slots(spec: Graph, net: GraphNet) -> list[Slot]:
    """The slots of every canonical parameter of ``spec``, in ``spec.params`` order: one
    set per layer, at its first call (later calls of a shared layer, ``"<layer>@k"``, use
    the same tensors)."""
    modules = net.layer_modules  # layers without one (Activation, merges) have no weights
    return [slot for node in spec.nodes
            if node.output == node.layer.layer_name and node.output in modules
            for slot in _layer_slots(node.output, node.layer, node.input_shape,
                                     modules[node.output])]
